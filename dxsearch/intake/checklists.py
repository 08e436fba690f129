"""Findings an examination template states as "Subject: value": "Hearing: impaired", "Tone: increased".

Why: a template splits what a sentence would say ("hearing is impaired") at a colon, which ends a sentence for
the dictionary's reading, so neither side names a term alone. Read together, subject and value often do:
"Liver: enlarged" is Hepatomegaly, "Reflexes: brisk" Brisk reflexes. A value that denies ("no", "normal",
"absent") is the dictionary's to read (``Scoliosis: no``); here only values that state something are joined.

Each reading is a ``Candidate`` (a span and an HPO id) handed to the dictionary's reading, which decides its
assertion as for any mention (a line inside "Family history:" is a relative's).
"""

from __future__ import annotations

import re

from dxsearch.knowledge.term_lookup import Candidate, TermLookup

__all__ = ["checklist_candidates"]

#: "Subject: value" opening a line or after a semicolon, the value a few words up to the line's or item's end.
_ITEM = re.compile(
    r"(?:^|(?<=[\n;]))[ \t]*(?:[-*•·][ \t]*)?(?P<subject>[A-Za-z][A-Za-z /-]{1,30}?)[ \t]*:[ \t]*"
    r"(?P<value>[A-Za-z][A-Za-z -]{1,30}?)[ \t]*(?=[\n;.,]|$)",
    re.MULTILINE,
)
#: Values that deny or say nothing: left to the dictionary's checklist reading ("Scoliosis: no").
_NOT_STATING = frozenset(
    {"no", "none", "normal", "absent", "negative", "nil", "not seen", "not present", "yes", "present", "nad", "ok"}
)


def checklist_candidates(text: str, lookup: TermLookup) -> list[Candidate]:
    """Spans of ``text`` whose "Subject: value" names one term together, each with its id."""
    found: list[Candidate] = []
    for match in _ITEM.finditer(text):
        value = match.group("value").strip().casefold()
        if value in _NOT_STATING or lookup.lookup(match.group("subject")) is not None:
            continue  # a term on its own ("Scoliosis: mild") is the dictionary's mention
        term_id = lookup.words_term(f"{match.group('subject')} {match.group('value')}")
        if term_id is not None:
            found.append((match.start("subject"), match.end("value"), term_id))
    return found
