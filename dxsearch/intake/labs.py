"""Laboratory results a note flags as high or low: "ALP 850 (high)", "AFP 180 (raised)", "IgA undetectable".

Why: a discharge summary states its abnormal results as a value with a flag, or as a word before or after
the analyte ("raised AFP", "CK was elevated"), and HPO names these findings in its own way ("Elevated
circulating alkaline phosphatase concentration"). Only what the note itself says is off is read: a value
without a flag needs a reference range, which depends on age, sex, method and laboratory, and is not
guessed ("CK 18,000 U/L" stays not understood), unless the note gives it beside the value, as case reports do
("CK 2,500 IU/L (normal range 24-195 IU/L)", "ALT 5x ULN"). The exceptions are the few analytes with a published
decision limit that holds whatever the laboratory, and the age and sex it applies to (:data:`VALUE_LIMITS`: a
sweat chloride of 60 mmol/L or more is cystic fibrosis's diagnostic range at any age): a value beyond it names
the finding without a flag. The analyte's name is resolved as the FHIR reader resolves
an interpreted Observation (``directions.by_direction``: HPO's own phrasing), after the abbreviations notes use
(:data:`LAB_NAMES`), or by :data:`LAB_TERMS` where HPO names the finding otherwise ("Hypoglycemia").

Each reading is a ``Candidate`` for the dictionary's reading, which decides its assertion as for any
mention ("his brother's CK was raised" is family history); the account marks it read from a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dxsearch.intake.directions import by_direction
from dxsearch.knowledge.term_lookup import Candidate, TermLookup

__all__ = ["LAB_NAMES", "LAB_TERMS", "VALUE_LIMITS", "ValueLimit", "lab_candidates"]

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
    "caeruloplasmin": "ceruloplasmin",
    "mcv": "mean corpuscular volume",
    "egfr": "glomerular filtration rate",
    "gfr": "glomerular filtration rate",
    "faecal elastase": "stool elastase",
    "fecal elastase": "stool elastase",
    "stool elastase": "stool elastase",
    "lvef": "left ventricular ejection fraction",
    "7-dhc": "7-dehydrocholesterol",
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
    ("conjugated bilirubin", "high"): "HP:0002908",  # Conjugated hyperbilirubinemia
    ("direct bilirubin", "high"): "HP:0002908",
    ("unconjugated bilirubin", "high"): "HP:0008282",  # Unconjugated hyperbilirubinemia
    ("indirect bilirubin", "high"): "HP:0008282",
    ("ejection fraction", "low"): "HP:0012664",  # Reduced left ventricular ejection fraction
    ("left ventricular ejection fraction", "low"): "HP:0012664",
    ("urea", "high"): "HP:0003138",  # Increased blood urea nitrogen (urea and BUN measure one thing)
    ("bun", "high"): "HP:0003138",
    ("blood urea nitrogen", "high"): "HP:0003138",
    # HPO names a raised phenylalanine by the disorder's word: "Plasma phenylalanine 1450 umol/L (ref 35-120)"
    ("phenylalanine", "high"): "HP:0004923",  # Hyperphenylalaninemia
    ("phe", "high"): "HP:0004923",
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
# A name may open with a locant: "7-dehydrocholesterol", "17-hydroxyprogesterone".
_NAME = r"(?P<name>(?:\d{1,2}-)?[A-Za-z][A-Za-z0-9-]*+(?:\s+[A-Za-z][A-Za-z0-9-]*+){0,3}?)"
# Gaps of a few spaces or tabs, never an unbounded "\s*" beside another: three of them in a row made a run of
# 1,500 new lines after an analyte cost 7 s (code review).
_VALUE = r"(?:[<>≤≥~][ \t]{0,2})?\d[\d,]*+(?:\.\d++)?(?:[ \t]{0,2}(?:[a-zA-Zµ%][\w/%µ^.]*+|x[ \t]?10\^?\d+/\w+))?"
#: Analytes read when a word, not a value, flags them ("raised AFP", "CK was elevated"): a word before or after
#: an everyday noun ("reduced hearing", "tone is low") is the dictionary's, not a laboratory result.
_ANALYTES = frozenset(
    {"creatinine", "urea", "sodium", "potassium", "calcium", "phosphate", "magnesium", "glucose", "ferritin", "iron"}
    | {"ammonia", "lactate", "albumin", "bilirubin", "cholesterol", "triglycerides", "triglyceride", "uric acid"}
    | {"iga", "igg", "igm", "ige", "tsh", "cortisol", "prolactin", "copper", "ceruloplasmin", "caeruloplasmin"}
    | {"hemoglobin", "platelets", "neutrophils", "lymphocytes", "eosinophils", "transaminase", "liver enzymes"}
    | {"alpha-fetoprotein", "creatine kinase", "alkaline phosphatase", "thyroxine", "pyruvate", "parathyroid hormone"}
    | {"mean corpuscular volume", "qtc", "ejection fraction", "left ventricular ejection fraction"}
    # metabolites a genetics letter reports: "7-dehydrocholesterol markedly elevated" (Smith-Lemli-Opitz syndrome)
    | {"phenylalanine", "7-dehydrocholesterol", "7-dhc"}
)
#: Words that name the sample before an analyte ("24-h urinary copper", "serum ALT"): the analyte is still one of
#: :data:`_ANALYTES`, and HPO's phrase of the sample is tried first ("Increased urinary copper concentration").
_SAMPLE_WORDS = re.compile(r"^(?:(?:serum|plasma|blood|urinary|urine|24-?h(?:our)?|random|fasting|total)\s+)+", re.I)
#: ... of which the samples that are not blood: "urinary copper" raised is no circulating copper.
_OTHER_SAMPLE = re.compile(r"^(?:\S+\s+)*?(?:urinary|urine|24-?h(?:our)?)\b", re.I)
_PATTERNS = (
    # "ALP 850 (high)", "phosphate 0.8 mmol/L (low)", "Hb: 80 g/L (L)"
    re.compile(
        rf"\b{_NAME}[ \t]{{0,3}}(?:[:=][ \t]{{0,3}})?(?:of[ \t]+)?{_VALUE}"
        rf"[ \t]{{0,3}}\([ \t]{{0,2}}(?:{_DEGREE}[ \t]+)?"
        r"(?P<flag>high|low|raised|elevated|prolonged|H|L)[ \t]{0,2}\)",
        re.I,
    ),
    # "raised AFP", "low serum phosphate", "elevated liver enzymes"
    re.compile(
        rf"\b(?P<flag>raised|elevated|high|increased|low|reduced|decreased|prolonged)\s+(?:serum\s+|plasma\s+)?{_NAME}\b",
        re.I,
    ),
    # "CK was elevated", "IgA undetectable", "transaminases raised"
    re.compile(
        rf"\b{_NAME}\s+(?:(?:was|were|is|are)\s+)?(?:{_DEGREE}\s+)?(?P<flag>raised|elevated|high|low|undetectable|prolonged)\b",
        re.I,
    ),
)


@dataclass(frozen=True, slots=True)
class ValueLimit:
    """A decision limit: a value above it (or at it, ``inclusive``; below it when ``below``) is the finding
    ``term``, in one of ``units`` (as written, lower case; ``""``: no unit written, the one the limit is stated in),
    from ``min_months`` of age. ``plausible``: the values a number may be in this unit, with its unit or without
    ("Temp 39.2" is Celsius; "Temp 101" is not read, nor "Serum CK 1,234,567 U/L")."""

    term: str
    limit: float
    inclusive: bool
    units: frozenset[str]
    min_months: float = 0
    below: bool = False
    plausible: tuple[float, float] | None = None
    #: Other units the value may be given in, each as (unit, offset, scale) to the limit's: ``(v + offset) * scale``.
    converted: tuple[tuple[str, float, float], ...] = ()

    def in_limit_unit(self, value: float, unit: str) -> float | None:
        """``value`` in the limit's unit, or None when ``unit`` is none the limit reads."""
        if unit in self.units:
            return value
        for other, offset, scale in self.converted:
            if unit == other:
                return round((value + offset) * scale, 6)  # 100.4 F is 38.0 C, not 37.99999
        return None


_PER_LITRE_MICROGRAMS = frozenset({"", "ng/ml", "µg/l", "μg/l", "ug/l", "mcg/l"})
#: Analytes whose value alone names a finding, by a cut-off that holds whatever the laboratory and for every age and
#: sex it is given for; never a laboratory's reference range, which is not guessed. Each with its source.
VALUE_LIMITS: dict[str, ValueLimit] = {
    # Sweat chloride >= 60 mmol/L is the diagnostic range of cystic fibrosis at every age (CF Foundation consensus,
    # Farrell et al., J Pediatr 2017;181S:S4-S15); 30-59 is intermediate and names nothing here.
    "sweat chloride": ValueLimit("HP:0012236", 60, True, frozenset({"", "mmol/l", "meq/l"})),  # Elevated sweat chloride
    # Transferrin saturation > 45% is raised (EASL clinical practice guidelines on HFE hemochromatosis, J Hepatol
    # 2010;53:3-22; AASLD 2011 uses >= 45%); newborns' runs higher, so from 1 year of age.
    "transferrin saturation": ValueLimit("HP:0012463", 45, False, frozenset({"%", ""}), 12),
    # Ferritin > 1000 ug/L: the threshold of iron overload's organ damage (EASL 2010, as above), above the upper
    # reference limit of every age and sex (adult men ~300-400, neonates ~600 ug/L); a value between a laboratory's
    # limit and this one is not judged. ng/mL is ug/L.
    "ferritin": ValueLimit("HP:0003281", 1000, False, _PER_LITRE_MICROGRAMS),  # Increased circulating ferritin
    # A second user test's unflagged "Na 118", "Glucose 1.2 mmol/L", "Temp 39.2" were not read:
    # Sodium < 135 mmol/L is hyponatraemia at every age (the definition used by the European clinical practice
    # guideline on hyponatraemia, Spasovski et al., Eur J Endocrinol 2014;170:G1-G47); mEq/L is mmol/L.
    "sodium": ValueLimit("HP:0002902", 135, False, frozenset({"", "mmol/l", "meq/l"}), below=True),  # Hyponatremia
    # Glucose < 2.6 mmol/L is hypoglycaemia at every age: the neonatal operational threshold (Cornblath et al.,
    # Pediatrics 2000;105:1141-5), below the adult alert value of 3.9 and level 2 of 3.0 (ADA Standards of Care).
    "glucose": ValueLimit("HP:0001943", 2.6, False, frozenset({"", "mmol/l"}), below=True, plausible=(0, 40)),
    # Body temperature >= 38.0 C is fever at every age (NICE NG143 for children; the common adult definition); a
    # number without a unit is read as Celsius only between 34 and 45.
    # (Fahrenheit too, converted: "Temp 101 F" is 38.3 C; stop 30 left it unread.)
    "temperature": ValueLimit(
        "HP:0001945",
        38.0,
        True,
        frozenset({"", "c", "°c", "ºc"}),
        plausible=(34, 45),
        converted=tuple((unit, -32.0, 5 / 9) for unit in ("f", "°f", "ºf")),
    ),
    # QTc >= 460 ms is prolonged in women, children and men alike (>= 450 ms already in men): AHA/ACCF/HRS
    # recommendations for the standardization and interpretation of the ECG, part IV (Rautaharju et al.,
    # Circulation 2009;119:e241-50). A user test's "ECG showed a QTc of 510 ms" was not read.
    "qtc": ValueLimit("HP:0005184", 460, True, frozenset({"", "ms", "msec"}), plausible=(250, 800)),
    # eGFR < 60 mL/min/1.73 m2 is a decreased GFR in every KDIGO category from G3 (KDIGO 2012 CKD guideline), from 2
    # years of age, when GFR has reached adult values; a unit written as mL/min/1.73m2 is read without its unit.
    "egfr": ValueLimit("HP:0012213", 60, False, frozenset({"", "ml/min"}), 24, below=True, plausible=(0, 200)),
    # LVEF < 50% is reduced (ESC 2021 heart failure guideline: mildly reduced 41-49%, reduced <= 40%; ASE/EACVI 2015
    # give < 52% / < 54% as abnormal, so 50% is the conservative cut).
    "lvef": ValueLimit("HP:0012664", 50, False, frozenset({"%"}), below=True),
    # Creatine kinase > 2000 U/L is above the upper reference limit of every group at every age: adults' highest,
    # Black men's 97.5th centile, is about 800 U/L (Brewster et al., Am Heart J 2007;154:655-61), and a newborn's
    # rise after birth stays below about 1600 U/L (the neonatal reference intervals of the CALIPER study, Colantonio
    # et al., Clin Chem 2012;58:854-68); a value between a laboratory's limit and this one is not judged. A user
    # test's "Creatine kinase was 15,000 U/L" in a Duchenne letter was not read, then asked back as a next step.
    "creatine kinase": ValueLimit(
        "HP:0003236", 2000, False, frozenset({"", "u/l", "iu/l"}), plausible=(0, 1_000_000)
    ),  # Elevated circulating creatine kinase concentration
}
#: How notes write the analytes of :data:`VALUE_LIMITS`.
_LIMIT_NAMES: dict[str, str] = {
    "sweat chloride": "sweat chloride",
    "sweat cl": "sweat chloride",
    "sweat test": "sweat chloride",
    "sweat chloride test": "sweat chloride",
    "transferrin saturation": "transferrin saturation",
    "transferrin sat": "transferrin saturation",
    "tf sat": "transferrin saturation",
    "tsat": "transferrin saturation",
    "iron saturation": "transferrin saturation",
    "ferritin": "ferritin",
    "serum ferritin": "ferritin",
    "s-ferritin": "ferritin",
    "na": "sodium",
    "na+": "sodium",
    "sodium": "sodium",
    "serum sodium": "sodium",
    "glucose": "glucose",
    "blood glucose": "glucose",
    "bgl": "glucose",
    "temp": "temperature",
    "temperature": "temperature",
    "tmax": "temperature",
    "t max": "temperature",
    "qtc": "qtc",
    "qtc interval": "qtc",
    "corrected qt": "qtc",
    "corrected qt interval": "qtc",
    "egfr": "egfr",
    "estimated gfr": "egfr",
    "lvef": "lvef",
    "ejection fraction": "lvef",
    "lv ejection fraction": "lvef",
    "left ventricular ejection fraction": "lvef",
    "ef": "lvef",
    "ck": "creatine kinase",
    "cpk": "creatine kinase",
    "creatine kinase": "creatine kinase",
    "creatine phosphokinase": "creatine kinase",
    "serum ck": "creatine kinase",
    "serum creatine kinase": "creatine kinase",
}
_LIMIT_NAME = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in sorted(_LIMIT_NAMES, key=len, reverse=True))
#: "sweat chloride 78 mmol/L", "Transferrin saturation: 85%", "ferritin was 2,400", "ferritin > 2000 ng/mL".
#: Each gap between the parts is a few spaces or tabs at most: an unbounded ``\s*`` before and after an optional
#: word made a run of whitespace cost its length cubed (1,500 new lines: 28 s; code review).
_GAP = r"[ \t]{0,3}"
_LIMIT_VALUE = re.compile(
    rf"(?<![\w+-])(?P<name>{_LIMIT_NAME})(?![\w])(?:[ \t]{{1,3}}(?:level|levels|concentration|value|result)\b)?"
    rf"{_GAP}(?:(?::|=|\bof\b|\b(?:was|is|were|are)\b){_GAP})?(?:(?P<cmp>[<>≤≥~]=?){_GAP})?"
    r"(?P<value>\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)"
    rf"(?:{_GAP}(?P<unit>mmol/l|meq/l|%|ng/ml|[µμu]g/l|mcg/l|pmol/l|[°º]?c\b|[°º]?f\b|msec|ms|[a-z]+/[a-z]+)(?![\w/]))?",
    re.IGNORECASE,
)
#: Right before an analyte: another fluid's or a goal's value ("urine Na 15", "CSF glucose 1.5", "target glucose"),
#: not the blood's the limit is for (code review).
_OTHER_SAMPLE_BEFORE = re.compile(
    r"\b(?:urine|urinary|stool|faecal|fecal|csf|fluid|pleural|ascitic|target|goal|aim"
    # another heart's or chamber's: "RV EF 40%", "right ventricular ejection fraction 38%", "fetal heart" (code review)
    r"|rv|right[ \t]+ventricular|right[ \t]+ventricle|fetal|foetal)[ \t]*[:-]?[ \t]*$",
    re.I,
)
#: After a value: a flag of its own (read by the flagged pattern, or said normal), a range or a change ("-> 800").
_NOT_ALONE = re.compile(r"\s*(?:\(|(?:-|–|→|->|to)\s*\d)", re.IGNORECASE)


#: After a value in its sentence: the value is past, the analyte normal now ("CK 25,000 U/L during rhabdomyolysis, now
#: normal"; a code review found it read as elevated now). Such a value is not read (no past finding is said of it).
_NOW_NORMAL = re.compile(
    r"\b(?:(?:now|since|subsequently|later)[ \t]+(?:back[ \t]+to[ \t]+)?(?:normal|normali[sz]ed|resolved)"
    r"|(?:has|have|had)[ \t]+(?:since[ \t]+)?normali[sz]ed|normali[sz]ed[ \t]+since|back[ \t]+to[ \t]+normal)\b",
    re.IGNORECASE,
)
_NOW_NORMAL_REACH = 60


def _limit_candidates(text: str, age_months: float | None) -> list[Candidate]:
    """``(start, end, term)`` for each value of :data:`VALUE_LIMITS` beyond its limit, with no flag of its own.

    "<" says nothing of a value above a limit, so is not read; ">" beyond it is. Where the note's age is below the
    limit's, or a unit is not the limit's, nothing is read. The span ends on the value's last word (its unit's
    letters, or its digits: "85%" ends at "85").
    """
    found: list[Candidate] = []
    for match in _LIMIT_VALUE.finditer(text):
        limit = VALUE_LIMITS[_LIMIT_NAMES[" ".join(match.group("name").lower().split())]]
        unit = (match.group("unit") or "").lower()
        against = (">", ">=", "≥") if limit.below else ("<", "<=", "≤")  # says nothing of a value past the limit
        if match.group("cmp") in against or _NOT_ALONE.match(text, match.end()):
            continue
        written = float(match.group("value").replace(",", ""))
        value = limit.in_limit_unit(written, unit)
        if value is None:
            continue
        if age_months is not None and age_months < limit.min_months:
            continue
        if _OTHER_SAMPLE_BEFORE.search(text, max(0, match.start() - 24), match.start()):
            continue
        if limit.plausible is not None and not limit.plausible[0] <= value <= limit.plausible[1]:
            continue
        if _NOW_NORMAL.search(text[match.end() : match.end() + _NOW_NORMAL_REACH].split(".")[0].split(";")[0]):
            continue  # "CK 25,000 U/L during rhabdomyolysis, now normal": a past value, not read
        beyond = value < limit.limit if limit.below else value > limit.limit
        past = match.group("cmp") in (("<", "≤", "<=") if limit.below else (">", "≥", ">="))  # "ferritin > 1000"
        if beyond or ((limit.inclusive or past) and value == limit.limit):
            end = match.end("unit") if unit[-1:].isalpha() else match.end("value")
            found.append((match.start("name"), end, limit.term))
    return found


_NUMBER = r"\d{1,3}(?:,\d{3})++(?![\d.])|\d++(?:\.\d++)?"
_UNIT = r"(?:[a-zA-Zµμ%][\w/%µμ^.]*+|x[ \t]?10\^?\d+/\w+)"
#: What introduces the range a note gives beside a value: "(normal <200)", "(reference range: 24-195 IU/L)",
#: "[NR 0.5-2.2]", "(N: 20-200)", "(ULN < 40)" (a bare "(ULN 40)" is not read: the range needs its bound's sign).
_RANGE_WORDS = (
    r"(?:normal|reference|ref\.?|nr|rr|n(?=[ \t]*:)|upper[ \t]+limit(?:[ \t]+of[ \t]+normal)?|uln)"
    r"(?:[ \t]+(?:range|ranges|values?|limits?|interval|level|levels))?"
)
#: A value and the range the note gives for it: "CK 350 U/L (normal <200)", "serum CK level was 2,500 IU/L
#: (normal range, 24-195 IU/L)", "ammonia 180 umol/L [N: 11-32]". The range is the note's own, so the value can
#: be judged without guessing a laboratory's.
#: An analyte's name, and the word a case report may put after it: "serum CK level", "ammonia concentration".
_ANALYTE_NAMED = rf"\b{_NAME}(?:[ \t]{{1,3}}(?:level|levels|concentration|concentrations|activity|activities))?"
_VALUE_BEFORE_RANGE = (
    _ANALYTE_NAMED + r"[ \t]{0,3}(?:(?:[:=]|\bof\b|\b(?:was|were|is|are)\b)[ \t]{0,3})?"
    rf"(?P<cmp>[<>≤≥][ \t]{{0,2}})?(?P<value>{_NUMBER})(?:[ \t]{{0,2}}(?P<unit>{_UNIT}))?[ \t]{{0,3}}"
)
_RANGE = (
    rf"(?:(?P<low>{_NUMBER})[ \t]{{0,2}}(?:-|–|—|to)[ \t]{{0,2}}(?P<high>{_NUMBER})"
    rf"|(?P<below><|≤|<=|up[ \t]+to|below)[ \t]{{0,2}}(?P<upper>{_NUMBER})"
    rf"|(?P<above>>|≥|>=|above)[ \t]{{0,2}}(?P<lower>{_NUMBER}))"
    rf"(?:[ \t]{{0,2}}(?P<range_unit>{_UNIT}))?"
)
_WITH_RANGE = re.compile(
    rf"{_VALUE_BEFORE_RANGE}[(\[,;][ \t]{{0,2}}{_RANGE_WORDS}[ \t]{{0,2}}[:,=]?[ \t]{{0,2}}{_RANGE}", re.IGNORECASE
)
#: ... and a range alone in the bracket after a value, as case reports and results tables give it: "Hb 82 g/L
#: (115-155)", "bilirubin 98 umol/L (<20)". Only a value with its unit, and a bracket that holds the range and
#: nothing else.
_WITH_BARE_RANGE = re.compile(
    rf"{_VALUE_BEFORE_RANGE}[(\[][ \t]{{0,2}}{_RANGE}[ \t]{{0,2}}[)\]]",
    re.IGNORECASE,
)
#: "CK 20 times the upper limit of normal", "ALT 5x ULN", "transaminases 3-fold above normal": high by the note's words.
_TIMES_NORMAL = re.compile(
    _ANALYTE_NAMED
    + r"[ \t]{0,3}(?:(?:[:=]|\b(?:was|were|is|are)\b)[ \t]{0,3})?(?:(?:about|around|over|more[ \t]+than|>)[ \t]{0,3})?"
    rf"(?P<times>{_NUMBER})[ \t]{{0,2}}(?:x|×|times|-?fold)[ \t]{{1,3}}"
    r"(?:(?:above|over)[ \t]{1,3})?(?:the[ \t]{1,3})?"
    r"(?:upper[ \t]+limit(?:[ \t]+of[ \t]+(?:the[ \t]+)?normal)?|uln|normal)\b",
    re.IGNORECASE,
)


def _number(written: str) -> float:
    return float(written.replace(",", ""))


def _same_unit(value_unit: str | None, range_unit: str | None) -> bool:
    """Whether a range may judge a value: a unit written on one side only is the other's ("2,500 IU/L (normal
    <200)"); two units must be the same, IU/L and U/L alike."""
    if not value_unit or not range_unit:
        return True

    def plain(unit: str) -> str:
        return unit.lower().rstrip(".").replace("μ", "µ").replace("iu/", "u/")

    return plain(value_unit) == plain(range_unit)


def _range_candidates(text: str, lookup: TermLookup) -> list[Candidate]:
    """``(start, end, term)`` for each value outside the range the note gives beside it, and each value the note
    gives as a multiple of the upper limit of normal; the span ends on the range's last number."""
    found: list[Candidate] = []
    with_range = [*_WITH_RANGE.finditer(text), *_WITH_BARE_RANGE.finditer(text)]
    for match in with_range:
        if not _same_unit(match.group("unit"), match.group("range_unit")):
            continue
        if match.re is _WITH_BARE_RANGE and not match.group("unit"):
            continue  # "seizures 3 (2-4)": a bare range judges only a value measured in a unit
        value, cmp = _number(match.group("value")), (match.group("cmp") or "").strip()
        low = match.group("low") or match.group("lower")
        high = match.group("high") or match.group("upper")
        direction: Direction | None = None
        if high is not None and value > _number(high) and cmp not in ("<", "≤"):
            direction = "high"
        elif low is not None and value < _number(low) and cmp not in (">", "≥"):
            direction = "low"
        if direction is None:
            continue
        # a laboratory analyte only: "Weight 18 kg (50-75)" gives centiles, not a reference range (code review)
        named = _term(match.group("name"), direction, lookup, valued=False)
        if named is not None:
            bound = "high" if match.group("high") else "upper" if match.group("upper") else "lower"
            end = match.end("range_unit") if match.group("range_unit") else match.end(bound)
            found.append((match.start("name") + named[1], end, named[0]))
    for match in _TIMES_NORMAL.finditer(text):
        if _number(match.group("times")) <= 1:
            continue
        named = _term(match.group("name"), "high", lookup, valued=False)
        if named is not None:
            found.append((match.start("name") + named[1], match.end(), named[0]))
    return found


def lab_candidates(text: str, lookup: TermLookup, age_months: float | None = None) -> list[Candidate]:
    """``(start, end, term)`` for each result the note flags off, whose analyte names a finding one way, and each
    value beyond a decision limit (:data:`VALUE_LIMITS`; ``age_months``, the patient's, if known).

    A span starts on the analyte's first word and ends on a word ("ALP 850 (high": the finding's label closes
    the bracket), as every span the dictionary's reading takes does.
    """
    found: list[Candidate] = [*_limit_candidates(text, age_months), *_range_candidates(text, lookup)]
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
        analyte = _SAMPLE_WORDS.sub("", said)
        if not valued and not any(
            known in LAB_NAMES or known in _ANALYTES or (known, direction) in LAB_TERMS for known in (said, analyte)
        ):
            continue
        term_id = _named(said, direction, lookup)
        if term_id is None and analyte != said and not _OTHER_SAMPLE.match(said):
            # "Plasma phenylalanine ... (ref 35-120)", "serum ALP 850 (high)": the sample's word is the finding's too
            term_id = _named(analyte, direction, lookup)
        if term_id is not None:
            return term_id, word.start()
    return None


def _named(name: str, direction: Direction, lookup: TermLookup) -> str | None:
    """The HPO term of analyte ``name`` off in ``direction``: HPO's own word for it (:data:`LAB_TERMS`), else the
    term of "increased/decreased <name>" (by its usual name, :data:`LAB_NAMES`)."""
    return LAB_TERMS.get((name, direction)) or by_direction(lookup, LAB_NAMES.get(name, name), direction)
