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


NAUSEA, VOMITING, DIARRHEA, HEADACHE, DYSPNEA = "HP:0002018", "HP:0002013", "HP:0002014", "HP:0002315", "HP:0002094"


def test_symptom_initials_are_read_letter_by_letter() -> None:
    """A user test (2026-11-28): "N/V" and "n/v/d" were in no part of the account; each letter is its symptom."""
    assert read("Seizures, N/V.")[1:] == [(NAUSEA, "N", "present"), (VOMITING, "V", "present")]
    assert read("Seizures, n/v/d.")[1:] == [
        (NAUSEA, "n", "present"),
        (VOMITING, "v", "present"),
        (DIARRHEA, "d", "present"),
    ]
    assert read("No N/V. D&V for 2 days.") == [
        (NAUSEA, "N", "absent"),
        (VOMITING, "V", "absent"),
        (DIARRHEA, "D", "present"),
        (VOMITING, "V", "present"),
    ]


def test_initials_that_are_no_symptoms_are_not_read() -> None:
    """A limb's neurovascular status, mixed case, letters without vomiting, a path: nothing is read."""
    for note in ("Distal N/V intact.", "Seizures, N/v.", "Seizures, N/D.", "See notes/v/d2."):
        assert not any(term in (NAUSEA, VOMITING, DIARRHEA) for term, _, _ in read(note)), note


def test_ha_is_a_headache_beside_the_symptoms_of_a_history_and_nothing_alone_or_beside_hearing() -> None:
    """ "4yo with N/V and HA x3 days" read only the age; "HA" beside hearing is a hearing aid, alone anything."""
    note = "4yo with N/V and HA x3 days, photophobia. SOB."
    assert read(note) == [
        (NAUSEA, "N", "present"),
        (VOMITING, "V", "present"),
        (HEADACHE, "HA", "present"),
        ("HP:0000613", "photophobia", "present"),
        (DYSPNEA, "SOB", "present"),
    ]
    assert (HEADACHE, "HA", "absent") in read("Denies HA, CP, SOB. Palpitations.")
    for unread in ("HA.", "Bilateral SNHL, wears HAs."):
        assert not any(words.startswith("HA") for _, words, _ in read(unread)), unread


HEPATITIS, INTELLECTUAL_DISABILITY, UTI = "HP:0012115", "HP:0001249", "HP:0000010"


def test_an_abbreviation_the_note_defines_means_its_long_form_wherever_it_is_used() -> None:
    """Stop 30 left "Hepatitis A (HA)" read as a headache beside it; the note itself says what "HA" is."""
    note = "Known hepatitis A (HA) infection last month. Jaundice. No HA since."
    read_note = read(note)
    assert HEADACHE not in {term for term, _, _ in read_note}
    assert (HEPATITIS, "HA", "absent") in read_note  # the later use, in its own context
    assert not any(span_words == "HA" and assertion == "present" for _, span_words, assertion in read_note)
    defined_once = "Intellectual disability (ID) and seizures. ID was severe."
    assert (INTELLECTUAL_DISABILITY, "ID", "present") in read(defined_once)
    assert (UTI, "UTIs", "absent") in read("Recurrent urinary tract infections (UTIs). No UTIs since.")


def test_a_short_form_whose_long_form_names_no_finding_names_none() -> None:
    """ "Hearing aids (HA)": the note has said that its "HA" is no headache, whatever symptom stands beside it."""
    assert read("Hearing aids (HA) fitted. HA and vomiting.") == [(VOMITING, "vomiting", "present")]


def test_the_defining_parentheses_are_no_second_mention_and_are_not_listed_unread() -> None:
    note = "Global developmental delay (GDD) at 2 years."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [note[m.span[0] : m.span[1]] for m in reading.mapped if m.span] == ["Global developmental delay"]
    assert not any(n.span and n.span[0] <= note.index("GDD") < n.span[1] for n in reading.not_understood)


def test_an_undefined_abbreviation_is_still_read_by_its_context() -> None:
    assert (HEADACHE, "HA", "present") in read("4yo with N/V and HA x3 days.")
