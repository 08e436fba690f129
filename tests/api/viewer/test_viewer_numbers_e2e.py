"""A clinician's user test of the viewer's figures (2026-11-27), in headless Chromium over the real app on loopback.

What it found, each a test here:

- a probability of 0.06 read "of diagnoses given about this probability, about 1 in 10 were right": the natural
  frequency rounded to tenths, so anything from 0.05 to 0.149 read "1 in 10";
- a candidate with no disease card in the index asked for one all the same (``GET /v1/documents/omim:621063#0``),
  and the console showed the 404;
- findings counted as explained with no likelihood ratio and no reason (achondroplasia's "Disproportionate short
  stature", counted through rhizomelia), so the product of the ratios covered fewer findings than "explains n/m";
- an age factor read "age 45 y: fits (the disease's onset: congenital onset)", as if a 45-year-old were congenital.

The app is the real one over the small test documents (evidence policy); the achondroplasia answer is drawn from a
trace shaped as the user test's was (its explanation as the API gave it). Debian's chromium only
(``/usr/bin/chromium``); screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from browser_support import NEEDS_CHROMIUM, serving_documents
from playwright.sync_api import Browser, Page, expect
from support import SMALL_DOCS

from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
CLINICIAN_KEY = "numbers-test-clinician-key-0001"

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[str]:
    with serving_documents(
        tmp_path_factory.mktemp("numbers-e2e"),
        SMALL_DOCS,
        test_settings,
        EvidencePolicy(),
        clinician_key=CLINICIAN_KEY,
        name="numbers",
    ) as url:
        yield url


class Watch:
    """A page with what went wrong on it: uncaught errors, console errors, and every document it asked for."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.problems: list[str] = []
        self.documents: list[str] = []
        self.failed: list[str] = []
        self.page: Page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        self.page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("request", self._request)
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.goto(f"{base_url}/viewer/")
        self.page.fill("#api-key", CLINICIAN_KEY)
        self.page.get_by_role("button", name="Use key").click()
        expect(self.page.locator("#key-status")).to_contain_text("Key accepted")

    def _request(self, request: Any) -> None:
        path = request.url.split("/v1/documents/", 1)
        if len(path) == 2:
            self.documents.append(unquote(path[1].split("?", 1)[0]))

    def diagnose(self, findings: str, age: str = "") -> dict[str, Any]:
        """Sends findings from the form; returns the response the page drew."""
        self.page.get_by_role("radio", name="Findings").check()
        self.page.fill("#findings", findings)
        self.page.fill("#age", age)
        with self.page.expect_response(lambda r: r.url.endswith("/v1/diagnose") and r.request.method == "POST") as got:
            self.page.get_by_role("button", name="Diagnose").click()
        assert got.value.ok, got.value.text()
        expect(self.page.locator("#progress")).to_contain_text("Done")
        body: dict[str, Any] = got.value.json()
        return body

    def draw(self, trace: dict[str, Any], model_version: str) -> None:
        """The page's own renderDecision draws ``trace`` into #result, as for a reopened decision."""
        self.page.evaluate(
            """async ([trace, modelVersion]) => { const r = await import("./render.js");
                 r.renderDecision(document.getElementById("result"), { trace, auditId: "drawn", outcome: "diagnosed",
                   modelVersion, indexVersion: "test" }); }""",
            [trace, model_version],
        )

    def settled(self) -> None:
        """Every disease card asked for has answered (no "loading" left) and the network is quiet."""
        expect(self.page.locator(".disease-facts", has_text="loading from the disease card")).to_have_count(0)
        self.page.wait_for_load_state("networkidle")

    def close(self) -> None:
        self.page.context.close()


@pytest.fixture
def watch(browser: Browser, base_url: str) -> Iterator[Watch]:
    expect.set_options(timeout=30_000)  # two busy cores: a diagnosis can take a while
    watched = Watch(browser, base_url)
    try:
        yield watched
    finally:
        watched.close()


def _calibrated_reasoning() -> dict[str, Any]:
    return {
        "index": 0,
        "action": "reason",
        "text": "<reason>Ranked candidates by a learned score (p = calibrated probability).</reason>",
    }


def _diagnosis(
    rank: int, name: str, code: str, confidence: float, evidence: list[dict[str, Any]], **rest: Any
) -> dict[str, Any]:
    return {"rank": rank, "name": name, "code": code, "confidence": confidence, "evidence": evidence, **rest}


def _cites(evidence_id: str, kind: str, title: str) -> dict[str, Any]:
    return {
        "evidence_id": evidence_id,
        "doc_id": evidence_id.split("#", 1)[0],
        "title": title,
        "kind": kind,
        "supports": [],
        "mentions_diagnosis": True,
        "retrieval_score": 0.3,
        "retrieval_rank": 1,
    }


def test_a_likelihood_ratio_total_names_the_power_of_ten_it_passes(watch: Watch) -> None:
    # A second user test: "likelihood ratio 10^10.2 (over a million)", true but over ten thousand times short.
    said = watch.page.evaluate(
        """async () => { const r = await import("./render.js");
             return [6.5, 8.8, 10.2, 13.0, -7.4].map((p) => r.totalText(p)); }"""
    )
    assert said == [
        "10^6.5 (over a million)",
        "10^8.8 (over a hundred million)",
        "10^10.2 (over ten billion)",
        "10^13.0 (over a trillion)",
        "10^-7.4 (under one in ten million)",
    ]


def test_an_age_is_shown_in_words_beside_its_code(watch: Watch) -> None:
    # A second user test read the bare "age: P1D" and "age: P15Y" as unclinical.
    said = watch.page.evaluate(
        """async () => { const r = await import("./render.js");
             return ["P14Y", "P1D", "P3Y4M", "P8M", "P2W", "P0D", "14 years", "P"].map((a) => r.ageText(a)); }"""
    )
    assert said == [
        "14 years (P14Y)",
        "1 day (P1D)",
        "3 years 4 months (P3Y4M)",
        "8 months (P8M)",
        "2 weeks (P2W)",
        "0 days (P0D)",
        "14 years",
        "P",
    ]


# -- 1. a probability in words --------------------------------------------------------------------------------


def test_a_probability_in_words_says_what_the_figure_beside_it_says(watch: Watch) -> None:
    page = watch.page
    # The rule: in a hundred, from the two-decimal figure shown (0.058 is shown 0.06: "about 6 in 100", never
    # "about 1 in 10"; 0.145 is shown 0.14).
    said = page.evaluate(
        """async () => { const r = await import("./render.js");
             return [0.058, 0.06, 0.12, 0.145, 0.72, 0.004, 0.9991].map((p) => r.frequencyText(p)); }"""
    )
    assert said == [
        "about 6 in 100",
        "about 6 in 100",
        "about 12 in 100",
        "about 14 in 100",
        "about 72 in 100",
        "fewer than 1 in 100",
        "more than 99 in 100",
    ]

    # A drawn answer of 0.058, as the user saw it: the figure and the words agree.
    trace = {
        "case": {"findings": [{"label": "Trident hand", "hpo_id": "HP:0004060"}]},
        "outcome": "diagnosed",
        "turns": [_calibrated_reasoning()],
        "diagnoses": [_diagnosis(1, "Achondroplasia", "ORPHA:15", 0.058, [])],
    }
    watch.draw(trace, "learned@1/features-2")
    first = page.locator(".differential > li").first
    expect(first.locator(".confidence")).to_contain_text("probability 0.06")
    first.locator("summary").click()
    meaning = first.locator(".probability-meaning")
    expect(meaning).to_contain_text("Probability 0.06 that this diagnosis is the right one")
    expect(meaning).to_contain_text("about 6 in 100 were right")
    expect(meaning).not_to_contain_text("in 10 were")

    # A real answer of the evidence policy: whatever its probability, the words say the figure shown.
    response = watch.diagnose("Arachnodactyly\nEctopia lentis\nTall stature\nAortic root aneurysm")
    for position, diagnosis in enumerate(response["trace"]["diagnoses"]):
        item = page.locator(".differential > li").nth(position)
        text = item.locator(".probability-meaning").text_content() or ""
        # Never "0.00" or "1.00": "under 0.01" and "over 0.99", as the API and command line print them.
        figure = re.search(r"Probability (under 0\.01|over 0\.99|\d\.\d\d) ", text)
        assert figure, (diagnosis, text)
        expect(item.locator(".confidence")).to_contain_text(f"probability {figure[1]}")
        if figure[1] == "under 0.01":
            assert diagnosis["confidence"] < 0.005 and "fewer than 1 in 100 were right" in text, (diagnosis, text)
            continue
        if figure[1] == "over 0.99":
            assert diagnosis["confidence"] >= 0.995 and "more than 99 in 100 were right" in text, (diagnosis, text)
            continue
        assert figure[1] not in ("0.00", "1.00"), text
        assert abs(float(figure[1]) - diagnosis["confidence"]) <= 0.005 + 1e-9, (diagnosis, text)
        hundred = round(float(figure[1]) * 100)
        assert f"about {hundred} in 100 were right" in text, text
    first = page.locator(".differential > li").first
    first.locator("summary").click()
    first.locator(".probability-meaning").screenshot(path=str(ARTIFACTS / "viewer-probability-in-words.png"))
    watch.settled()
    assert not watch.problems, watch.problems


# -- 2. disease cards the decision did not read ------------------------------------------------------------------


def test_a_candidate_without_a_disease_card_asks_for_none_and_says_so_calmly(watch: Watch) -> None:
    page = watch.page
    # A real answer: the viewer asks only for passages the decision read (cited, retrieved, hashed).
    response = watch.diagnose("Arachnodactyly\nEctopia lentis\nTall stature\nAortic root aneurysm")
    watch.settled()
    trace = response["trace"]
    read = {r["evidence_id"] for r in trace.get("retrievals", [])} | set(trace.get("passage_hashes") or {})
    for key in ("diagnoses", "considered"):
        read |= {e["evidence_id"] for d in trace.get(key) or [] for e in d["evidence"]}
    assert set(watch.documents) <= read, sorted(set(watch.documents) - read)
    assert not watch.failed, watch.failed

    # A drawn answer as the user's: a candidate citing only a patient record, whose code has no card in this index,
    # and one whose own card the decision retrieved without citing it (its genes come from that card).
    watch.documents.clear()
    drawn = {
        "case": {"findings": [{"label": "Arachnodactyly", "hpo_id": "HP:0001166"}]},
        "outcome": "diagnosed",
        "turns": [_calibrated_reasoning()],
        "retrievals": [
            {
                "turn": 0,
                "action": "search",
                "evidence_id": "omim:154700#0",
                "doc_id": "omim:154700",
                "kind": "disease_knowledge",
                "title": "Marfan syndrome",
                "score": 0.3,
                "rank": 1,
                "retriever": "hybrid",
            }
        ],
        "diagnoses": [
            _diagnosis(
                1, "Marfan syndrome", "OMIM:154700", 0.4, [_cites("pt:aaaa1111#0", "patient_record", "Patient record")]
            ),
            _diagnosis(
                2,
                "A disease without a card",
                "OMIM:621063",
                0.1,
                [_cites("pt:aaaa1111#0", "patient_record", "Patient record")],
            ),
        ],
    }
    watch.draw(drawn, "learned@1/features-2")
    items = page.locator(".differential > li")
    marfan, uncarded = items.nth(0), items.nth(1)
    expect(marfan.locator(".disease-facts")).to_contain_text("FBN1")
    expect(marfan.locator(".disease-facts")).to_contain_text("omim:154700#0 (not cited by the diagnosis)")
    expect(uncarded.locator(".disease-facts .no-card")).to_have_text(
        "no disease card among the passages this decision read; its code above links to its entry at the source"
    )
    watch.settled()
    assert "omim:621063#0" not in watch.documents, watch.documents
    assert watch.documents == ["omim:154700#0"], watch.documents
    assert not watch.failed, watch.failed
    uncarded.locator("summary").click()
    uncarded.locator(".disease-facts").screenshot(path=str(ARTIFACTS / "viewer-no-disease-card.png"))
    assert not watch.problems, watch.problems


# -- 3. findings counted through a more specific one -------------------------------------------------------------


def _role(
    label: str, hpo_id: str, frequency: float | None, ratio: float | None, matched: str | None = None
) -> dict[str, Any]:
    names = {"HP:0003498": "Disproportionate short stature"}
    return {
        "label": label,
        "hpo_id": hpo_id,
        "matched_id": matched if ratio is not None else None,
        "matched_name": (names.get(matched or "") or label) if ratio is not None else None,
        "frequency": frequency,
        "likelihood_ratio": ratio,
    }


ACHONDROPLASIA_FINDINGS = [
    ("Disproportionate short stature", "HP:0003498"),
    ("Short stature", "HP:0004322"),
    ("Rhizomelia", "HP:0008905"),
    ("Macrocephaly", "HP:0000256"),
    ("Frontal bossing", "HP:0002007"),
    ("Trident hand", "HP:0004060"),
]
#: Achondroplasia as the API explained it in the user test (ORPHA:15, six findings, age 45): two findings counted
#: through rhizomelia (null likelihood ratio), and a total below the product of the four ratios shown (the
#: disease's frequent features not reported).
ACHONDROPLASIA_TRACE: dict[str, Any] = {
    "case": {"age": "P45Y", "findings": [{"label": n, "hpo_id": t} for n, t in ACHONDROPLASIA_FINDINGS]},
    "outcome": "diagnosed",
    "turns": [_calibrated_reasoning()],
    "diagnoses": [
        _diagnosis(
            1,
            "Achondroplasia",
            "ORPHA:15",
            0.035,
            [],
            explanation={
                "annotated": True,
                "entered": 6,
                "supports": [
                    _role("Rhizomelia", "HP:0008905", 0.895, 44.549, matched="HP:0003498"),
                    _role("Macrocephaly", "HP:0000256", 0.545, 10.977, matched="HP:0000256"),
                    _role("Frontal bossing", "HP:0002007", 0.545, 11.97, matched="HP:0002007"),
                    _role("Trident hand", "HP:0004060", 0.545, 1528.18, matched="HP:0004060"),
                    _role("Disproportionate short stature", "HP:0003498", 0.895, None),
                    _role("Short stature", "HP:0004322", 0.895, None),
                ],
                "not_explained": [],
                "contradicts": [],
                "factors": [],
                "log10_likelihood_ratio": 6.544,
            },
        )
    ],
}


def test_a_finding_counted_through_a_more_specific_one_says_so_and_the_ratios_multiply_to_the_total(
    watch: Watch,
) -> None:
    page = watch.page
    watch.draw(ACHONDROPLASIA_TRACE, "learned@1/features-2")
    first = page.locator(".differential > li").first
    expect(first.locator("summary")).to_contain_text("explains 6/6 findings")
    first.locator("summary").click()
    card = first.locator(".explanation-detail")
    expect(card.locator("h4")).to_have_text("Explains 6 of the 6 findings entered")
    # Each explained finding says why it counts: its own ratio, or the more specific finding it is counted through
    # (named where the explanation shows it: rhizomelia met the disease's annotation as disproportionate short
    # stature), with the disease's frequency of it or a kind of it.
    explained = card.locator(".chips.explains > li")
    expect(explained).to_have_count(6)
    implied = card.locator(".chips.explains > li.implied")
    expect(implied).to_have_count(2)
    expect(implied.nth(0)).to_contain_text(
        "Disproportionate short stature HP:0003498 · in 90% of patients (it or a kind of it) · no LR of its own: "
        "counted through Rhizomelia, a more specific finding entered, whose ratio covers it"
    )
    expect(implied.nth(1)).to_contain_text(
        "Short stature HP:0004322 · in 90% of patients (it or a kind of it) · no LR of its own: counted through a "
        "more specific finding entered, whose ratio covers it"
    )
    for position in range(6):
        chip = explained.nth(position)
        has_ratio = chip.locator(".lr").count() == 1
        assert has_ratio != (chip.locator(".counted-through").count() == 1), chip.text_content()
    # The product says what it covers, and the ratios on screen multiply to it.
    covers = card.locator(".lr-total .lr-covers")
    expect(covers).to_have_text(
        "It multiplies the ratios shown above, those of the 4 findings entered with a ratio of their own (the 2 "
        "findings without one are counted through a more specific one)"
    )
    rest = card.locator(".lr-total .lr-rest")
    expect(rest).to_contain_text(", and ×0.39 for evidence not listed here: the disease's frequent features")
    ratios = card.locator(".lr").evaluate_all("spans => spans.map((s) => Number(s.dataset.lr))")
    assert len(ratios) == 4
    log10_rest = float(rest.get_attribute("data-log10") or "nan")
    assert math.isclose(sum(math.log10(r) for r in ratios) + log10_rest, 6.544, abs_tol=1e-3)
    expect(card.locator(".lr-total")).to_contain_text("likelihood ratio 10^6.5 (over a million)")
    card.screenshot(path=str(ARTIFACTS / "viewer-counted-through.png"))

    # A real answer: long fingers beside arachnodactyly count once, through it, and say so.
    response = watch.diagnose("Arachnodactyly\nLong fingers\nEctopia lentis\nTall stature")
    explanation = response["trace"]["diagnoses"][0]["explanation"]
    without = [r for r in explanation["supports"] if r["likelihood_ratio"] is None]
    assert [r["label"] for r in without] == ["Long fingers"], explanation
    marfan = page.locator(".differential > li").first
    marfan.locator("summary").click()
    chip = marfan.locator(".chips.explains > li.implied")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("Long fingers")
    expect(chip.locator(".counted-through")).to_contain_text("counted through a more specific finding entered")
    expect(marfan.locator(".lr-covers")).to_contain_text(
        "those of the 3 findings entered with a ratio of their own (the 1 finding without one is counted through a "
        "more specific one)"
    )
    own = [r["likelihood_ratio"] for r in explanation["supports"] + explanation["not_explained"]]
    shown = marfan.locator(".explanation-detail .lr").evaluate_all("spans => spans.map((s) => Number(s.dataset.lr))")
    assert shown == [r for r in own if r is not None]
    watch.settled()
    assert not watch.problems, watch.problems


# -- 4. the age, from the disease's onset ---------------------------------------------------------------------------


def test_an_age_factor_is_said_from_the_disease_s_onset(watch: Watch) -> None:
    page = watch.page
    explanation = {
        "annotated": True,
        "entered": 1,
        "supports": [_role("Rhizomelia", "HP:0008905", 0.75, 81.232, matched="HP:0008905")],
        "not_explained": [],
        "contradicts": [],
        "factors": [
            {
                "evidence": "age",
                "value": "age 45 y",
                "fits": True,
                "matched_id": "HP:0003577",
                "matched_name": "Congenital onset",
                "likelihood_ratio": 1.004,
            }
        ],
        "log10_likelihood_ratio": 1.912,
    }
    young = {
        **explanation,
        "factors": [{"evidence": "age", "value": "age 0.25 y", "fits": False, "likelihood_ratio": 0.1}],
    }
    drawn = page.evaluate(
        """async ([fits, against]) => {
             const { explanationDetail } = await import("./render.js");
             const text = (explanation) => [...explanationDetail({ explanation }, { age: "P45Y" })
               .querySelectorAll(".chips.factors > li")].map((chip) => chip.textContent);
             const box = explanationDetail({ explanation: fits }, { age: "P45Y" });
             const result = document.getElementById("result");
             result.append(box); // drawn in the page, for its screenshot
             result.hidden = false;
             return [text(fits), text(against)];
           }""",
        [explanation, young],
    )
    assert drawn == [
        ["the disease's onset: congenital HP:0003577 — fits an age of 45 y, likelihood ratio 1.004"],
        ["age 0.25 y: younger than any onset of the disease — speaks against it, likelihood ratio 0.1"],
    ]
    assert not any(re.search(r"age 45 y: fits", line) for line in drawn[0])
    page.locator("#result > .explanation-detail .chips.factors").screenshot(
        path=str(ARTIFACTS / "viewer-age-from-onset.png")
    )
    assert not watch.problems, watch.problems
