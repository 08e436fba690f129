"""Findings a note states as numbers: growth against the population, milestones by age, IQ, counts.

Why: clinical descriptions often give the measurement, not the word for it. "Head circumference 42 cm
(-3 SD)" is microcephaly, "walked at 3 years" a delayed ability to walk, "full-scale IQ 55" a mild
intellectual disability; a dictionary of HPO names reads none of them. The cut-offs are the ones HPO's
own definitions use: a measurement more than two standard deviations from the mean, or below the 3rd /
above the 97th centile; IQ bands as HPO grades intellectual disability; milestones against the age by
which nearly all children reach them (sitting by 9 months, walking by 18, first words by 18).

A number is read only when it says which side of the mean it is on and belongs to the patient's own
body measurement: "within 2 SD", "± 2 SD", ranges ("-1 to -2 SD"), a change without a sign ("dropped by
2.5 SD"), another body part's length ("palpebral fissure length"), a relative's or a target height are
not read. A measurement followed over time is read at its last value ("OFC -2.4 SD at birth, now 0 SD"
names nothing). A measurement's words end at the next one's name, abbreviated ("ht 110 cm", "wt 14 kg": a
height and a weight before a measurement's number) or not read ("BMI", "arm span"): "OFC 47.5 cm (-2.8 SD),
ht 110 cm (25th centile)" is Microcephaly, not an OFC at the 25th centile (a user test, 2026-11-28). A count
before a plural finding HPO has a "Multiple X" term of is that term when it says as many as the term's
definition asks for (:func:`count_candidates`: ">6 cafe-au-lait macules", "6 or more CALMs" are Multiple
cafe-au-lait spots, six or more by its definition; "3 cafe-au-lait macules" stays the spot). Each reading
is a ``Candidate`` (a span of the note and an HPO id) handed to the
dictionary's reading (``TermLookup.mentions``), which decides its assertion as for any mention
("his brother walked at 3 years" is family history, "if not walking by 18 months" uncertain).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from dxsearch.intake.demographics import RELATIVE
from dxsearch.knowledge.term_lookup import Candidate, TermLookup

__all__ = ["REACHED_BY_MONTHS", "count_candidates", "quantity_candidates", "stature_candidates"]

MICROCEPHALY, MACROCEPHALY = "HP:0000252", "HP:0000256"
SHORT_STATURE, TALL_STATURE = "HP:0004322", "HP:0000098"
DECREASED_WEIGHT, INCREASED_WEIGHT = "HP:0004325", "HP:0004324"
SMALL_FOR_AGE, LARGE_FOR_AGE, SHORT_AT_BIRTH = "HP:0001518", "HP:0001520", "HP:0003561"
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
#: (below, above) the population: the HPO terms a measurement's name gives. A measurement at birth is
#: measured against gestational age (birth weight low: small for gestational age).
_MEASURES: dict[str, tuple[str, str]] = {
    "birth_weight": (SMALL_FOR_AGE, LARGE_FOR_AGE),
    "birth_length": (SHORT_AT_BIRTH, LARGE_FOR_AGE),
    "head": (MICROCEPHALY, MACROCEPHALY),
    "height": (SHORT_STATURE, TALL_STATURE),
    "weight": (DECREASED_WEIGHT, INCREASED_WEIGHT),
}
#: Right after "ht" or "wt": a measurement's number ("ht 110 cm", "Wt: 18.2 kg", "ht <3rd centile", "wt -2.5 SD"),
#: which makes the abbreviation a height or a weight (not "HT" for hypertension, "wt" for wild type).
#: (Spaces bounded: "\s*[:=]?\s*" backtracked in square time over a run of spaces, 20,000 took 25 s.)
_ABBREVIATED_VALUE = (
    r"(?=\.?[ \t]{0,3}[:=]?[ \t]{0,3}(?:[<>][ \t]{0,2})?[-+−–]?[ \t]?\d+(?:[.,]\d+)?[ \t]?"
    r"(?:cm|mm|m|kg|g|lbs?|in|ft|SDS?|(?:st|nd|rd|th)?\s?(?:centile|percentile|%ile))(?![A-Za-z]))"
)
#: Right after "BW": a mass ("BW 4,600 g", "BW: 3.2 kg"), which makes the abbreviation a weight; whether a birth weight
#: is judged by the value (:func:`_birth_weight_abbreviated`).
_ABBREVIATED_MASS = r"(?=\.?[ \t]{0,3}[:=]?[ \t]{0,3}\d+(?:[.,]\d+)?[ \t]?(?:kg|g)(?![A-Za-z]))"
_MEASURE_NAMES = {
    "birth_weight": rf"birth ?weight|weight at birth|BW{_ABBREVIATED_MASS}",
    "birth_length": r"birth length|length at birth",
    "head": r"head circumference|occipito-?frontal (?:head )?circumference|OFC|HC",
    "height": rf"height|body length|length|stature|ht{_ABBREVIATED_VALUE}",
    "weight": rf"body weight|weight|wt{_ABBREVIATED_VALUE}",
}
#: Other measurements, which are not read but end the words of the one before them: "OFC 47.5 cm (-2.8 SD), BMI 15
#: (25th centile)" is Microcephaly, the centile the BMI's.
_OTHER_MEASURE_NAMES = r"BMI|body mass index|arm ?span"
_MEASURE = re.compile(
    r"\b(?:"
    + "|".join(f"(?P<{kind}>{names})" for kind, names in _MEASURE_NAMES.items())
    + rf"|(?P<other>{_OTHER_MEASURE_NAMES}))\b(?!-)",
    re.IGNORECASE,
)
#: Words that may stand right before a measurement of the patient's body. Any other word names what is
#: measured ("palpebral fissure length", "penile length", "mid-parental height", "mother's height").
_BEFORE_A_BODY_MEASURE = frozenset(
    {"his", "her", "their", "its", "the", "a", "an", "and", "with", "of", "body", "standing", "current"}
    | {"present", "was", "is", "were", "are", "had", "has", "showed", "shows", "revealed"}
    | {"examination", "parameters", "measurements", "including", "included", "include"}
    | {"measured", "at", "by", "on", "in", "now", "today", "whose", "increased", "decreased", "normal"}
)
#: In a measurement's words: it is not (only) the patient's own ("2 SD below mid-parental height").
_SOMEONE_ELSES = re.compile(
    r"\b(?:parental|parents?|target|predicted|projected|expected|mother|father|sibling|brother|sister)\b",
    re.IGNORECASE,
)
_NUMBER = r"\d+(?:[.,]\d+)?"
_SIGN = r"[-+−–]"
#: A z-score: "-3 SD", "(+2.5 SDS)", "−2 standard deviations", "3 SD below the mean"; or "SDS -2.8".
_SD = re.compile(
    rf"(?P<sign>{_SIGN})?\s?(?P<value>{_NUMBER})\s?(?:SDS?|s\.d(?=\.)|standard deviations?)(?![A-Za-z])"
    rf"|(?:SDS|SD score|z-?score)\s*(?:of|was|is|=|:)?\s*(?P<sign2>{_SIGN})\s?(?P<value2>{_NUMBER})",
    re.IGNORECASE,
)
#: A centile: "3rd centile", "<P3", "(P99.6)", "below the 3rd percentile", "97th %ile".
_CENTILE = re.compile(
    rf"(?:(?P<side>below|under|less than|<|above|over|greater than|>)\s*(?:the\s+)?)?"
    rf"(?:\bP(?P<p>{_NUMBER})|(?P<value>{_NUMBER})\s?(?:st|nd|rd|th)?\s?(?:centile|percentile|%ile)s?\b)",
    re.IGNORECASE,
)
#: Said of a z-score, it does not place the patient beyond it: "within 2 SD", "± 2 SD", "mean +/- 2 SD".
_NOT_A_POSITION = re.compile(r"(?:within|±|\+/-|\+-|mean|range|between|from)\s*$", re.IGNORECASE)
#: A range's first number right before: "-1 to -2 SD", "-1.5 – -2 SD".
_RANGE_BEFORE = re.compile(rf"\d\s*(?:to|and|–|-|/)\s*{_SIGN}?\s*$", re.IGNORECASE)
#: Where a measurement's words end: a sentence end, a semicolon or a line break.
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[;\n]")
#: How far after its name a measurement's value may be ("OFC at 2 years was 44 cm, -2.5 SD").
_VALUE_WINDOW = 80
Side = Literal["below", "above", "normal"]

_AGE = (
    r"(?:(?P<age_word>the\s+age\s+of|age)\s+)?(?P<age>\d+(?:[.,]\d+)?)"
    r"(?:\s*(?P<unit>months?|mos?|m|years?|yrs?|y))?(?![A-Za-z0-9])"
)
_QUALIFIED = r"(?:independently|alone|unaided|unsupported|without\s+(?:support|help|aid))"
#: The age in months by which nearly every child has reached the milestone a delay term names.
REACHED_BY_MONTHS: dict[str, float] = {DELAYED_WALKING: 18, DELAYED_SITTING: 9, DELAYED_SPEECH: 18}
#: (pattern, the delay term it can name)
_MILESTONES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            rf"\b(?:(?:walked|first\s+(?:independent\s+)?steps|walking\s+{_QUALIFIED}|(?:started|began)\s+walking"
            rf"|(?:independent\s+)?walking\s+was\s+(?:achieved|attained))(?:\s+{_QUALIFIED})?\s+at"
            rf"|not\s+(?:yet\s+)?walking(?:\s+{_QUALIFIED})?\s+(?:at|by)"
            rf"|(?:was|were)\s+not\s+walking(?:\s+{_QUALIFIED})?\s+until|walking\s*:"
            rf"|(?:did|could|does)\s*(?:not|n't)\s+walk(?:\s+{_QUALIFIED})?\s+until)\s+{_AGE}",
            re.IGNORECASE,
        ),
        DELAYED_WALKING,
    ),
    (
        re.compile(
            rf"\b(?:(?:sat(?:\s+up)?|sitting\s+{_QUALIFIED}|(?:started|began)\s+sitting)(?:\s+{_QUALIFIED})?\s+at"
            rf"|not\s+(?:yet\s+)?sitting(?:\s+{_QUALIFIED})?\s+(?:at|by)"
            rf"|(?:was|were)\s+not\s+sitting(?:\s+{_QUALIFIED})?\s+until|sitting\s*:"
            rf"|(?:did|could|does)\s*(?:not|n't)\s+sit(?:\s+{_QUALIFIED})?\s+until)\s+{_AGE}",
            re.IGNORECASE,
        ),
        DELAYED_SITTING,
    ),
    (
        re.compile(
            rf"\b(?:(?:(?:spoke|said)\s+(?:his\s+|her\s+|their\s+)?)?first\s+words?\s+(?:(?:came|were|was)\s+)?at"
            rf"|(?:did|could|does)\s*(?:not|n't)\s+(?:speak|talk)\s+until)\s+{_AGE}",
            re.IGNORECASE,
        ),
        DELAYED_SPEECH,
    ),
)
#: A milestone not reached, its age first: "at 18 months he was not yet walking", "by 2 years she could not sit".
_NOT_YET = re.compile(
    rf"\b(?:at|by)\s+{_AGE}(?:\s*,)?\s+(?:(?:he|she|they|the\s+(?:child|patient|boy|girl))\s+)?"
    r"(?:(?:was|were|is|could|did)\s+)?(?:still\s+)?not\s+(?:yet\s+)?(?:able\s+to\s+)?(?P<verb>walk|sit|talk|speak)",
    re.IGNORECASE,
)
_NOT_YET_TERMS = {"walk": DELAYED_WALKING, "sit": DELAYED_SITTING, "talk": DELAYED_SPEECH, "speak": DELAYED_SPEECH}
#: A milestone not reached, no age beside it: "is not yet walking", "still not sitting", "cannot sit yet",
#: "Walking: not yet". Read against the patient's age (the note's "2-year-old", or the age the caller gave).
_NOT_YET_NOW = re.compile(
    r"\b(?:(?:still\s+)?not\s+yet\s+(?:able\s+to\s+)?(?P<yet>walk|sit|talk|speak)"
    r"|(?:(?:is|was|are)\s+(?:still\s+)?|still\s+)not\s+(?P<ing>walk|sitt|talk|speak)ing"
    r"|(?:cannot|can['’]t|can\s+not|(?:is\s+)?unable\s+to|(?:is\s+)?not\s+able\s+to|does\s+not|doesn['’]t)"
    r"\s+(?:yet\s+)?(?P<sit>sit)(?:\s+(?:up|yet|unsupported|unaided|alone|independently|without\s+support))?(?=\s*(?:[.,;:)\n]|$))"
    r"|(?P<listed>walk|sitt|talk|speak)ing\s*:\s*not\s+yet)"
    r"(?:ing)?\b",
    re.IGNORECASE,
)
#: Before a "not yet": the past ("she was not yet walking", "had not yet sat"), which the patient's age now
#: does not date.
_PAST_BEFORE = re.compile(r"\b(?:was|were|had|did|could)\s+(?:still\s+)?\Z", re.IGNORECASE)
#: A sentence that dates its own event ("At 10 months ...", "by 2 years", "until age 3").
_OWN_AGE = re.compile(
    r"\b(?:at|by|until|till|before|after|since|from|when)\s+(?:the\s+age\s+of\s+|age\s+)?\d+(?:[.,]\d+)?\s*"
    r"(?:months?|mos?|years?|yrs?|y)?\b",
    re.IGNORECASE,
)
#: "cannot sit" (no "yet") reads as a delay only in a young child; later it says something else.
_SIT_DELAY_BEFORE_MONTHS = 72
_IQ = re.compile(
    # A subscale ("verbal IQ 65, performance IQ 90") is not the IQ.
    r"\b(?<!verbal )(?<!performance )(?<!nonverbal )(?<!non-verbal )"
    r"(?:full[- ]scale\s+)?(?:IQ|FSIQ|intelligence quotient)\b",
    re.IGNORECASE,
)
#: A number after "IQ" that is not the IQ: an age, a z-score, a percentage, a centile.
_NOT_AN_IQ = re.compile(r"\s*(?:months?|mos?|years?|yrs?|y\b|SDS?\b|standard|%|st\b|nd\b|rd\b|th\b|centile|percentile)")
_IQ_WINDOW = 40


def quantity_candidates(text: str, age_months: float | None = None) -> list[Candidate]:
    """Spans of ``text`` whose numbers name a finding, each with its HPO id (growth, milestones, IQ).

    ``age_months``, the patient's age now, reads milestones the note says are not reached without an age
    ("a 2-year-old who is not yet walking"); without it they are not read.
    """
    found: list[Candidate] = []
    for reader in _READERS:
        found.extend(reader(text))
    if age_months is not None:
        taken = [(start, end) for start, end, _ in found]
        found.extend(
            (start, end, term_id)
            for start, end, term_id in _not_yet_now(text, age_months)
            if not any(a < end and start < b for a, b in taken)
        )
    return found


def _not_yet_now(text: str, age_months: float) -> list[Candidate]:
    """Milestones not reached now, at ``age_months``: in the present tense, in a sentence about the patient that
    gives no age of its own ("At 10 months she was not yet walking" is then, not now; "her brother, a 2-year-old,
    is not yet walking" is his)."""
    found: list[Candidate] = []
    for match in _NOT_YET_NOW.finditer(text):
        if _PAST_BEFORE.search(text, max(0, match.start() - 24), match.start()):
            continue
        sentence_start = max(text.rfind(mark, 0, match.start()) for mark in ".;\n") + 1
        sentence_end = min((i for i in (text.find(mark, match.end()) for mark in ".;\n") if i >= 0), default=len(text))
        sentence = text[sentence_start:sentence_end]
        if _OWN_AGE.search(sentence) or RELATIVE.search(text, sentence_start, match.start()):
            continue
        verb = next(v for v in match.group("yet", "ing", "sit", "listed") if v is not None).casefold()
        term_id = _NOT_YET_TERMS["sit" if verb == "sitt" else verb]
        if match.group("sit") is not None and age_months >= _SIT_DELAY_BEFORE_MONTHS:
            continue
        if age_months >= REACHED_BY_MONTHS[term_id]:
            found.append((match.start(), match.end(), term_id))
    return found


def _growth(text: str) -> list[Candidate]:
    """Body measurements beyond the normal range, each read against its own values only."""
    found: list[Candidate] = []
    names = list(_MEASURE.finditer(text))
    for position, name in enumerate(names):
        if name.group("other") or not _is_own_body_measure(text, name.start(), name.end()):
            continue
        limit = names[position + 1].start() if position + 1 < len(names) else len(text)
        limit = min(limit, name.end() + _VALUE_WINDOW)
        sentence_end = _SENTENCE_END.search(text, name.end(), limit)
        window = text[name.end() : sentence_end.start() if sentence_end else limit]
        values = _values(window)
        if (
            name.group("birth_weight")
            and name.group().casefold() == "bw"
            and not _birth_weight_abbreviated(window, text[max(0, name.start() - _VALUE_WINDOW) : name.start()])
        ):
            continue  # "BW 12 kg": a body weight, maybe, never a newborn's
        if not values and name.group("birth_weight"):
            mass = _BIRTH_MASS.match(window)
            if mass is not None and _LARGE_BIRTH_WEIGHT_G <= _grams(mass) < _IMPLAUSIBLE_BIRTH_WEIGHT_G:
                found.append((name.start(), name.end() + mass.end(), LARGE_FOR_AGE))  # "birth weight 4.6 kg"
            continue
        if not values or values[-1][1] is None:
            continue  # no value, or the last one says no side (within, ±, a range, a change)
        end, side = values[-1]
        # Someone else's measurement, or one against someone else's ("2 SD below mid-parental height"); a
        # relative named after the value, past a comma ("..., mother is 178 cm"), is a sentence of its own.
        after = re.split(r"[,;(]", window[end:], maxsplit=1)[0]
        before = re.split(r"[.;\n]", text[max(0, name.start() - 25) : name.start()])[-1]
        if _SOMEONE_ELSES.search(before + " " + window[:end] + after):
            continue
        if side == "normal":
            continue
        kind = _at_birth(text, name.start(), window, next(k for k in _MEASURES if name.group(k)))
        found.append((name.start(), name.end() + end, _MEASURES[kind][0 if side == "below" else 1]))
    return found


_AT_BIRTH = re.compile(r"\bat birth\b", re.IGNORECASE)
#: How far back a sentence may date its measurements to birth ("Growth parameters at birth were weight ...").
_BIRTH_LOOKBACK = 120


def _at_birth(text: str, start: int, window: str, kind: str) -> str:
    """A weight or length its sentence or its own words date to birth ("Growth parameters at birth were
    weight 2.2 kg (<3rd percentile)", "weight 2.1 kg at birth (-2.5 SD)") is a birth measurement, measured
    against gestational age."""
    if kind not in ("weight", "height"):
        return kind
    before = text[max(0, start - _BIRTH_LOOKBACK) : start]
    ends = list(_SENTENCE_END.finditer(before))
    sentence = before[ends[-1].end() :] if ends else before
    births = list(_AT_BIRTH.finditer(sentence))
    # "large at birth (...) and has had overgrowth since infancy: height +3.1 SD": a later time dates it anew
    dated = bool(births) and not _REDATED.search(sentence, births[-1].end())
    if dated or _AT_BIRTH.search(window):
        return "birth_weight" if kind == "weight" else "birth_length"
    return kind


#: After "at birth", words that date what follows to a later time: "since infancy", "now", "at 7 years".
_REDATED = re.compile(
    r"\b(?:since|now|currently|today|aged?|later|subsequently)\b|\bat\s+\d+(?:[.,]\d+)?\s*(?:years?|months?|y|m)\b",
    re.IGNORECASE,
)
#: A birth weight in grams or kilograms ("birth weight 4.6 kg", "BW 4600 g") right after its name.
_BIRTH_MASS = re.compile(
    r"[ \t]{0,3}(?:[:=]|\bof\b|\b(?:was|is)\b)?[ \t]{0,3}(?P<value>\d+(?:[.,]\d+)?)[ \t]{0,2}(?P<unit>kg|g)\b",
    re.IGNORECASE,
)
#: A birth weight of 4.5 kg or more is large for gestational age at any gestation: above the 90th centile even at 42
#: weeks (Fenton 2013 preterm growth chart, INTERGROWTH-21st newborn standards), and macrosomia by the American
#: College of Obstetricians and Gynecologists' definition (Practice Bulletin 216, 2020: >= 4,500 g). A lighter baby
#: is judged against its gestation, which is not guessed.
_LARGE_BIRTH_WEIGHT_G = 4500
_IMPLAUSIBLE_BIRTH_WEIGHT_G = 7000


#: The least weight a live-born baby's record gives (below it, "BW" is no birth weight read here).
_LEAST_BIRTH_WEIGHT_G = 250
#: In a "BW" value's words, or before "BW" in its clause: it is dated after birth ("BW 5.2 kg at 3 months", "BW now
#: 6 kg", "Current BW 5.2 kg", "BW 4.6 kg at day 10", "BW 4.6 kg at 2/12"), a body weight.
_AFTER_BIRTH = re.compile(
    r"\b(?:now|currently|today|current|aged?|since|later)\b"
    r"|\bat\s+\d+(?:[.,]\d+)?\s*(?:years?|months?|weeks?|days?|y|m|w|d)\b"
    r"|\b(?:day|DOL)\s*(?:[2-9]|\d{2,})\b|\b\d{1,2}\s*/\s*(?:12|52)\b",
    re.IGNORECASE,
)
#: Before "BW" in its clause: words dating it to now ("Current BW 5.2 kg"); not an age, which is a gestation there
#: ("Born at 39 weeks BW 4.6 kg").
_NOW_BEFORE = re.compile(r"\b(?:now|currently|today(?:'s)?|current|present|latest|recent)\b", re.IGNORECASE)
#: Where the words before "BW" that may date it start: the clause's start.
_CLAUSE_START = re.compile(r"[.;,\n]")


def _birth_weight_abbreviated(window: str, before: str = "") -> bool:
    """Whether "BW" followed by ``window`` is a birth weight: "BW" is a birth weight in a newborn's or a child's
    history, and a body weight in an adult's, so it is read as a birth weight only when its value is one a newborn
    can weigh (250 g to 7 kg: "BW 12 kg" is no newborn's) and its words, or those before it in its clause
    (``before``), date it to no later time ("BW 5.2 kg at 3 months", "BW now 6 kg", "Current BW 5.2 kg")."""
    mass = _BIRTH_MASS.match(window)
    if mass is None or not _LEAST_BIRTH_WEIGHT_G <= _grams(mass) < _IMPLAUSIBLE_BIRTH_WEIGHT_G:
        return False
    clause = _CLAUSE_START.split(before)[-1]
    return _AFTER_BIRTH.search(window) is None and _NOW_BEFORE.search(clause) is None


#: A comma between thousands in grams: "4,600 g" is 4600 g, where "4,6 kg" is a decimal comma.
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")


def _grams(mass: re.Match[str]) -> float:
    said = mass.group("value")
    grams = mass.group("unit").lower() == "g"
    if grams and _THOUSANDS.fullmatch(said):
        return float(said.replace(",", ""))  # "4,600 g"
    value = float(said.replace(",", "."))
    return value if grams else value * 1000


def _is_own_body_measure(text: str, start: int, end: int) -> bool:
    """Whether the measurement named at ``start:end`` is the patient's body's: nothing but a function word
    before it, and no "of <part>" after a length ("length of femur")."""
    if re.match(r"\s+of\s+(?!the\s+(?:child|patient|boy|girl|infant)\b)[A-Za-z]", text[end : end + 40]):
        return False
    before = re.search(r"([A-Za-z’'-]+)\s*$", text[max(0, start - 40) : start])
    if before is None:
        return True  # the measurement opens the note, a sentence, a clause or a list item
    return before.group(1).casefold() in _BEFORE_A_BODY_MEASURE


#: Right before a value: it is not the patient's now ("previously -2.5 SD", "at 2 years was").
_PAST_VALUE = re.compile(
    r"\b(?:previously|formerly|earlier|before|prior|initially|originally)\b[^;]{0,12}$", re.IGNORECASE
)
#: Right before a centile: the first number of a range of centiles ("91st-98th centile").
_CENTILE_RANGE_BEFORE = re.compile(r"\d\s*(?:st|nd|rd|th)?\s*(?:-|–|to)\s*$", re.IGNORECASE)


def _values(window: str) -> list[tuple[int, Side | None]]:
    """(end, side) of each z-score and centile in a measurement's words, in order; side ``None``: says none.

    A value said to be a past one ("previously -2.5 SD") is left out: the measurement is read at its
    latest value.
    """
    values: list[tuple[int, int, Side | None]] = []
    for match in _SD.finditer(window):
        values.append((match.start(), match.end(), _z_side(window, match)))
    for match in _CENTILE.finditer(window):
        ranged = _CENTILE_RANGE_BEFORE.search(window[: match.start()]) is not None
        values.append((match.start(), match.end(), None if ranged else _centile_side(match)))
    return [(end, side) for start, end, side in sorted(values) if not _PAST_VALUE.search(window[:start])]


def _z_side(window: str, match: re.Match[str]) -> Side | None:
    value = float((match.group("value") or match.group("value2")).replace(",", "."))
    sign = match.group("sign") or match.group("sign2")
    before, after = window[: match.start()], window[match.end() :]
    # "+/- 2 SD": the "-" was taken as the sign, so the "+/" before it says no side.
    if _NOT_A_POSITION.search(before + (sign or "")) or _RANGE_BEFORE.search(before):
        return None
    if value < 2:
        return "normal"
    if sign in ("-", "−", "–") or re.search(r"below\s*$", before) or re.match(r"\s*below", after):
        return "below"
    if sign == "+" or re.search(r"above\s*$", before) or re.match(r"\s*above", after):
        return "above"
    return None  # "dropped by 2.5 SD": how far, not which side


def _centile_side(match: re.Match[str]) -> Side:
    """Below the 3rd / above the 97th centile (a bound said so counts), else normal."""
    centile = float((match.group("p") or match.group("value")).replace(",", "."))
    side = (match.group("side") or "").casefold()
    below_bound = side in ("below", "under", "less than", "<")
    above_bound = side in ("above", "over", "greater than", ">")
    if (centile < 3 and not above_bound) or (centile <= 3 and below_bound):
        return "below"
    if (centile > 97 and not below_bound) or (centile >= 97 and above_bound):
        return "above"
    return "normal"


def _milestones(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for pattern, term_id in _MILESTONES:
        normal_by_months = REACHED_BY_MONTHS[term_id]
        for match in pattern.finditer(text):
            months = _months(match)
            if months is None:
                continue
            late = "not" in match.group(0).casefold() or "n't" in match.group(0).casefold()
            if months > normal_by_months or (late and months >= normal_by_months):
                found.append((match.start(), match.end(), term_id))
    return found


def _not_yet(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for match in _NOT_YET.finditer(text):
        term_id = _NOT_YET_TERMS[match.group("verb").casefold()]
        normal_by_months = REACHED_BY_MONTHS[term_id]
        months = _months(match)
        if months is not None and months >= normal_by_months:
            end = match.end()
            while end < len(text) and text[end].isalpha():  # the whole verb: "walking", "sitting"
                end += 1
            found.append((match.start(), end, term_id))
    return found


def _months(match: re.Match[str]) -> float | None:
    """The age a milestone match states, in months; ``None`` for a bare number ("at 3") not after "age"."""
    value = float(match.group("age").replace(",", "."))
    unit = (match.group("unit") or "").casefold()
    if not unit:
        return value * 12 if match.group("age_word") else None
    return value if unit.startswith("m") else value * 12


def _iq(text: str) -> list[Candidate]:
    """IQ in a band of intellectual disability: the first number after "IQ" that is no age, z-score or centile."""
    found: list[Candidate] = []
    for match in _IQ.finditer(text):
        limit = min(len(text), match.end() + _IQ_WINDOW)
        sentence_end = _SENTENCE_END.search(text, match.end(), limit)
        window_end = sentence_end.start() if sentence_end else limit
        for number in re.finditer(r"(?P<below><\s*)?\b(?P<value>\d{1,3})\b(?![.,]\d)", text[match.end() : window_end]):
            if _NOT_AN_IQ.match(text, match.end() + number.end()):
                continue
            value = int(number.group("value")) - (1 if number.group("below") else 0)
            term_id = next(term for lowest, term in IQ_BANDS if value >= lowest)
            if term_id is not None:
                found.append((match.start(), match.end() + number.end(), term_id))
            break
    return found


_READERS: tuple[Callable[[str], list[Candidate]], ...] = (_growth, _milestones, _not_yet, _iq)


#: "tall" or "short" said of the patient as a predicate: "He is tall", "She is very short", "he has always been tall".
#: Only after the patient as subject and a copula, and only where the adjective ends its phrase (a stop, a comma, a
#: bracket, "and", "for", "too", "with"): "tall" alone is never read ("tall T waves", "5 ft tall": clinical_phrases),
#: nor "short of breath", "short-sighted", "he is short with staff" or a relative's "her mother is tall".
_STATURE_PREDICATE = re.compile(
    r"\b(?:he|she|the\s+(?:patient|boy|girl|child|proband)|patient)(?:'s|\s+"
    r"(?:is|was|has\s+(?:always\s+)?been|had\s+always\s+been|remains|remained|appears|appeared|looks|looked|seems"
    r"|seemed|became|has\s+become))"
    r"\s+(?:(?:very|quite|extremely|rather|relatively|markedly|noticeably|strikingly|exceptionally|particularly"
    r"|unusually|significantly|disproportionately|proportionately|mildly|somewhat|now|also|still|not|always)\s+){0,2}"
    r"(?P<word>tall|short)(?![\w-])"
    r"(?=\s*(?:[.,;:!(\n]|$|and\b|but\b|for\b|too\b|compared\b|relative\b|(?<=tall)\s*with\b))",
    re.IGNORECASE,
)
#: A bracket right after it that gives the measurement ("He is tall (196 cm, >99th centile)"): read with it.
_BRACKET = re.compile(r"\s*\([^()\n]{1,60}\)")


def stature_candidates(text: str) -> list[Candidate]:
    """Spans where the note says the patient is tall or short (:data:`_STATURE_PREDICATE`): Tall or Short stature.

    The span is the adjective, with the bracket after it when that bracket's centiles and z-scores are on the same
    side ("He is tall (196 cm, >99th centile)"); when the bracket says otherwise ("She is tall (50th centile)") the
    words and the measurement disagree and neither is read. The dictionary decides the assertion ("he is not tall"
    is absent).
    """
    found: list[Candidate] = []
    for match in _STATURE_PREDICATE.finditer(text):
        tall = match.group("word").casefold() == "tall"
        start, end = match.start("word"), match.end("word")
        bracket = _BRACKET.match(text, end)
        values = _values(bracket.group()) if bracket is not None else []
        if bracket is not None and values:
            if any(side != ("above" if tall else "below") for _, side in values):
                continue  # "She is tall (50th centile)": the measurement says otherwise; neither is read
            end = bracket.start() + len(bracket.group().rstrip(")").rstrip(" %"))  # ends on the bracket's last word
        found.append((start, end, TALL_STATURE if tall else SHORT_STATURE))
    return found


_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_COUNT_WORDS |= {"ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
#: A count, and how it says the fewest: "more than 6", "over six", ">6" (one more than the number), "at least 6",
#: "≥6", "6+", "6 or more" (the number), "6" (the number). The span starts on the count's first word (a sign is no
#: word of the reading); the phrase counted follows it.
_COUNT = re.compile(
    # The comparator and the number at most a space or two apart: an unbounded leading "\s*" was retried at every
    # position of a run of spaces (20,000 spaces: 5.9 s; code review).
    r"(?:(?:(?P<above>\bmore[ \t]+than|\bover|>)|(?P<least>\bat[ \t]+least|≥|>=))[ \t]{0,2})?"
    rf"\b(?P<number>\d{{1,3}}|{'|'.join(_COUNT_WORDS)})\b(?![.,]\d)"
    r"(?P<plus>\+|\s+or\s+more\b)?[ \t]+",
    re.IGNORECASE,
)
#: Words right before a number that make it no count: "type 2 ...", "grade 3 ...", "day 6 ...", "aged 6 ...".
_NOT_A_COUNT_BEFORE = re.compile(
    r"\b(?:type|grade|stage|class|level|group|phase|score|day|week|month|year|age|aged|at|since|for|by)\s*$",
    re.IGNORECASE,
)

#: Right before a count (or its "more than"): an upper bound, which says nothing of "at least as many" ("fewer than 6
#: cafe-au-lait macules, so NF1 criteria not met" read Multiple cafe-au-lait spots; code review).
_UPPER_BOUND_BEFORE = re.compile(r"(?:[<≤]=?|\b(?:fewer|less)[ \t]+than|\bup[ \t]+to|\bat[ \t]+most|\bno)[ \t]*$", re.I)


def count_candidates(text: str, lookup: TermLookup) -> list[Candidate]:
    """``(start, end, term)`` for each count of a finding that makes it HPO's "Multiple X" (:meth:`TermLookup.
    counted_term`): the count says at least as many as the term asks for (two, or what its definition states), as a
    bound ("more than six", ">6", "6 or more", "at least 6", "6+"), or as a number where the definition states one
    ("6 cafe-au-lait macules")."""
    found: list[Candidate] = []
    for match in _COUNT.finditer(text):
        if _NOT_A_COUNT_BEFORE.search(text, max(0, match.start() - 12), match.start()):
            continue
        if _UPPER_BOUND_BEFORE.search(text, max(0, match.start() - 12), match.start()):
            continue
        said = match.group("number").lower()
        number = int(said) if said.isdigit() else _COUNT_WORDS[said]
        fewest_said = number + 1 if match.group("above") else number
        counted = lookup.counted_term(text, match.end())
        if counted is None or fewest_said < counted[2]:
            continue
        if not (match.group("above") or match.group("least") or match.group("plus")) and not counted[3]:
            # "two lipomas were excised": a number alone counts what was found; it makes "Multiple X" only where
            # HPO defines that by a count ("six or more cafe-au-lait spots"), which it then meets.
            continue
        # the span starts on the count's first word: a sign (">6", "≥6") is no word of the reading
        start = match.start() + len(match.group()) - len(match.group().lstrip(" \t>≥="))
        found.append((start, counted[0], counted[1]))
    return found
