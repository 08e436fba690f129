"""Ambiguous abbreviations read by the findings beside them, through the note reading the API and CLI use."""

from __future__ import annotations

from dxsearch.intake.account import read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup

ATRIAL_SEPTAL_DEFECT, AUTISM = "HP:0001631", "HP:0000717"
MITRAL_REGURGITATION = "HP:0001653"


def read(note: str) -> list[tuple[str, str, str]]:
    """(id, words, assertion) of every mention the account maps."""
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    return [(m.hpo_id, note[m.span[0] : m.span[1]], m.assertion) for m in reading.mapped if m.span is not None]


def test_asd_beside_a_heart_finding_is_an_atrial_septal_defect() -> None:
    assert (ATRIAL_SEPTAL_DEFECT, "ASD", "present") in read("Echo: small ASD, PDA.")


def test_asd_beside_development_or_behaviour_is_autism() -> None:
    assert (AUTISM, "ASD", "present") in read("Dev: GDD, ASD, ADHD.")
    assert (AUTISM, "ASD", "absent") in read("Global developmental delay, no ASD.")  # the reading's own negation


def test_asd_with_no_finding_beside_it_or_both_kinds_stays_not_understood() -> None:
    for note in ("ASD.", "ASD, VSD and autism.", "Severe MR and seizures; VSD."):
        assert not any(words in ("ASD", "MR") for _, words, _ in read(note)), note


def test_mr_of_an_echo_is_mitral_regurgitation_and_of_a_scan_nothing() -> None:
    assert (MITRAL_REGURGITATION, "MR", "present") in read("Moderate MR on echo with LVH.")
    assert not any(words == "MR" for _, words, _ in read("Seizures. VSD. MR spectroscopy showed a lactate peak."))


def test_cp_beside_heart_or_breathing_is_chest_pain_beside_the_nervous_system_cerebral_palsy() -> None:
    """HPO's own "CP" is Cerebral palsy; an adult's "denies HA, CP, SOB" was read as denying cerebral palsy."""
    assert ("HP:0100749", "CP", "absent") in read("Denies HA, CP, SOB. Palpitations.")  # Chest pain
    assert ("HP:0100021", "CP", "present") in read("Spastic diplegia, seizures, CP.")  # Cerebral palsy


def test_on_ra_is_room_air() -> None:
    assert not any(words == "RA" for _, words, _ in read("Floppy infant, joint laxity, sats 96% on RA."))
