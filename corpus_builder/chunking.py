"""Split documents into retrievable chunks along their own structure.

Documents are written line-oriented (one phenotype or finding per line, and
markdown ``#`` headings for guidelines), so chunks are packed from whole lines
and never cross a heading: a passage an auditor clicks on is a coherent piece
of its source, and its ``[start, end)`` span points back into the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dxsearch.corpus import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # exclusive, without the newline
    heading_level: int
    heading_text: str


def _lines(text: str) -> Iterator[_Line]:
    offset = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        match = _HEADING.match(body)
        yield _Line(
            start=offset,
            end=offset + len(body),
            heading_level=len(match.group(1)) if match else 0,
            heading_text=match.group(2) if match else "",
        )
        offset += len(raw)


def _split_long(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Break one over-long line at sentence ends, else at whitespace, else hard."""
    cursor = start
    while end - cursor > max_chars:
        window = text[cursor : cursor + max_chars]
        cut = max((m.end() for m in _SENTENCE_END.finditer(window)), default=0)
        if cut < max_chars // 3:
            cut = window.rfind(" ") + 1
        if cut < max_chars // 3:
            cut = max_chars
        yield cursor, cursor + cut
        cursor += cut
    if end > cursor:
        yield cursor, end


def chunk_document(document: Document, max_chars: int) -> list[Chunk]:
    """Chunks of ``document``: whole lines packed up to ``max_chars``, split at headings."""
    text = document.text
    spans: list[tuple[int, int, str | None]] = []
    headings: list[tuple[int, str]] = []  # (level, text) of the enclosing headings
    current: tuple[int, int] | None = None
    current_is_heading_only = False

    def flush() -> None:
        nonlocal current
        if current is not None:
            section = " > ".join(h for _, h in headings) or None
            spans.append((current[0], current[1], section))
            current = None

    for line in _lines(text):
        if line.heading_level:
            flush()
            while headings and headings[-1][0] >= line.heading_level:
                headings.pop()
            headings.append((line.heading_level, line.heading_text))
        if not text[line.start : line.end].strip():
            continue
        for piece_start, piece_end in _split_long(text, line.start, line.end, max_chars):
            # A heading never stands alone: it travels with the first text under it.
            if current is not None and (current_is_heading_only or piece_end - current[0] <= max_chars):
                current = (current[0], piece_end)
                current_is_heading_only = False
            else:
                flush()
                current = (piece_start, piece_end)
                current_is_heading_only = bool(line.heading_level)
    flush()

    chunks: list[Chunk] = []
    for start, end, section in spans:
        # Trim surrounding whitespace so spans point at text, not blank margins.
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        start, end = start + lead, end - trail
        if end > start:
            chunks.append(
                Chunk(
                    doc_id=document.id,
                    ordinal=len(chunks),
                    text=text[start:end],
                    start=start,
                    end=end,
                    section=section,
                )
            )
    return chunks
