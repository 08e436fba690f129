"""Findings a note states as numbers: growth against the population, milestones by age, IQ.

Why: clinical descriptions often give the measurement, not the word for it. "Head circumference 42 cm
(-3 SD)" is microcephaly, "walked at 3 years" a delayed ability to walk, "full-scale IQ 55" a mild
intellectual disability; a dictionary of HPO names reads none of them. The cut-offs are the ones HPO's
own definitions use: a measurement more than two standard deviations from the mean, or below the 3rd /
above the 97th centile; IQ bands as HPO grades intellectual disability; milestones against the age by
which nearly all children reach them (sitting by 9 months, walking by 18, first words by 18).

Each reading is a ``Candidate`` (a span of the note and an HPO id) handed to the dictionary's reading
(``TermLookup.mentions``), which decides its assertion as it does for any mention. A value within the
normal range names nothing and is not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dxsearch.knowledge.term_lookup import Candidate

__all__ = ["quantity_candidates"]

MICROCEPHALY, MACROCEPHALY = "HP:0000252", "HP:0000256"
SHORT_STATURE, TALL_STATURE = "HP:0004322", "HP:0000098"
DECREASED_WEIGHT, INCREASED_WEIGHT = "HP:0004325", "HP:0004324"
DELAYED_WALKING, DELAYED_SITTING, DELAYED_SPEECH = "HP:0031936", "HP:0025336", "HP:0000750"
#: (lowest IQ of the band, HPO term), highest band first; below 20 is profound.
IQ_BANDS = (
    (85, None),
    (70, "HP:0006889"),  # Borderline intellectual disability
    (50, "HP:0001256"),  # Mild
    (35, "HP:0002342"),  # Moderate
    (20, "HP:0010864"),  # Severe
    (0, "HP:0002187"),  # Profound
)
SMALL_FOR_AGE, LARGE_FOR_AGE, SHORT_AT_BIRTH = "HP:0001518", "HP:0001520", "HP:0003561"
#: (below, above) the population: the HPO terms a measurement's name gives. A measurement at birth is
#: measured against gestational age (birth weight low: small for gestational age).
_MEASURES: dict[str, tuple[str, str]] = {
    "birth_weight": (SMALL_FOR_AGE, LARGE_FOR_AGE),
    "birth_length": (SHORT_AT_BIRTH, LARGE_FOR_AGE),
    "head": (MICROCEPHALY, MACROCEPHALY),
    "height": (SHORT_STATURE, TALL_STATURE),
    "weight": (DECREASED_WEIGHT, INCREASED_WEIGHT),
}
_MEASURE_NAMES = {
    "birth_weight": r"birth ?weight|weight at birth",
    "birth_length": r"birth length|length at birth",
    "head": r"head circumference|occipito-?frontal (?:head )?circumference|OFC|HC",
    "height": r"height|body length|length|stature",
    "weight": r"body weight|weight",
}
_MEASURE = re.compile(
    r"\b(?:" + "|".join(f"(?P<{kind}>{names})" for kind, names in _MEASURE_NAMES.items()) + r")\b",
    re.IGNORECASE,
)
_NUMBER = r"\d+(?:[.,]\d+)?"
#: A z-score: "-3 SD", "(+2.5 SDS)", "−2 standard deviations"; "below -2 SD" too.
_SD = re.compile(
    rf"(?P<sign>[-+−–])?\s?(?P<value>{_NUMBER})\s?(?:SDS?|s\.d\.|standard deviations?)(?![A-Za-z])",
    re.IGNORECASE,
)
#: A centile: "3rd centile", "<P3", "below the 3rd percentile", "97th %ile".
_CENTILE = re.compile(
    rf"(?:(?P<side>below|under|less than|<|above|over|greater than|>)\s*(?:the\s+)?)?"
    rf"(?:P(?P<p>{_NUMBER})\b|(?P<value>{_NUMBER})\s?(?:st|nd|rd|th)?\s?(?:centile|percentile|%ile)s?\b)",
    re.IGNORECASE,
)
#: Where a clause ends: a measurement's value is read within its own clause only.
_CLAUSE_END = re.compile(r"\.(?=\s|$)|[;\n]|,\s*(?:and\s+)?(?=[A-Za-z]+\s+(?:was|is|of|at|=|:))")
#: How far after its name a measurement's value may be ("OFC at 2 years was 44 cm, -2.5 SD": 40 characters).
_VALUE_WINDOW = 60
_AGE = r"(?:the\s+age\s+of\s+|age\s+)?(?P<age>\d+(?:[.,]\d+)?)\s*(?P<unit>months?|mos?|years?|yrs?|y)\b"
_MILESTONES: tuple[tuple[re.Pattern[str], str, float], ...] = (
    (
        re.compile(
            rf"\b(?:(?:not\s+(?:yet\s+)?)?walk(?:ed|ing)?|first\s+(?:independent\s+)?steps)"
            rf"(?:\s+(?:independently|alone|unaided|unsupported|without\s+support))?\s+(?:at|by)\s+{_AGE}",
            re.IGNORECASE,
        ),
        DELAYED_WALKING,
        18,
    ),
    (
        re.compile(
            rf"\b(?:(?:not\s+(?:yet\s+)?)?s(?:at|itting)|sat\s+up)"
            rf"(?:\s+(?:independently|alone|unaided|unsupported|without\s+support))?\s+(?:at|by)\s+{_AGE}",
            re.IGNORECASE,
        ),
        DELAYED_SITTING,
        9,
    ),
    (
        re.compile(
            rf"\b(?:first\s+words?|(?:spoke|said)\s+(?:his\s+|her\s+|their\s+)?first\s+words?)\s+(?:at|by)\s+{_AGE}",
            re.IGNORECASE,
        ),
        DELAYED_SPEECH,
        18,
    ),
)
#: A milestone not reached, its age first: "at 18 months he was not yet walking", "by 2 years she could not sit".
_NOT_YET = re.compile(
    rf"\b(?:at|by)\s+{_AGE}\s*,?\s+(?:(?:he|she|they|the\s+(?:child|patient|boy|girl))\s+)?"
    r"(?:was|were|is|could|did)?\s*(?:still\s+)?not\s+(?:yet\s+)?(?:able\s+to\s+)?(?P<verb>walk|sit|talk|speak)",
    re.IGNORECASE,
)
_NOT_YET_TERMS = {"walk": (DELAYED_WALKING, 18.0), "sit": (DELAYED_SITTING, 9.0)}
_NOT_YET_TERMS |= {"talk": (DELAYED_SPEECH, 18.0), "speak": (DELAYED_SPEECH, 18.0)}
_IQ = re.compile(
    r"\b(?:full[- ]scale\s+)?(?:IQ|FSIQ|intelligence quotient)(?:\s+(?:score|was|of|is|=|:|at))*"
    r"\s*[:=]?\s*(?P<value>\d{1,3})\b",
    re.IGNORECASE,
)


def quantity_candidates(text: str) -> list[Candidate]:
    """Spans of ``text`` whose numbers name a finding, each with its HPO id (growth, milestones, IQ)."""
    found: list[Candidate] = []
    for reader in _READERS:
        found.extend(reader(text))
    return found


def _growth(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for name in _MEASURE.finditer(text):
        kind = next(k for k in _MEASURES if name.group(k))
        window_end = min(len(text), name.end() + _VALUE_WINDOW)
        clause_end = _CLAUSE_END.search(text, name.end(), window_end)
        window = text[name.end() : clause_end.start() if clause_end else window_end]
        side = _z_side(window) or _centile_side(window)
        if side is None:
            continue
        value_end, below = side
        found.append((name.start(), name.end() + value_end, _MEASURES[kind][0 if below else 1]))
    return found


def _z_side(window: str) -> tuple[int, bool] | None:
    """(end of the value in ``window``, below the mean?) for a z-score at least 2 from the mean."""
    match = _SD.search(window)
    if match is None:
        return None
    z = float(match.group("value").replace(",", "."))
    before, after = window[: match.start()], window[match.end() :]
    negative = (
        match.group("sign") in ("-", "−", "–")
        or re.search(r"below\s*$", before) is not None
        or re.match(r"\s*below", after) is not None
    )
    if z < 2:
        return None
    return match.end(), negative


def _centile_side(window: str) -> tuple[int, bool] | None:
    """(end of the value, below?) for a centile below the 3rd or above the 97th (a bound said so counts)."""
    match = _CENTILE.search(window)
    if match is None:
        return None
    centile = float((match.group("p") or match.group("value")).replace(",", "."))
    side = (match.group("side") or "").casefold()
    below_bound = side in ("below", "under", "less than", "<")
    above_bound = side in ("above", "over", "greater than", ">")
    if (centile < 3 and not above_bound) or (centile <= 3 and below_bound):
        return match.end(), True
    if (centile > 97 and not below_bound) or (centile >= 97 and above_bound):
        return match.end(), False
    return None


def _milestones(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for pattern, term_id, normal_by_months in _MILESTONES:
        for match in pattern.finditer(text):
            months = _months(match.group("age"), match.group("unit"))
            negated = match.group(0).casefold().startswith("not")
            if months > normal_by_months or (negated and months >= normal_by_months):
                found.append((match.start(), match.end(), term_id))
    return found


def _not_yet(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for match in _NOT_YET.finditer(text):
        term_id, normal_by_months = _NOT_YET_TERMS[match.group("verb").casefold()]
        if _months(match.group("age"), match.group("unit")) >= normal_by_months:
            end = match.end()
            while end < len(text) and text[end].isalpha():  # the whole verb: "walking", "sitting"
                end += 1
            found.append((match.start(), end, term_id))
    return found


def _months(number: str, unit: str) -> float:
    value = float(number.replace(",", "."))
    return value if unit.casefold().startswith("mo") else value * 12


def _iq(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for match in _IQ.finditer(text):
        value = int(match.group("value"))
        term_id = next(term for lowest, term in IQ_BANDS if value >= lowest)
        if term_id is not None:
            found.append((match.start(), match.end(), term_id))
    return found


_READERS: tuple[Callable[[str], list[Candidate]], ...] = (_growth, _milestones, _not_yet, _iq)
