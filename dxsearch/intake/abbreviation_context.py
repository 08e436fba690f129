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
#: Where the findings that decide stop: a sentence's end or a line break.
_BREAK = re.compile(r"[.!?](?=\s|$)|\n")


def abbreviation_candidates(text: str, mentions: Sequence[ExtractedTerm], knowledge: HpoKnowledge) -> list[Candidate]:
    """``(start, end, term)`` for each ambiguous abbreviation the findings of its sentence or line resolve."""
    found: list[Candidate] = []
    for match in _ABBREVIATION.finditer(text):
        start = max((m.end() for m in _BREAK.finditer(text, 0, match.start())), default=0)
        after = _BREAK.search(text, match.end())
        end = after.start() if after is not None else len(text)
        neighbours = [knowledge.ancestors(m.term_id) | {m.term_id} for m in mentions if start <= m.start < end]
        meanings = {
            meaning
            for branches, meaning in AMBIGUOUS_ABBREVIATIONS[match.group().rstrip("s")]
            if any(branches & lineage for lineage in neighbours)
        }
        if len(meanings) == 1:
            found.append((match.start(), match.end(), meanings.pop()))
    return found
