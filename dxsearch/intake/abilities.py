"""Abilities a note says the patient lacks: "cannot walk", "does not speak", "no eye contact".

Why: HPO names these as findings ("Inability to walk", "Absent speech", "Reduced eye contact"), while a
note says them with a negation, which the dictionary's reading would take as denying something. Read
as phrases, the negation is the finding. Only when the phrase ends there (at punctuation, "and", "or",
"at all", "independently", ...): "cannot walk long distances", "does not speak English", "does not
speak in full sentences" and "no eye contact issues" say something else, and are not read.

Each reading is a ``Candidate`` handed to the dictionary's reading, which decides its assertion as for
any mention ("his brother cannot walk" is family history).
"""

from __future__ import annotations

import re

from dxsearch.intake.quantities import DELAYED_SPEECH, DELAYED_WALKING, REACHED_BY_MONTHS
from dxsearch.knowledge.term_lookup import Candidate

__all__ = ["ability_candidates"]

INABILITY_TO_WALK, ABSENT_SPEECH, REDUCED_EYE_CONTACT = "HP:0002540", "HP:0001344", "HP:0000817"
LOSS_OF_AMBULATION = "HP:0002505"
_CANNOT = (
    r"(?:cannot|can\s*not|can['’]t|(?:is\s+|was\s+)?unable\s+to|(?:is\s+|was\s+)?not\s+able\s+to"
    r"|does\s+not|doesn['’]t|did\s+not|didn['’]t|has\s+never|had\s+never|never)"
)
#: Abilities a missing ability may be listed with: "cannot walk or talk", "does not sit or stand".
_ABILITY_VERBS = r"(?:walk|talk|speak|sit|stand|crawl|vocali[sz]e|make|say|feed|see|hear|babble|read|write)"
#: Words that start a new clause after "and": "cannot walk and has seizures", "no eye contact and no speech".
_CLAUSE_START = (
    r"(?:has|had|is|was|he|she|they|his|her|their|the|a|an|no|not|never|shows?|showed|needs?|uses?|does|did"
    r"|doesn['’]t|didn['’]t|can|cannot|can['’]t|could|also|requires?)"
)
#: Where the phrase must end for it to say the whole ability is missing: punctuation, "but", "at all",
#: "independently", or "and" / "or" with another ability or a new clause ("cannot walk or talk", "cannot walk
#: and has seizures"; not "does not speak or understand English").
_ENDS = (
    r"(?=\s*(?:[.,;:)!?\n]|$)|\s+(?:but|at\s+all|yet|anymore|any\s+more|independently|unaided|alone"
    rf"|unsupported|without\s+(?:support|aid|help|assistance)|since|(?:and|or)\s+(?:{_ABILITY_VERBS}|{_CLAUSE_START}))\b"
    r"|\s+(?:at|by|since|from|in)\s+(?:the\s+age\s+of\s+|age\s+)?\d)"
    # ... and not at the head of a list of what is not a concern: "no speech or language delay", "no speech,
    # language or hearing concerns".
    r"(?!\s*(?:,|\bor\b|\band\b)[^.;:\n]{0,40}?\b(?:delay|concern|problem|issue|difficult|therap|disorder"
    r"|impairment|loss)\w*)"
)
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\b{_CANNOT}\s+walk(?:ed)?{_ENDS}", re.IGNORECASE), INABILITY_TO_WALK),
    (
        re.compile(rf"\b{_CANNOT}\s+(?:speak|spoken|talk|talked|say\s+(?:any\s+)?words){_ENDS}", re.IGNORECASE),
        ABSENT_SPEECH,
    ),
    (re.compile(rf"\bno\s+(?:speech|words|language){_ENDS}", re.IGNORECASE), ABSENT_SPEECH),
    (
        re.compile(
            rf"\b(?:can\s+no\s+longer|(?:is|was)\s+no\s+longer\s+able\s+to|lost\s+(?:the\s+|his\s+|her\s+)?"
            rf"ability\s+to)\s+walk{_ENDS}",
            re.IGNORECASE,
        ),
        LOSS_OF_AMBULATION,
    ),
    (
        re.compile(
            rf"\b(?:no|absent|avoids|lacks?|(?:does\s+not|doesn['’]t|did\s+not|never)\s+(?:make|makes))"
            rf"\s+eye\s+contact{_ENDS}",
            re.IGNORECASE,
        ),
        REDUCED_EYE_CONTACT,
    ),
)


#: An ability not yet due is no finding: a 12-month-old who cannot walk or does not speak is a typical child.
_DUE_BY_MONTHS = {
    INABILITY_TO_WALK: REACHED_BY_MONTHS[DELAYED_WALKING],
    ABSENT_SPEECH: REACHED_BY_MONTHS[DELAYED_SPEECH],
}


def ability_candidates(text: str, age_months: float | None = None) -> list[Candidate]:
    """Spans of ``text`` that say the patient lacks an ability HPO names as a finding, each with its id.

    With the patient's age (``age_months``), an ability nearly every child has not reached by then is not read.
    """
    return [
        (match.start(), match.end(), term_id)
        for pattern, term_id in _PHRASES
        if age_months is None or age_months >= _DUE_BY_MONTHS.get(term_id, 0)
        for match in pattern.finditer(text)
    ]
