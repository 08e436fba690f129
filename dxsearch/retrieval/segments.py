"""Cutting text into the short statements that dense retrieval embeds one by one.

Clinical documents here are lists: a disease card lists its features, a
patient record lists findings. A sentence embedder blurs a list of twenty
findings into one vague vector, so each statement ("Ectopia lentis", "Genes:
FBN1", a guideline sentence) is embedded on its own, and documents are scored
by how well each query statement is matched by some statement of theirs
(late interaction, MaxSim). The same function cuts queries and documents, so
both sides agree on what a statement is.

Lines that state what a patient or disease does *not* have ("Excluded
findings: ...", "Not a feature: ...") are left out of what retrievers match
on: a negated finding must never count as a match for that finding.
"""

from __future__ import annotations

import re

NEGATED_LABELS = ("excluded findings", "not a feature", "excluded")
_LABEL_LINE = re.compile(r"^\s*([A-Z][A-Za-z0-9 ,()'/-]{0,60}?):\s*(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_TRAILING_QUALIFIER = re.compile(r"\s+\([^()]*\)\s*$")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
MAX_SEGMENT_CHARS = 400
MAX_QUERY_SEGMENTS = 64


def is_negated_line(line: str) -> bool:
    match = _LABEL_LINE.match(line)
    return match is not None and match.group(1).strip().lower().startswith(NEGATED_LABELS)


def _positive_lines(text: str) -> list[str]:
    """Lines of ``text`` minus negated ones: a negated label line ("Not a feature: a; b") and, when
    its value is empty, the bullet lines listed under it."""
    kept: list[str] = []
    in_negated_list = False
    for line in text.splitlines():
        if is_negated_line(line):
            match = _LABEL_LINE.match(line)
            in_negated_list = match is not None and not match.group(2).strip()
            continue
        if in_negated_list and _BULLET.match(line):
            continue
        in_negated_list = False
        kept.append(line)
    return kept


def positive_text(text: str) -> str:
    """``text`` without its negated lines: what a retriever may match on."""
    return "\n".join(_positive_lines(text))


def segments(text: str) -> list[str]:
    """The statements of ``text``: one per bullet or line, list values split on ';', qualifiers dropped."""
    found: list[str] = []
    for raw in _positive_lines(text):
        line = _HEADING.sub("", raw).strip()
        if not line:
            continue
        match = _LABEL_LINE.match(line)
        if match and ";" in match.group(2):
            parts = match.group(2).split(";")
        elif ";" in line and not match:
            parts = line.split(";")
        else:
            parts = [line]
        for part in parts:
            piece = _TRAILING_QUALIFIER.sub("", _BULLET.sub("", part)).strip().rstrip(":").strip()
            if piece:
                found.append(piece[:MAX_SEGMENT_CHARS])
    return list(dict.fromkeys(found))


def query_segments(query: str) -> list[str]:
    """Statements of a query (a findings list or free text), capped so one query stays cheap."""
    return segments(query)[:MAX_QUERY_SEGMENTS]
