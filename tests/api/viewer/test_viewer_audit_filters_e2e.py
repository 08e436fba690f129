"""The auditor view in headless Chromium says what is wrong with a refused filter (not "Not a valid case").

A user test saw every 422 of a search prefixed "Not a valid case —", the clinician page's words. The real app
on loopback over the small test documents; Debian's chromium only (``/usr/bin/chromium``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from browser_support import NEEDS_CHROMIUM, serving_documents
from playwright.sync_api import Browser, Request, expect
from pydantic import SecretStr
from support import SMALL_DOCS

from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.settings import Settings

CLINICIAN_KEY = "audit-filters-clinician-key-01"
AUDITOR_KEY = "audit-filters-auditor-key-0002"
OTHER_CLINICIAN_KEY = "audit-filters-clinician-key-03"
MRN = "MRN-12345678"

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[str]:
    with serving_documents(
        tmp_path_factory.mktemp("audit-filters-e2e"),
        SMALL_DOCS,
        test_settings,
        EvidencePolicy(),
        clinician_key=CLINICIAN_KEY,
        name="audit-filters",
        api_keys=SecretStr(f"{CLINICIAN_KEY}:clinician,{AUDITOR_KEY}:auditor,{OTHER_CLINICIAN_KEY}:clinician"),
    ) as url:
        yield url


def test_a_refused_filter_says_what_is_wrong_with_it(base_url: str, browser: Browser) -> None:
    expect.set_options(timeout=30_000)  # two busy cores
    problems: list[str] = []
    sent: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))

    def record(request: Request) -> None:
        sent.append(request.url)

    page.on("request", record)
    page.goto(f"{base_url}/viewer/audit.html")
    page.fill("#api-key", AUDITOR_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#verify-status")).to_contain_text("Chain verified")
    message = page.locator("#message")

    # A filter the server refuses: its words, introduced as a filter's refusal.
    page.fill("#diagnosis", "Marfan")
    page.get_by_role("button", name="Search").click()
    expect(message).to_contain_text("HTTP 422: A search filter was refused — diagnosis must be a code such as")
    expect(message).not_to_contain_text("Not a valid case")
    page.get_by_role("button", name="Clear filters").click()

    # A patient identifier where the pseudonym belongs: refused in the page, never sent (a query string can end
    # up in a proxy's logs).
    page.fill("#patient", MRN)
    page.get_by_role("button", name="Search").click()
    expect(message).to_contain_text("must be a pseudonym as records carry it")
    expect(message).to_contain_text("POST /v1/audit/pseudonym")
    expect(message).not_to_contain_text("Not a valid case")
    assert not any(MRN in url for url in sent), sent
    assert not problems, problems
    context.close()


def _post(url: str, key: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_the_page_lists_access_events_and_says_what_it_shows(base_url: str, browser: Browser) -> None:
    """A user test found no way to list break-glass reads, and 18 of 35 records shown with no word why."""
    expect.set_options(timeout=30_000)
    made = _post(f"{base_url}/v1/diagnose", CLINICIAN_KEY, {"findings": ["Arachnodactyly", "Ectopia lentis"]})
    reason = "covering clinician needs the prior decision overnight"
    _post(f"{base_url}/v1/traces/{made['audit_id']}/break-glass", OTHER_CLINICIAN_KEY, {"reason": reason})
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.goto(f"{base_url}/viewer/audit.html")
    page.fill("#api-key", AUDITOR_KEY)
    page.get_by_role("button", name="Use key").click()
    caption = page.locator("#records-table caption")
    expect(caption).to_contain_text("Decisions only; access events")

    page.select_option("#kind", "access")
    page.get_by_role("button", name="Search").click()
    expect(caption).to_contain_text("Access events only")
    expect(page.locator("#records-table")).to_contain_text(f"break-glass: “{reason}”")
    page.select_option("#kind", "all")
    page.get_by_role("button", name="Search").click()
    expect(caption).to_contain_text("All records: decisions and access events")
    assert not problems, problems
    context.close()
