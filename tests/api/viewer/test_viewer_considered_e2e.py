"""An insufficient-evidence answer in headless Chromium: the candidates it weighed, labelled as not a diagnosis.

The real app on loopback over the small test documents, with the evidence policy's probability bar out of
reach, so that Marfan syndrome's findings are ranked, weighed and not named. Debian's chromium only
(``/usr/bin/chromium``); the screenshot goes to ``artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import NEEDS_CHROMIUM, serving_documents
from playwright.sync_api import Browser, expect
from support import SMALL_DOCS

from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
CLINICIAN_KEY = "considered-clinician-key-000001"
MARFAN_FINDINGS = "Arachnodactyly\nEctopia lentis\nTall stature\nAortic root aneurysm"

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[str]:
    policy = EvidencePolicy(EvidencePolicyConfig(abstain_below=0.999))  # no answer reaches it
    with serving_documents(
        tmp_path_factory.mktemp("considered-e2e"),
        SMALL_DOCS,
        test_settings,
        policy,
        clinician_key=CLINICIAN_KEY,
        name="considered",
    ) as url:
        yield url


def test_an_abstention_shows_what_it_weighed_as_not_a_diagnosis(base_url: str, browser: Browser) -> None:
    expect.set_options(timeout=30_000)  # two busy cores: a diagnosis can take a while
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.goto(f"{base_url}/viewer/")
    page.fill("#api-key", CLINICIAN_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_contain_text("Key accepted")
    page.fill("#findings", MARFAN_FINDINGS)
    page.get_by_role("button", name="Diagnose").click()

    box = page.locator(".insufficient")
    expect(box).to_contain_text("Insufficient evidence")
    expect(box).to_contain_text("listed below with their probabilities: they are not a diagnosis")
    expect(box.locator(".reason")).to_contain_text("Why: the most probable diagnosis, Marfan syndrome")
    expect(page.get_by_role("heading", name="Considered, each too improbable to name")).to_be_visible()
    considered = page.locator("ol.considered > li")
    assert 2 <= considered.count() <= 5
    expect(considered.first).to_contain_text("Marfan syndrome")
    expect(considered.first.locator(".confidence")).to_contain_text("probability 0.")
    expect(page.locator("ol.differential:not(.considered)")).to_have_count(0)  # no differential is given
    # Opening the leading candidate shows what it explains, as a diagnosis would.
    considered.first.locator("summary").click()
    expect(considered.first).to_contain_text("Arachnodactyly")
    # Next steps: questions over the candidates weighed, no panel, no guideline.
    steps = page.locator(".next-steps")
    expect(steps).to_contain_text("separate the candidates considered")
    expect(steps.locator(".gene-panel")).to_have_count(0)
    expect(steps.locator(".guidelines")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#result").screenshot(path=str(ARTIFACTS / "viewer-considered.png"))
    assert not problems, problems
    context.close()
