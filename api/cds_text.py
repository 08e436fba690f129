"""Text that goes into CDS Hooks cards: inert markdown and one-line summaries within the spec's limit.

Why a module of its own: every card builder (the differential, its next steps) must escape corpus
titles and model output the same way, so a poisoned document cannot inject links or HTML into an EHR.
"""

from __future__ import annotations

import html
import re

#: CDS Hooks 2.0: a card's summary "SHALL be less than 140 characters".
SUMMARY_MAX_CHARS = 140
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def markdown_text(text: str) -> str:
    """Plain text made inert in CDS markdown: HTML escaped, markdown punctuation backslash-escaped."""
    flat = _CONTROL.sub(" ", text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def plain_summary(text: str) -> str:
    """One line of at most 140 characters (CDS Hooks' limit for a card summary)."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= SUMMARY_MAX_CHARS else flat[: SUMMARY_MAX_CHARS - 1] + "…"
