"""Abbreviations with two clinical meanings, read by the findings beside them: "ASD" next to "VSD" or "autism".

Why: "ASD" is an atrial septal defect in a cardiology line ("Echo: small ASD, PDA") and autism spectrum
disorder in a development line ("GDD, ASD, ADHD"); "MR" is mitral regurgitation or (an older usage)
intellectual disability, and no finding at all in "MR spectroscopy". The dictionary leaves these out rather
than guess (``clinical_abbreviations.AMBIGUOUS_ABBREVIATIONS``). Here the other findings of the same
sentence or line decide: when they lie in one meaning's branch of HPO and none in another's, that meaning is
read; when several or none, the abbreviation stays not understood, and the account says so. "RA" has one
meaning read this way (rheumatoid arthritis, beside joint or immune findings): "on RA" is room air.

"HA" is a headache beside the symptoms a history lists with one ("N/V and HA", "denies HA, CP, SOB"), and not
read beside hearing or blood findings (hearing aids, haemolytic anaemia). Symptoms written as their initials
joined by slashes ("N/V", "n/v/d", "D&V") are read letter by letter (:func:`symptom_initial_candidates`).

Each reading is a ``Candidate`` for the dictionary's reading, which decides its assertion as for any
mention ("no ASD" denies it).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from dxsearch.knowledge.clinical_abbreviations import (
    AMBIGUOUS_ABBREVIATIONS,
    CARDIOVASCULAR,
    DIGESTIVE,
    NERVOUS_SYSTEM,
    RESPIRATORY,
)
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.knowledge.term_lookup import Candidate, ExtractedTerm

__all__ = ["abbreviation_candidates", "symptom_initial_candidates"]

EAR = "HP:0000598"  # Abnormality of the ear
BLOOD = "HP:0001871"  # Abnormality of blood and blood-forming tissues
CONSTITUTIONAL = "HP:0025142"  # Constitutional symptom (pain, fatigue)
HOMEOSTASIS = "HP:0001939"  # Abnormality of metabolism/homeostasis (fever)
#: Abbreviations read by the findings beside them: the dictionary's ambiguous ones, and those no source gives a
#: meaning of (``None``: a meaning that is no finding, which still makes the words ambiguous). "HA" is a headache in
#: a history of symptoms; beside hearing findings it is a hearing aid ("SNHL, wears HAs"), beside blood findings
#: haemolytic anaemia, and alone nothing is guessed.
READ_BY_CONTEXT: dict[str, tuple[tuple[frozenset[str], str | None], ...]] = {
    **AMBIGUOUS_ABBREVIATIONS,
    "HA": (
        (
            frozenset({NERVOUS_SYSTEM, DIGESTIVE, RESPIRATORY, CARDIOVASCULAR, CONSTITUTIONAL, HOMEOSTASIS}),
            "HP:0002315",  # Headache
        ),
        (frozenset({EAR}), None),  # hearing aid
        (frozenset({BLOOD}), "HP:0001878"),  # Hemolytic anemia
    ),
}

#: "MR" is also magnetic resonance: "MR spectroscopy", "MR imaging" name a study, not a finding.
_ABBREVIATION = re.compile(
    rf"\b(?:{'|'.join(READ_BY_CONTEXT)})s?\b"
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
            for branches, meaning in READ_BY_CONTEXT[match.group().rstrip("s")]
            if any(branches & lineage for lineage in neighbours)
        }
        meaning = meanings.pop() if len(meanings) == 1 else None
        if meaning is not None:
            found.append((match.start(), match.end(), meaning))
    return found


#: What each initial stands for in a run of symptom initials: nausea, vomiting, diarrhoea.
_INITIALS: dict[str, str] = {"n": "HP:0002018", "v": "HP:0002013", "d": "HP:0002014"}
#: Two or three initials joined by "/" or "&", each letter alone (not "I/O", not part of a word or a path).
_INITIAL_RUN = re.compile(r"(?<![\w/&])[NVDnvd](?:\s?[/&]\s?[NVDnvd]){1,2}(?![\w/&])")
#: After "N/V" or "NV": the neurovascular status of a limb ("N/V intact distally"), no symptom.
_NEUROVASCULAR = re.compile(r"\s*(?:intact|status|obs\w*|checks?|compromise\w*|normal)\b", re.IGNORECASE)


def symptom_initial_candidates(text: str) -> list[Candidate]:
    """``(start, end, term)`` for each letter of a run of symptom initials: "N/V" is nausea and vomiting, "n/v/d" adds
    diarrhoea, "D&V" is diarrhoea and vomiting.

    Why letter by letter: the run names two or three findings, and each finding of the account has a span of its
    own. Only runs that name vomiting, in one case, each letter once: "N/D" or "D/N" may be anything (day / night,
    not done), and vomiting is what these runs are written around. "N/V intact" is a limb's neurovascular status.
    """
    found: list[Candidate] = []
    for match in _INITIAL_RUN.finditer(text):
        letters = [(m.start(), m.group()) for m in re.finditer(r"[A-Za-z]", match.group())]
        said = "".join(letter for _, letter in letters)
        if not (said.isupper() or said.islower()) or "v" not in said.lower() or len(set(said)) < len(said):
            continue
        if _NEUROVASCULAR.match(text, match.end()):
            continue
        for offset, letter in letters:
            start = match.start() + offset
            found.append((start, start + 1, _INITIALS[letter.lower()]))
    return found
