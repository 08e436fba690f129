"""End to end in headless Chromium: the real app served by uvicorn on loopback, driven by Playwright.

The app is the real one (embedded index built here from the small test documents plus one poisoned
document, the evidence policy, a SQLite audit log with signed checkpoints). The browser is Debian's
chromium (``/usr/bin/chromium``, installed by ``.ci/run``): Playwright's own browser downloads are never
used. Screenshots go to ``artifacts/`` (kept by CI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from browser_support import CHROMIUM, serving
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect
from pydantic import SecretStr
from support import SMALL_DOCS, ListSource, make_doc

from api.app import create_app
from audit import CheckpointSigner, SqliteAuditStore
from corpus_builder.build import run_build
from dxsearch.cli import _explanation_lines
from dxsearch.corpus import DocumentKind
from dxsearch.knowledge.explanation import Explanation
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
CLINICIAN_KEY = "viewer-clinician-key-000000001"
AUDITOR_KEY = "viewer-auditor-key-0000000002"
MARFAN_FINDINGS = "Arachnodactyly\nEctopia lentis\nTall stature\n- Seizures"

# A poisoned corpus document: markup in its title and text must reach the page as characters.
POISON_ID = "pt:bbbb2222"
POISON_TITLE = 'Patient record <img src=x onerror="window.__xss=1">'
POISON_SCRIPT = "<script>window.__xss=2</script>"
POISON_TEXT = (
    f"Observed findings: Arachnodactyly; Ectopia lentis; Tall stature {POISON_SCRIPT}\n"
    "Diagnosis: Marfan syndrome (OMIM:154700)\n"
    '# Follow-up <img src=x onerror="window.__xss=3">\n'
    "Seen again a year later; an echocardiogram is planned.\n"
)
NOTE = (
    "Fourteen-year-old girl, height 182 cm (>97th centile), with arachnodactyly, ectopia lentis and aortic root "
    "dilatation. No seizures. Her father has scoliosis."
)
HPO = "http://purl.obolibrary.org/obo/hp.owl"
BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "2010-03-15"}},
        *(
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": HPO, "code": code, "display": display}]},
                    "subject": {"reference": "Patient/p1"},
                    "valueBoolean": True,
                }
            }
            for code, display in (
                ("HP:0001166", "Arachnodactyly"),
                ("HP:0001083", "Ectopia lentis"),
                ("HP:0000098", "Tall stature"),
            )
        ),
    ],
}
POISONED = make_doc(POISON_ID, DocumentKind.PATIENT_RECORD, POISON_TITLE, POISON_TEXT, ("OMIM:154700",))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason="Debian's chromium is missing at /usr/bin/chromium (.ci/run installs it: apt-get install chromium)",
    ),
]


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    index: EmbeddedIndex

    def get(self, path: str, key: str) -> httpx.Response:
        return httpx.get(self.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def diagnose(self, findings: list[str]) -> httpx.Response:
        return httpx.post(
            self.base_url + "/v1/diagnose",
            json={"findings": findings},
            headers={"Authorization": f"Bearer {CLINICIAN_KEY}"},
            timeout=60,
        )


def _viewer_settings(test_settings: Settings, api_keys: str) -> Settings:
    """The settings a browser test serves with: its keys, no rate limit in the way, a test pseudonym key."""
    return test_settings.model_copy(
        update={
            "api_keys": SecretStr(api_keys),
            "rate_limit_per_minute": 10_000,
            "policy_timeout_s": 60.0,
            "pseudonym_key": "viewer-test-pseudonym-key-0123456789",
        }
    )


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[LiveServer]:
    """The real app on 127.0.0.1 and a free port, in a background thread, ready to diagnose."""
    root = tmp_path_factory.mktemp("viewer-e2e")
    index_dir = root / "index"
    run_build(index_dir, [ListSource("viewer-docs", [*SMALL_DOCS, POISONED])], test_settings)
    settings = _viewer_settings(test_settings, f"{CLINICIAN_KEY}:clinician,{AUDITOR_KEY}:auditor")
    index = EmbeddedIndex(index_dir, settings)
    store = SqliteAuditStore(root / "audit.db", signer=CheckpointSigner.generate(), checkpoint_every=2)
    app = create_app(settings, index=index, policy=EvidencePolicy(), audit_store=store)

    try:
        with serving(app, "viewer-e2e-uvicorn") as base_url:
            yield LiveServer(base_url, index)
    finally:
        index.close()
        store.close()


def _watch(page: Page, problems: list[str]) -> None:
    """Collects uncaught page errors and every CSP / Trusted Types violation the console reports."""
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))

    def console(message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Trusted Type" in text or "TrustedHTML" in text:
            problems.append(f"console: {text}")

    page.on("console", console)


def _use_key(page: Page, key: str) -> None:
    page.fill("#api-key", key)
    page.get_by_role("button", name="Use key").click()


def test_clinician_and_auditor_views_in_chromium(live_server: LiveServer, browser: Browser) -> None:
    expect.set_options(timeout=20_000)  # two cores in CI: a diagnosis can take a while
    ARTIFACTS.mkdir(exist_ok=True)
    base = live_server.base_url
    chunk_text = live_server.index.store.chunk("omim:154700#0")
    assert chunk_text is not None
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    _watch(page, problems)

    # -- the page, with its CSP -----------------------------------------------------------------------------
    response = page.goto(f"{base}/viewer/")
    assert response is not None and response.ok
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#key-status")).to_contain_text("No key set")

    # -- errors are shown: an unknown key (401), markup in a finding (422), a bundle that is not JSON ------------
    _use_key(page, "not-a-configured-key-0000")
    expect(page.locator("#key-status")).to_contain_text("refused")
    page.fill("#findings", MARFAN_FINDINGS)
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#message")).to_contain_text("HTTP 401")

    _use_key(page, CLINICIAN_KEY)
    expect(page.locator("#key-status")).to_contain_text("Key accepted")
    page.fill("#findings", "Arachnodactyly\n<b>bold</b>")
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#message")).to_contain_text("HTTP 422")
    page.get_by_role("radio", name="FHIR bundle").check()
    expect(page.locator("#demographics")).to_be_hidden()
    page.fill("#bundle", "{not json")
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#message")).to_contain_text("not valid JSON")
    page.get_by_role("radio", name="Findings").check()

    # -- a differential, its evidence chain, a passage highlighted in its document ------------------------------
    page.fill("#findings", MARFAN_FINDINGS)
    page.get_by_role("button", name="Diagnose").click()
    first = page.locator(".differential > li").first
    expect(first).to_contain_text("Marfan")
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator(".chip.excluded")).to_contain_text("Seizures")
    audit_id = page.locator("#result .audit-id").text_content()
    assert audit_id
    first.locator("summary").focus()
    page.keyboard.press("Enter")  # expands with the keyboard
    expect(first.locator("details")).to_have_attribute("open", "")
    evidence = first.locator(".table-wrap button.evidence-link", has_text="omim:154700#0")
    expect(evidence).to_be_visible()
    expect(first).to_contain_text("Arachnodactyly")  # the findings this passage supports
    evidence.click()
    chunk = page.locator("#passage-chunk")
    expect(chunk).to_be_visible()
    assert chunk.text_content() == chunk_text.text  # the cited chunk, inside its document
    expect(page.locator("#passage mark").first).to_be_visible()
    expect(page.locator("#passage")).to_contain_text("Disease knowledge")
    # The reasoning turns, with the passages each retrieved.
    expect(page.locator(".turn").first).to_contain_text("match")
    assert page.locator(".turn .retrieved button.evidence-link").count() > 0
    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)

    # -- the poisoned document renders as text -----------------------------------------------------------------
    expect(first.locator(".doc-title", has_text=POISON_TITLE)).to_have_count(1)
    first.locator(".table-wrap button.evidence-link", has_text=f"{POISON_ID}#0").click()
    expect(page.locator("#passage .doc-title")).to_have_text(POISON_TITLE)
    marks = page.locator("#passage mark")
    expect(marks.first).to_contain_text(POISON_SCRIPT)  # the line naming the findings, as characters
    document_text = page.locator("#passage .document-text").text_content() or ""
    assert document_text == POISON_TEXT  # the whole document, the chunk marked inside it
    poisoned_chunk = live_server.index.store.chunk(f"{POISON_ID}#0")
    assert poisoned_chunk is not None and poisoned_chunk.end < len(POISON_TEXT)
    assert chunk.text_content() == poisoned_chunk.text  # the chunk only: the follow-up stays outside it
    assert all(m in poisoned_chunk.text for m in marks.all_text_contents())
    assert document_text.startswith(poisoned_chunk.text)
    assert page.locator("img").count() == 0
    assert page.evaluate("document.scripts.length") == 1  # only the viewer's module
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.screenshot(path=str(ARTIFACTS / "viewer-poisoned.png"), full_page=True)

    # -- insufficient evidence -----------------------------------------------------------------------------
    page.fill("#findings", "Blue toenails")
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator(".insufficient")).to_contain_text("Insufficient evidence")
    expect(page.locator(".insufficient")).to_contain_text("Nothing was searched")  # it abstained before retrieving
    expect(page.locator(".chip.not-understood")).to_contain_text("Blue toenails")  # shown, not dropped
    expect(page.locator(".insufficient .reason")).to_contain_text("Why: ")
    expect(page.locator(".differential")).to_have_count(0)
    expect(page.locator("#progress")).to_contain_text("Done: Insufficient evidence")
    page.locator("#result").screenshot(path=str(ARTIFACTS / "viewer-insufficient.png"))

    # -- a clinical note, and a FHIR bundle ---------------------------------------------------------------------
    page.get_by_role("radio", name="Clinical note").check()
    page.fill("#note", NOTE)
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator(".differential > li").first).to_contain_text("Marfan")
    expect(page.locator(".chip.excluded")).to_contain_text("seizures", ignore_case=True)
    # Read from the stated height, not named in the words: the chip names the term it was read as.
    expect(page.locator(".findings .chip").first).to_contain_text("height 182 cm (>97th centile) → Tall stature")
    # A relative's finding is read and shown, not in the case: nothing entered disappears.
    expect(page.locator(".chip.read-as.family_history")).to_contain_text("a relative's: Scoliosis")
    # A viewer user test: a past finding looked current, an abbreviation hid the term it was read as, and what
    # was not understood showed as character positions. The note just sent shows in its own words.
    page.fill("#note", "Seen on Tuesday. History of febrile seizures, resolved. HTN. Arachnodactyly, ectopia lentis.")
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator(".findings .chip.historical")).to_contain_text("past: febrile seizures")
    expect(page.locator(".findings .chip", has_text="HTN")).to_contain_text("HTN → Hypertension")
    expect(page.locator(".chip.not-understood").first).to_contain_text("“Seen on Tuesday”")
    # A second user test: a denied family history showed as "not understood", its reason only in a tooltip. By
    # category; by the reason only for a decision stored before entries had one (the last three).
    flags = page.evaluate(
        """async () => { const { notUnderstoodFlag } = await import("./render.js");
             return [
               { reason: "reworded", category: "denied_of_a_relative" },
               { reason: "reworded", category: "of_a_relative" },
               { reason: "no HPO term matches these words", category: "not_understood", words_searched: true },
               { reason: "said of a relative, who does not have it: not a finding of the patient, nor of the family" },
               { reason: "said of a relative, and names no HPO term: not a finding of the patient" },
               { reason: "no HPO term matches these words", words_searched: true },
             ].map(notUnderstoodFlag); }"""
    )
    assert flags == 2 * [
        "said of the family, who do not have it — not used: ",
        "a relative's, not the patient's — not used: ",
        "not understood — searched by its words only: ",
    ]
    page.locator(".findings").screenshot(path=str(ARTIFACTS / "viewer-note-reading.png"))
    page.get_by_role("radio", name="FHIR bundle").check()
    page.fill("#bundle", json.dumps(BUNDLE))
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#progress")).to_contain_text("Done")
    expect(page.locator(".differential > li").first).to_contain_text("Marfan")
    expect(page.locator("#result")).to_contain_text("patient pseudonym")

    # -- a stored decision by its audit id (the link of the CDS Hooks cards) ------------------------------------
    page.goto(f"{base}/viewer/?trace={audit_id}")
    expect(page.locator(".differential > li").first).to_contain_text("Marfan")
    expect(page.locator("#result .audit-id")).to_have_text(audit_id)

    # A new tab has no key yet: the link asks for one, then opens the record.
    linked = context.new_page()
    _watch(linked, problems)
    linked.goto(f"{base}/viewer/?trace={audit_id}")
    expect(linked.locator("#progress")).to_contain_text("Enter your API key")
    _use_key(linked, CLINICIAN_KEY)
    expect(linked.locator(".differential > li").first).to_contain_text("Marfan")
    linked.close()

    # -- the auditor view --------------------------------------------------------------------------------------
    for _ in range(6):  # enough records for a second page of 10; nonspecific (IC 7.9): insufficient evidence
        assert live_server.diagnose(["Chorea", "Dementia"]).status_code == 200
    total = len(live_server.get("/v1/traces?limit=1000", AUDITOR_KEY).json()["records"])
    assert total == 11  # Marfan findings, insufficient evidence, two notes, bundle, and these 6
    auditor = context.new_page()  # a new tab: sessionStorage, so the key, is per tab
    _watch(auditor, problems)
    auditor.goto(f"{base}/viewer/audit.html")
    expect(auditor.locator("#verification")).to_contain_text("Enter an auditor")
    _use_key(auditor, CLINICIAN_KEY)
    expect(auditor.locator("#verification")).to_contain_text("HTTP 403")
    _use_key(auditor, AUDITOR_KEY)
    expect(auditor.locator("#verify-status")).to_contain_text("Chain verified")
    # Every read is itself an access event in the same log, so the chain holds the 11 decisions and more.
    expect(auditor.locator("#verification")).to_contain_text(re.compile(r"Records checked(1[1-9]|[2-9]\d|\d{3,})"))
    rows = auditor.locator("#records-table tbody tr")
    expect(rows).to_have_count(11)
    # The caption says the order the rows are in (it said "oldest first" above newest-first rows).
    expect(auditor.locator("#records-table caption")).to_contain_text("11 shown, newest first")
    shown = [int(seq) for seq in auditor.locator("#records-table tbody tr td.num").all_text_contents()]
    assert shown == sorted(shown, reverse=True), shown

    auditor.select_option("#limit", "10")
    auditor.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(10)
    auditor.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(auditor.get_by_role("button", name="Next page")).to_be_disabled()
    auditor.get_by_role("button", name="Previous page").click()
    expect(rows).to_have_count(10)

    auditor.fill("#since", "2999-01-01T00:00:00")
    auditor.get_by_role("button", name="Search").click()
    expect(auditor.locator("#records")).to_contain_text("No audit record matches")
    auditor.get_by_role("button", name="Clear filters").click()  # back to 25 a page

    def count(query: str) -> int:
        found = live_server.get(f"/v1/traces?limit=1000&{query}", AUDITOR_KEY).json()["records"]
        return len(found)

    pseudonyms = {r["patient_pseudonym"] for r in live_server.get("/v1/traces", AUDITOR_KEY).json()["records"]}
    pseudonyms.discard(None)
    assert len(pseudonyms) == 1  # the bundle's patient
    filters = [
        ("#outcome", "insufficient_evidence", "outcome=insufficient_evidence", 7),
        ("#evidence", POISON_ID, f"evidence={POISON_ID}", None),
        ("#patient", next(iter(pseudonyms)), f"patient={next(iter(pseudonyms))}", 1),
        ("#model_version", "evidence@2", "model_version=evidence@2", total),
        ("#diagnosis", "OMIM:154700", "diagnosis=OMIM:154700", 4),
    ]
    for selector, value, query, expected in filters:
        if selector == "#outcome":
            auditor.select_option(selector, value)
        else:
            auditor.fill(selector, value)
        auditor.get_by_role("button", name="Search").click()
        wanted = count(query)
        assert expected is None or wanted == expected, (query, wanted)
        expect(rows).to_have_count(wanted)
        auditor.get_by_role("button", name="Clear filters").click()
    auditor.fill("#diagnosis", "OMIM:154700")
    auditor.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("Marfan")
    # Newest first: the findings decision (the first Marfan one) is the last row.
    rows.last.get_by_role("button", name="Open audit record").click()
    expect(auditor.locator("#record-heading")).to_be_visible()
    expect(auditor.locator("#record")).to_contain_text(audit_id)
    opened = auditor.locator(".differential > li").first
    expect(opened).to_contain_text("Marfan")
    opened.locator("summary").click()
    opened.locator(".table-wrap button.evidence-link", has_text="omim:154700#0").click()
    expect(auditor.locator("#passage-chunk")).to_have_text(chunk_text.text)
    auditor.screenshot(path=str(ARTIFACTS / "viewer-audit.png"), full_page=True)

    context.close()
    assert not problems, problems


# -- the clinician's view of one diagnosis (issue 17) -----------------------------------------------------------
# These run after the test above: its auditor part counts every record committed so far.

MARFAN_WITH_UNKNOWN = "Arachnodactyly\nEctopia lentis\nTall stature\nBlue toenails\n- Seizures"
PHONE = {"width": 390, "height": 844}


def _diagnose_in(page: Page, findings: str, patient_id: str = "") -> str:
    """Submits findings (and a patient id) and waits for a new decision; returns its audit id."""
    previous = page.locator("#result .audit-id").all_text_contents()
    page.get_by_role("radio", name="Findings").check()
    page.fill("#findings", findings)
    page.fill("#patient-id", patient_id)
    page.get_by_role("button", name="Diagnose").click()
    if previous:
        expect(page.locator("#result .audit-id")).not_to_have_text(previous[0])
    expect(page.locator("#progress")).to_contain_text("Done")
    audit_id = page.locator("#result .audit-id").text_content()
    assert audit_id
    return audit_id


def _clinician_page(browser: Browser, base: str, problems: list[str], **options: object) -> Page:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    _watch(page, problems)
    page.goto(f"{base}/viewer/")
    _use_key(page, CLINICIAN_KEY)
    expect(page.locator("#key-status")).to_contain_text("Key accepted")
    return page


def test_each_diagnosis_says_what_it_explains_with_its_genes_links_and_a_precise_passage(
    live_server: LiveServer, browser: Browser
) -> None:
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page = _clinician_page(browser, live_server.base_url, problems, viewport={"width": 1440, "height": 1000})
    _diagnose_in(page, MARFAN_WITH_UNKNOWN)
    first = page.locator(".differential > li").first
    expect(first).to_contain_text("Marfan")

    # Codes are links to their reference pages, in a new tab without an opener.
    code = first.locator("summary a.code-link")
    expect(code).to_have_attribute("href", "https://omim.org/entry/154700")
    expect(code).to_have_attribute("target", "_blank")
    assert "noopener" in (code.get_attribute("rel") or "")
    hp = page.locator(".findings a.code-link", has_text="HP:0001166")
    expect(hp).to_have_attribute("href", "https://hpo.jax.org/browse/term/HP:0001166")
    codes = ["ORPHA:558", "OMIM:154700", "HP:0001166", "OMIM:1547000", "ICD10CM:Q87.4", "HP:1/../x"]
    to_urls = 'async (codes) => { const m = await import("./links.js"); return codes.map(m.codeUrl); }'
    urls = page.evaluate(to_urls, codes)
    assert urls == [
        "https://www.orpha.net/en/disease/detail/558",
        "https://omim.org/entry/154700",
        "https://hpo.jax.org/browse/term/HP:0001166",
        None,
        None,
        None,
    ]

    # One coverage figure, the trace's explanation (likelihood ratios over the index's knowledge), counting
    # every finding entered as present (the one not understood included, the absent one not); the same m
    # heads the evidence chain.
    first.locator("summary").click()
    card = first.locator(".explanation-detail")
    expect(card).to_have_count(1)
    expect(card.locator("h4")).to_contain_text("of the 4 findings entered")
    explained = card.locator(".chips.explains > li").count()
    assert explained >= 2
    expect(first.locator("summary")).to_contain_text(f"explains {explained}/4 findings")
    expect(card.locator(".chips.not-explained > li")).to_have_count(4 - explained)
    expect(card.locator(".chips.not-explained")).to_contain_text("Blue toenails")
    expect(card.locator(".chips.explains")).to_contain_text("Arachnodactyly")
    expect(card.locator(".chips.explains")).to_contain_text("of patients")  # the disease's frequency of it
    expect(first.locator(".probability-meaning")).to_contain_text(" in 100 were right")  # the evidence policy's
    expect(first.locator("table.evidence th").nth(3)).to_contain_text("(of 4 entered)")
    # The learned policy's line names no findings: "all" and "none" still list them, "some" only counts.
    parsed = page.evaluate(
        """async () => {
             const { caseFindings, explainedFindings, reasoningCoverage } = await import("./render.js");
             const findings = [{ label: "A", hpo_id: "HP:0000001" }, { label: "B" }, { label: "C", excluded: true }];
             const trace = {
               case: { findings },
               turns: [{ index: 2, action: "reason", text: "<reason>Ranked 2 candidates.\\n" +
                 "1. X syndrome [OMIM:100001] p=0.5 score 1 = f +1; explains 2/2 findings; evidence x\\n" +
                 "2. Y syndrome [ORPHA:7] p=0.2 score 1 = f +1; explains 1/2 findings; evidence y</reason>" }],
             };
             const coverage = reasoningCoverage(trace);
             return ["OMIM:100001", "ORPHA:7"].map((code) => {
               const e = explainedFindings({ name: "", code }, coverage, caseFindings(trace));
               return [e.explained, e.entered, e.complete, e.yes.map((f) => f.label), e.no.map((f) => f.label)];
             });
           }"""
    )
    assert parsed == [[2, 2, True, ["A", "B"], []], [1, 2, False, [], []]]
    # Seizures were reported absent; they are no feature of Marfan syndrome, so nothing speaks against it.
    expect(card).to_contain_text("nothing: no finding reported absent is a feature of this disease")

    # Genes (and inheritance) from the disease card the diagnosis cites.
    expect(first.locator(".disease-facts")).to_contain_text("FBN1")
    expect(first.locator("summary .dx-facts")).to_contain_text("genes FBN1")

    # The passage: only the lines naming the diagnosis or the findings it is cited for are marked.
    first.locator(".table-wrap button.evidence-link", has_text="omim:154700#0").click()
    chunk = live_server.index.store.chunk("omim:154700#0")
    assert chunk is not None
    expect(page.locator("#passage-chunk")).to_have_text(chunk.text)
    marks = page.locator("#passage mark")
    expect(marks.first).to_be_visible()
    marked = [m.strip() for m in marks.all_text_contents()]
    assert marked == ["Marfan syndrome (OMIM:154700)", "- Arachnodactyly", "- Ectopia lentis", "- Tall stature"]
    # A line stating an absence never counts as support, though it names the finding.
    lines = page.evaluate(
        """async () => (await import("./render.js")).supportingLines(
             "Observed findings: Tall stature\\nExcluded findings: Tall stature\\nNot a feature:\\n- Tall stature\\n",
             ["Tall stature"])"""
    )
    assert [line["marked"] for line in lines] == [True, False]
    # A probability is said in a hundred, as its two-decimal figure says it: never "about 0 in 10", nor "about 1 in
    # 10" for 0.06 (test_viewer_numbers_e2e).
    said = page.evaluate(
        """async () => { const r = await import("./render.js");
             return [0.73, 0.12, 0.04, 0.004].map((p) => r.frequencyText(p)); }"""
    )
    assert said == ["about 73 in 100", "about 12 in 100", "about 4 in 100", "fewer than 1 in 100"]
    assert "Aortic root aneurysm" not in " ".join(marked)
    expect(page.locator("#passage .passage-hint")).to_contain_text("Highlighted: the 4 lines")
    # HPO codes with their names, folded away; the disease code a link.
    terms = page.locator("#passage .phenotype-codes")
    expect(terms.locator("summary")).to_have_text("HPO terms of this document (2)")
    terms.locator("summary").click()
    expect(terms.locator("li").first).to_have_text("Arachnodactyly HP:0001166")
    expect(terms.locator("a.code-link").first).to_have_attribute("href", "https://hpo.jax.org/browse/term/HP:0001166")
    expect(page.locator("#passage .codes a.code-link", has_text="OMIM:154700")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "viewer-explanation.png"), full_page=True)

    # The disease card's own button marks its genes line.
    first.locator(".disease-facts button.evidence-link").click()
    expect(marks).to_have_count(1)
    expect(marks.first).to_have_text("Genes: FBN1\n")

    page.context.close()
    assert not problems, problems


def test_patient_id_keeps_one_pseudonym_and_a_reopened_trace_comes_first(
    live_server: LiveServer, browser: Browser
) -> None:
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page = _clinician_page(browser, live_server.base_url, problems, viewport={"width": 1440, "height": 1000})
    pseudonym = page.locator("#result .pseudonym code")

    audit_id = _diagnose_in(page, MARFAN_FINDINGS, patient_id="MRN-0042")
    expect(page.locator("#result .pseudonym")).to_contain_text("patient pseudonym")
    first = pseudonym.text_content()
    _diagnose_in(page, "Arachnodactyly\nTall stature", patient_id="MRN-0042")
    assert pseudonym.text_content() == first  # the same patient, one pseudonym
    _diagnose_in(page, MARFAN_FINDINGS, patient_id="MRN-0043")
    assert pseudonym.text_content() != first
    _diagnose_in(page, MARFAN_FINDINGS)
    expect(page.locator("#result .pseudonym")).to_contain_text("case pseudonym")
    record = live_server.get(f"/v1/traces/{audit_id}", AUDITOR_KEY).json()
    assert record["patient_pseudonym"] == first  # what the auditor searches by
    assert "MRN-0042" not in json.dumps(record)

    page.get_by_role("radio", name="FHIR bundle").check()
    expect(page.locator("#patient-id")).to_be_hidden()  # a bundle names its patient itself

    # A reopened decision is drawn at the top, the form below it for a new case.
    page.goto(f"{live_server.base_url}/viewer/?trace={audit_id}")
    expect(page.locator("#result .audit-id")).to_have_text(audit_id)
    expect(page.locator("#case-heading")).to_have_text("New case")
    result_box = page.locator("#result").bounding_box()
    form_box = page.locator("#case-form").bounding_box()
    assert result_box and form_box and result_box["y"] < form_box["y"]
    key_box = page.locator(".key-panel").bounding_box()
    assert key_box and result_box["y"] < key_box["y"]  # the key, accepted, waits below
    assert result_box["y"] < 200  # the first thing on the page
    expect(page.locator("#result .pseudonym")).to_contain_text("patient pseudonym")
    expect(pseudonym).to_have_text(first or "")
    page.screenshot(path=str(ARTIFACTS / "viewer-reopened.png"))

    page.context.close()
    assert not problems, problems


def test_on_a_phone_the_passage_opens_by_its_button_and_the_evidence_table_scrolls(
    live_server: LiveServer, browser: Browser
) -> None:
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page = _clinician_page(browser, live_server.base_url, problems, viewport=PHONE, is_mobile=True, has_touch=True)
    _diagnose_in(page, MARFAN_FINDINGS)
    first = page.locator(".differential > li").first
    first.locator("summary").click()

    # Nothing is wider than the phone but the evidence table, which scrolls inside its frame.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    wrap = first.locator(".table-wrap")
    sizes = wrap.evaluate("w => [w.scrollWidth, w.clientWidth, getComputedStyle(w).overflowX]")
    assert sizes[0] > sizes[1] and sizes[2] == "auto", sizes
    expect(first.locator(".scroll-hint")).to_be_visible()
    last_header = wrap.locator("th").last
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    box = last_header.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    wrap.evaluate("w => { w.scrollLeft = 0; }")
    page.screenshot(path=str(ARTIFACTS / "viewer-phone.png"))

    # The passage opens right below the table of the button clicked, and is scrolled into view.
    button = wrap.locator("button.evidence-link", has_text="omim:154700#0")
    button.click()
    panel = page.locator("#passage")
    expect(panel.locator("#passage-chunk")).to_be_visible()
    assert panel.evaluate("p => p.previousElementSibling && p.previousElementSibling.classList.contains('table-wrap')")
    panel_top = panel.evaluate("p => p.getBoundingClientRect().top + window.scrollY")
    button_bottom = button.evaluate("b => b.getBoundingClientRect().bottom + window.scrollY")
    assert 0 <= panel_top - button_bottom < PHONE["height"], (panel_top, button_bottom)
    expect(panel.locator("#passage-heading")).to_be_in_viewport()
    expect(panel.locator("mark").first).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "viewer-phone-passage.png"))

    # Closing it goes back to the button; a passage of the reasoning opens below its turn's list.
    panel.get_by_role("button", name="Close passage").click()
    expect(panel).to_be_hidden()
    expect(button).to_be_focused()
    turn_button = page.locator(".turn .retrieved button.evidence-link").first
    turn_button.click()
    expect(panel.locator("#passage-chunk")).to_be_visible()
    assert panel.evaluate("p => p.previousElementSibling.matches('ul.retrieved')")
    expect(panel.locator("#passage-heading")).to_be_in_viewport()

    # Back to a wide window: the passage returns to its side column.
    page.set_viewport_size({"width": 1440, "height": 1000})
    expect(page.locator(".workspace > #passage")).to_have_count(1)

    page.context.close()
    assert not problems, problems


# -- sex, inheritance, onset or age, as each bears on a diagnosis ------------------------------------------------

MARFAN_FOUR = "Arachnodactyly\nEctopia lentis\nTall stature\nAortic root aneurysm"
#: The factor chips' text without the HPO codes linked after their terms: what `dxsearch diagnose` prints.
FACTOR_TEXT = """(item) => {
  const copy = item.cloneNode(true);
  copy.querySelectorAll(".factor-code").forEach((code) => code.remove());
  return copy.textContent;
}"""


def _factor_lines(card: Locator) -> list[str]:
    lines: list[str] = card.locator(".chips.factors > li").evaluate_all(f"items => items.map({FACTOR_TEXT})")
    return lines


def _cli_factor_lines(explanation: Explanation) -> list[str]:
    """The CLI's lines for the factors: the last ones of its explanation (an age said from the disease's onset in
    both: "the disease's onset: congenital — fits an age of 14 y")."""
    lines = _explanation_lines(explanation)
    return lines[len(lines) - len(explanation.factors) :] if explanation.factors else []


def test_sex_and_age_are_weighed_per_diagnosis_in_the_words_of_the_cli(
    live_server: LiveServer, browser: Browser
) -> None:
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page = _clinician_page(browser, live_server.base_url, problems, viewport={"width": 1440, "height": 1000})
    page.get_by_role("radio", name="Findings").check()
    page.fill("#findings", MARFAN_FOUR)
    page.select_option("#sex", "male")
    page.fill("#age", "14")
    with page.expect_response(lambda r: r.url.endswith("/v1/diagnose") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Diagnose").click()
    assert answer.value.ok
    traced = answer.value.json()["trace"]["diagnoses"]  # the response the page drew
    expect(page.locator("#progress")).to_contain_text("Done")
    expect(page.locator(".findings .meta", has_text="sex: male")).to_contain_text("age: 14 years (P14Y)")
    items = page.locator(".differential > li")
    expect(items).to_have_count(len(traced))

    # Every diagnosis lists exactly the factors the API gave it, each as `dxsearch diagnose` words it (the
    # codes of the terms linked besides); one without any says the sex and age given weigh nothing for it.
    weighed: list[int] = []
    for position, diagnosis in enumerate(traced):
        explanation = Explanation.model_validate(diagnosis["explanation"])
        item = items.nth(position)
        item.locator("summary").click()
        card = item.locator(".explanation-detail")
        expect(card).to_contain_text("Sex, inheritance, onset or age:")
        assert _factor_lines(card) == _cli_factor_lines(explanation), diagnosis["name"]
        fits = [f for f in explanation.factors if f.fits]
        expect(card.locator(".chip.factor-fits")).to_have_count(len(fits))
        expect(card.locator(".chip.factor-against")).to_have_count(len(explanation.factors) - len(fits))
        for factor in explanation.factors:
            if factor.matched_id:
                link = card.locator(".factor-code a.code-link", has_text=factor.matched_id)
                expect(link).to_have_attribute("href", f"https://hpo.jax.org/browse/term/{factor.matched_id}")
        if explanation.factors:
            weighed.append(position)
        else:
            expect(card).to_contain_text(
                "nothing either way: the sex and age given neither fit nor speak against this disease"
            )
        item.locator("summary").click()  # closed again
    # This index's knowledge gives at least one of these diseases an onset the age of 14 meets.
    assert weighed, [d["name"] for d in traced]
    shown = items.nth(weighed[0])
    shown.locator("summary").click()
    expect(shown.locator(".chips.factors")).to_contain_text(
        re.compile(r"the disease's onset: [a-z ]+ HP:\d{7} — fits an age of 14 y, likelihood ratio ")
    )
    expect(shown.locator(".chips.factors")).to_contain_text("likelihood ratio ")
    shown.scroll_into_view_if_needed()
    page.locator(".differential").screenshot(path=str(ARTIFACTS / "viewer-factors.png"))

    # What speaks against a diagnosis (not met in this small index with these findings) in the CLI's words too:
    # the same explanation drawn by the page's own module and printed by the CLI. Names stay characters.
    against = {
        "annotated": True,
        "entered": 1,
        "supports": [],
        "not_explained": [{"label": "Muscle weakness", "hpo_id": "HP:0001324"}],
        "contradicts": [],
        "factors": [
            {"evidence": "sex", "value": "female", "fits": False, "likelihood_ratio": 0.05},
            {
                "evidence": "inheritance",
                "value": "HP:0001419",
                "name": "X-linked recessive inheritance",
                "fits": False,
                "likelihood_ratio": 0.2,
            },
            {"evidence": "inheritance", "value": "HP:0000006", "fits": True, "likelihood_ratio": 1.5},
            {
                "evidence": "onset",
                "value": "HP:0003593",
                "name": 'Infantile onset <img src=x onerror="window.__xss=5">',
                "fits": True,
                "matched_id": "HP:0003593",
                "matched_name": "Infantile onset",
                "likelihood_ratio": 3.25,
            },
        ],
    }
    drawn = page.evaluate(
        """async (explanation) => {
             const { explanationDetail } = await import("./render.js");
             const factorText = """
        + FACTOR_TEXT
        + """;
             const box = explanationDetail({ explanation }, { sex: "female", age: "P3M" });
             const none = explanationDetail({ explanation: { ...explanation, factors: [] } }, { sex: "unknown" });
             document.getElementById("result").append(box); // drawn in the page, for its screenshot
             const chips = [...box.querySelectorAll(".chips.factors > li")];
             return {
               lines: chips.map(factorText),
               classes: chips.map((chip) => chip.className),
               links: [...box.querySelectorAll(".chips.factors a.code-link")].map((a) => a.textContent),
               images: box.querySelectorAll("img").length,
               none: none.textContent,
             };
           }""",
        against,
    )
    assert drawn["lines"] == _cli_factor_lines(Explanation.model_validate(against))
    assert drawn["lines"][:2] == [
        "sex female: speaks against it, likelihood ratio 0.05",
        "X-linked recessive inheritance: speaks against it, likelihood ratio 0.2",
    ]
    assert drawn["classes"] == ["chip factor factor-against"] * 2 + ["chip factor factor-fits"] * 2
    assert drawn["links"] == ["HP:0001419", "HP:0000006", "HP:0003593", "HP:0003593"]
    assert drawn["images"] == 0 and page.evaluate("typeof window.__xss") == "undefined"
    assert "none given: the case states no sex, inheritance, onset or age" in drawn["none"]
    page.locator("#result > .explanation-detail").screenshot(path=str(ARTIFACTS / "viewer-factors-against.png"))

    page.context.close()
    assert not problems, problems


# -- one disease under two codes -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_cards_url(
    two_marfan_cards_index: Path, test_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app over the small corpus plus Marfan syndrome's Orphanet card (as tests/api/test_equivalent_diagnoses)."""
    settings = _viewer_settings(test_settings, f"{CLINICIAN_KEY}:clinician")
    index = EmbeddedIndex(two_marfan_cards_index, settings)
    store = SqliteAuditStore(tmp_path_factory.mktemp("two-cards-audit") / "audit.db")
    # Orphanet phenotype scores unshrunk and no probability bar: the ORPHA:558 entry reaches the top five.
    policy = EvidencePolicy(EvidencePolicyConfig(orpha_factor=1.0, abstain_below=0.0))
    app = create_app(settings, index=index, policy=policy, audit_store=store)
    try:
        with serving(app, "viewer-two-cards-uvicorn") as url:
            yield url
    finally:
        index.close()
        store.close()


def test_a_disease_folded_from_two_entries_shows_its_other_code(two_cards_url: str, browser: Browser) -> None:
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page = _clinician_page(browser, two_cards_url, problems, viewport={"width": 1440, "height": 1000})
    page.get_by_role("radio", name="Findings").check()
    page.fill("#findings", MARFAN_FOUR)
    with page.expect_response(lambda r: r.url.endswith("/v1/diagnose") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Diagnose").click()
    diagnoses = answer.value.json()["diagnoses"]
    # under the code of its better-ranked entry (the Orphanet-coded patients' votes may lead), the other beside it
    shown, other = diagnoses[0]["code"], diagnoses[0]["alternate_codes"]
    assert {shown, *other} == {"OMIM:154700", "ORPHA:558"} and len(other) == 1
    first = page.locator(".differential > li").first
    expect(first.locator("summary .dx-name")).to_have_text("Marfan syndrome")
    also = first.locator("summary .alternate-codes")
    expect(also).to_have_text(f" also {other[0]}")
    href = {"ORPHA:558": "https://www.orpha.net/en/disease/detail/558", "OMIM:154700": "https://omim.org/entry/154700"}
    expect(also.locator("a.code-link")).to_have_attribute("href", href[other[0]])
    # One entry: no other diagnosis of the differential carries either code.
    codes = page.locator(".differential summary .dx-label a.code-link").all_text_contents()
    assert codes.count("OMIM:154700") == 1 and codes.count("ORPHA:558") == 1, codes
    first.screenshot(path=str(ARTIFACTS / "viewer-alternate-codes.png"))

    # An OMIM diagnosis that cites only the Orphanet card (which lists no genes): its own card says them, when the
    # decision read it (retrieved: `known`); a card the decision did not read is never asked for.
    facts = page.evaluate(
        """async () => {
             const { fillDiseaseFacts } = await import("./render.js");
             const facts = document.createElement("dl"), summaryFacts = document.createElement("span");
             const diagnosis = { name: "Marfan syndrome", code: "OMIM:154700", evidence: [{ evidenceId: "orpha:558#0",
               docId: "orpha:558", kind: "disease_knowledge", mentionsDiagnosis: true, supports: [] }] };
             const known = new Set(["orpha:558#0", "omim:154700#0"]);
             await fillDiseaseFacts({ diagnosis, facts, summaryFacts, known });
             return [facts.textContent, summaryFacts.textContent];
           }"""
    )
    assert "FBN1" in facts[0] and "omim:154700#0 (not cited by the diagnosis)" in facts[0], facts
    assert facts[1].startswith("genes FBN1")

    page.context.close()
    assert not problems, problems
