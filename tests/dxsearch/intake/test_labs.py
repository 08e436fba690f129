"""Laboratory results a note flags as off, read through the note reading the API and CLI use."""

from __future__ import annotations

import pytest

from dxsearch.intake.account import read_text
from dxsearch.intake.labs import lab_candidates
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup


def read(note: str) -> list[tuple[str, str, str, bool]]:
    """(id, words, assertion, from a value) of every finding the account maps."""
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    return [(m.hpo_id, note[m.span[0] : m.span[1]], m.assertion, m.from_value) for m in reading.mapped if m.span]


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # a value with its flag; the "(low)" of one result is not the next one's ("(low), ALP" was Decreased ALP)
        (
            "Bloods: phosphate 0.8 mmol/L (low), ALP 850 (high).",
            [
                ("HP:0002148", "phosphate 0.8 mmol/L (low", "present", True),  # Hypophosphatemia
                ("HP:0003155", "ALP 850 (high", "present", True),  # Elevated alkaline phosphatase
            ],
        ),
        (
            "Hb 80 g/L (L), platelets 40 (low).",
            [("HP:0020062", "Hb 80 g/L (L", "present", True), ("HP:0001873", "platelets 40 (low", "present", True)],
        ),
        # the flag in words, before or after
        (
            "Raised AFP. IgA undetectable.",
            [("HP:0006254", "Raised AFP", "present", True), ("HP:0002720", "IgA undetectable", "present", True)],
        ),
        ("His brother's CK was raised.", [("HP:0003236", "CK was raised", "family_history", True)]),
        # abbreviations of a discharge summary, a degree before the flag
        (
            "Cr 212 umol/L (H), ANC 0.4 (L). QTc 540 ms (markedly prolonged).",
            [
                ("HP:0003259", "Cr 212 umol/L (H", "present", True),  # Elevated circulating creatinine
                ("HP:0001875", "ANC 0.4 (L", "present", True),  # Decreased total neutrophil count
                ("HP:0005184", "QTc 540 ms (markedly prolonged", "present", True),  # Prolonged QTc interval
            ],
        ),
    ],
)
def test_a_result_the_note_flags_is_read(note: str, expected: list[tuple[str, str, str, bool]]) -> None:
    assert read(note) == expected


def test_a_value_without_a_flag_is_not_guessed() -> None:
    """A reference range depends on age, sex and laboratory: "CK 1,800 U/L" stays not understood (a value past every
    laboratory's limit, "CK 18,000 U/L", is read: :data:`labs.VALUE_LIMITS`)."""
    assert read("CK 1,800 U/L.") == []
    assert read("CK 18,000 U/L.") == [("HP:0003236", "CK 18,000 U/L", "present", True)]


def test_a_word_flag_needs_a_laboratory_analyte_and_a_long_run_of_letters_is_read_quickly() -> None:
    """ "Reduced hearing" and "tone is low" are the dictionary's findings, not results read from a value; a
    50,000-character run of letters and digits backtracked for over a minute in the first version."""
    from dxsearch.intake.labs import lab_candidates

    lookup = get_term_lookup()
    assert lab_candidates("Reduced hearing. Tone is low. The palate is high.", lookup) == []
    assert lab_candidates("a" + "1" * 50_000, lookup) == []


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # A user test (2026-11-28): values beyond a decision limit that holds whatever the laboratory, age and sex
        # were not read without a flag; each is read from its value.
        ("Sweat chloride 78 mmol/L.", [("HP:0012236", "Sweat chloride 78 mmol/L", "present", True)]),
        ("Sweat test: 60 mmol/L.", [("HP:0012236", "Sweat test: 60 mmol/L", "present", True)]),  # 60 or more
        ("Transferrin saturation 85%.", [("HP:0012463", "Transferrin saturation 85", "present", True)]),
        ("Ferritin 2400.", [("HP:0003281", "Ferritin 2400", "present", True)]),
        ("Ferritin 2,400 ng/mL.", [("HP:0003281", "Ferritin 2,400 ng/mL", "present", True)]),
        ("His brother's ferritin was 3000 ug/L.", [("HP:0003281", "ferritin was 3000 ug/L", "family_history", True)]),
        # within the limit, below it, in another unit, as a range or a change: nothing is judged
        ("Sweat chloride 45 mmol/L.", []),
        ("Transferrin saturation 45%.", []),
        ("Ferritin 600 ug/L.", []),  # high for a woman in most laboratories, not beyond every limit
        ("Ferritin <1000.", []),
        ("Ferritin 2400 pmol/L.", []),
        ("Ferritin 2400-3000.", []),
        ("Ferritin 2400 -> 800 after venesection.", []),
    ],
)
def test_a_value_beyond_a_decision_limit_is_read_without_a_flag(
    note: str, expected: list[tuple[str, str, str, bool]]
) -> None:
    assert read(note) == expected


def test_a_decision_limit_for_older_patients_is_not_applied_to_a_younger_one() -> None:
    """Transferrin saturation runs higher in the newborn: its limit holds from 1 year of age."""
    assert read("3-week-old boy. Transferrin saturation 85%.") == []
    assert [m[0] for m in read("3-year-old boy. Transferrin saturation 85%.")] == ["HP:0012463"]


def test_every_decision_limit_names_a_current_phenotype_term() -> None:
    from dxsearch.intake.labs import VALUE_LIMITS

    knowledge = get_hpo_knowledge()
    names = {"sweat chloride": "Elevated sweat chloride", "transferrin saturation": "Elevated transferrin saturation"}
    names["ferritin"] = "Increased circulating ferritin concentration"
    names |= {"sodium": "Hyponatremia", "glucose": "Hypoglycemia", "temperature": "Fever"}
    names |= {"qtc": "Prolonged QTc interval", "egfr": "Decreased glomerular filtration rate"}
    names["lvef"] = "Reduced left ventricular ejection fraction"
    names["creatine kinase"] = "Elevated circulating creatine kinase concentration"
    for analyte, limit in VALUE_LIMITS.items():
        assert knowledge.current_id(limit.term) == limit.term, analyte
        assert knowledge.term_name(limit.term) == names[analyte]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A second user test: unflagged values past limits that hold at every age were not read.
        ("Na 118 mmol/L.", ["HP:0002902"]),
        ("Glucose 1.2 mmol/L.", ["HP:0001943"]),
        ("Temp 39.2, HR 160.", ["HP:0001945"]),
        ("Temperature 38.0 C", ["HP:0001945"]),
        ("Temp 37.2. Na 140. Glucose 5.4.", []),  # within the limits
        ("Temp 101", []),  # no unit and no Celsius value: Fahrenheit is not guessed
        ("Na > 130", []),  # says nothing of a value below the limit
        ("BM 2 today", []),  # a bowel movement, or a capillary glucose: not read
        # Code review: another fluid's value is not the blood's; ">" at the limit is past it; "Na+" is sodium.
        ("Urine Na 15 mmol/L.", []),
        ("CSF glucose 1.5 mmol/L.", []),
        ("ferritin > 1000", ["HP:0003281"]),
        ("Na+ 118", ["HP:0002902"]),
        # Stop 30 left "Temp 101 F" unread: Fahrenheit written is converted (100.4 F is 38.0 C, the limit).
        ("Temp 101 F, cough.", ["HP:0001945"]),
        ("Temperature 100.4 °F", ["HP:0001945"]),
        ("Temp 99.5 F.", []),
        ("Na 130 F", []),  # no unit sodium is given in
    ],
)
def test_a_value_past_a_limit_of_every_age_is_read_below_or_above(text: str, expected: list[str]) -> None:
    assert [term for _, _, term in lab_candidates(text, get_term_lookup())] == expected


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # A case report gives the laboratory's own range beside the value: that range judges it, nothing is guessed.
        (
            "Serum CK 350 U/L (normal <200).",
            [("HP:0003236", "Serum CK 350 U/L (normal <200", "present", True)],
        ),
        (
            "His serum CK level was 2,500 IU/L (normal range, 24–195 IU/L) and lactate 4.5 mmol/L (normal 0.5-2.2).",
            [
                ("HP:0003236", "serum CK level was 2,500 IU/L (normal range, 24–195 IU/L", "present", True),
                ("HP:0002151", "lactate 4.5 mmol/L (normal 0.5-2.2", "present", True),
            ],
        ),
        (
            "Ammonia 180 umol/L [N: 11-32]. Albumin 22 g/L (reference range 35-50 g/L). Urea 12 mmol/L (ref 2.5-6.5).",
            [
                ("HP:0001987", "Ammonia 180 umol/L [N: 11-32", "present", True),  # Hyperammonemia
                ("HP:0003073", "Albumin 22 g/L (reference range 35-50 g/L", "present", True),  # Hypoalbuminemia
                ("HP:0003138", "Urea 12 mmol/L (ref 2.5-6.5", "present", True),  # Increased blood urea nitrogen
            ],
        ),
        ("IgG 2.1 g/L (normal > 6).", [("HP:0004315", "IgG 2.1 g/L (normal > 6", "present", True)]),
        # a multiple of the upper limit of normal is high by the note's own words
        (
            "CK was 20 times the upper limit of normal; ALT 5x ULN.",
            [
                ("HP:0003236", "CK was 20 times the upper limit of normal", "present", True),
                ("HP:0031964", "ALT 5x ULN", "present", True),
            ],
        ),
    ],
)
def test_a_value_outside_the_range_the_note_gives_is_read(
    note: str, expected: list[tuple[str, str, str, bool]]
) -> None:
    assert read(note) == expected


@pytest.mark.parametrize(
    "note",
    [
        "CK 150 U/L (normal <200).",  # within its range
        "Glucose 5.1 mmol/L (normal 3.9-5.5).",
        "Hb 7.2 g/dL (normal 12-16 g/L).",  # the range is in another unit: no judgement across units
        "CK <100 U/L (normal <200).",  # a bound below the limit says nothing of a value above it
        "CK 1 times the upper limit of normal.",
    ],
)
def test_a_value_the_range_does_not_place_outside_is_not_read(note: str) -> None:
    assert [hpo for hpo, *_ in read(note)] == []


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # A user test (2026-11-28): results with the range alone in brackets, as case reports give them
        (
            "Hb 82 g/L (115-155), MCV 68 fL (80-100), ferritin 8 ug/L (15-200), platelets 450 x10^9/L (150-400)",
            [
                ("HP:0020062", "Hb 82 g/L (115-155", "present", True),  # Decreased hemoglobin concentration
                ("HP:0025066", "MCV 68 fL (80-100", "present", True),  # Decreased mean corpuscular volume
                ("HP:0012343", "ferritin 8 ug/L (15-200", "present", True),  # Decreased circulating ferritin
                ("HP:0001894", "platelets 450 x10^9/L (150-400", "present", True),  # Thrombocytosis
            ],
        ),
        (
            "Conjugated bilirubin 98 umol/L (<20).",
            [("HP:0002908", "Conjugated bilirubin 98 umol/L (<20", "present", True)],
        ),
        # the sample the note names, and a flag word after a degree
        (
            "The 24-h urinary copper was raised and serum caeruloplasmin was low.",
            [
                ("HP:0010839", "urinary copper was raised", "present", True),  # not circulating copper
                ("HP:0010837", "serum caeruloplasmin was low", "present", True),
            ],
        ),
        (
            "LFTs: ALT mildly raised. Faecal elastase was low. ECG: prolonged QTc.",
            [
                ("HP:0031964", "ALT mildly raised", "present", True),
                ("HP:0034469", "Faecal elastase was low", "present", True),  # Decreased stool elastase level
                ("HP:0005184", "prolonged QTc", "present", True),
            ],
        ),
        # decision limits that hold for every laboratory (each with its source in labs.VALUE_LIMITS)
        ("ECG showed a QTc of 510 ms.", [("HP:0005184", "QTc of 510 ms", "present", True)]),
        ("Renal function is reduced (eGFR 52).", [("HP:0012213", "eGFR 52", "present", True)]),
        ("Echo: ejection fraction of 45%.", [("HP:0012664", "ejection fraction of 45", "present", True)]),
        # a genetics clinic letter's metabolites (a user test): HPO's word for a raised phenylalanine, a locant
        (
            "Plasma phenylalanine 1450 umol/L (ref 35-120)",
            [("HP:0004923", "Plasma phenylalanine 1450 umol/L (ref 35-120", "present", True)],
        ),
        (
            "7-dehydrocholesterol markedly elevated",
            [("HP:0010569", "7-dehydrocholesterol markedly elevated", "present", True)],
        ),
    ],
)
def test_results_a_case_report_gives_are_read(note: str, expected: list[tuple[str, str, str, bool]]) -> None:
    assert read(note) == expected


@pytest.mark.parametrize(
    "note",
    [
        "He had 3 seizures (2-4) per week.",
        "Height 150 cm (145-155).",
        "QTc 440 ms.",
        "EF 60%.",
        "A 6-month-old boy. eGFR 52.",
        # a code review: centiles in brackets are no reference range, another chamber's EF no left ventricle's
        "A 5-year-old boy. Weight 18 kg (50-75), height 110 cm (50-75).",
        "Body weight 28 kg (0.4-2)",
        "BMI 17 kg/m2 (50-75)",
        "Echo: RV EF 40%, LV function normal.",
        "right ventricular ejection fraction 38%, LVEF 62%",
    ],
)
def test_a_bare_range_or_a_limit_places_nothing_outside_here(note: str) -> None:
    assert [hpo for hpo, _, _, from_value in read(note) if from_value] == []
