"""The viewer's static files: served at /viewer/ with a strict Content-Security-Policy, and written so
that no text from the API can ever be parsed as HTML (no HTML sinks, no inline script or style)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.viewer import CONTENT_SECURITY_POLICY, STATIC_DIR
from dxsearch.cli import _explanation_lines
from dxsearch.intake.account import EntryCategory
from dxsearch.settings import Settings

STATIC_FILES = sorted(p for p in STATIC_DIR.iterdir() if p.is_file())
SCRIPTS = [p for p in STATIC_FILES if p.suffix == ".js"]
PAGES = [p for p in STATIC_FILES if p.suffix == ".html"]
#: Ways to turn a string into markup (or code) in a browser; the viewer uses none of them.
HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|srcdoc"
    r"|\beval\s*\(|new\s+Function\b|setTimeout\s*\(\s*['\"`]|setInterval\s*\(\s*['\"`]"
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # No lifespan: the static files need neither the index nor the audit store.
    audit_db = tmp_path_factory.mktemp("viewer-audit") / "audit.db"
    app = create_app(Settings(audit_url=f"sqlite:///{audit_db}"))
    yield TestClient(app)


def test_the_viewer_has_its_pages_and_scripts() -> None:
    names = {p.name for p in STATIC_FILES}
    assert {"index.html", "audit.html", "viewer.css", "common.js", "render.js", "clinician.js", "audit.js"} <= names


@pytest.mark.parametrize("path", ["/viewer/", "/viewer/index.html", "/viewer/audit.html", "/viewer/render.js"])
def test_viewer_files_are_served_with_the_csp(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().partition(" ")[::2] for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_and_scripts_have_their_content_types(client: TestClient) -> None:
    assert client.get("/viewer/").headers["content-type"].startswith("text/html")
    assert "javascript" in client.get("/viewer/clinician.js").headers["content-type"]
    assert client.get("/viewer/viewer.css").headers["content-type"].startswith("text/css")
    assert '<form id="case-form"' in client.get("/viewer/").text


def test_viewer_without_slash_redirects_and_unknown_files_are_404(client: TestClient) -> None:
    redirected = client.get("/viewer", follow_redirects=False)
    assert redirected.status_code in (301, 307, 308)
    assert redirected.headers["location"].endswith("/viewer/")
    missing = client.get("/viewer/nope.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"  # the API's one error shape, not a page
    assert client.get("/viewer/../api/app.py").status_code == 404


def test_the_api_routes_are_unchanged_by_the_mount(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_use_an_html_sink(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    found = [(n, line) for n, line in enumerate(text.splitlines(), 1) if HTML_SINKS.search(line)]
    assert not found, f"{script.name} uses an HTML sink: {found}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_have_no_inline_script_style_or_handler(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    for tag in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I):
        assert "src=" in tag.group(1), f"inline <script> in {page.name}"
        assert not tag.group(2).strip(), f"inline script body in {page.name}"
    assert not re.search(r"<style\b", html, flags=re.I), f"<style> element in {page.name}"
    assert not re.search(r"\sstyle\s*=", html, flags=re.I), f"style attribute in {page.name}"
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), f"inline event handler in {page.name}"
    assert not HTML_SINKS.search(html)


#: The reference pages codes link to (links.js): places a clinician opens in a new tab, never loaded by the page.
REFERENCE_LINKS = {"https://omim.org", "https://www.orpha.net", "https://hpo.jax.org", "https://doi.org"}


@pytest.mark.parametrize("path", STATIC_FILES, ids=lambda p: p.name)
def test_nothing_is_loaded_from_outside_the_origin(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = {m.group(0) for m in re.finditer(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.I)}
    # An SVG file names its XML namespace with a URL that is never fetched.
    allowed = REFERENCE_LINKS if path.name == "links.js" else {"http://www.w3.org"} if path.suffix == ".svg" else set()
    assert found <= allowed, f"external URL in {path.name}: {sorted(found - allowed)}"
    assert "@import" not in text


def test_reference_links_open_in_a_new_tab_without_an_opener() -> None:
    text = (STATIC_DIR / "links.js").read_text(encoding="utf-8")
    assert 'target: "_blank"' in text and 'rel: "noopener noreferrer"' in text
    # The CSP would refuse these hosts as a script, style, image or connection anyway: links only.
    assert not any(host in CONTENT_SECURITY_POLICY for host in REFERENCE_LINKS)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_local_reference_exists(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    for ref in re.findall(r"(?:src|href)=\"([^\"#?]+)\"", html):
        if ref in ("./",):
            continue
        assert (STATIC_DIR / ref).is_file(), f"{page.name} references a missing file {ref}"
    for script in SCRIPTS:
        for module in re.findall(r"from\s+\"\./([^\"]+)\"", script.read_text(encoding="utf-8")):
            assert (STATIC_DIR / module).is_file(), f"{script.name} imports a missing module {module}"


def test_scripts_set_no_inline_style() -> None:
    # style-src 'self' refuses style attributes: the scripts show and hide with the hidden attribute.
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert ".style." not in text and '"style"' not in text and "cssText" not in text, script.name


def test_the_viewer_words_sex_inheritance_onset_and_age_as_the_cli_does() -> None:
    """The phrases of a factor line ("stated Infantile onset: fits (the disease's onset: infantile onset), likelihood
    ratio 3.25", "sex female: speaks against it, likelihood ratio 0.05") are in both: an edit to one alone fails
    here, before the browser test (slow) compares whole lines of a real response. (The viewer says an age from the
    disease's side, "the disease's onset: congenital — fits an age of 14 y"; that browser test knows how.)"""
    cli = inspect.getsource(_explanation_lines)
    render = (STATIC_DIR / "render.js").read_text(encoding="utf-8")
    for phrase in (
        '"fits',
        "\" (the disease's onset: ",
        '"speaks against it"',
        ", likelihood ratio ",
        '"stated ',
        '"sex ',
    ):
        assert phrase.strip('"') in cli, phrase
        assert phrase in render or phrase.replace('"', "`") in render, phrase


def test_the_viewer_sorts_account_entries_by_categories_the_account_has() -> None:
    """The viewer reads each entry's ``category`` (dxsearch/intake/account.py EntryCategory), not its reason's words:
    a category it names that the account does not have (a typo, one renamed) would sort nothing, silently."""
    render = (STATIC_DIR / "render.js").read_text(encoding="utf-8")
    start = render.index("export function entryCategory(")
    code = render[start : render.index("function renderNotUnderstood(", start)]
    readings = code.split("export const CATEGORY_READINGS = {", 1)[1].split("};", 1)[0]
    named = set(re.findall(r"^\s*(\w+): \[", readings, re.MULTILINE))
    named |= set(re.findall(r'(?<![.\w])category === "(\w+)"', code))
    named |= set(re.findall(r'\[/[^\n]*/, "(\w+)"\]', code))  # LEGACY_CATEGORIES' targets
    named |= {word for group in re.findall(r"new Set\(\[([^\]]*)\]\)", code) for word in re.findall(r'"(\w+)"', group)}
    assert {"repeat", "contradicted", "diagnosis", "of_a_relative", "denied_of_a_relative"} <= named
    assert named <= set(get_args(EntryCategory))
    assert '"not_understood"' in code  # an entry without a category nor a known reason: not understood
