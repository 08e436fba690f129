"""The "Next steps" section in headless Chromium: gene panel, ask-next questions, a guideline passage to open.

The real app on loopback (as in ``test_viewer_e2e``), over the small test documents plus one guideline
summary that names Marfan syndrome (with a DOI, labelled as a summary, and markup in its title that must
stay characters). Debian's chromium only (``/usr/bin/chromium``); screenshots go to ``artifacts/`` and
``/tmp/viewer-shots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import NEEDS_CHROMIUM, serving_documents
from playwright.sync_api import Browser, Page, expect
from support import SMALL_DOCS

from dxsearch.corpus import Document, DocumentKind, DocumentMetadata
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
SHOTS = Path("/tmp/viewer-shots")
CLINICIAN_KEY = "next-steps-clinician-key-00001"
MARFAN_FINDINGS = "Arachnodactyly\nEctopia lentis\nTall stature\n- Seizures"
DOI = "10.1161/CIR.0000000000000000"
GUIDELINE_TITLE = 'Aortic surveillance <img src=x onerror="window.__xss=4"> (test summary)'
GUIDELINE = Document(
    id="gl:aaaabbbbccccdddd",
    kind=DocumentKind.GUIDELINE,
    title=GUIDELINE_TITLE,
    text=(
        "# Aortic surveillance\n\nSource: a test guideline (TEST, 2026), doi:10.1161/CIR.0000000000000000. "
        "Written by the test suite.\n\n## Imaging\n\nIn Marfan syndrome, image the aortic root at diagnosis and "
        "yearly while it is stable.\nRefer to a cardiologist when it grows."
    ),
    metadata=DocumentMetadata(
        source="guidelines",
        licence="MIT (test)",
        extra={"doi": DOI, "references": [f"doi:{DOI}"], "nature": "a summary written by the test suite"},
    ),
)

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[str]:
    # Similar patients matched by their words and the phenotype-weighted scores of before: the one Marfan record
    # of these documents would otherwise make the differential near-certain, with no question worth asking.
    doubtful = EvidencePolicyConfig(
        similarity_weight=1.0, enrichment_weight=0.7, vote_weight=0.4, retrieval_weight=0.15
    )
    with serving_documents(
        tmp_path_factory.mktemp("next-steps-e2e"),
        [*SMALL_DOCS, GUIDELINE],
        test_settings,
        EvidencePolicy(doubtful),
        clinician_key=CLINICIAN_KEY,
        name="next-steps",
        match_by_meaning=False,
    ) as url:
        yield url


def _diagnose(page: Page, base_url: str, findings: str) -> None:
    page.goto(f"{base_url}/viewer/")
    page.fill("#api-key", CLINICIAN_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_contain_text("Key accepted")
    page.fill("#findings", findings)
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#result")).to_be_visible()


def _shoot(target: Page, name: str, section: str = ".next-steps") -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for folder in (ARTIFACTS, SHOTS):
        target.locator(section).screenshot(path=str(folder / name))


def test_next_steps_show_panel_questions_and_a_guideline_passage(base_url: str, browser: Browser) -> None:
    expect.set_options(timeout=30_000)  # two busy cores: a diagnosis can take a while
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    _diagnose(page, base_url, MARFAN_FINDINGS)
    expect(page.locator(".differential > li").first).to_contain_text("Marfan")

    section = page.locator(".next-steps")
    expect(section.get_by_role("heading", name="Next steps")).to_be_visible()
    # The gene panel: FBN1, for Marfan syndrome, with its OMIM link.
    fbn1 = section.locator(".panel-table tr", has=page.locator("th", has_text="FBN1"))
    expect(fbn1).to_contain_text("Marfan syndrome")
    expect(fbn1.locator("a.code-link", has_text="OMIM:154700")).to_have_attribute(
        "href", "https://omim.org/entry/154700"
    )
    # Ask-next questions: each with what either answer favours; none about a finding the patient has.
    questions = section.locator(".question")
    assert questions.count() >= 1
    expect(questions.first.locator(".answer-yes")).to_contain_text("favours")
    expect(questions.first.locator(".answer-no")).to_contain_text("favours")
    # On the differential's scale: the top diagnosis's probability here is the one the differential shows.
    shown = page.locator(".differential > li").first.locator(".confidence").text_content() or ""
    top = re.search(r"probability (\d\.\d\d)", shown)
    assert top is not None, shown
    expect(section.locator("p.meta").first).to_contain_text(f"1. Marfan syndrome ({top.group(1)})")
    expect(section.locator("p.meta").first).to_contain_text("as the differential gives them")
    asked = [q.get_attribute("data-hpo-id") for q in questions.all()]
    assert not {"HP:0001166", "HP:0001083", "HP:0000098", "HP:0001250"} & set(asked)
    # The guideline passage: labelled as a summary, with its DOI link, its title as characters.
    guideline = section.locator(".guideline")
    expect(guideline).to_have_count(1)
    expect(guideline.locator(".doc-title")).to_have_text(GUIDELINE_TITLE)
    expect(guideline).to_contain_text("a summary written by the test suite")
    expect(guideline.locator("a.code-link", has_text=f"doi:{DOI}")).to_have_attribute("href", f"https://doi.org/{DOI}")
    _shoot(page, "next-steps.png")

    # Opening it shows the passage in its document, the line naming the diagnosis marked.
    guideline.locator("button.evidence-link").click()
    expect(page.locator("#passage .doc-title")).to_have_text(GUIDELINE_TITLE)
    expect(page.locator("#passage mark").first).to_contain_text("In Marfan syndrome, image the aortic root")
    expect(page.locator("#passage")).to_contain_text("Guideline")
    for folder in (ARTIFACTS, SHOTS):  # the viewport: the guideline list beside its passage
        page.screenshot(path=str(folder / "next-steps-passage.png"))
    # A reference is linked only when it has the exact shape of a DOI.
    references = [f"doi:{DOI}", "doi:10.1/x", "doi:10.1234/a b", 'doi:10.1234/x"><b>', "pmid:123"]
    to_urls = 'async (refs) => { const m = await import("./links.js"); return refs.map(m.codeUrl); }'
    assert page.evaluate(to_urls, references) == [f"https://doi.org/{DOI}", None, None, None, None]
    assert page.evaluate("window.__xss") is None
    assert not problems, problems
    context.close()


def test_next_steps_on_a_phone(base_url: str, browser: Browser) -> None:
    expect.set_options(timeout=30_000)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    _diagnose(page, base_url, MARFAN_FINDINGS)
    section = page.locator(".next-steps")
    expect(section.locator(".question").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
    _shoot(page, "next-steps-phone.png")
    context.close()


INSUFFICIENT_STEPS = {
    "basis": "retrieved_diseases",
    "candidates": [
        {"rank": 1, "name": "Fabry disease", "code": "OMIM:301500"},
        {"rank": 2, "name": "LCAT deficiency", "code": "OMIM:245900"},
    ],
    "probabilities": [0.5, 0.5],
    "gene_panel": None,
    "questions": [
        {
            "hpo_id": "HP:0000365",
            "label": "Hearing impairment",
            "information_gain_bits": 0.6,
            "chance_present": 0.5,
            "chances": [
                {"rank": 1, "code": "OMIM:301500", "chance": 0.9, "annotation": "very frequent, 80-99%"},
                {"rank": 2, "code": "OMIM:245900", "chance": 0.05, "annotation": "not annotated (default chance)"},
            ],
            "if_present": [{"rank": 1, "name": "Fabry disease", "code": "OMIM:301500", "before": 0.5, "after": 0.95}],
            "if_absent": [{"rank": 2, "name": "LCAT deficiency", "code": "OMIM:245900", "before": 0.5, "after": 0.9}],
        }
    ],
    "guidelines": [],
    "notes": [],
}


CONSIDERED_STEPS = {
    "basis": "considered",
    "scale": "differential",
    "candidates": [
        {"rank": 1, "name": "Leopard syndrome 1", "code": "OMIM:151100"},
        {"rank": 2, "name": "Noonan syndrome 1", "code": "OMIM:163950"},
    ],
    "probabilities": [0.1, 0.05],
    "none_of_these": 0.85,
    "gene_panel": None,
    "questions": [
        {
            "hpo_id": "HP:0001003",
            "label": "Multiple lentigines",
            "information_gain_bits": 0.5,
            "chance_present": 0.2,
            "chances": [
                {"rank": 1, "code": "OMIM:151100", "chance": 0.9, "annotation": "very frequent, 80-99%"},
                {"rank": 2, "code": "OMIM:163950", "chance": 0.05, "annotation": "not annotated (default chance)"},
            ],
            "if_present": [
                {"rank": 1, "name": "Leopard syndrome 1", "code": "OMIM:151100", "before": 0.1, "after": 0.9996}
            ],
            "if_absent": [],
            "none_of_these_chance": 0.05,
            "none_of_these_if_present": 0.0003,
            "none_of_these_if_absent": 0.93,
        }
    ],
    "guidelines": [],
    "notes": [],
}


def test_next_steps_numbers_are_the_differentials_and_never_read_certain(base_url: str, browser: Browser) -> None:
    """A user test: an abstention weighed Leopard syndrome 1 at 0.10 and the viewer said "0.48 → 0.94"; a
    near-certain "yes" read "1.00". The numbers are the differential's, "none of these" shown, never 1.00."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    page.goto(f"{base_url}/viewer/")
    draw = """async (steps) => {
        const m = await import("./next_steps.js");
        const section = m.renderNextSteps({ next_steps: steps }, (id) => document.createTextNode(id));
        section.id = "drawn";
        document.querySelector("main").prepend(section);
        return [0.9996, 0.995, 0.9949, 1, 0.004, 0].map(m.probability);
    }"""
    # As the API and command line print them (dxsearch.protocol.probability_text): 0.995 is "0.99" at two places.
    said = ["over 0.99", "0.99", "0.99", "over 0.99", "under 0.01", "under 0.01"]
    assert page.evaluate(draw, CONSIDERED_STEPS) == said
    drawn = page.locator("#drawn")
    expect(drawn).to_contain_text("with the probabilities they were weighed at: 1. Leopard syndrome 1 (0.10)")
    expect(drawn).to_contain_text("none of these: 0.85")
    expect(drawn.locator(".questions > p.meta")).to_contain_text("0.85 is left to none of these candidates")
    expect(drawn.locator(".answer-yes")).to_have_text("If present, favours: Leopard syndrome 1 0.10 → over 0.99")
    expect(drawn.locator(".answer-no")).to_have_text("If absent, favours: none of these 0.85 → 0.93")
    expect(drawn.locator(".chance-table tr.none-of-these")).to_contain_text("0.05")
    assert "1.00" not in (drawn.text_content() or "")
    _shoot(page, "next-steps-scale.png", "#drawn")
    context.close()


def test_an_insufficient_answer_shows_questions_only(base_url: str, browser: Browser) -> None:
    """The section as drawn from a stored trace whose answer was "insufficient evidence" (questions only)."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    page.goto(f"{base_url}/viewer/")
    draw = """async (steps) => {
        const m = await import("./next_steps.js");
        const section = m.renderNextSteps({ next_steps: steps }, (id) => document.createTextNode(id));
        section.id = "drawn";
        document.querySelector("main").prepend(section);
        return m.renderNextSteps({}, () => null) === null;
    }"""
    assert page.evaluate(draw, INSUFFICIENT_STEPS) is True  # a trace without next steps draws nothing
    drawn = page.locator("#drawn")
    expect(drawn).to_contain_text("No differential was given")
    expect(drawn.locator(".gene-panel")).to_have_count(0)
    expect(drawn.locator(".guidelines")).to_have_count(0)
    expect(drawn.locator(".question")).to_contain_text("Does the patient have Hearing impairment?")
    expect(drawn.locator(".answer-yes")).to_contain_text("Fabry disease 0.50 → 0.95")
    _shoot(page, "next-steps-insufficient.png", "#drawn")
    context.close()
