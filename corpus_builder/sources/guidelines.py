"""Guideline files (Markdown, plain text, HTML, PDF) -> one guideline ``Document`` each.

Every format is normalised to the same shape: markdown text whose section
headings, and only those, are lines starting with ``#`` (the chunker splits on
them and keeps the heading path as the chunk's section). Text that merely
starts with ``#`` is escaped (``\\#``, or a leading space inside a code fence) so
that it never poses as a heading. Nothing is added to the clinical text except
headings: for a PDF without bookmarks those are ``# Page N``.

Plain-text heading rule (kept deliberately simple): a line underlined with
``===`` (level 1) or ``---`` (level 2), or a line in ALL CAPS that follows a
blank line, has at least three letters and does not end in ``.`` (level 1).
Numbered lines (``1. Give aspirin``) are *not* headings: in guidelines they are
as often numbered recommendations as section titles.

The document id is ``gl:`` + the first 16 hex digits of the SHA-256 of the
normalised text, so the same guideline gives the same id whatever its file name
or format, and any edit gives a new one.

This module does no file I/O: :mod:`corpus_builder.sources.files` reads, checks
(size, encoding, binary) and delegates here.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any, Literal

from bs4 import BeautifulSoup, Tag
from bs4.element import Comment, NavigableString
from markdown_it import MarkdownIt
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from dxsearch.corpus import Document, DocumentKind, DocumentMetadata

TextFormat = Literal["markdown", "text", "html"]
GuidelineFormat = Literal["markdown", "text", "html", "pdf"]

USER_LICENCE = "supplied by user (see document)"
#: File suffix (lower case) -> format.
GUIDELINE_SUFFIXES: dict[str, GuidelineFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}

_HEADING_MARK = "\ue000"  # private-use character: marks heading lines until escaping is done
_DROPPED_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object", "head")
_BLOCK_TAGS = (
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "table", "tr",
    "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "figure", "figcaption", "hr", "address",
)  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class GuidelineError(ValueError):
    """A guideline file could not be turned into a document; ``reason`` is one line for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def guideline_from_text(
    text: str,
    *,
    fmt: TextFormat,
    file_name: str,
    source: str = "guidelines",
    licence: str = USER_LICENCE,
) -> Document:
    """Normalise decoded Markdown, plain text or HTML into one guideline document."""
    html_title: str | None = None
    if fmt == "markdown":
        body = _markdown_body(text)
    elif fmt == "text":
        body = _plain_text_body(text)
    else:
        html_title, body = _html_body(text)
    return _document(body, fmt=fmt, file_name=file_name, title=html_title, source=source, licence=licence)


def guideline_from_pdf(
    data: bytes,
    *,
    file_name: str,
    source: str = "guidelines",
    licence: str = USER_LICENCE,
) -> Document:
    """Extract a PDF's text; bookmarks become headings, else each page starts with ``# Page N``.

    Encrypted PDFs are refused rather than opened with an empty password: the
    owner chose to restrict them, and the user can supply an unrestricted copy.
    """
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise GuidelineError("PDF is encrypted; supply an unencrypted copy")
        page_count = len(reader.pages)
        outline = list(_outline(reader))
        pages: list[str] = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                pages.append(page.extract_text() or "")
            except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise GuidelineError(f"corrupt PDF: page {number}: {_brief(exc)}") from None
        metadata_title = reader.metadata.title if reader.metadata is not None else None
    except GuidelineError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise GuidelineError(f"corrupt PDF: {_brief(exc)}") from None
    if page_count == 0:
        raise GuidelineError("PDF has no pages")
    if not any(text.strip() for text in pages):
        raise GuidelineError("PDF has no extractable text (a scanned PDF needs OCR first)")
    body = _pdf_body(pages, outline)
    title = metadata_title.strip() if isinstance(metadata_title, str) and metadata_title.strip() else None
    if title is None and outline:
        title = outline[0][2]
    return _document(
        body, fmt="pdf", file_name=file_name, title=title, source=source, licence=licence, pages=page_count
    )


def _document(
    body: str,
    *,
    fmt: GuidelineFormat,
    file_name: str,
    title: str | None,
    source: str,
    licence: str,
    pages: int | None = None,
) -> Document:
    text = _normalise(body)
    if not text:
        raise GuidelineError(f"no text in {fmt} file")
    first_heading = next((line.lstrip("#").strip() for line in text.split("\n") if _is_heading(line)), None)
    if fmt in ("markdown", "text"):
        title = first_heading
    elif fmt == "html":
        title = title or first_heading
    # a PDF's first heading may be "Page 1": only its metadata or bookmarks name it
    title = title or _title_from_file_name(file_name)
    extra: dict[str, Any] = {"file_name": PurePath(file_name).name, "format": fmt}
    if pages is not None:
        extra["pages"] = pages
    return Document(
        id=f"gl:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}",
        kind=DocumentKind.GUIDELINE,
        title=" ".join(title.split())[:200],
        text=text,
        metadata=DocumentMetadata(source=source, licence=licence, extra=extra),
    )


def _is_heading(line: str) -> bool:
    return re.match(r"^#{1,6} \S", line) is not None


def _title_from_file_name(file_name: str) -> str:
    stem = PurePath(file_name).stem
    return " ".join(re.split(r"[_\-\s]+", stem)).strip() or "Untitled guideline"


def _normalise(text: str) -> str:
    """NFC, ``\\n`` line ends, no control characters, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text.replace("\t", "    "))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _escape_line(line: str) -> str:
    """A body line that starts with ``#`` is text, not a heading: escape it as markdown does."""
    return "\\" + line if line.startswith("#") else line


def _brief(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:200]


# Markdown --------------------------------------------------------------------------------------------------


def _markdown_body(text: str) -> str:
    """Rewrite top-level headings (setext or ATX) as ``# Title``; defuse ``#`` lines inside code."""
    lines = _normalise(text.replace(_HEADING_MARK, "")).split("\n")
    tokens = MarkdownIt("commonmark").parse("\n".join(lines))
    replacements: dict[int, str | None] = {}
    for position, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "heading_open" and token.level == 0:
            inline = tokens[position + 1]
            words = "".join(c.content for c in inline.children or [] if c.type in {"text", "code_inline"})
            replacements[start] = f"{'#' * int(token.tag[1])} {' '.join(words.split())}"
            for row in range(start + 1, end):
                replacements[row] = None
        elif token.type in {"fence", "code_block"}:
            for row in range(start, min(end, len(lines))):
                if lines[row].startswith("#"):
                    replacements[row] = " " + lines[row]
    out: list[str] = []
    for number, line in enumerate(lines):
        if number not in replacements:
            out.append(line)
            continue
        replacement = replacements[number]
        if replacement is not None:
            out.append(replacement)
    return "\n".join(out)


# Plain text ------------------------------------------------------------------------------------------------


def _plain_text_body(text: str) -> str:
    lines = _normalise(text).split("\n")
    out: list[str] = []
    skip_next = False
    for number, line in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        stripped = line.strip()
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        previous_blank = number == 0 or not lines[number - 1].strip()
        if stripped and re.fullmatch(r"={3,}", following) and not re.fullmatch(r"[=\-]+", stripped):
            out.extend(["", f"# {stripped}", ""])
            skip_next = True
        elif stripped and re.fullmatch(r"-{3,}", following) and not re.fullmatch(r"[=\-]+", stripped):
            out.extend(["", f"## {stripped}", ""])
            skip_next = True
        elif previous_blank and _is_all_caps_heading(stripped):
            out.extend(["", f"# {stripped.rstrip(':').strip()}", ""])
        else:
            out.append(_escape_line(line))
    return "\n".join(out)


def _is_all_caps_heading(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return (
        len(letters) >= 3
        and len(line) <= 100
        and all(c.isupper() for c in letters)
        and not line.endswith(".")
        and not line.startswith("#")
    )


# HTML ------------------------------------------------------------------------------------------------------


def _html_body(text: str) -> tuple[str | None, str]:
    """(<title>, body): h1-h6 -> headings, li -> ``- item``, scripts/styles/comments dropped."""
    soup = BeautifulSoup(text.replace(_HEADING_MARK, ""), "html.parser")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if isinstance(title_tag, Tag) else None
    for comment in soup.find_all(string=lambda node: isinstance(node, Comment)):
        comment.extract()
    for name in _DROPPED_TAGS:
        for tag in soup.find_all(name):
            tag.decompose()
    for tag in soup.find_all(re.compile(r"^h[1-6]$")):
        words = " ".join(tag.get_text(" ").split())
        marker = f"\n\n{_HEADING_MARK}{'#' * int(tag.name[1])} {words}\n\n" if words else "\n\n"
        tag.replace_with(NavigableString(marker))
    for tag in soup.find_all("br"):
        tag.replace_with(NavigableString("\n"))
    for tag in soup.find_all("li"):
        tag.insert(0, NavigableString("\n- "))  # the next item, or the list's block break, ends it
    for tag in soup.find_all(["td", "th"]):
        tag.append(NavigableString(" "))
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(NavigableString("\n\n"))
        tag.insert_after(NavigableString("\n\n"))
    lines: list[str] = []
    for raw in soup.get_text().split("\n"):
        line = " ".join(raw.split())
        if line.startswith(_HEADING_MARK):
            lines.append(line[len(_HEADING_MARK) :])
        else:
            lines.append(_escape_line(line))
    return (title or None), "\n".join(lines)


# PDF -------------------------------------------------------------------------------------------------------


def _outline(reader: PdfReader) -> Iterator[tuple[int, int, str]]:
    """(page index, depth, title) of each bookmark that points into the document, in outline order."""

    def walk(items: list[Any], depth: int) -> Iterator[tuple[int, int, str]]:
        for item in items:
            if isinstance(item, list):
                yield from walk(item, depth + 1)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            try:
                page = reader.get_destination_page_number(item)
            except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if title and page is not None and 0 <= page < len(reader.pages):
                yield page, depth, title

    yield from walk(list(reader.outline), 0)


def _pdf_body(pages: list[str], outline: list[tuple[int, int, str]]) -> str:
    """Page texts joined; a bookmark's heading replaces its title line on its page, or opens the page."""
    if not outline:
        blocks = []
        for number, text in enumerate(pages, start=1):
            body = "\n".join(_escape_line(line) for line in text.split("\n"))
            blocks.append(f"# Page {number}\n\n{body}")
        return "\n\n".join(blocks)
    by_page: dict[int, list[tuple[int, str]]] = {}
    for page, depth, title in outline:
        by_page.setdefault(page, []).append((depth, title))
    out: list[str] = []
    for index, text in enumerate(pages):
        lines = text.split("\n")
        cursor = 0
        for depth, title in by_page.get(index, []):
            heading = f"{'#' * min(depth + 1, 6)} {title}"
            wanted = title.casefold()
            found = next(
                (n for n in range(cursor, len(lines)) if " ".join(lines[n].split()).casefold() == wanted),
                None,
            )
            if found is None:
                out.extend(["", heading, ""])
                continue
            out.extend(_escape_line(line) for line in lines[cursor:found])
            out.extend(["", heading, ""])
            cursor = found + 1
        out.extend(_escape_line(line) for line in lines[cursor:])
    return "\n".join(out)
