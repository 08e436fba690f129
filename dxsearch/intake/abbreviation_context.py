"""Abbreviations with two clinical meanings, read by the findings beside them: "ASD" next to "VSD" or "autism".

Why: "ASD" is an atrial septal defect in a cardiology line ("Echo: small ASD, PDA") and autism spectrum
disorder in a development line ("GDD, ASD, ADHD"); "MR" is mitral regurgitation or (an older usage)
intellectual disability, and no finding at all in "MR spectroscopy". The dictionary leaves these out rather
than guess (``clinical_abbreviations.AMBIGUOUS_ABBREVIATIONS``). Here the other findings of the same
sentence or line decide: when they lie in one meaning's branch of HPO and none in another's, that meaning is
read; when several or none, the abbreviation stays not understood, and the account says so. "RA" has one
meaning read this way (rheumatoid arthritis, beside joint or immune findings): "on RA" is room air.

Each reading is a ``Candidate`` for the dictionary's reading, which decides its assertion as for any
mention ("no ASD" denies it).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from dxsearch.knowledge.clinical_abbreviations import AMBIGUOUS_ABBREVIATIONS
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.knowledge.term_lookup import Candidate, ExtractedTerm

__all__ = ["abbreviation_candidates"]

#: "MR" is also magnetic resonance: "MR spectroscopy", "MR imaging" name a study, not a finding.
_ABBREVIATION = re.compile(
    rf"\b(?:{'|'.join(AMBIGUOUS_ABBREVIATIONS)})s?\b"
    r"(?!\s*(?:spectroscopy|imaging|angiogra\w*|venogra\w*|scans?|images?|sequences?|study|studies|signal)\b)"
)
_ROOM_AIR = re.compile(r"(?:\bon|%)\s*$", re.IGNORECASE)
#: Where the findings that decide stop: a sentence's end or a line break.
_BREAK = re.compile(r"[.!?](?=\s|$)|\n")


def abbreviation_candidates(text: str, mentions: Sequence[ExtractedTerm], knowledge: HpoKnowledge) -> list[Candidate]:
    """``(start, end, term)`` for each ambiguous abbreviation the findings of its sentence or line resolve."""
    found: list[Candidate] = []
    breaks = [0] + [m.end() for m in _BREAK.finditer(text)] + [len(text)]  # one pass: a long note stays linear
    starts = [m.start for m in mentions]
    for match in _ABBREVIATION.finditer(text):
        if _ROOM_AIR.search(text, max(0, match.start() - 8), match.start()):
            continue  # "sats 96% on RA": room air
        k = bisect_right(breaks, match.start())
        start, end = breaks[k - 1], breaks[k] if k < len(breaks) else len(text)
        neighbours = [
            knowledge.ancestors(m.term_id) | {m.term_id}
            for m in mentions[bisect_left(starts, start) : bisect_left(starts, end)]
        ]
        meanings = {
            meaning
            for branches, meaning in AMBIGUOUS_ABBREVIATIONS[match.group().rstrip("s")]
            if any(branches & lineage for lineage in neighbours)
        }
        if len(meanings) == 1:
            found.append((match.start(), match.end(), meanings.pop()))
    return found
