"""Guideline files of each format normalise to markdown with `#` headings, and only real headings.

All documents here are written by the test (no real clinical guideline text).
PDFs are written by hand in PDF syntax (no PDF-writing library is installed);
pypdf, already a dependency, adds bookmarks and encryption to them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader, PdfWriter

from corpus_builder.sources.base import Reject
from corpus_builder.sources.files import sources_for_path
from corpus_builder.sources.guidelines import USER_LICENCE, guideline_from_pdf, guideline_from_text
from dxsearch.corpus import Document, DocumentKind
from dxsearch.settings import Settings

SETTINGS = Settings(pseudonym_key="test-key-for-pseudonyms-0001")


def _headings(text: str) -> list[str]:
    return [line for line in text.split("\n") if re.match(r"^#{1,6} ", line)]


def _load(path: Path) -> Document | Reject:
    (item,) = list(sources_for_path(path, settings=SETTINGS).iter_items())
    return item


def test_markdown_setext_and_atx_headings_and_code_fences(tmp_path: Path) -> None:
    path = tmp_path / "test-guide.md"
    path.write_text(
        "Test guide\n==========\n\nIntro *text* written for the test.\r\n\n\n\n"
        "Scope\n-----\n\nScope text.\n\n### Details ###\n\n```\n# not a heading\n```\n",
        encoding="utf-8",
    )
    doc = _load(path)
    assert isinstance(doc, Document)
    assert doc.kind is DocumentKind.GUIDELINE and doc.title == "Test guide"
    assert _headings(doc.text) == ["# Test guide", "## Scope", "### Details"]
    assert " # not a heading" in doc.text and "\r" not in doc.text and "\n\n\n" not in doc.text
    assert re.fullmatch(r"gl:[0-9a-f]{16}", doc.id)
    assert doc.metadata.licence == USER_LICENCE
    assert doc.metadata.extra == {"file_name": "test-guide.md", "format": "markdown"}
    # the id is the content's: same text under another name, same id; any edit, a new id
    other = tmp_path / "copy.md"
    other.write_bytes(path.read_bytes())
    assert isinstance(copy := _load(other), Document) and copy.id == doc.id
    changed = guideline_from_text(path.read_text("utf-8") + "\nMore.", fmt="markdown", file_name="x.md")
    assert changed.id != doc.id


def test_plain_text_heading_rule(tmp_path: Path) -> None:
    path = tmp_path / "fever_notes.txt"
    path.write_text(
        "Fever notes\n===========\n\nWritten for this test.\n\nASSESSMENT:\n"
        "Check temperature.\n1. Numbered lines stay text.\n# a hash line stays text\n"
        "SHOUTED SENTENCE STAYS TEXT.\n\nFollow-up\n---------\nCall back.\n",
        encoding="utf-8",
    )
    doc = _load(path)
    assert isinstance(doc, Document)
    assert _headings(doc.text) == ["# Fever notes", "# ASSESSMENT", "## Follow-up"]
    assert "1. Numbered lines stay text." in doc.text
    assert "\\# a hash line stays text" in doc.text
    assert doc.title == "Fever notes"
    headless = guideline_from_text("just one paragraph", fmt="text", file_name="my_test-notes.txt")
    assert headless.title == "my test notes" and _headings(headless.text) == []


def test_html_headings_lists_and_dropped_scripts(tmp_path: Path) -> None:
    path = tmp_path / "page.htm"
    path.write_text(
        "<html><head><title>Test page title</title><style>h1 {color: red}</style>"
        "<script>var secret = 'tracking';</script></head><body>"
        "<!-- editor comment --><h1>Main  <em>heading</em></h1><p>First para<br>second line</p>"
        "<h2>Steps</h2><ul><li>Step one</li><li>Step two</li></ul>"
        "<script>document.write('injected')</script><noscript>enable js</noscript>"
        "<table><tr><td>a</td><td>b</td></tr></table><p># hash text</p></body></html>",
        encoding="utf-8",
    )
    doc = _load(path)
    assert isinstance(doc, Document)
    assert doc.title == "Test page title"
    assert _headings(doc.text) == ["# Main heading", "## Steps"]
    for dropped in ("tracking", "injected", "color: red", "enable js", "editor comment"):
        assert dropped not in doc.text
    assert "First para\nsecond line" in doc.text
    assert "- Step one\n- Step two" in doc.text
    assert "\\# hash text" in doc.text
    assert doc.metadata.extra["format"] == "html"


def _minimal_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF whose pages show the given lines in Helvetica, written directly in PDF syntax."""
    font_id = 3 + 2 * len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        ops += ["(" + line.replace("(", "\\(").replace(")", "\\)") + ") Tj T*" for line in lines]
        content = "\n".join([*ops, "ET"]).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    if title is not None:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PAGES = [["Test guideline", "Measure the thing.", "# not a heading"], ["Treatment", "Do the other thing."]]


def _rewritten(data: bytes, *, outline: bool = False, password: str | None = None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    if outline:
        top = writer.add_outline_item(title="Test guideline", page_number=0)
        writer.add_outline_item(title="Treatment", page_number=1, parent=top)
    if password is not None:
        writer.encrypt(user_password=password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_pdf_without_bookmarks_gets_page_headings(tmp_path: Path) -> None:
    path = tmp_path / "plain.pdf"
    path.write_bytes(_minimal_pdf(PAGES, title="Test PDF title"))
    doc = _load(path)
    assert isinstance(doc, Document)
    assert doc.title == "Test PDF title"
    assert _headings(doc.text) == ["# Page 1", "# Page 2"]
    assert "Measure the thing." in doc.text and "\\# not a heading" in doc.text
    assert doc.metadata.extra == {"file_name": "plain.pdf", "format": "pdf", "pages": 2}


def test_pdf_bookmarks_become_headings_in_place() -> None:
    doc = guideline_from_pdf(_rewritten(_minimal_pdf(PAGES), outline=True), file_name="guide_v2.pdf")
    assert _headings(doc.text) == ["# Test guideline", "## Treatment"]
    assert doc.text.count("Treatment") == 1  # the title line became the heading, not a duplicate
    assert doc.title == "Test guideline"  # no metadata title: the first bookmark


def test_encrypted_corrupt_and_textless_pdfs_are_rejected(tmp_path: Path) -> None:
    good = _minimal_pdf(PAGES)
    encrypted = tmp_path / "locked.pdf"
    encrypted.write_bytes(_rewritten(good, password="secret"))
    reject = _load(encrypted)
    assert isinstance(reject, Reject) and reject.reason == "PDF is encrypted; supply an unencrypted copy"

    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(good[: len(good) // 2])
    reject = _load(corrupt)
    assert isinstance(reject, Reject) and reject.reason.startswith("corrupt PDF")

    not_pdf = tmp_path / "renamed.pdf"
    not_pdf.write_text("just text", encoding="utf-8")
    reject = _load(not_pdf)
    assert isinstance(reject, Reject) and reject.reason.startswith("not a PDF")

    blank = tmp_path / "scanned.pdf"
    blank.write_bytes(_minimal_pdf([[]]))
    reject = _load(blank)
    assert isinstance(reject, Reject) and "no extractable text" in reject.reason
