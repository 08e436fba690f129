"""A user test of the viewer (2026-11-28, fourth session), in headless Chromium over the real app on loopback.

What it found, each a test here:

- the considered list printed "probability 0.00" for candidates under 0.005 while the next steps beside it said
  "(<0.01)" and the command line "under 0.01": every probability the viewer prints now follows the one rule of
  ``dxsearch.protocol.probability_text`` (common.js ``probabilityFigure``);
- "9 HPO term(s) read" above 8 chips, two mentions ("head growth has slowed", "acquired microcephaly") being one
  term: the count is of distinct terms, as the chips are, and says how many mentions there were;
- the auditor view at 390 px was 985 px wide, its records table not in a scrolling frame, and the chain
  verification's values broken one character per line.

Debian's chromium only (``/usr/bin/chromium``); screenshots go to ``artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import NEEDS_CHROMIUM, serving_documents
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr
from support import SMALL_DOCS

from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
CLINICIAN_KEY = "prob-clinician-key-0000000001"
AUDITOR_KEY = "prob-auditor-key-00000000002"

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[str]:
    with serving_documents(
        tmp_path_factory.mktemp("probability-rule-e2e"),
        SMALL_DOCS,
        test_settings,
        EvidencePolicy(),
        clinician_key=CLINICIAN_KEY,
        name="probability-rule",
        api_keys=SecretStr(f"{CLINICIAN_KEY}:clinician,{AUDITOR_KEY}:auditor"),
    ) as url:
        yield url


def _page(browser: Browser, base_url: str, problems: list[str], path: str, key: str, **options: Any) -> Page:
    page = browser.new_context(**{"viewport": {"width": 1280, "height": 1000}, **options}).new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.goto(f"{base_url}/viewer/{path}")
    page.fill("#api-key", key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_contain_text("Key accepted")
    return page


def _draw(page: Page, trace: dict[str, Any], outcome: str) -> None:
    """The page's own renderDecision draws ``trace`` into #result, as for a reopened decision."""
    page.evaluate(
        """async ([trace, outcome]) => { const r = await import("./render.js");
             r.renderDecision(document.getElementById("result"), { trace, auditId: "drawn", outcome,
               modelVersion: "evidence@2", indexVersion: "test" }); }""",
        [trace, outcome],
    )


def _candidate(rank: int, name: str, code: str, confidence: float) -> dict[str, Any]:
    return {"rank": rank, "name": name, "code": code, "confidence": confidence, "evidence": []}


#: An abstention shaped as the user test's Fabry answer: candidates at 0.005, 0.004, 0.0004 and 0.
FABRY_TRACE: dict[str, Any] = {
    "case": {
        "sex": "male",
        "age": "P38Y",
        "findings": [
            {"label": "acroparesthesia", "hpo_id": "HP:0031006"},
            {"label": "angiokeratomas", "hpo_id": "HP:0001014"},
        ],
    },
    "outcome": "insufficient_evidence",
    "reason": "the most probable diagnosis, Fabry disease (ORPHA:324), has probability 0.01, below the 0.20 needed",
    "turns": [],
    "retrievals": [],
    "diagnoses": [],
    "considered": [
        _candidate(1, "Fabry disease", "ORPHA:324", 0.005),
        _candidate(2, "Cardiomyopathy, familial restrictive, 1", "OMIM:115210", 0.004),
        _candidate(3, "Polycystic kidney disease 8", "OMIM:620903", 0.0004),
        _candidate(4, "Hereditary ATTR amyloidosis", "ORPHA:271861", 0.0),
    ],
    "next_steps": {
        "basis": "considered",
        "candidates": [
            {"rank": 1, "name": "Fabry disease", "code": "ORPHA:324"},
            {"rank": 2, "name": "Cardiomyopathy, familial restrictive, 1", "code": "OMIM:115210"},
            {"rank": 3, "name": "Polycystic kidney disease 8", "code": "OMIM:620903"},
            {"rank": 4, "name": "Hereditary ATTR amyloidosis", "code": "ORPHA:271861"},
        ],
        "probabilities": [0.005, 0.004, 0.0004, 0.0],
        "scale": "differential",
        "none_of_these": 0.9906,
        "gene_panel": None,
        "questions": [],
        "guidelines": [],
        "notes": [],
    },
}


def test_every_probability_the_viewer_prints_follows_one_rule(base_url: str, browser: Browser) -> None:
    """A user test: the considered list said "probability 0.00" beside next steps saying "(<0.01)"; the API and
    command line say "under 0.01" (``dxsearch.protocol.probability_text``). One formatter, one rule, everywhere."""
    expect.set_options(timeout=30_000)
    problems: list[str] = []
    page = _page(browser, base_url, problems, "", CLINICIAN_KEY)
    said = page.evaluate(
        """async () => { const c = await import("./common.js"); const n = await import("./next_steps.js");
             const values = [0.004, 0.0049, 0, 0.005, 0.06, 0.72, 0.9949, 0.995, 0.9996, 1, null];
             return [values.map(c.probabilityFigure), values.map(n.probability)]; }"""
    )
    expected = [
        "under 0.01",
        "under 0.01",
        "under 0.01",
        "0.01",  # as Python prints 0.005 at two places: "0.01", not under it
        "0.06",
        "0.72",
        "0.99",
        "0.99",
        "over 0.99",
        "over 0.99",
        "–",
    ]
    assert said == [expected, expected]

    _draw(page, FABRY_TRACE, "insufficient_evidence")
    considered = page.locator("ol.considered > li")
    expect(considered).to_have_count(4)
    shown = [text.strip() for text in considered.locator(".confidence").all_text_contents()]
    assert shown == ["probability 0.01", "probability under 0.01", "probability under 0.01", "probability under 0.01"]
    # The detail panel says it the same way, and in words beside it.
    second = considered.nth(1)
    second.locator("summary").click()
    meaning = second.locator(".probability-meaning")
    expect(meaning).to_contain_text("Probability under 0.01 that this diagnosis is the right one")
    expect(meaning).to_contain_text("fewer than 1 in 100 were right")
    # The next steps say the candidates' probabilities as the list does.
    steps = page.locator(".next-steps")
    expect(steps).to_contain_text("Fabry disease (0.01)")
    expect(steps).to_contain_text("(under 0.01)")
    text = page.locator("#result").text_content() or ""
    assert "0.00" not in text and "<0.01" not in text and "1.00" not in text
    page.locator("#result").screenshot(path=str(ARTIFACTS / "viewer-probability-rule-probabilities.png"))
    assert not problems, problems


#: A Rett note's reading: nine mentions, two of them one term (Secondary microcephaly), and one part not understood.
RETT_MAPPED = [
    ("HP:0002371", "Loss of speech"),
    ("HP:0002376", "Developmental regression"),
    ("HP:0012171", "Stereotypical hand wringing"),
    ("HP:0004879", "Intermittent hyperventilation"),
    ("HP:6000950", "Breath-holding spell"),
    ("HP:0005484", "Secondary microcephaly"),
    ("HP:0005484", "Secondary microcephaly"),
    ("HP:0001250", "Seizure"),
    ("HP:0002136", "Broad-based gait"),
]
RETT_TRACE: dict[str, Any] = {
    "case": {
        "sex": "female",
        "age": "P3Y",
        "findings": [{"label": label.lower(), "hpo_id": hpo} for hpo, label in dict(RETT_MAPPED).items()],
    },
    "outcome": "insufficient_evidence",
    "reason": "no candidate reached the bar",
    "turns": [],
    "retrievals": [],
    "diagnoses": [],
    "considered": [],
    "input_account": {
        "source": "text",
        "mapped": [
            {
                "path": "text",
                "span": [10 * i, 10 * i + 8],
                "given": None,
                "hpo_id": hpo,
                "label": label,
                "assertion": "present",
                "kind": "finding",
                "id_note": None,
                "from_value": False,
            }
            for i, (hpo, label) in enumerate(RETT_MAPPED)
        ],
        "not_understood": [
            {
                "path": "text",
                "span": [200, 220],
                "given": "purposeful hand use",
                "reason": "no HPO term matches these words",
            }
        ],
    },
}


def test_the_count_of_terms_read_is_the_count_of_chips(base_url: str, browser: Browser) -> None:
    """A user test: "9 HPO term(s) read" above 8 chips, "head growth has slowed" and "acquired microcephaly" both
    read as Secondary microcephaly, one chip. The count is of distinct terms, one chip each, and names the
    mentions when there are more."""
    expect.set_options(timeout=30_000)
    problems: list[str] = []
    page = _page(browser, base_url, problems, "", CLINICIAN_KEY)
    _draw(page, RETT_TRACE, "insufficient_evidence")
    chips = page.locator(".findings > ul.chips").first.locator("> li")
    expect(chips).to_have_count(8)
    count = page.locator(".findings .terms-read")
    expect(count).to_contain_text("8 distinct HPO terms read (9 mentions: a term mentioned more than once is one chip)")
    expect(count).to_contain_text("from 1 input item(s); 1 part(s) not understood")
    said = page.evaluate(
        """async () => { const r = await import("./render.js");
             return [r.termsReadText([{ hpo_id: "HP:1" }], 1), r.termsReadText([], 2)]; }"""
    )
    assert said == ["1 distinct HPO term read from 1 input item(s)", "0 distinct HPO terms read from 2 input item(s)"]
    page.locator(".findings").screenshot(path=str(ARTIFACTS / "viewer-probability-rule-terms-read.png"))
    assert not problems, problems


def test_the_auditor_view_fits_a_phone(base_url: str, browser: Browser) -> None:
    """A user test: at 390 px the auditor view was 985 px wide, the records table not in a frame of its own and the
    chain verification's values one character per line. Now the page is the screen's width, the table scrolls
    inside its frame, and each verification value reads as a line or two."""
    expect.set_options(timeout=30_000)
    problems: list[str] = []
    page = _page(browser, base_url, problems, "audit.html", AUDITOR_KEY, viewport={"width": 390, "height": 844})
    expect(page.locator("#verify-status")).to_contain_text("Chain verified")
    page.select_option("#kind", "all")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#records-table tbody tr").first).to_be_visible()
    frame = page.locator("#records .table-wrap")
    expect(frame).to_have_count(1)
    expect(frame.locator("table#records-table")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    widths = frame.evaluate("(f) => [f.scrollWidth, f.clientWidth]")
    assert widths[0] > widths[1], widths  # the table scrolls inside its own frame
    # Verified again over a log that now holds records: the head names one and its hash.
    page.get_by_role("button", name="Verify the chain again").click()
    expect(page.locator("#verification dd").nth(1)).to_contain_text(", hash ")
    page.screenshot(path=str(ARTIFACTS / "audit-view-390-top.png"))
    # Each value of the chain verification is at least half the panel wide and at most a few lines high.
    values = page.locator("#verification dd").evaluate_all(
        "dds => dds.map((d) => [d.getBoundingClientRect().width, d.getBoundingClientRect().height, d.textContent])"
    )
    assert values, values
    panel_width = page.locator("#verification").evaluate("(v) => v.getBoundingClientRect().width")
    for width, height, text in values:
        assert width >= panel_width / 2 and height <= 100, (width, height, text)
    page.screenshot(path=str(ARTIFACTS / "audit-view-390.png"), full_page=True)
    # An opened record's facts (its hashes among them) fit the screen too.
    page.locator("#records .open-record").first.click()
    expect(page.locator("#record")).to_contain_text("Previous hash")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#record").screenshot(path=str(ARTIFACTS / "audit-view-390-record.png"))
    # On a wide screen the facts stand beside their labels, as before.
    page.set_viewport_size({"width": 1280, "height": 900})
    labels = page.locator("#verification dt").first.bounding_box()
    value = page.locator("#verification dd").first.bounding_box()
    assert labels and value and value["x"] > labels["x"] + labels["width"] and abs(value["y"] - labels["y"]) < 5
    page.locator("#verification").screenshot(path=str(ARTIFACTS / "audit-view-1280-verification.png"))
    assert not problems, problems
