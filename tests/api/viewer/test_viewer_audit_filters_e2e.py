"""The auditor view in headless Chromium says what is wrong with a refused filter (not "Not a valid case").

A user test saw every 422 of a search prefixed "Not a valid case —", the clinician page's words. The real app
on loopback over the small test documents; Debian's chromium only (``/usr/bin/chromium``).
"""

from __future__ import annotations

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
        api_keys=SecretStr(f"{CLINICIAN_KEY}:clinician,{AUDITOR_KEY}:auditor"),
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
