"""When the illness began, as notes state it by an age: "seizures began at 6 months", "onset at 2 years".

Why: the likelihood-ratio scorer weighs the onset of a case against each disease's onset annotations
(``Case.onset``, an HPO Onset term), and a note states it as an age far more often than by HPO's names
("Infantile onset"). The context dictionary (:mod:`dxsearch.knowledge.context_lookup`) reads the names and
period phrasings ("since infancy", "began in early childhood"); this reads an age after a word that says
something *began* then, and names the HPO onset class whose age range holds it (:data:`ONSET_CLASSES`).

Only an age that follows such a word (perhaps after a few words: "developed seizures at 6 months"), or
"since age N", is read: "walked at 18 months" dates a milestone, "started school at 4" and "on melatonin since
age 3" are no illness's start, and "a 3-year-old boy" is the age now (:mod:`dxsearch.intake.demographics`).
Each reading is a ``Candidate`` the context dictionary's reading takes, so cues assert it as for any mention:
"his brother's seizures began at 2 years" is a relative's, and stays in the account only.
"""

from __future__ import annotations

import re

from dxsearch.cases import duration_years
from dxsearch.intake.demographics import AGE_NUMBER, AGE_UNIT, age_duration
from dxsearch.knowledge.likelihood import ONSET_YEARS
from dxsearch.knowledge.term_lookup import Candidate

__all__ = ["ONSET_CLASSES", "onset_candidates", "onset_of_age"]

#: The HPO onset classes an age after birth falls in, by the upper end of their age range in years (the
#: likelihood scorer's ``ONSET_YEARS``, so both read one table): the first whose bound the age is below names
#: it. An age of exactly one year is childhood (1 to 5 years); past 60 years, late onset.
# neonatal, infantile, childhood, juvenile, young adult, middle age
_CLASSES_BY_AGE = ("HP:0003623", "HP:0003593", "HP:0011463", "HP:0003621", "HP:0011462", "HP:0003596")
LATE_ONSET = "HP:0003584"
ONSET_CLASSES: tuple[tuple[float, str], ...] = (
    *((ONSET_YEARS[term_id][1], term_id) for term_id in _CLASSES_BY_AGE),
    (float("inf"), LATE_ONSET),
)
#: Words that say something began at the age that follows: "onset", "began", "first noticed", "presented".
#: Not "diagnosed" or "seen": a diagnosis or a first visit may come years after the onset.
_BEGAN = (
    r"(?:onset|began|begun|begins|started|starts|commenced|presented|appeared|emerged|developed|arose"
    r"|first\s+(?:noticed|noted|observed|appeared|occurred|developed|presented|recognized|recognised)|first)"
)
#: Up to four words between that word and the age ("developed seizures at 6 months", "first febrile seizure at
#: 9 months"), none a milestone (whose age is not an onset: "developed independent walking at 18 months").
_BETWEEN = (
    r"(?:\s+(?!(?:walk|sit|stand|crawl|cruis|talk|speak|say|said|smil|word|babbl|roll|point|wav|clap|climb|run"
    r"|ride|feed|toilet|read|writ|seen|visit|review|assess|evaluat|clinic|diagnos|referr|admi"
    # nor school, a treatment or development itself: "started school at 4", "started levetiracetam at 2 years"
    r"|school|nurser|kindergarten|treat|therap|medic|tablet|drug|on\b|taking|well\b|normal"
    r"|\w+(?:am|ine|ate|ide|one|ol)\b)\w*)[a-z][\w-]*){0,4}?"
)
#: Between the word and the age: "at", "around", "from", "by", "aged", "at the age of", "at age", "at about".
_LINK = (
    r"(?:\s*:\s*|\s+(?:at|around|from|by|aged)\s+(?:about\s+|approximately\s+|~\s*)?)"
    r"(?:(?:the\s+)?age\s+(?:of\s+)?)?"
)
_ONSET_AGE = re.compile(
    rf"\b{_BEGAN}(?P<between>{_BETWEEN})(?P<link>{_LINK}){AGE_NUMBER}\s?[- ]?{AGE_UNIT}\b", re.IGNORECASE
)
#: "onset at age 4": after "age", a number without a unit is in years.
_ONSET_AGE_YEARS = re.compile(
    rf"\b{_BEGAN}(?P<between>{_BETWEEN})(?P<link>\s+(?:at|around|from|by)\s+(?:the\s+)?age\s+(?:of\s+)?)"
    rf"{AGE_NUMBER}\b(?!\s?[- ]?[a-z])",
    re.IGNORECASE,
)
#: "since the age of 3 years", "since age 2": something present ever since (a bare "since 3 months" too).
_SINCE_AGE = re.compile(
    rf"\bsince\s+(?:(?:the\s+)?age\s+(?:of\s+)?)?{AGE_NUMBER}\s?[- ]?{AGE_UNIT}\b(?!\s+ago)",
    re.IGNORECASE,
)

_SINCE_AGE_YEARS = re.compile(rf"\bsince\s+(?:the\s+)?age\s+(?:of\s+)?{AGE_NUMBER}\b(?!\s?[- ]?[a-z])", re.IGNORECASE)


#: Before "since age N": a treatment, whose start is no onset ("On melatonin since age 3").
_TREATED_BEFORE = re.compile(r"\b(?:on|taking|using|wears?|wearing|attend\w*)\b[^.;\n]*$", re.IGNORECASE)
#: Right before "since age N": an end, not a start ("seizures as a baby but none since age 2", "seizure-free since
#: age 5", "none at all since", "no more since", "off medication since"). Only right before: "migraine with no aura
#: since age 10" has its onset at 10 (a code review: any negation in the clause cancelled the onset).
_ENDED_BEFORE = re.compile(
    r"\b(?:none(?:\s+at\s+all)?|nothing|free|stopped|ceased|resolved|off|no\s+(?:more|further|longer))\s*$",
    re.IGNORECASE,
)


def onset_of_age(years: float) -> str:
    """The HPO onset class whose age range holds ``years`` (an age after birth)."""
    return next(term_id for bound, term_id in ONSET_CLASSES if years < bound)


def onset_candidates(text: str) -> list[Candidate]:
    """``(start, end, onset term)`` for each age a note says something began at.

    The span is the words that state the onset: "onset at 3 months" whole, but in "developed seizures at 6
    months" only "at 6 months", so the finding's words stay the finding's.
    """
    found: list[Candidate] = []
    for pattern in (_ONSET_AGE, _ONSET_AGE_YEARS, _SINCE_AGE, _SINCE_AGE_YEARS):
        for match in pattern.finditer(text):
            unit = match.groupdict().get("unit") or "years"
            years = duration_years(age_duration(match.group("number"), unit))
            if years is None:
                continue
            if match.re in (_SINCE_AGE, _SINCE_AGE_YEARS) and any(
                before.search(text, max(0, match.start() - 40), match.start())
                for before in (_TREATED_BEFORE, _ENDED_BEFORE)
            ):
                continue  # "on melatonin since age 3", "none since age 2": a treatment's start, an illness's end
            between = match.groupdict().get("between")
            start = match.start() if not between else match.start("link")
            while start < match.end() and not text[start].isalnum():
                start += 1  # the span starts on a word: "first seizure: 6 months" is "6 months", not ": 6 months"
            found.append((start, match.end(), onset_of_age(years)))
    return sorted(found)
