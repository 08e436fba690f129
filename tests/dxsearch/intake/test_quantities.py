"""Findings stated as numbers, read through the intake on the real HPO dictionary."""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, intake
from dxsearch.intake.account import read_text
from dxsearch.intake.quantities import quantity_candidates
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.pseudonym import Pseudonymiser

PSEUDONYMISER = Pseudonymiser("quantities-test-key")


def present(note: str) -> list[tuple[str, str]]:
    """(HPO id, assertion) of every term the intake's reading of a note maps (a note may name none)."""
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    return [(m.hpo_id, m.assertion) for m in reading.mapped]


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("Head circumference was 42 cm (-3 SD).", "HP:0000252"),  # Microcephaly
        ("OFC 52 cm (+2.5 SD).", "HP:0000256"),  # Macrocephaly: a decimal point ends no sentence
        ("Height 3.2 SD below the mean.", "HP:0004322"),  # Short stature
        ("Length 45 cm (<P3).", "HP:0004322"),
        ("Height 192 cm, above the 97th centile.", "HP:0000098"),  # Tall stature
        ("Weight was below the 3rd centile.", "HP:0004325"),  # Decreased body weight
        ("He was born at 39 weeks with a birth weight of 1800 g (-2.4 SD).", "HP:0001518"),  # Small for GA (at term)
        ("Birth length 44 cm (<3rd centile).", "HP:0003561"),
        ("She walked independently at 3 years.", "HP:0031936"),  # Delayed ability to walk
        ("At 18 months he was not yet walking.", "HP:0031936"),
        ("He sat unsupported at 12 months.", "HP:0025336"),  # Delayed ability to sit
        ("He spoke his first words at 4 years.", "HP:0000750"),  # Delayed speech and language development
        ("Full-scale IQ was 55.", "HP:0001256"),  # Mild intellectual disability
        ("IQ 40", "HP:0002342"),  # Moderate
    ],
)
def test_a_value_beyond_the_normal_range_names_its_finding(note: str, expected: str) -> None:
    assert present(note) == [(expected, "present")]


@pytest.mark.parametrize(
    "note",
    [
        "Head circumference 50 cm (-1 SD).",
        "Height was on the 50th centile.",
        "He walked at 13 months.",
        "She sat at 7 months.",
        "His IQ is 95.",
        "Weight 12 kg.",  # a value without a reference names nothing
    ],
)
def test_a_value_within_the_normal_range_names_nothing(note: str) -> None:
    assert quantity_candidates(note) == []
    assert present(note) == []


def test_a_denied_finding_stays_denied_whatever_the_value_says() -> None:
    # The value is within range here, so only the word is read, and the cue denies it.
    assert present("No microcephaly (OFC -1 SD).") == [("HP:0000252", "absent")]
    assert present("No microcephaly; OFC -3 SD.") == [("HP:0000252", "absent"), ("HP:0000252", "present")]


def test_a_finding_stated_as_a_value_keeps_its_words_as_its_label() -> None:
    prepared = intake(CaseInput(text="OFC 46 cm (-2.5 SD), seizures."), pseudonymiser=PSEUDONYMISER, fallback_id="t")
    assert [(f.label, f.hpo_id) for f in prepared.case.findings] == [
        ("OFC 46 cm (-2.5 SD)", "HP:0000252"),
        ("seizures", "HP:0001250"),
    ]


def test_the_account_says_which_findings_were_read_from_a_value() -> None:
    reading = read_text(
        "Microcephaly. Height 100 cm (-3 SD); he walked at 3 years.",
        get_term_lookup(),
        get_hpo_knowledge(),
        get_second_reader(),
    )
    assert [(m.hpo_id, m.from_value) for m in reading.mapped] == [
        ("HP:0000252", False),  # named in the words
        ("HP:0004322", True),
        ("HP:0031936", True),
    ]


def test_a_findings_list_item_stated_as_a_value_is_mapped() -> None:
    prepared = intake(
        CaseInput(findings=(FindingInput(label="OFC -2.5 SD"),)), pseudonymiser=PSEUDONYMISER, fallback_id="t"
    )
    assert [(m.hpo_id, m.path) for m in prepared.account.mapped] == [("HP:0000252", "findings[0]")]
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0000252"]


@pytest.mark.parametrize(
    "note",
    [
        "Height 120 cm (50th centile), OFC 48 cm (-1 SD).",  # each measurement against its own value
        "OFC 48 cm, within 2 SD of the mean.",
        "Head circumference was normal (mean ± 2 SD).",
        "OFC between -1 and -2 SD.",
        "Weight dropped by 2.5 SD over 6 months.",  # how far, not which side
        "Palpebral fissure length below the 3rd centile.",  # not the body's length
        "Stretched penile length 2.0 cm (-3 SD).",
        "Target height 150 cm (-2.3 SD).",
        "Height 2 SD below mid-parental height.",
        "IQ 2 SD below the mean.",
        "Lost the ability to walk at 5 years.",
        "We expect him to walk by 2 years.",
        "He was sitting at 2 years in his wheelchair.",
        "OFC at birth 32 cm (−2.4 SD), now 48 cm (0 SD).",  # followed over time: the last value
        "OFC 50 cm (mean +/- 2 SD).",
        "Height 150 cm (normal range +- 2 SD).",
        "Length of femur -3 SD.",
        "Height 140 cm (-0.5 SD), previously -2.5 SD.",  # the latest value
        "Predicted adult height 150 cm (-2.5 SD).",
        "Weight 30 kg (91st-98th centile).",
        "Verbal IQ 65, performance IQ 90.",  # a subscale is not the IQ
    ],
)
def test_numbers_that_place_no_measurement_of_the_patient_beyond_the_range_name_nothing(note: str) -> None:
    assert quantity_candidates(note) == []


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("Height 120 cm (50th centile), OFC 48 cm (-3 SD).", [("HP:0000252", "present")]),
        ("IQ at 7 years was 62.", [("HP:0001256", "present")]),  # the age is not the IQ
        ("OFC dropped from +1 SD at birth to -2.5 SD at 2 years.", [("HP:0000252", "present")]),
        ("Height SDS -2.8.", [("HP:0004322", "present")]),
        ("OFC 56 cm (P99.6).", [("HP:0000256", "present")]),
        ("His brother walked at 3 years.", [("HP:0031936", "family_history")]),
        ("Mother's IQ is 65.", [("HP:0001256", "family_history")]),
        ("Review if not walking by 18 months.", [("HP:0031936", "uncertain")]),
        (
            "He cannot walk and does not speak; he does not make eye contact.",
            [
                ("HP:0002540", "present"),
                ("HP:0001344", "present"),
                ("HP:0000817", "present"),
            ],
        ),
        ("His brother cannot walk.", [("HP:0002540", "family_history")]),
        # A colon or "s.d." inside the stated value ends no sentence.
        ("OFC: -3 SD.", [("HP:0000252", "present")]),
        ("IQ: 55.", [("HP:0001256", "present")]),
        ("OFC 42 cm (-3 s.d.).", [("HP:0000252", "present")]),
        ("He walked at age 3 (late).", [("HP:0031936", "present")]),
        ("Weight 2.1 kg at birth (-2.5 SD).", [("HP:0001518", "present")]),
        ("He cannot walk and has seizures.", [("HP:0002540", "present"), ("HP:0001250", "present")]),
        ("Height 170 cm (+2.5 SD), mother is 178 cm.", [("HP:0000098", "present")]),
        ("He started walking at 2.5 years.", [("HP:0031936", "present")]),
        ("Walking: 28 months.", [("HP:0031936", "present")]),
        ("He was not sitting until 15 months.", [("HP:0025336", "present")]),
        ("She lost the ability to walk at 5 years.", [("HP:0002505", "present")]),
    ],
)
def test_stated_values_and_abilities_are_read_with_their_assertion(note: str, expected: list[tuple[str, str]]) -> None:
    assert present(note) == expected


@pytest.mark.parametrize(
    "note",
    [
        "The family does not speak English.",
        "He does not speak in full sentences.",
        "He cannot walk long distances without tiring.",
        "Unable to walk on heels.",
        "Does not speak or understand English.",
        "No speech, language or hearing concerns.",
    ],
)
def test_a_missing_ability_is_read_only_when_the_phrase_ends_there(note: str) -> None:
    assert present(note) == []


def test_adversarial_spacing_reads_in_linear_time() -> None:
    """Whitespace after an age once made the milestone pattern backtrack (k^4): 800 spaces took minutes."""
    assert quantity_candidates("at 1" + " " * 5000 + "x") == []


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("A 2-year-old girl who is not yet walking.", [("HP:0031936", "present")]),
        ("14-month-old boy. He cannot sit unsupported.", [("HP:0025336", "present")]),
        ("3-year-old. Walking: not yet. Talking: not yet.", [("HP:0031936", "present"), ("HP:0000750", "present")]),
        ("2-year-old boy. His brother is not yet walking.", []),  # his age is not the patient's
        # Not yet due at the patient's age: a typical child, no finding.
        ("14-month-old boy who is not yet walking.", []),
        ("A 12-month-old who cannot walk yet and does not speak.", []),
        # No age: the reading cannot tell a delay, and says nothing.
        ("She is not yet walking.", []),
        # Then, not now; or a relative's: the patient's age now does not date it.
        ("A 4-year-old girl. At 10 months she was not yet walking; she walked at 13 months.", []),
        ("Her brother, a 2-year-old, is not yet walking.", []),
    ],
)
def test_a_milestone_not_reached_is_read_against_the_patients_age(note: str, expected: list[tuple[str, str]]) -> None:
    assert present(note) == expected


def test_the_age_the_caller_gave_dates_the_milestones_of_a_note() -> None:
    def findings(age: str | None) -> list[str | None]:
        payload = CaseInput(text="He is not yet walking. Seizures.", age=age)
        prepared = intake(payload, pseudonymiser=PSEUDONYMISER, fallback_id="case-1")
        return [f.hpo_id for f in prepared.case.findings]

    assert findings("P2Y") == ["HP:0031936", "HP:0001250"]
    assert findings("P1Y") == ["HP:0001250"]
    assert findings(None) == ["HP:0001250"]
    # A findings list is dated by the same age: at 12 months "cannot walk" is no Inability to walk.
    for age, expected in (("P12M", None), ("P2Y", "HP:0002540")):
        payload = CaseInput(findings=(FindingInput(label="cannot walk"), FindingInput(label="Seizure")), age=age)
        prepared = intake(payload, pseudonymiser=PSEUDONYMISER, fallback_id="case-1")
        assert prepared.case.findings[0].hpo_id == expected


def test_an_examination_template_item_is_read_with_its_value() -> None:
    """ "Hearing: impaired": the colon ends a sentence for the dictionary, so subject and value are read together."""
    note = "Examination:\nHearing: impaired\nReflexes: brisk\nLiver: enlarged\nScoliosis: no\nVision: normal"
    assert present(note) == [
        ("HP:0000365", "present"),  # Hearing impairment
        ("HP:0001348", "present"),  # Brisk reflexes
        ("HP:0002240", "present"),  # Hepatomegaly
        ("HP:0002650", "absent"),  # a denial stays the dictionary's reading
    ]


MULTIPLE_CALMS, CALM = "HP:0007565", "HP:0000957"


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # A user test (2026-11-28): counts of cafe-au-lait spots were read as a single spot. A count that says as
        # many as HPO's "Multiple X" asks for is that term, read from a value (six or more, by the definition).
        (">6 cafe-au-lait macules", [(MULTIPLE_CALMS, "6 cafe-au-lait macules")]),
        ("more than six café-au-lait spots", [(MULTIPLE_CALMS, "more than six café-au-lait spots")]),
        ("6 or more CALMs", [(MULTIPLE_CALMS, "6 or more CALMs")]),
        ("At least 6 cafe au lait macules.", [(MULTIPLE_CALMS, "At least 6 cafe au lait macules")]),
        ("≥6 CALMs; 6+ CALMs.", [(MULTIPLE_CALMS, "6 CALMs"), (MULTIPLE_CALMS, "6+ CALMs")]),
        ("Six cafe-au-lait macules.", [(MULTIPLE_CALMS, "Six cafe-au-lait macules")]),
        ("More than two lipomas.", [("HP:0001012", "More than two lipomas")]),  # Multiple lipomas
        ("2 or more exostoses", [("HP:0002762", "2 or more exostoses")]),  # Multiple exostoses
        # fewer than the definition asks, a number alone where it states none, a size, a type: the finding itself
        ("3 cafe-au-lait macules", [(CALM, "cafe-au-lait macules")]),
        ("Two lipomas were excised.", [("HP:0012032", "lipomas")]),
        ("A 2 cm cafe-au-lait macule.", [(CALM, "cafe-au-lait macule")]),
        ("Type 2 cafe-au-lait spots.", [(CALM, "cafe-au-lait spots")]),
        # An upper bound is no count of many (code review: "fewer than 6" read Multiple cafe-au-lait spots).
        ("Fewer than 6 cafe-au-lait macules, so NF1 criteria not met.", [(CALM, "cafe-au-lait macules")]),
        ("<6 CALMs", [(CALM, "CALMs")]),
        ("No more than 6 CALMs.", [(CALM, "CALMs")]),
    ],
)
def test_a_count_reads_multiple_as_the_term_defines_it(note: str, expected: list[tuple[str, str]]) -> None:
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(m.hpo_id, note[m.span[0] : m.span[1]]) for m in reading.mapped if m.span] == expected
    assert all(m.from_value == (m.hpo_id != CALM and m.hpo_id != "HP:0012032") for m in reading.mapped)


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # A user test (2026-11-28): "ht" was no measurement's name, so the OFC took the height's centile and read as
        # normal; an abbreviation before a measurement's number is the height or the weight, and a BMI or an arm span
        # ends the words of the measurement before it.
        ("O/E: OFC 47.5 cm (-2.8 SD), ht 110 cm (25th centile).", [("HP:0000252", "present")]),
        ("O/E: OFC 47.5 cm (-2.8 SD), height 110 cm (25th centile).", [("HP:0000252", "present")]),
        ("Ht 95 cm (-3.1 SD), wt 14 kg (25th centile).", [("HP:0004322", "present")]),
        ("OFC 49 cm (50th centile), wt: 9.1 kg (-2.4 SD).", [("HP:0004325", "present")]),
        ("OFC 47.5 cm (-2.8 SD), BMI 15 (25th centile).", [("HP:0000252", "present")]),
        ("OFC 47 cm (-2.6 SD), arm span 110 cm (50th centile).", [("HP:0000252", "present")]),
    ],
)
def test_an_abbreviated_or_unread_measurement_ends_the_one_before_it(
    note: str, expected: list[tuple[str, str]]
) -> None:
    assert present(note) == expected


@pytest.mark.parametrize(
    "note",
    [
        "HT 140/90 on two readings.",  # hypertension's blood pressure, not a height
        "The wt allele was not detected.",  # wild type
        "Weight 30 kg, BMI 32 (>99th centile).",  # the BMI's centile, not the weight's
    ],
)
def test_ht_and_wt_without_a_measurements_number_name_no_measurement(note: str) -> None:
    assert quantity_candidates(note) == []


def test_spaces_after_ht_read_in_linear_time() -> None:
    """The first look for a number after "ht" backtracked in square time over spaces: 20,000 took 25 s."""
    assert quantity_candidates("ht" + " " * 20_000 + "x") == []


def test_a_birth_weight_of_4_5_kg_or_more_is_large_for_gestational_age() -> None:
    """A Sotos letter (a user test): 4.5 kg is above the 90th centile at any gestation; a lighter weight, whose
    centile depends on the gestation, names nothing."""
    assert present("Birth weight 4.6 kg.") == [("HP:0001520", "present")]
    assert present("Birth weight 4600 g.") == [("HP:0001520", "present")]
    assert present("Birth weight 3.9 kg.") == []


def test_a_later_time_after_at_birth_dates_a_measurement_anew() -> None:
    """ "large at birth (...) and ... overgrowth since infancy: height +3.1 SD" is tall stature now, not a birth length
    large for gestational age; a measurement the sentence dates to birth still is one."""
    note = "He was large at birth (birth weight 4.6 kg) and has had overgrowth since infancy: height +3.1 SD."
    found = {hpo_id for hpo_id, assertion in present(note) if assertion == "present"}
    assert {"HP:0001520", "HP:0000098"} <= found  # Large for gestational age (the weight), Tall stature (the height)
    assert [c[2] for c in quantity_candidates(note)] == ["HP:0001520", "HP:0000098"]
    assert [c[2] for c in quantity_candidates("Growth parameters at birth were length 44 cm (-2.5 SD).")] == [
        "HP:0003561"
    ]
