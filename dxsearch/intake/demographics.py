"""Age and sex as notes write them: "14-year-old boy", "14 yo M", "a 3-month-old girl", "34M", "Age: 17".

The phrases clinicians use to open a case are read: a number (in digits or words) with a unit of age and
"old" (or "yo" / "y/o"), optionally followed by a word for the patient's sex; years and months together
("3 year 4 month old boy"); a header's "34M" or "Age: 17"; "(age 5)"; "Newborn boy". An age at an event
("first seizure at 6 months old") or a relative's is passed over; "She is now 7" is read, and "At 15 he has
obesity" (the present tense) when nothing else gives the age ("At 3 he walked" dates an event). The sex comes
from such a phrase, a form's "Sex: F", "this boy", "The boy was referred ..." (a child opening a sentence), or
else the patient's pronouns when at least two agree and none says otherwise ("He has seizures. His gait is
ataxic."), or one "he" / "she" that cannot mean anyone named before it ("He is 14 years old."); a pronoun that may be
a relative's is not counted, and a relative's word never gives it. "3 and a half years old" is 42 months, as "3½" is;
"The boy was referred at 6 years" gives the age the patient was seen at when nothing else gives one.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from dxsearch.cases import AGE_DURATION, YEARS_PER_UNIT, Sex, duration_years
from dxsearch.knowledge.term_lookup import RELATIVE_DETERMINERS, RELATIVES

__all__ = [
    "AGE_NUMBER",
    "AGE_UNIT",
    "IMPLAUSIBLE_AGE",
    "MAX_AGE_YEARS",
    "MAX_NOTE_AGE_YEARS",
    "RELATIVE",
    "Demographics",
    "age_duration",
    "check_age",
    "implausible_age",
    "read_demographics",
    "sentence_starts",
]

#: The oldest age any input may state; beyond it an age is refused, not read.
MAX_AGE_YEARS = 150
#: The oldest age read from a note's words; an older one is listed in the account as not used (:data:`IMPLAUSIBLE_AGE`).
MAX_NOTE_AGE_YEARS = 130
#: Why an age a note states is not read: the account says so, at the age's span (it was dropped in silence).
IMPLAUSIBLE_AGE = "age {value} {unit} is not plausible (more than {most} years)"
_UNIT_WORDS = {"Y": "years", "M": "months", "W": "weeks", "D": "days"}

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_UNITS |= {"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15}
_UNITS |= {"sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(k for k, v in _UNITS.items() if 0 < v < 10)}))?"
    rf"|{'|'.join(sorted(_UNITS, key=len, reverse=True))})"
)
#: An age's number (digits or words, group ``number``) and unit (group ``unit``), for every reader of ages.
#: "3 and a half" and "three-and-a-half" are read as "3½" and "3 1/2" are ("3 and a half years old" was no age).
AGE_NUMBER = _NUMBER = rf"(?P<number>(?:\d{{1,3}}(?:\.5|\s1/2|½)?|{_NUMBER_WORD})(?:[\s-]+and[\s-]+a[\s-]+half\b)?)"
AGE_UNIT = _UNIT = r"(?P<unit>years?|yrs?|months?|mos?|weeks?|wks?|days?)"
_SEX_WORDS: dict[str, Sex] = {
    "boy": "male",
    "man": "male",
    "male": "male",
    "m": "male",
    "gentleman": "male",
    "son": "male",
    "girl": "female",
    "woman": "female",
    "female": "female",
    "f": "female",
    "lady": "female",
    "daughter": "female",
    # titles before a name in a header ("Mrs P. Rossi, 49")
    "mr": "male",
    "master": "male",
    "mrs": "female",
    "ms": "female",
    "miss": "female",
}
# The sex word right after the age, perhaps after a word or two ("61-year-old right-handed man", "3-year-old
# previously healthy girl"); the one-letter forms only in upper case ("14 yo M"), never "m" or "f".
_SEX_WORD = r"boy|girl|man|woman|male|female|gentleman|lady|son|daughter"
_SEX = (
    r"(?:(?!(?:and|or|with|whose|who|has|had|is|was)\b)[a-z][a-z-]*\s+){0,2}?"
    r"(?:(?:infant|baby|child|toddler|teenage|adolescent|young)\s+)?"
    rf"(?P<sex>{_SEX_WORD}|(?-i:M|F))\b"
)
#: Units of an age in a form or a header, where "y" and "m" are clear: "Age: 2y 3m", "M, 45y".
_UNIT_SHORT = r"(?P<unit>years?|yrs?|y|months?|mos?|mo|m|weeks?|wks?|w|days?|d)"
#: Years and months together: "3 year 4 month old boy", "a 3-year 4-month-old girl", "8y 6m girl", "6 yrs 2 mo".
_COMPOUND_AGE = re.compile(
    rf"\b{_NUMBER}[- ]?(?P<unit>years?|yrs?|y)[-,\s]+(?:and\s+)?(?P<months>\d{{1,2}})[- ]?(?:months?|mos?|mo|m)\b"
    rf"(?P<old>[- ]old\b)?(?:[\s,]+{_SEX})?",
    re.IGNORECASE,
)
_MONTHS_UNIT = re.compile(r"[-\s]?(?:months?|mos?|mo|m)\b", re.IGNORECASE)
_AGE_PHRASES = (
    _COMPOUND_AGE,
    # "14-year-old boy", "a 3-month-old girl", "fourteen year old", "14 years old"
    re.compile(rf"\b{_NUMBER}[- ]?{_UNIT}[- ]old\b(?:[\s,]+{_SEX})?", re.IGNORECASE),
    # "34M", "45F" as a header or an opening writes them (upper case; not "5F catheter")
    re.compile(
        r"(?:^|(?<=[\n(:,;.-]))[ \t]*(?P<number>\d{1,3})(?-i:(?P<sex>M|F))\b"
        r"(?=\s*(?:[,.;:)\n]|$|(?:with|referred|presenting|presents|presented|who|seen|here|admitted|known)\b))",
        re.IGNORECASE,
    ),
    # "Sofia (age 5)", "(aged 3 years)", "(age 3y 2m)"
    re.compile(
        rf"\(\s*aged?\s*:?\s*{_NUMBER}(?:\s?{_UNIT_SHORT}\b)?(?:\s*(?P<months>\d{{1,2}})\s?(?:mo|m|months?)\b)?"
        rf"(?:\s*,\s*{_SEX})?\s*\)",
        re.IGNORECASE,
    ),
    # a header's fields between bars or dashes: "Mr D. Kowalski | 42 | M", "Amira K. - 2 y 9 m - F", "(9y) | M"
    re.compile(
        rf"(?:\||\s[-–]|\()\s*{_NUMBER}\s?(?:{_UNIT_SHORT}\b\.?)?(?:\s*(?P<months>\d{{1,2}})\s?(?:mo|m|months?)\b)?"
        rf"\s*\)?\s*(?:\||\s[-–])\s*(?P<sex>(?-i:M|F)|male|female|boy|girl)\b",
        re.IGNORECASE,
    ),
    # "DOL 1", "day of life 3"
    (_DAY_OF_LIFE := re.compile(r"\b(?P<unit>d)(?:ol|ay\s+of\s+life)\s*(?P<number>\d{1,2})\b", re.IGNORECASE)),
    # "11 mo F", "2 y boy": a short unit with the sex right after it
    re.compile(rf"\b{_NUMBER}\s?{_UNIT_SHORT}\.?[,\s]+(?P<sex>(?-i:M|F)|boy|girl|male|female)\b", re.IGNORECASE),
    # "Age: 17." (years)
    re.compile(rf"\bage\s*:\s*{_NUMBER}\b(?!\s?(?:y|m|w|d)[a-z]*\b)(?![./]\d)", re.IGNORECASE),
    # A letter's or a summary's header, the patient's name then the age: "Re: Tomas, 9 yrs", "Mrs P. Rossi, 49",
    # "Maya (8).", "Name: Ruby T., 15 y, F", "review - Noah, 6 yrs 2 mo." (a title gives the sex: Mr, Mrs, Ms)
    (
        _HEADER_AGE := re.compile(
            r"(?:^|(?<=\n)|(?<=\s-)|(?<=[Rr]e:)|(?<=[Nn]ame:)|(?<=[Pp]atient:)|(?<=[Ff]ollow-up:)|(?<=[Rr]eview:))"
            r"[ \t]*(?i:re:\s*|name:\s*)?"
            # after a title, the name may be an initial alone ("Mrs K, 47", a user test of 2026-11-28: it was read
            # without the sex, "Mrs K" taken for a name)
            r"(?:(?P<title>Mr|Mrs|Ms|Miss|Master)\.?\s+)?"
            r"(?P<name>(?-i:[A-Z][a-z]+|[A-Z]\.|(?(title)[A-Z](?=\s*[,(])|(?!)))(?:\s+(?-i:[A-Z][a-z]+|[A-Z]\.?)){0,3})"
            rf"\s*(?:,\s*|\(\s*)(?:now\s+)?{_NUMBER}(?:\s?{_UNIT_SHORT}\b\.?)?(?:\s*(?P<months>\d{{1,2}})\s?(?:mo|m|months?)\b)?"
            rf"(?=\s*(?:[,.;:)\n]|$|with\b|has\b|is\b|was\b|admitted\b))(?:[\s,]+{_SEX})?",
            re.MULTILINE,
        )
    ),
    # "adolescent female, 16:", "male, 45.", "Female, age 3.", "Male, aged 45.", "girl, age 3 years"
    re.compile(
        rf"\b(?P<sex_before>{_SEX_WORD})\s*,\s*(?:aged?\s*:?\s*)?{_NUMBER}(?:\s?{_UNIT}\b)?(?![.,]\d)"
        r"(?=\s*(?:[:.,;)\n]|$))",
        re.IGNORECASE,
    ),
    # "day 3 of life", "day 1, male"
    (
        _DAY_N := re.compile(
            rf"\b(?P<unit>day)\s+(?P<number>\d{{1,2}})(?:\s+of\s+life\b|(?=[\s,]+(?:{_SEX_WORD}|(?-i:M|F))\b))"
            rf"(?:[\s,]+{_SEX})?",
            re.IGNORECASE,
        )
    ),
    # "Newborn boy", "a neonate": days old
    re.compile(r"\b(?P<newborn>newborn|neonate)\b(?:\s+(?P<sex>boy|girl|male|female))?", re.IGNORECASE),
    # "14 yo M", "14yo", "14 y/o female", "14 y.o. boy"
    re.compile(rf"\b{_NUMBER}\s?(?:yo|y/o|y\.o\.?)(?![\w/])(?:[\s,]+{_SEX})?", re.IGNORECASE),
    # "aged 4 years", "a woman aged 30 years", "Faith, aged 3" (years)
    re.compile(
        rf"(?:\b(?P<sex_before>{_SEX_WORD})\s+)?\baged\s*{_NUMBER}(?:\s?{_UNIT}\b)?"
        rf"(?:[\s,]+(?:and\s+)?(?P<months>\d{{1,2}})\s?(?:months?|mos?)\b)?(?:[\s,(]+{_SEX})?",
        re.IGNORECASE,
    ),
    # "Age: 8 years, male", "Age: 2y 3m"
    re.compile(
        rf"\bage(?:\s+at\s+\w+)?\s*:\s*{_NUMBER}\s?{_UNIT_SHORT}\b(?:\s*(?P<months>\d{{1,2}})\s?(?:months?|mos?|mo|m)\b)?"
        rf"(?:[\s,]+{_SEX})?",
        re.IGNORECASE,
    ),
    # a header opening a line: "M, 45y", "Female, 32 years", "Girl, 3 years 6 months."
    re.compile(
        rf"^[ \t]*(?P<sex_before>male|female|boy|girl|man|woman|(?-i:M|F))\s*,\s*{_NUMBER}\s?{_UNIT_SHORT}\b"
        r"(?:\s*(?P<months>\d{1,2})\s?(?:months?|mos?|mo|m)\b)?",
        re.IGNORECASE | re.MULTILINE,
    ),
    # "Baby girl, day 9": a newborn's day of life after the sex
    (
        _BABY_DAY := re.compile(
            r"\bbaby\s+(?P<sex_before>boy|girl|male|female)\s*,\s*(?P<unit>day)\s+(?P<number>\d{1,2})\b"
            r"(?:\s+of\s+life\b)?",
            re.I,
        )
    ),
    # "chronological age 8 weeks" (beside a preterm infant's corrected age, which is not the age)
    re.compile(rf"\bchronological\s+age\s*:?\s*{_NUMBER}\s?{_UNIT}\b", re.IGNORECASE),
    # a titled name and the age, anywhere: "I reviewed Mr Edwards, now 58, with ...", "Mrs Ali, 63, has ..."
    (
        _TITLED_AGE := re.compile(
            r"\b(?P<title>Mr|Mrs|Ms|Miss|Master)\.?\s+(?:[A-Z]\.?\s+)?(?P<name>[A-Z][a-z]+(?:-[A-Z][a-z]+)?|[A-Z]\.?(?=\s*,))"
            rf"\s*,\s*(?:now\s+|aged\s+)?{_NUMBER}(?:\s?{_UNIT_SHORT}\b\.?)?"
            r"(?=\s*[,.;:)]|\s+(?:with|who|has|is|was|presents|presented)\b)"
        )
    ),
    # "18/12 old boy" (months), "3/52 old" (weeks), as British notes write them
    (
        _PER_AGE := re.compile(
            rf"\b(?P<number>\d{{1,2}})/(?P<per>12|52)(?P<old>\s+old\b)?(?:[\s,]+{_SEX})?", re.IGNORECASE
        )
    ),
    # a letter's header: "Re: Oliver N., 8 years, male"; "4 years 2 months, female" (the sex word required)
    re.compile(rf"\b{_NUMBER}\s?{_UNIT}(?:\s+\d{{1,2}}\s?months?)?,\s*{_SEX}", re.IGNORECASE),
)
#: Phrases of a newborn's day of life ("day 3 of life", "DOL 2", "Baby girl, day 9"): day 1 is the day of birth.
_DAYS_OF_LIFE = (_DAY_OF_LIFE, _DAY_N, _BABY_DAY)
#: Right before a day of life: the patient it dates ("Newborn girl day 2 of life", "term male infant, day 3").
_NEWBORN_BEFORE = re.compile(r"\b(?:newborn|neonate|baby|infant|boy|girl|male|female|term|preterm)\W*$", re.I)
#: "Age 8 years" without a colon: read only where it opens the note, a line or a sentence (not "maternal age 35
#: years", "bone age 6 years", nor after a comma or a colon: "Father, age 40 years", "Seizure onset: age 6 months").
_BARE_AGE = re.compile(rf"\bage\s+{_NUMBER}\s?{_UNIT}\b(?:[\s,]+{_SEX})?", re.IGNORECASE)
_OPENS_AFTER = frozenset(".\n;(")
#: What ends an age phrase after its number and unit: "-old", " old", "yo", "y/o", "y.o.", "4 years 2 months".
_AGE_TAIL = re.compile(r"(?:\s+\d{1,2}\s?months?)?(?:[- ]?old\b|\s?(?:yo|y/o|y\.o\.?)(?![\w/]))?", re.IGNORECASE)
#: Words between "this" and the patient's sex word: "this little girl", "this young man", "this lovely boy".
_SEX_ADJECTIVE = (
    r"(?:little|young|small|tiny|big|tall|older|elderly|teenage|lovely|delightful|pleasant|charming|friendly|bright"
    r"|cheerful|happy|lively|active|chatty|shy|quiet|sociable|smiley|sweet)"
)
#: The sex stated without an age: "Baby boy", "Term female infant", "Sex: F", "this boy".
_SEX_ALONE = (
    re.compile(r"\b(?:baby|newborn|term|preterm|premature)\s+(?P<sex>boy|girl|male|female)\b", re.IGNORECASE),
    # "Infant girl, 4 months old": opening the note, a line or a sentence (not "His sister, an infant girl, ...")
    re.compile(
        r"(?:^|(?<=[.!?]))[ \t]*(?:an?\s+|the\s+)?infant\s+(?P<sex>boy|girl|male|female)\b(?!['’]s\b)",
        re.IGNORECASE | re.MULTILINE,
    ),
    re.compile(r"\b(?P<sex>male|female)\s+(?:infant|neonate|newborn|baby|toddler|child)\b", re.IGNORECASE),
    re.compile(r"\b(?:sex|gender)\s*:\s*(?P<sex>male|female|(?-i:M|F))\b", re.IGNORECASE),
    # "Gentleman with 2 years of ...", "see this lady who reports ..."
    re.compile(r"(?:^|\b(?:this|a|the|pleasant)\s+)(?P<sex>gentleman|lady)\b", re.IGNORECASE | re.MULTILINE),
    # "I saw this boy", "this little girl", "this young man", "this pleasant 7-year-old ..." (the age phrase reads that
    # one): "this" is the writer pointing at the patient (a user test, 2026-11-28). Not "this boy's sister", whose
    # patient is the sister, nor "a boy" or "the man", who may be anyone.
    re.compile(
        rf"\bthis\s+(?:{_SEX_ADJECTIVE}\s+){{0,2}}(?P<sex>boy|girl|man|woman|gentleman|lady|lad)\b(?!['’]s\b)",
        re.IGNORECASE,
    ),
    # a header line that ends with the sex after the age or birth date: "DOB: 12/05/2019 (age 5)   M",
    # "Re: Muhammad A., DOB 14.08.2021 (age 3y 2m), male"
    re.compile(r"[\d)][ \t,]+(?P<sex>(?-i:M|F)|male|female)[ \t]*$", re.IGNORECASE | re.MULTILINE),
)
#: "The boy was referred ...", "A girl with seizures ...": the sex word as the subject opening a sentence ("The boy was
#: referred at 6 years" gave no sex). Not "The boy's sister ...", whose patient is the sister, nor a sex word within a
#: sentence ("His sister, a girl of 8, ..."); one that may mean a relative just named is passed over
#: (:func:`_subject_is_the_patient`). A child only: "A man was coughing in the waiting room" may be anyone.
_SEX_SUBJECT = re.compile(
    rf"(?:^|(?<=[.!?]))[ \t]*(?:the|a|an|our)\s+(?:{_SEX_ADJECTIVE}\s+){{0,2}}"
    r"(?P<sex>boy|girl)\b(?!['’]s\b)"
    r"(?=[ \t]*(?:,|\b(?:was|is|has|had|presented|presents|developed|attended|came|underwent|showed|shows|now|with"
    r"|who|aged)\b))",
    re.IGNORECASE | re.MULTILINE,
)
#: A relative named, singular or plural ("mother", "grandparents"): one list for every reader of ages.
#: "son" and "daughter" name the patient here ("a 14-year-old son"), so they are no relative of an age.
_RELATIVE_WORD = rf"(?:{'|'.join(r for r in RELATIVES if r not in ('son', 'daughter'))}|grand\w+)s?\b"
#: Words before an age in its sentence that make it a relative's: "Her mother, aged 40 years, has ptosis"; the
#: milestone reader (``quantities``) uses it too ("her brother, a 2-year-old, is not yet walking").
RELATIVE = re.compile(rf"\b{_RELATIVE_WORD}", re.IGNORECASE)
#: Right before a phrase, a relative it is said of, in apposition: "His sister, a baby girl, ...", "Her brother, a
#: 3-year-old boy, ...", "his sister (a 5-year-old girl)", "He has a sister, a healthy 8-year-old girl".
_RELATIVE_APPOSED = re.compile(
    rf"\b{_RELATIVE_WORD}[ \t]*[,(][ \t]*"
    r"(?:(?:now|currently|also|herself|himself|an?|the|healthy|unaffected|well|little|young|older|younger)[ \t]+)*$",
    re.IGNORECASE,
)
#: Before the relative of an apposition: the relative opens its sentence, as its subject ("His sister, a baby girl,
#: has seizures"), or is one the patient has ("He has a sister, a healthy 8-year-old girl"); not "Accompanied by
#: father, a 7-year-old boy with hypotonia", "Referred by her grandmother, a 4-year-old girl" (the patient).
_BEFORE_THE_RELATIVE = re.compile(
    r"(?:(?:^|[.;!?\n:])[ \t\r\n]*|\b(?:has|have|had)[ \t]+(?:an?|one|two|three|\d)[ \t]+)" + RELATIVE_DETERMINERS,
    re.IGNORECASE,
)
#: How far back a relative in apposition is looked for, and before it the start of its sentence.
_APPOSED_REACH = 40
_SUBJECT_REACH = 60


def _describes_a_relative(text: str, start: int) -> bool:
    """Whether the age or sex phrase at ``start`` describes a relative named right before it, in apposition: "His
    sister, a baby girl, has seizures" gives no patient's sex, "Her brother, a 3-year-old boy, ..." no age. The
    relative is the sentence's subject (or one the patient has): a code review found "Accompanied by father, a
    7-year-old boy with hypotonia" and "Informant: mother - 3-year-old girl" losing the patient's age and sex."""
    apposed = _RELATIVE_APPOSED.search(text, max(0, start - _APPOSED_REACH), start)
    if apposed is None:
        return False
    return _BEFORE_THE_RELATIVE.search(text, max(0, apposed.start() - _SUBJECT_REACH), apposed.start()) is not None


#: Before an age phrase: the age at an event, not the patient's now ("first seizure at 6 months old").
_EVENT_AGE_BEFORE = re.compile(
    r"\b(?:at|since|from|by|until|before|after|when|till|as)\s+(?:about\s+|the\s+|a\s+|an\s+)?$", re.IGNORECASE
)
#: Right before an age phrase: the patient is its subject ("he is 3 years old", "the patient is now 14 years old").
_PATIENT_IS = re.compile(
    r"\b(?:he|she|the\s+(?:patient|child|boy|girl|proband|infant))\s+(?:is|was)\s+(?:now\s+|currently\s+)?$",
    re.IGNORECASE,
)
#: The patient as the subject of a sentence: a pronoun (whom it means is checked, :func:`_may_mean_another`) or
#: "the patient", "the child", ...
_SUBJECT = r"(?P<subject>he|she|the\s+(?:patient|child|boy|girl|proband|infant))"
#: Years or months only after a subject: "she is 34 weeks", "at 34 weeks she has pre-eclampsia" date a pregnancy.
_YEARS_OR_MONTHS = r"(?P<unit>years?|yrs?|months?|mos?)"
#: "She is now 7.", "he is 14, and ...", "the child is currently 3": a bare number (years) or an age with its unit,
#: the patient its subject, ending the clause (not "he is now 2 years seizure-free", "she is 1 of 3 children").
_IS_AGE = re.compile(
    rf"\b{_SUBJECT}\s+is\s+(?:now\s+|currently\s+)?{_NUMBER}(?![.,]\d)(?:\s?{_YEARS_OR_MONTHS}\b)?"
    r"(?!\s+and\s+a\s+half)(?=\s*(?:[.,;:)\n]|$|and\b|but\b|with\b))",
    re.IGNORECASE,
)
#: "At 15 he has obesity", "at the age of 15 years she is 182 cm tall": an age at which the patient, in the present
#: tense, is or has something is the age now. Read only when no other phrase gives the patient's age, since the
#: present tense may still tell a story ("At 18 months he is not yet walking. He is now 4 years old."); "At 3 he
#: walked", in the past, dates an event and is never read.
_AT_AGE = re.compile(
    rf"\bat\s+(?:(?:the\s+)?age\s+(?:of\s+)?)?{_NUMBER}(?:\s?{_YEARS_OR_MONTHS}\b)?(?:\s+old\b)?,?\s+{_SUBJECT}\s+"
    # no "cannot", "does not": a milestone not met is told of the age it was missed at ("At 10 months she cannot sit")
    r"(?:is|has|weighs|measures|attends|remains|lives|needs|uses)\b",
    re.IGNORECASE,
)
#: "The boy was referred at 6 years for ...", "she presented at the age of 4 with ...": the age the patient came to be
#: seen at, the visit the note tells of. Read as :data:`_AT_AGE` is, only when nothing else gives the age and no other
#: such phrase tells a story; never "first seen at 2 years" (a first visit, of a story told on); with a unit or "age"
#: (not "seen at 6 for ...", a time).
_SEEN_AT_AGE = re.compile(
    r"\b(?P<subject>he|she|(?:the|a|our)\s+(?:patient|child|boy|girl|proband|infant))\s+(?:was\s+|were\s+)?"
    r"(?:referred|presented|seen|evaluated|assessed|examined|admitted|reviewed)\b[^.;\n]{0,40}?"
    rf"\bat\s+(?P<aged>(?:the\s+)?age\s+(?:of\s+)?)?{_NUMBER}(?:\s?{_YEARS_OR_MONTHS}\b)?(?:\s+(?:of\s+age|old)\b)?",
    re.IGNORECASE,
)
#: "The boy, now 7, has ...", "the child, aged 4 years, was ...": the patient named, the age an aside between commas
#: (not "the boy, 7 months after surgery", whose number is no aside).
_SUBJECT_AGE = re.compile(
    rf"\b(?:the|our|this)\s+(?:(?P<sex_before>boy|girl)|patient|child|proband|infant)\s*,\s*(?:now\s+|aged\s+)?"
    rf"{_NUMBER}(?![.,]\d)(?:\s?{_YEARS_OR_MONTHS}\b)?(?:\s+old\b)?(?=\s*,)",
    re.IGNORECASE,
)
#: Phrases whose age is a part of them: the age's span is its number and unit, not the name or subject before it.
_AGE_WITHIN = (_HEADER_AGE, _TITLED_AGE, _IS_AGE, _AT_AGE, _SEEN_AT_AGE, _SUBJECT_AGE)
#: After an age phrase: someone else's age ("her 6-year-old brother").
_RELATIVE_AFTER = re.compile(rf"[\s,]+(?:half-)?{_RELATIVE_WORD}", re.IGNORECASE)
_DURATION_LETTER = {"y": "Y", "m": "M", "w": "W", "d": "D"}
AGE_MESSAGE = f"age must be an ISO 8601 duration such as P14Y or P2Y6M, of at most {MAX_AGE_YEARS} years"


def check_age(value: str) -> str:
    """An age as given, if it is an ISO 8601 duration of at most :data:`MAX_AGE_YEARS`; else ``ValueError``.

    The one age rule of every input (request fields, case files, FHIR age extensions and Observations):
    an age of ``P999Y`` is not information but an error, and an unbounded number would reach the prompt.
    """
    if AGE_DURATION.fullmatch(value) is None or value in ("P", "PT") or value.endswith("T"):
        raise ValueError(AGE_MESSAGE)
    years = duration_years(value)
    if years is not None and years > MAX_AGE_YEARS:
        raise ValueError(AGE_MESSAGE)
    return value


@dataclass(frozen=True, slots=True)
class Demographics:
    """Age (ISO 8601 duration) and sex read from text, with the spans they were read from."""

    age: str | None = None
    age_span: tuple[int, int] | None = None
    sex: Sex | None = None
    sex_span: tuple[int, int] | None = None
    #: An age the words state that is not read, and why ("age 200 years is not plausible ..."): the account lists it.
    age_not_read: str | None = None
    age_not_read_span: tuple[int, int] | None = None

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Where the words were read: the age (read or not), the sex."""
        return [span for span in (self.age_span, self.age_not_read_span, self.sex_span) if span is not None]


def read_demographics(text: str) -> Demographics:
    """The first age phrase of ``text`` that gives the patient's age now (and the sex word that follows it).

    An age at an event ("first seizure at 6 months old") or of a relative ("her 6-year-old brother") is
    passed over.
    """
    people = _people(text)
    patterns = (*_AGE_PHRASES, _BARE_AGE, _IS_AGE, _SUBJECT_AGE)
    found = sorted(
        (m for pattern in patterns for m in pattern.finditer(text) if _patients_age(text, m, people)),
        key=lambda m: m.start(),
    )
    if not found:
        # "At 15 he has obesity": only when nothing else gives the age (see _AT_AGE), and only one such phrase: "At 2
        # years he is not walking. At 4 years he has no words." tells a story, whose first age is not today's.
        at_ages = [m for at in (_AT_AGE, _SEEN_AT_AGE) for m in at.finditer(text) if _patients_age(text, m, people)]
        found = at_ages if len(at_ages) == 1 and not _DENIED_AFTER.match(text, at_ages[0].end()) else []
    if not found:
        return _sex_alone(text, Demographics(), people)
    match = found[0]
    if match.groupdict().get("newborn"):
        # "Newborn girl, day 2 of life": the day says more than "newborn" (day 1 or later)
        match = next((m for m in found if m.re in _DAYS_OF_LIFE), match)
    groups = match.groupdict()
    unit = groups.get("unit") or {"12": "month", "52": "week"}.get(groups.get("per") or "", "year")
    if groups.get("newborn"):
        age: str | None = "P0D"
    elif match.re in _DAYS_OF_LIFE:
        # Day 1 of life is the day of birth: on day N the baby is N - 1 days old ("DOL 0", where a unit counts from
        # 0, stays the day of birth).
        age = age_duration(str(max(0, int(match.group("number")) - 1)), "day")
    elif groups.get("months") and unit.lower().startswith("y"):
        years = age_duration(match.group("number"), "year")
        age = f"{years}{int(groups['months'])}M" if years and years.endswith("Y") else years
    else:
        age = age_duration(match.group("number"), unit)
    sex_group = next((name for name in ("sex", "sex_before", "title") if groups.get(name)), None)
    last = next((name for name in ("months", "unit", "per", "newborn") if groups.get(name)), "number")
    end = match.end(last)
    if last == "months":  # "3 year 4 month old": past the months' unit
        end = _MONTHS_UNIT.match(text, end).end()  # type: ignore[union-attr]
    if match.re in _AGE_WITHIN:  # the age alone, not the name or the words before it
        age_span = (match.start("number"), end)
    elif sex_group == "sex":  # the age ends at its unit ("-old", "yo"), before any words leading to the sex word
        tail = _AGE_TAIL.match(text, end)
        start = match.start()
        while text[start] in " \t":  # "81M" after a full stop: the age, not the space before it
            start += 1
        age_span = (start, tail.end() if tail is not None else end)
    else:  # the sex before the age ("a woman aged 30 years", "M, 45y"), or none
        start = match.end("sex_before") if sex_group else match.start()
        while start < match.end() and text[start] in " ,\t":
            start += 1
        age_span = (start, match.end())
    if sex_group is None:  # another phrase of the patient's age that names the sex ("Newborn examination, day 1, male")
        other = next((m for m in found if m is not match and m.groupdict().get("sex")), None)
        if other is not None:
            match, sex_group = other, "sex"
    sex = _SEX_WORDS[match.group(sex_group).lower()] if sex_group else None
    sex_span = (match.start(sex_group), match.end(sex_group)) if sex_group else None
    # An age no one can be ("200-year-old man") is not read, and the account says why at its words.
    not_read = None if age is not None else implausible_age(match.group("number"), unit)
    read = Demographics(
        age=age,
        age_span=age_span if age else None,
        sex=sex,
        sex_span=sex_span,
        age_not_read=not_read,
        age_not_read_span=age_span if not_read is not None else None,
    )
    return read if sex is not None else _sex_alone(text, read, people)


def _sex_alone(text: str, read: Demographics, people: _People) -> Demographics:
    """``read`` with the sex a note states without an age ("Baby boy", "Sex: F", "The boy was referred ..."), when it
    has none; else the sex its pronouns agree on (:func:`_sex_of_pronouns`)."""
    found = sorted(
        [
            *(
                m
                for pattern in _SEX_ALONE
                for m in pattern.finditer(text)
                if not _describes_a_relative(text, m.start())
            ),
            *(
                m
                for m in _SEX_SUBJECT.finditer(text)
                if _subject_is_the_patient(m.group("sex"), m.start("sex"), people)
            ),
        ],
        key=lambda m: m.start(),
    )
    if not found:
        return _sex_of_pronouns(text, read, people)
    match = found[0]
    return replace(read, sex=_SEX_WORDS[match.group("sex").lower()], sex_span=(match.start("sex"), match.end("sex")))


_PRONOUNS: dict[str, Sex] = {"he": "male", "him": "male", "his": "male", "himself": "male"}
_PRONOUNS |= {"she": "female", "her": "female", "hers": "female", "herself": "female"}
_PRONOUN = re.compile(r"\b(?:he|him|his|himself|she|her|hers|herself)\b", re.IGNORECASE)
#: Pronouns before these in their sentence may be a relative's ("Mother reports she had ..."): not counted.
_SENTENCE_MARK = re.compile(r"[.;\n](?!\d)")


def sentence_starts(text: str) -> list[int]:
    """Where each sentence of ``text`` starts (after ".", ";" or a line break; not a decimal point), in order:
    found once, so a reader that asks for many positions' sentences (``bisect``) stays linear on a long note."""
    return [0] + [m.end() for m in _SENTENCE_MARK.finditer(text)]


#: How many pronouns must agree, with none of the other sex, before they give the patient's sex; one is enough when
#: it is "he" or "she" and cannot mean anyone the note named before it (:func:`_may_mean_another`).
PRONOUNS_NEEDED = 2
_SUBJECT_PRONOUNS = frozenset({"he", "she"})
#: Relatives a pronoun can stand for by their sex: "he" a male one, "she" a female one; any other word of
#: ``RELATIVES`` ("parent", "sibling", "cousin", a relative added later) may be either.
_MALE_RELATIVES = frozenset(
    {"father", "brother", "uncle", "grandfather", "nephew", "son", "dad", "daddy", "grandpa", "grandad", "granddad"}
    | {"stepfather"}
)
_FEMALE_RELATIVES = frozenset(
    {"mother", "sister", "aunt", "grandmother", "niece", "daughter", "mum", "mom", "mam", "mummy", "mommy", "nan"}
    | {"nana", "nanna", "gran", "granny", "grandma", "stepmother"}
)
#: Every relative, "son" and "daughter" too, singular or plural (group ``plural``): whom a pronoun after it may mean.
_ANY_RELATIVE = re.compile(
    rf"\b(?P<relative>{'|'.join(sorted(RELATIVES, key=len, reverse=True))}|grand\w+?)(?P<plural>s)?\b", re.IGNORECASE
)
#: People other than relatives a note may name before a pronoun ("Referred by Dr Shah. She ..."): whoever they are,
#: a lone pronoun after them gives no sex.
_OTHER_PERSON = re.compile(
    r"\b(?:dr|doctor|gp|nurse|carer|caregiver|guardian|teacher|consultant|paediatrician|pediatrician|physician"
    r"|surgeon|registrar|therapist|physio\w*|midwife|health\s+visitor|social\s+worker|key\s?worker|interpreter"
    r"|partner|husband|wife|boyfriend|girlfriend|fianc\w+|friend|colleague|neighbou?r|referrer|clinician"
    # whoever brings the patient or tells the history (code review: "Seen with Mrs Patel. She reports ...")
    r"|mr|mrs|ms|miss|stepdad|stepmum|stepmom|childminder|nanny|foster\w*|babysitter|escort|paramedic\w*)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _People:
    """Whom a note names besides the patient: where it first names someone not a relative, and each relative named
    (start, word in lower case, plural), in order."""

    first_other: int
    relative_starts: tuple[int, ...]
    relatives: tuple[tuple[str, bool], ...]


def _people(text: str) -> _People:
    """Found once per note (:func:`read_demographics` passes it down), so that every pronoun and age asks in
    logarithmic time and a long note stays linear; never cached beyond the call, which would keep notes in memory."""
    other = _OTHER_PERSON.search(text)
    found = [(m.start(), m.group("relative").lower(), bool(m.group("plural"))) for m in _ANY_RELATIVE.finditer(text)]
    return _People(
        first_other=other.start() if other is not None else len(text),
        relative_starts=tuple(start for start, _, _ in found),
        relatives=tuple((word, plural) for _, word, plural in found),
    )


#: A reporting verb right after a pronoun: its sentence tells what someone says, and the teller may be anyone.
_REPORTS = re.compile(
    r"\s+(?:reports?|reported|says?|said|states?|stated|describes?|described|notes?|noted|noticed|feels?|felt|thinks?"
    r"|thought|worries|worried|explains?|explained|tells?|told)\b",
    re.IGNORECASE,
)
#: A negation right after an "At N he is / has": a milestone not yet met, told of an age gone by.
_DENIED_AFTER = re.compile(r"\s+(?:not|no|never|yet|unable)\b", re.IGNORECASE)


def _may_mean_another(people: _People, at: int, sex: Sex) -> bool:
    """Whether a pronoun of ``sex`` at ``at`` may mean someone the note named before it, not the patient: anyone not a
    relative ("Dr", "carer"), or the relative last named if it is one person who may be of that sex ("Her father has
    ptosis. He has scoliosis."); not relatives in the plural or of the other sex ("Mother reports she had seizures
    as a child. He is hypotonic."), as :func:`dxsearch.knowledge.term_lookup.family_sections` reads such a turn."""
    return people.first_other < at or _may_mean_a_relative(people, at, sex)


def _may_mean_a_relative(people: _People, at: int, sex: Sex) -> bool:
    """Whether words for a person of ``sex`` at ``at`` ("he", "the boy") may mean the relative last named before them:
    one person who may be of that sex ("Her brother is well. The boy ..."), not relatives in the plural or of the
    other sex."""
    last = bisect_left(people.relative_starts, at) - 1  # the relative last named is whom it may mean
    if last < 0:
        return False
    word, plural = people.relatives[last]
    return not plural and word not in (_FEMALE_RELATIVES if sex == "male" else _MALE_RELATIVES)


def _subject_is_the_patient(subject: str, at: int, people: _People) -> bool:
    """Whether a sentence's subject at ``at`` ("he", "the boy", "the patient") is the patient: a pronoun that may
    mean no one named before it (:func:`_may_mean_another`), a sex word that may mean no relative named before it,
    or a word for the patient."""
    word = subject.split()[-1].lower()
    if word in _PRONOUNS:
        return not _may_mean_another(people, at, _PRONOUNS[word])
    sex = _SEX_WORDS.get(word)
    return sex is None or not _may_mean_a_relative(people, at, sex)


def _sex_of_pronouns(text: str, read: Demographics, people: _People) -> Demographics:
    """``read`` with the sex every pronoun of the patient agrees on ("He has seizures. His gait is ataxic.").

    A pronoun right before a relative is the patient's ("her mother"); one after a relative in its sentence may
    be the relative's ("Mother reports she had ...") and is not counted. Pronouns of both sexes give none. Two
    pronouns that agree give the sex, or one "he" / "she" that cannot mean anyone named before it ("He is 14 years
    old."; not "Her father has ptosis. He has scoliosis.", nor "Referred by Dr Shah. She ...").
    """
    said: dict[Sex, list[tuple[int, int]]] = {"male": [], "female": []}
    # one pass over the text: where sentences start and relatives are named (a long note in linear time)
    starts = sentence_starts(text)
    relatives = [m.start() for m in RELATIVE.finditer(text)]
    for match in _PRONOUN.finditer(text):
        sentence_start = starts[bisect_right(starts, match.start()) - 1]
        first_relative = bisect_left(relatives, sentence_start)
        if first_relative < len(relatives) and relatives[first_relative] < match.start():
            continue
        said[_PRONOUNS[match.group().lower()]].append(match.span())
    (sex, spans), (_, others) = sorted(said.items(), key=lambda item: -len(item[1]))
    if not spans or others:
        return read
    if len(spans) < PRONOUNS_NEEDED:
        # One pronoun: "He is 14 years old.", "She is now 7." (a user test, 2026-11-28: a lone pronoun is how a
        # note often says the sex), if it is "he" or "she" and cannot mean someone named before it.
        start, end = spans[0]
        if (
            text[start:end].lower() not in _SUBJECT_PRONOUNS
            or _may_mean_another(people, start, sex)
            or _REPORTS.match(text, end)  # "Seen with the childminder. She reports daily seizures": the teller's
        ):
            return read
    # No span: a pronoun is no item of the note read for the sex, and its sentence may still hold words not understood.
    return replace(read, sex=sex, sex_span=None)


#: Before "age": another age than the patient's ("maternal age: 32", "bone age 8", "gestational age 34+2").
_OTHER_AGE_BEFORE = re.compile(
    r"\b(?:maternal|paternal|gestational|bone|corrected|mental|developmental|skeletal)\s*$", re.I
)
#: After "newborn": words that make it the patient now ("Newborn examination", "newborn infant with ...").
_NEWBORN_NOW = re.compile(r"\s+(?:exam\w*|check|baby|infant|with|admitted|referred)\b", re.IGNORECASE)
#: Before "8F": a device's size, not an age and a sex ("Catheter: 8F").
_DEVICE_BEFORE = re.compile(r"\b(?:catheter|cannula|tube|sheath|gauge|french|size|ngt?)\W*$", re.IGNORECASE)


def _patients_age(text: str, match: re.Match[str], people: _People) -> bool:
    before20 = text[max(0, match.start() - 20) : match.start()]
    if _OTHER_AGE_BEFORE.search(before20) or _DEVICE_BEFORE.search(before20):
        return False
    groups = match.groupdict()
    if match.re in (_HEADER_AGE, _TITLED_AGE) and RELATIVE.fullmatch(groups.get("name") or ""):
        return False  # "Mother (32) is well": the mother's age
    if match.re is _HEADER_AGE and (groups.get("name") or "").lower() in _SEX_WORDS:
        return False  # "Girl, 7 years.": no name but the sex, which the header-opening phrase reads with the age
    if groups.get("newborn") and not groups.get("sex") and not _NEWBORN_NOW.match(text, match.end()):
        return False  # "Newborn hearing screen passed": then, not now; "Newborn examination", "Newborn with ..." now
    if match.re in (_DAY_N, _DAY_OF_LIFE) and not groups.get("sex"):
        opening = text[: match.start()].rstrip(" \t")
        newborn = _NEWBORN_BEFORE.search(text, max(0, match.start() - 20), match.start()) is not None
        if opening and opening[-1] not in _OPENS_AFTER and opening[-1] != "," and not newborn:
            return False  # "jaundice on day 3 of life": then, not now
    if match.re is _PER_AGE and not match.group("old") and not match.group("sex"):
        return False  # "3/52" alone is a duration ("for 3/52"); "5/12 old" or "5/12, female" an age
    if match.re is _BARE_AGE or (match.re is _COMPOUND_AGE and not match.group("old") and not match.group("sex")):
        before = text[: match.start()].rstrip(" \t")
        if before and before[-1] not in _OPENS_AFTER:
            return False
    if _EVENT_AGE_BEFORE.search(text[max(0, match.start() - 20) : match.start()]):
        return False
    if _describes_a_relative(text, match.start()):
        return False  # "Her brother, a 3-year-old boy, has seizures": the brother's age and sex
    if match.groupdict().get("sex") or match.groupdict().get("sex_before"):
        return True  # "the 3-year-old girl": the patient, whoever else the sentence names
    if match.re is _SEEN_AT_AGE and not (match.group("unit") or match.group("aged")):
        return False  # "she was seen at 6 for review": a time of day, maybe; an age has its unit or "age"
    if match.re is _SEEN_AT_AGE and not _subject_is_the_patient(match.group("subject"), match.start(), people):
        return False  # "Her brother is well. The boy was referred at 6 years": the brother, maybe
    if match.re in (_IS_AGE, _AT_AGE):  # "She is now 7": hers, unless "she" may be a relative just named
        if not match.group("unit") and not _AND_A_HALF.sub("", match.group("number")).isdigit():
            return False  # "On arrival he is 38.5, tachycardic": a temperature (code review), no age without a unit
        subject = match.group("subject").lower()
        return subject not in _PRONOUNS or not _may_mean_another(people, match.start("subject"), _PRONOUNS[subject])
    sentence_start = max(text.rfind(mark, 0, match.start()) for mark in ".;\n") + 1
    if _PATIENT_IS.search(text, sentence_start, match.start()):
        return True  # "Mother reports he is 3 years old": the relative reports, the age is the patient's
    if RELATIVE.search(text, sentence_start, match.start()):
        return False  # "Her mother, aged 40 years, ..."; "Older sibling died aged 6 months"
    return _RELATIVE_AFTER.match(text, match.end()) is None


#: "and a half" after an age's number as written: "She is 3 and a half." is an age without a unit, as "She is 3." is.
_AND_A_HALF = re.compile(r"[\s-]+and[\s-]+a[\s-]+half$", re.IGNORECASE)
#: A half after an age's number, as :data:`AGE_NUMBER` spells it ("-" for spaces): "3-1/2", "3½", "3-and-a-half".
_HALF = re.compile(r"(?:-1/2|½|-+and-+a-+half)$")


def _whole_number(word: str) -> float:
    """An age's number in digits ("14", "2.5") or words ("fourteen", "twenty-one"), spaces written "-"."""
    if word[0].isdigit():
        return float(word)
    if word in _UNITS:
        return _UNITS[word]
    tens, _, units = word.partition("-")
    return _TENS[tens] + _UNITS.get(units, 0)


def age_duration(number: str, unit: str) -> str | None:
    """``P14Y``, ``P3M``, ``P2W``, ``P5D``; half years become months; ``None`` for an implausible age (more than
    :data:`MAX_NOTE_AGE_YEARS`, :func:`implausible_age` says which).

    Plausibility is of the age, whatever its unit: "a 200-day-old boy" is 7 months old (any number over 150 was
    refused, in days and weeks too), and "140.5-year-old" is as implausible as "140-year-old" (it became months
    before the check, and passed).
    """
    value, letter = _age_value(number, unit)
    if value * YEARS_PER_UNIT[letter] > MAX_NOTE_AGE_YEARS:
        return None
    if letter == "Y" and value != int(value):
        return f"P{int(value * 12)}M"
    return f"P{int(value)}{letter}"


def implausible_age(number: str, unit: str) -> str | None:
    """Why an age a note states is not read ("age 200 years is not plausible ..."), or ``None`` when it is read."""
    if age_duration(number, unit) is not None:
        return None
    value, letter = _age_value(number, unit)
    return IMPLAUSIBLE_AGE.format(value=f"{value:g}", unit=_UNIT_WORDS[letter], most=MAX_NOTE_AGE_YEARS)


def _age_value(number: str, unit: str) -> tuple[float, str]:
    """An age's number as a value ("3 1/2", "3½", "3 and a half": half a year more) and its duration letter."""
    word = " ".join(number.lower().split()).replace(" ", "-")
    whole = _HALF.sub("", word)
    return _whole_number(whole) + (0.5 if whole != word else 0), _DURATION_LETTER[unit.lower()[0]]
