"""Laboratory results a note flags as high or low: "ALP 850 (high)", "AFP 180 (raised)", "IgA undetectable".

Why: a discharge summary states its abnormal results as a value with a flag, or as a word before or after
the analyte ("raised AFP", "CK was elevated"), and HPO names these findings in its own way ("Elevated
circulating alkaline phosphatase concentration"). Only what the note itself says is off is read: a value
without a flag needs a reference range, which depends on age, sex, method and laboratory, and is not
guessed ("CK 18,000 U/L" stays not understood). The analyte's name is resolved as the FHIR reader resolves
an interpreted Observation (``directions.by_direction``: HPO's own phrasing), after the abbreviations notes use
(:data:`LAB_NAMES`), or by :data:`LAB_TERMS` where HPO names the finding otherwise ("Hypoglycemia").

Each reading is a ``Candidate`` for the dictionary's reading, which decides its assertion as for any
mention ("his brother's CK was raised" is family history); the account marks it read from a value.
"""

from __future__ import annotations

import re
from typing import Literal

from dxsearch.intake.directions import by_direction
from dxsearch.knowledge.term_lookup import Candidate, TermLookup

__all__ = ["LAB_NAMES", "LAB_TERMS", "lab_candidates"]

Direction = Literal["high", "low"]

#: Abbreviations of analytes as notes write them -> the name HPO's phrasing uses.
LAB_NAMES: dict[str, str] = {
    "ck": "creatine kinase",
    "cr": "creatinine",
    "creat": "creatinine",
    "anc": "neutrophil count",
    "cpk": "creatine kinase",
    "alt": "alanine aminotransferase",
    "ast": "aspartate aminotransferase",
    "alp": "alkaline phosphatase",
    "ggt": "gamma-glutamyltransferase",
    "ldh": "lactate dehydrogenase",
    "afp": "alpha-fetoprotein",
    "hb": "hemoglobin",
    "hgb": "hemoglobin",
    "haemoglobin": "hemoglobin",
    "na": "sodium",
    "k": "potassium",
    "ca": "calcium",
    "po4": "phosphate",
    "mg": "magnesium",
    "crp": "C-reactive protein",
    "esr": "erythrocyte sedimentation rate",
    "urate": "uric acid",
    "t4": "thyroxine",
    "ft4": "free T4",
    "pth": "parathyroid hormone",
    "nh3": "ammonia",
    "transaminases": "transaminase",
    "lfts": "liver enzymes",
    "liver function tests": "liver enzymes",
}
#: Findings HPO names in words of their own ("Hypoglycemia", not "decreased circulating glucose").
LAB_TERMS: dict[tuple[str, Direction], str] = {
    ("glucose", "high"): "HP:0003074",  # Hyperglycemia
    ("glucose", "low"): "HP:0001943",  # Hypoglycemia
    ("blood glucose", "high"): "HP:0003074",
    ("blood glucose", "low"): "HP:0001943",
    ("white cell count", "high"): "HP:0001974",  # Leukocytosis
    ("white cell count", "low"): "HP:0001882",  # Leukopenia
    ("wcc", "high"): "HP:0001974",
    ("wcc", "low"): "HP:0001882",
    ("wbc", "high"): "HP:0001974",
    ("wbc", "low"): "HP:0001882",
    ("platelets", "high"): "HP:0001894",  # Thrombocytosis
    ("platelets", "low"): "HP:0001873",  # Thrombocytopenia
    ("plt", "low"): "HP:0001873",
    ("neutrophils", "low"): "HP:0001875",  # Neutropenia
    ("lymphocytes", "low"): "HP:0001888",  # Lymphopenia
    ("eosinophils", "high"): "HP:0001880",  # Eosinophilia
    ("bicarbonate", "low"): "HP:0032066",  # Decreased serum bicarbonate concentration
    ("bicarb", "low"): "HP:0032066",
    ("hco3", "low"): "HP:0032066",
    ("qtc", "high"): "HP:0005184",  # Prolonged QTc interval
}
#: Words that flag a result: "(high)", "(L)", "raised", "undetectable" (arrows are no words: a token must end a span).
_FLAGS: dict[str, Direction] = {
    **dict.fromkeys(("high", "raised", "elevated", "increased", "h", "prolonged"), "high"),
    **dict.fromkeys(("low", "reduced", "decreased", "l", "undetectable"), "low"),
}
#: A degree before a flag: "(markedly raised)", "(very low)".
_DEGREE = r"(?:markedly|mildly|moderately|severely|slightly|very|significantly)"
# Possessive word runs (``*+``): a word never gives back letters to the value after it, so a 50,000-character
# run of letters and digits is matched in linear time (it backtracked for over a minute).
_NAME = r"(?P<name>[A-Za-z][A-Za-z0-9-]*+(?:\s+[A-Za-z][A-Za-z0-9-]*+){0,3}?)"
_VALUE = r"[<>≤≥~]?\s*\d[\d,]*+(?:\.\d++)?(?:\s*(?:[a-zA-Zµ%][\w/%µ^.]*+|x\s*10\^?\d+/\w+))?"
#: Analytes read when a word, not a value, flags them ("raised AFP", "CK was elevated"): a word before or after
#: an everyday noun ("reduced hearing", "tone is low") is the dictionary's, not a laboratory result.
_ANALYTES = frozenset(
    {"creatinine", "urea", "sodium", "potassium", "calcium", "phosphate", "magnesium", "glucose", "ferritin", "iron"}
    | {"ammonia", "lactate", "albumin", "bilirubin", "cholesterol", "triglycerides", "triglyceride", "uric acid"}
    | {"iga", "igg", "igm", "ige", "tsh", "cortisol", "prolactin", "copper", "ceruloplasmin", "caeruloplasmin"}
    | {"hemoglobin", "platelets", "neutrophils", "lymphocytes", "eosinophils", "transaminase", "liver enzymes"}
    | {"alpha-fetoprotein", "creatine kinase", "alkaline phosphatase", "thyroxine", "pyruvate", "parathyroid hormone"}
)
_PATTERNS = (
    # "ALP 850 (high)", "phosphate 0.8 mmol/L (low)", "Hb: 80 g/L (L)"
    re.compile(
        rf"\b{_NAME}\s*[:=]?\s*(?:of\s+)?{_VALUE}\s*\(\s*(?:{_DEGREE}\s+)?"
        r"(?P<flag>high|low|raised|elevated|prolonged|H|L)\s*\)",
        re.I,
    ),
    # "raised AFP", "low serum phosphate", "elevated liver enzymes"
    re.compile(
        rf"\b(?P<flag>raised|elevated|high|increased|low|reduced|decreased)\s+(?:serum\s+|plasma\s+)?{_NAME}\b", re.I
    ),
    # "CK was elevated", "IgA undetectable", "transaminases raised"
    re.compile(rf"\b{_NAME}\s+(?:(?:was|were|is|are)\s+)?(?P<flag>raised|elevated|high|low|undetectable)\b", re.I),
)


def lab_candidates(text: str, lookup: TermLookup) -> list[Candidate]:
    """``(start, end, term)`` for each result the note flags off, whose analyte names a finding one way.

    A span starts on the analyte's first word and ends on a word ("ALP 850 (high": the finding's label closes
    the bracket), as every span the dictionary's reading takes does.
    """
    found: list[Candidate] = []
    for number, pattern in enumerate(_PATTERNS):
        for match in pattern.finditer(text):
            direction = _FLAGS[match.group("flag").lower()]
            named = _term(match.group("name"), direction, lookup, valued=number == 0)
            if named is not None:
                term_id, skipped = named
                start = min(match.start("name") + skipped, match.start("flag"))
                found.append((start, max(match.end("name"), match.end("flag")), term_id))
    return sorted(set(found))


def _term(name: str, direction: Direction, lookup: TermLookup, *, valued: bool) -> tuple[str, int] | None:
    """The finding an analyte off in ``direction`` names, and how many characters of ``name`` come before the words
    that name it: the whole name first, then without its first words ("Bloods serum ALP" -> "ALP"). Without a
    value (``valued``) only a known analyte counts."""
    for word in re.finditer(r"\S+", name):
        said = name[word.start() :].lower()
        if not valued and said not in LAB_NAMES and said not in _ANALYTES and (said, direction) not in LAB_TERMS:
            continue
        term_id = LAB_TERMS.get((said, direction)) or by_direction(lookup, LAB_NAMES.get(said, said), direction)
        if term_id is not None:
            return term_id, word.start()
    return None
