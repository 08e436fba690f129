"""Misreadings of notes fixed in one pass, each read as ``dxsearch read`` reads a note (real HPO data and readers).

A relative who denies one finding and goes on to say what she has; functions listed before or after "normal"; "BW"
and a thousands comma in a birth weight; a relative described in apposition; consanguinity; a skill lost.
"""

from __future__ import annotations

import pytest

from dxsearch.intake.account import Reading, read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup

HEADACHE, MIGRAINE, SEIZURE = "HP:0002315", "HP:0002076", "HP:0001250"
HEARING_IMPAIRMENT, VISUAL_IMPAIRMENT = "HP:0000365", "HP:0000505"
LARGE_FOR_AGE, SMALL_FOR_AGE = "HP:0001520", "HP:0001518"
REGRESSION, HAND_APRAXIA, LOSS_OF_SPEECH = "HP:0002376", "HP:0032588", "HP:0002371"


def _read(text: str) -> Reading:
    return read_text(text, get_term_lookup(), get_hpo_knowledge(), get_second_reader())


def _said(text: str) -> list[tuple[str, str]]:
    """(id, assertion) of every mapped finding, in order."""
    return [(m.hpo_id, m.assertion) for m in _read(text).mapped]


def _denied_of_a_relative(text: str) -> list[str]:
    reading = _read(text)
    return [
        text[n.span[0] : n.span[1]] for n in reading.not_understood if n.category == "denied_of_a_relative" and n.span
    ]


# 1. "Her mother denies X but has Y": both are the mother's; a denial of the patient's finding stays his absence.


@pytest.mark.parametrize(
    "text",
    [
        "Her mother denies headaches but has migraine.",
        "Her mother denies headaches, but has migraine.",
        "Mother denies headaches; she has migraine.",
    ],
)
def test_a_relative_who_denies_one_finding_and_has_another_speaks_of_herself(text: str) -> None:
    assert _said(text) == [(MIGRAINE, "family_history")]  # the patient has neither
    assert _denied_of_a_relative(text) == ["headaches"]


def test_a_relative_who_has_no_finding_but_has_another_keeps_both() -> None:
    text = "Mum has no hearing loss but has migraine."
    assert _said(text) == [(MIGRAINE, "family_history")]
    assert _denied_of_a_relative(text) == ["hearing loss"]


@pytest.mark.parametrize(
    "text",
    ["Mother denies that he has seizures.", "Mother denies he has seizures.", "Parents deny seizures."],
)
def test_a_relative_denying_the_patients_finding_is_its_absence(text: str) -> None:
    assert _said(text) == [(SEIZURE, "absent")]


def test_what_a_denying_relative_goes_on_to_tell_is_the_patients() -> None:
    assert _said("Mother denies seizures but is worried about his ataxia.") == [
        (SEIZURE, "absent"),
        ("HP:0001251", "present"),
    ]


def test_a_denial_then_the_patient_as_subject_is_the_patients() -> None:
    assert _said("Mother denies headaches but he has migraine.") == [(HEADACHE, "absent"), (MIGRAINE, "present")]
    # "Her mother ...; she ...": "she" is the patient the possessive names
    assert _said("Her mother denies headaches; she has migraine.") == [(HEADACHE, "absent"), (MIGRAINE, "present")]


# 2. Functions listed with "normal" share it.


@pytest.mark.parametrize(
    "text",
    ["Normal hearing and vision.", "Hearing and vision normal.", "Vision and hearing are normal."],
)
def test_functions_listed_together_are_all_said_normal(text: str) -> None:
    assert sorted(_said(text)) == [(HEARING_IMPAIRMENT, "absent"), (VISUAL_IMPAIRMENT, "absent")]


def test_a_function_listed_with_a_finding_is_not_said_normal() -> None:
    assert _said("Hearing and vision were normal at birth.") == []  # dated: says nothing now


# 3. Birth weight abbreviated, and in grams with a thousands comma.


@pytest.mark.parametrize(
    "text", ["BW 4,600 g.", "Birth weight 4,600 g.", "birth weight 4600 g", "BW 4.6 kg.", "BW: 4600g."]
)
def test_a_heavy_birth_weight_as_notes_write_it_is_large_for_gestational_age(text: str) -> None:
    reading = _read(text)
    assert [(m.hpo_id, m.assertion, m.from_value) for m in reading.mapped] == [(LARGE_FOR_AGE, "present", True)]


def test_bw_with_a_position_is_a_birth_weight_against_gestation() -> None:
    assert _said("BW 2.1 kg (-2.5 SD).") == [(SMALL_FOR_AGE, "present")]


@pytest.mark.parametrize("text", ["BW 12 kg.", "BW 12 kg (-2.5 SD).", "BW 5.2 kg at 3 months.", "BW now 6 kg."])
def test_bw_no_newborn_can_weigh_or_dated_after_birth_is_no_birth_weight(text: str) -> None:
    assert _said(text) == []


def test_a_decimal_comma_in_kilograms_stays_a_decimal() -> None:
    assert _said("Birth weight 4,6 kg.") == [(LARGE_FOR_AGE, "present")]
    assert _said("BW 3,2 kg.") == []  # 3.2 kg: no finding


# 4. A relative described in apposition gives no age or sex of the patient, and what follows is the relative's.


def test_a_relative_described_as_a_baby_girl_gives_the_patient_no_sex() -> None:
    reading = _read("His sister, a baby girl, has seizures.")
    assert reading.demographics.sex != "female"
    assert [(m.hpo_id, m.assertion) for m in reading.mapped] == [(SEIZURE, "family_history")]
    assert not [n for n in reading.not_understood if n.category == "not_understood"]


@pytest.mark.parametrize(
    "text", ["Her brother, a 3-year-old boy, has seizures.", "Her brother (a 3-year-old boy) has seizures."]
)
def test_a_relative_described_by_age_and_sex_gives_the_patient_neither(text: str) -> None:
    reading = _read(text)
    assert (reading.demographics.age, reading.demographics.sex) == (None, None)
    assert _said(text) == [(SEIZURE, "family_history")]


def test_the_patients_own_age_and_sex_are_still_read_beside_a_relatives() -> None:
    reading = _read("A 3-year-old boy with seizures. His sister, a baby girl, is well.")
    assert (reading.demographics.age, reading.demographics.sex) == ("P3Y", "male")
    assert _said("The 3-year-old girl has seizures; her brother is well.") == [(SEIZURE, "present")]


# 5. Consanguinity: said of the family, which HPO has no term for; the account says so, denied or stated.


@pytest.mark.parametrize(
    "text", ["Parents deny consanguinity.", "Non-consanguineous parents.", "Born to unrelated parents."]
)
def test_denied_consanguinity_is_listed_as_the_parents_not_being_related(text: str) -> None:
    reading = _read(text)
    assert reading.mapped == ()
    (item,) = reading.not_understood
    assert "the parents are not related" in item.reason and "HPO has no term" in item.reason


def test_consanguinity_is_listed_as_said_of_the_family() -> None:
    (item,) = _read("Consanguineous parents.").not_understood
    assert "parental consanguinity" in item.reason and "not related" not in item.reason


# 6. A lost acquired skill is also Developmental regression; a loss of anything else is not.


@pytest.mark.parametrize(
    ("text", "skill"),
    [
        ("She lost purposeful hand use.", HAND_APRAXIA),
        ("Loss of purposeful hand use at 18 months.", HAND_APRAXIA),
        ("She lost her words at 18 months.", LOSS_OF_SPEECH),
        ("He lost his speech at 2 years.", LOSS_OF_SPEECH),
        ("Speech regression at 2 years.", LOSS_OF_SPEECH),
    ],
)
def test_a_lost_skill_is_also_developmental_regression(text: str, skill: str) -> None:
    assert _said(text) == [(skill, "present"), (REGRESSION, "present")]


def test_the_regression_takes_the_assertion_of_the_skill_lost() -> None:
    assert _said("Her sister lost her words at 2.") == [
        (LOSS_OF_SPEECH, "family_history"),
        (REGRESSION, "family_history"),
    ]
    assert _said("Possible loss of purposeful hand use.") == [(HAND_APRAXIA, "uncertain"), (REGRESSION, "uncertain")]
    # a denied loss denies that loss only: another skill may have been lost
    assert _said("No loss of purposeful hand use.") == [(HAND_APRAXIA, "absent")]


@pytest.mark.parametrize(
    "text",
    [
        "He lost weight.",
        "He lost consciousness.",
        "He was lost to follow-up.",
        "Loss of speech after the stroke.",
        "He lost the ability to walk at 11 years.",
    ],
)
def test_a_loss_of_no_acquired_developmental_skill_is_no_regression(text: str) -> None:
    assert REGRESSION not in [term for term, _ in _said(text)]
