"""Birth before term, as notes state the gestation: "born at 28 weeks", "ex-33/40 prem", "36+2 wks", "ex-28 weeker".

Why: a neonatal note gives the gestational age at birth as a number, and HPO names the finding by its range
(Extremely preterm birth below 28 weeks, Very preterm birth below 32, Moderate to late preterm birth below
37; Postterm pregnancy from 42). Only a gestation the note ties to the birth is read: "born at", "ex-",
"delivered at", "GA", or a number of weeks in a sentence about a baby or prematurity; "at 20+3 weeks the
scan showed", "corrected GA 36 weeks" and "GA 32 weeks at the anomaly scan" date a pregnancy, not a birth.
After a birth's own words ("born at", "ex-"), a pregnancy's word is the birth's reason or story, not a scan's
date: "born at 34 weeks by emergency caesarean for reduced fetal movements" is a preterm birth. Term births
(37 to 41 weeks) name nothing.

Each reading is a ``Candidate`` for the dictionary's reading ("her brother was born at 30 weeks" is
family history); the account marks it read from a value.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from dxsearch.intake.demographics import sentence_starts
from dxsearch.knowledge.term_lookup import Candidate

__all__ = ["GESTATION_TERMS", "gestation_candidates"]

#: (weeks below which, HPO term), first match wins; 42 weeks and more: Postterm pregnancy.
GESTATION_TERMS: tuple[tuple[float, str | None], ...] = (
    (28, "HP:0025665"),  # Extremely preterm birth
    (32, "HP:0025666"),  # Very preterm birth
    (37, "HP:0025664"),  # Moderate to late preterm birth
    (42, None),  # term
    (float("inf"), "HP:0031169"),  # Postterm pregnancy
)
_WEEKS = r"(?P<weeks>\d{2})(?:\s*\+\s*(?P<days>[0-6]))?\s*(?:/40\b|weeks?\b|wks?\b|weeker\b|w\b)"
#: (pattern, whether its own words tie the weeks to the birth: then only a pregnancy's word before the weeks, not one
#: after them, makes them a pregnancy's date; "GA 32 weeks at the anomaly scan" dates a scan, "born at 34 weeks by
#: caesarean for reduced fetal movements" is a birth).
_PATTERNS: tuple[tuple[re.Pattern[str], bool], ...] = (
    # "born at 28 weeks", "delivered at 34+2/40", "born prematurely at 30 weeks' gestation", "ex-28 weeker"
    (
        re.compile(
            rf"\b(?:born|delivered|delivery|birth)\s+(?:\w+\s+){{0,2}}?(?:at|@)\s*(?:about\s+)?{_WEEKS}",
            re.IGNORECASE,
        ),
        True,
    ),
    (re.compile(rf"\bex[- ]?(?:prem(?:ature)?\s*\(?\s*)?{_WEEKS}", re.IGNORECASE), True),
    # "GA 29+3 weeks", "gestational age at birth: 33 weeks"
    (re.compile(rf"\b(?:GA|gestational\s+age(?:\s+at\s+birth)?)\s*[:=]?\s*{_WEEKS}", re.IGNORECASE), False),
)
#: A number of weeks with days ("36+2 wks", "26+5/40") in a sentence about a newborn or prematurity.
_BARE_WEEKS = re.compile(rf"\b{_WEEKS}", re.IGNORECASE)
_ABOUT_BIRTH = re.compile(
    r"\b(?:baby|infant|neonate|newborn|prem|premature|prematurity|preterm|NICU|SCBU)\b", re.IGNORECASE
)
#: A sentence about the pregnancy, whose weeks date a scan, not the birth ("Anomaly scan at 20+3 weeks showed a
#: VSD", "corrected GA 36 weeks").
_ABOUT_PREGNANCY = re.compile(
    r"\b(?:scans?|USS|ultrasound|antenatal\w*|pregnan\w*|fetal|foetal|corrected|booking|anomaly)\b", re.IGNORECASE
)


def gestation_candidates(text: str) -> list[Candidate]:
    """``(start, end, term)`` for each gestation at birth a note states outside term."""
    starts = sentence_starts(text)

    def sentence(at: int) -> tuple[int, int]:
        k = bisect_right(starts, at)
        return starts[k - 1], (starts[k] if k < len(starts) else len(text))

    found: dict[int, Candidate] = {}
    for pattern, of_the_birth in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = sentence(match.start())
            # "born at", "ex-": a pregnancy's word after the weeks is the birth's reason or story ("born at 34 weeks
            # by emergency caesarean for reduced fetal movements", "... after an uncomplicated pregnancy": a user test,
            # 2026-11-28, found the preterm birth lost to the reason given); before them it may date a scan.
            if not _ABOUT_PREGNANCY.search(text, start, match.end() if of_the_birth else end):
                _add(found, match.start(), match)
    for match in _BARE_WEEKS.finditer(text):
        start, end = sentence(match.start())
        if (
            match.group("days")
            and _ABOUT_BIRTH.search(text, start, end)
            and not _ABOUT_PREGNANCY.search(text, start, end)
        ):
            _add(found, match.start(), match)
    return sorted(found.values())


def _add(found: dict[int, Candidate], start: int, match: re.Match[str]) -> None:
    weeks = int(match.group("weeks")) + int(match.group("days") or 0) / 7
    if not 20 <= weeks <= 45:
        return  # not a gestation at birth
    term_id = next(term for below, term in GESTATION_TERMS if weeks < below)
    if term_id is not None and not any(a <= match.end() and start <= b for a, b, _ in found.values()):
        found[start] = (start, match.end(), term_id)
