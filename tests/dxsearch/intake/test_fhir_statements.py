"""What a third user test found the FHIR reader got wrong, on the real HPO dictionary (2026-11-28).

A record saying a finding both present and absent read one way by the API and the other by the index, with no
word of the conflict; abated Conditions, Observations of a fetus, results not yet in and a relative's diagnosis
read as the patient's findings; contained resources unnamed; a dead patient aged to today, a birth year read to the
day; a lowercase HPO code and the HPO root said to match no words; an ICD-10 code of a disease not understood.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpus_builder.validate import explain_path
from dxsearch.intake import CaseInput, PreparedCase, intake
from dxsearch.intake.account import NOT_A_FINDING, NotUnderstood, understood_not_a_finding
from dxsearch.intake.fhir import CONDITION_OF_A_RELATIVE, parse_bundle
from dxsearch.pseudonym import Pseudonymiser
from tests.support import fhir_bundle, fhir_condition, fhir_hpo_observation

PSEUDONYMISER = Pseudonymiser("fhir-statements-test-key")
ARACHNODACTYLY = "HP:0001166"
SCOLIOSIS = "HP:0002650"
SNOMED = "http://snomed.info/sct"


_hpo = fhir_hpo_observation


def _bundle(*resources: dict[str, Any], **patient: Any) -> dict[str, Any]:
    """Patient "p" with an Arachnodactyly Observation (``entry[1]``), then ``resources`` (``entry[2]`` on)."""
    bundle: dict[str, Any] = fhir_bundle(_hpo(ARACHNODACTYLY, valueBoolean=True), *resources)
    bundle["entry"][0]["resource"].update(patient)
    return bundle


def read(bundle: dict[str, Any]) -> PreparedCase:
    return intake(CaseInput(bundle=json.dumps(bundle).encode()), pseudonymiser=PSEUDONYMISER, fallback_id="t")


def _why(prepared: PreparedCase, path: str = "entry[2].resource") -> list[str]:
    return [n.reason for n in prepared.account.not_understood if n.path == path]


def _but_the_patient(prepared: PreparedCase) -> list[NotUnderstood]:
    """The account's listed entries but the Patient's (``entry[0]``, read for age and sex, always listed)."""
    return [n for n in prepared.account.not_understood if n.path != "entry[0].resource"]


def _explained(bundle: dict[str, Any], tmp_path: Path) -> list[str]:
    file = tmp_path / "bundle.json"
    file.write_text(json.dumps(bundle))
    (record,) = explain_path(file)
    return record.lines()


# -- 1. one finding said present and absent: one rule, for every reader, and said -----------------------------


@pytest.mark.parametrize(
    "present",
    [
        fhir_condition("298382003", system=SNOMED, text="Scoliosis"),  # the user test's SNOMED CT Condition
        _hpo(SCOLIOSIS, valueBoolean=True),
    ],
)
def test_present_and_absent_in_one_bundle_keep_present_for_every_reader_and_say_so(
    present: dict[str, Any], tmp_path: Path
) -> None:
    absent = _hpo(SCOLIOSIS, valueBoolean=False)
    absent["code"]["coding"][0]["display"] = "Scoliosis"
    bundle = _bundle(present, absent)
    prepared = read(bundle)
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings if f.hpo_id == SCOLIOSIS] == [(SCOLIOSIS, False)]
    (why,) = _why(prepared, "entry[3].resource")
    assert why.startswith("says Scoliosis (HP:0002650) is absent: contradicts entry[2], which says present; kept:")
    assert [m.assertion for m in prepared.account.mapped if m.hpo_id == SCOLIOSIS] == ["present"]
    # The index (validate --explain reads what a build indexes) keeps the same side, and says why.
    lines = _explained(bundle, tmp_path)
    indexed = [line for line in lines if line.startswith(("  finding", "  excluded")) and SCOLIOSIS in line]
    assert indexed == ["  finding  HP:0002650  Scoliosis"]
    assert f"  ignored  entry[3]: {why}" in lines
    (patient,) = parse_bundle(bundle).patients
    assert [f.hpo_id for f in patient.findings if f.excluded] == []


def test_a_resolved_condition_and_an_absent_observation_keep_the_history() -> None:
    prepared = read(_bundle(fhir_condition(SCOLIOSIS, clinical="resolved"), _hpo(SCOLIOSIS, valueBoolean=False)))
    assert [m.assertion for m in prepared.account.mapped if m.hpo_id == SCOLIOSIS] == ["historical"]
    assert "which says it was present (resolved or inactive)" in _why(prepared, "entry[3].resource")[0]


def test_an_unconfirmed_statement_is_no_side_of_a_contradiction() -> None:
    prepared = read(_bundle(fhir_condition(SCOLIOSIS, verification="provisional"), _hpo(SCOLIOSIS, valueBoolean=False)))
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings if f.hpo_id == SCOLIOSIS] == [(SCOLIOSIS, True)]
    assert _why(prepared, "entry[3].resource") == []


# -- 2-5. abated, about a fetus, no result yet, a relative's ------------------------------------------------------


@pytest.mark.parametrize(
    "abatement",
    [
        {"abatementDateTime": "2019-01-01"},
        {"abatementAge": {"value": 5, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}},
        {"abatementPeriod": {"start": "2018-01-01", "end": "2019-01-01"}},
        {"abatementString": "after surgery"},
    ],
)
def test_an_abated_condition_without_a_clinical_status_is_history(abatement: dict[str, Any]) -> None:
    prepared = read(_bundle({**fhir_condition("HP:0002616"), **abatement}))
    assert [m.assertion for m in prepared.account.mapped if m.path == "entry[2].resource"] == ["historical"]


def test_an_abated_condition_with_a_clinical_status_follows_the_status() -> None:
    prepared = read(_bundle({**fhir_condition("HP:0002616", clinical="recurrence"), "abatementString": "once"}))
    assert [m.assertion for m in prepared.account.mapped if m.path == "entry[2].resource"] == ["present"]


@pytest.mark.parametrize("focus", ["urn:uuid:fetus", "Patient/fetus", "RelatedPerson/mother"])
def test_an_observation_about_another_focus_is_not_the_patients_finding(focus: str) -> None:
    prepared = read(_bundle(_hpo("HP:0000175", valueBoolean=True, focus=[{"reference": focus}])))
    assert "HP:0000175" not in {f.hpo_id for f in prepared.case.findings}
    (why,) = _why(prepared)
    assert "whose focus is" in why and "not the patient" in why and why.endswith("not read")


def test_an_observation_focused_on_the_patient_is_read() -> None:
    prepared = read(_bundle(_hpo("HP:0000175", valueBoolean=True, focus=[{"reference": "Patient/p"}])))
    assert "HP:0000175" in {f.hpo_id for f in prepared.case.findings}


@pytest.mark.parametrize(
    ("status", "read_it"),
    [("registered", False), ("preliminary", True), ("final", True), ("amended", True), ("corrected", True)],
)
def test_an_observation_with_no_result_yet_is_not_read(status: str, read_it: bool) -> None:
    prepared = read(_bundle(_hpo("HP:0004322", valueBoolean=True, status=status)))
    assert ("HP:0004322" in {f.hpo_id for f in prepared.case.findings}) is read_it
    assert _why(prepared) == ([] if read_it else ["Observation with status registered (no result yet): not read"])


@pytest.mark.parametrize("text", ["Father has Marfan syndrome", "Mother has scoliosis"])
def test_a_condition_said_of_a_relative_is_no_diagnosis_nor_finding(text: str, tmp_path: Path) -> None:
    bundle = _bundle({"resourceType": "Condition", "code": {"text": text}, "subject": {"reference": "Patient/p"}})
    prepared = read(bundle)
    assert _why(prepared) == [CONDITION_OF_A_RELATIVE]
    assert [f.hpo_id for f in prepared.case.findings] == [ARACHNODACTYLY]
    lines = _explained(bundle, tmp_path)
    assert not any(line.startswith("  diagnosis") for line in lines)
    assert f"  ignored  entry[2]: {CONDITION_OF_A_RELATIVE}" in lines


# -- 6. contained resources -----------------------------------------------------------------------------------------


def test_a_contained_observation_of_the_patient_is_read_and_a_contained_patient_listed() -> None:
    contained = _hpo("HP:0001659", valueBoolean=True, id="c1")
    del contained["subject"]  # the report's subject is its results' subject
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "Echo"},
        "subject": {"reference": "Patient/p"},
        "contained": [contained],
        "result": [{"reference": "#c1"}],
    }
    strabismus = _hpo("HP:0000486", valueBoolean=True, contained=[{"resourceType": "Patient", "id": "x"}])
    prepared = read(_bundle(report, strabismus))
    assert "HP:0001659" in {f.hpo_id for f in prepared.case.findings}
    assert [m.hpo_id for m in prepared.account.mapped if m.path == "entry[2].resource.contained[0]"] == ["HP:0001659"]
    assert _why(prepared) == [
        "DiagnosticReport: not read (only Patient, Observation, Condition); the Observations and Conditions it "
        "contains are read, each on its own (contained[n])"
    ]
    assert _why(prepared, "entry[3].resource.contained[0]") == [
        "contained[0]: a contained Patient: not read (only the bundle's Patient entries are its patients)"
    ]


def test_a_contained_observation_about_someone_else_is_listed_not_read() -> None:
    contained = _hpo("HP:0001659", valueBoolean=True, id="c1", subject={"reference": "Group/family"})
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "Echo"}, "contained": [contained]}
    prepared = read(_bundle(report))
    assert "HP:0001659" not in {f.hpo_id for f in prepared.case.findings}
    assert "contained[0]: a contained Observation about no patient of this bundle: not read" in _why(
        prepared, "entry[2].resource.contained[0]"
    )


# -- 7. age at death, partial birth dates --------------------------------------------------------------------------


def test_a_dead_patients_age_is_the_age_at_death() -> None:
    (patient,) = parse_bundle(_bundle(birthDate="1950-01-01", deceasedDateTime="1990-01-01")).patients
    assert patient.age == "P40Y"
    # The Patient entry is one item of the account: what it gave, and how the age was counted.
    (item,) = patient.ignored_items
    assert "; Patient.deceasedDateTime: the age is the age at death (P40Y), not today's" in item.reason
    assert (item.path, item.category) == ("entry[0].resource", "age_source")
    assert patient.age_counted_to == "death"


def test_a_dead_patient_without_a_date_of_death_has_no_age() -> None:
    prepared = read(_bundle(birthDate="1950-01-01", deceasedBoolean=True))
    assert prepared.case.age is None
    assert "the age at death is unknown, age not read" in _why(prepared, "entry[0].resource")[0]


@pytest.mark.parametrize(
    ("birth_date", "counted_to", "age", "said"),
    [
        ("2020", "2024-06-01", "P3Y", "gives only a year (2020): age counted from its middle, in whole years"),
        ("2020", "2020-12-31", None, "gives only a year (2020): too young for a year alone to say the age"),
        ("2020-05", "2020-12-31", "P0Y7M", "gives only a month (2020-05): age counted from its middle"),
        ("2020-05", "2020-05-20", None, "gives only a month (2020-05): too young for a month alone"),
        ("2020-05-03", "2020-05-20", "P17D", None),
    ],
)
def test_a_partial_birth_date_says_no_more_than_it_knows(
    birth_date: str, counted_to: str, age: str | None, said: str | None
) -> None:
    (patient,) = parse_bundle(_bundle(birthDate=birth_date), reference_date=_date(counted_to)).patients
    assert patient.age == age
    (note,) = [why for at, why in patient.ignored if at == 0]  # the Patient entry: one item, whatever it gave
    assert note.startswith("the Patient: read for sex and age only, giving ")
    assert said is None or said in note
    # An age counted from a partial date says where the age came from; a date too coarse to say one read nothing.
    assert [i.category for i in patient.ignored_items] == ["age_source" if age else "not_understood"]


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


# -- 8. codes: a lowercase HPO id, the root, an ICD-10 disease -----------------------------------------------------


def test_a_lowercase_hpo_id_in_the_hpo_system_is_read_and_the_root_is_said_too_general() -> None:
    prepared = read(_bundle(_hpo("hp:0002650", valueBoolean=True), _hpo("HP:0000118", valueBoolean=True)))
    assert SCOLIOSIS in {f.hpo_id for f in prepared.case.findings}
    assert _why(prepared) == []
    assert _why(prepared, "entry[3].resource") == [
        "HP:0000118 (Phenotypic abnormality) names a branch of HPO, not a finding: give the finding itself"
    ]


@pytest.mark.parametrize(
    ("code", "display", "codes"),
    [
        ("E84.9", "Cystic fibrosis, unspecified", ("ICD10CM:E84.9", "OMIM:219700", "ORPHA:586")),
        ("Q87.4", None, ("ICD10CM:Q87.4", "OMIM:154700")),
    ],
)
def test_an_icd10_code_of_a_disease_is_read_as_a_diagnosis_as_its_name_is(
    code: str, display: str | None, codes: tuple[str, ...]
) -> None:
    coding = {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}
    if display:
        coding["display"] = display
    condition = {"resourceType": "Condition", "code": {"coding": [coding]}, "subject": {"reference": "Patient/p"}}
    bundle = _bundle(condition)
    assert _why(read(bundle)) == [NOT_A_FINDING]
    (patient,) = parse_bundle(bundle).patients
    assert [c.codes for c in patient.conditions] == [codes]


# -- 9. what the CLI lists under which heading ----------------------------------------------------------------------


def test_diagnoses_duplicates_and_contradictions_are_read_not_not_understood() -> None:
    omim = fhir_condition("154700", system="https://omim.org", text="Marfan syndrome")
    prepared = read(_bundle(omim, _hpo(ARACHNODACTYLY, valueBoolean=True), _hpo(ARACHNODACTYLY, valueBoolean=False)))
    by_path = {n.path: understood_not_a_finding(n) for n in prepared.account.not_understood}
    assert by_path == {
        "entry[0].resource": True,
        "entry[2].resource": True,
        "entry[3].resource": True,
        "entry[4].resource": True,
    }
    categories = {n.path: n.category for n in prepared.account.not_understood}
    assert categories == {
        "entry[0].resource": "age_source",  # the Patient: its sex (and age, when it gives one)
        "entry[2].resource": "diagnosis",
        "entry[3].resource": "repeat",
        "entry[4].resource": "contradicted",
    }
    words = read(
        _bundle({"resourceType": "Condition", "code": {"text": "Zorblax"}, "subject": {"reference": "Patient/p"}})
    )
    assert [understood_not_a_finding(n) for n in _but_the_patient(words)] == [False]
    assert [n.category for n in _but_the_patient(words)] == ["not_understood"]


@pytest.mark.parametrize(
    ("verification", "category"),
    [(None, "diagnosis"), ("provisional", "possible_diagnosis"), ("refuted", "ruled_out_diagnosis")],
)
def test_a_condition_naming_a_diagnosis_says_which_in_its_category(verification: str | None, category: str) -> None:
    omim = fhir_condition("154700", system="https://omim.org", text="Marfan syndrome", verification=verification)
    (item,) = _but_the_patient(read(_bundle(omim)))
    assert (item.path, item.given, item.category) == ("entry[2].resource", "Marfan syndrome", category)
    assert understood_not_a_finding(item)


def test_where_an_age_came_from_is_read_not_not_understood() -> None:
    age = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "30525-0"}]},
        "valueQuantity": {"value": 14, "unit": "a", "code": "a", "system": "http://unitsofmeasure.org"},
        "subject": {"reference": "Patient/p"},
    }
    prepared = read(_bundle(age))
    assert prepared.case.age == "P14Y"
    (item,) = _but_the_patient(prepared)
    assert (item.path, item.category) == ("entry[2].resource", "age_source") and understood_not_a_finding(item)


def test_an_ignored_part_has_the_path_of_the_element_it_is_about_built_not_parsed_from_its_reason() -> None:
    """``fhir.ignored_path`` parsed "contained[0]: ..." and "(component[1])" back out of the reason; a reason that
    said neither (a repeat, a contradiction) named the whole entry. The reader now builds each path where it writes
    the reason: a repeated component and a contradicting contained result are named as such."""
    panel = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Hand examination"},
        "subject": {"reference": "Patient/p"},
        "component": [{"code": _hpo(ARACHNODACTYLY)["code"], "valueBoolean": True}],
    }
    (repeat,) = _but_the_patient(read(_bundle(panel)))
    assert (repeat.path, repeat.category) == ("entry[2].resource.component[0]", "repeat")
    assert repeat.reason == "repeats the finding of entry[1]: counted once"
    contained = _hpo(ARACHNODACTYLY, valueBoolean=False, id="c1")
    del contained["subject"]
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "Exam"}, "contained": [contained]}
    report["subject"] = {"reference": "Patient/p"}
    prepared = read(_bundle(report))
    assert ARACHNODACTYLY in {f.hpo_id for f in prepared.case.observed}
    (contradicted,) = [n for n in prepared.account.not_understood if n.category == "contradicted"]
    assert contradicted.path == "entry[2].resource.contained[0]"
    assert contradicted.reason.startswith("says HP:0001166 is absent: contradicts entry[1], which says present")
    (patient,) = parse_bundle(_bundle(report)).patients
    assert [(i.entry_index, i.path, i.category) for i in patient.ignored_items] == [
        (2, "entry[2].resource.contained[0]", "contradicted"),
        (0, "entry[0].resource", "age_source"),  # the Patient entry, read for its sex
    ]


def test_what_a_withdrawn_or_anothers_resource_contains_is_not_read() -> None:
    """A code review: a report entered in error, or an Observation of a fetus, had its contained result read as the
    patient's finding; and a contained repeat was listed as not understood."""
    contained = _hpo("HP:0001659", valueBoolean=True, id="c1")
    del contained["subject"]
    withdrawn = {
        "resourceType": "DiagnosticReport",
        "status": "entered-in-error",
        "code": {"text": "Echo"},
        "subject": {"reference": "Patient/p"},
        "contained": [contained],
    }
    fetal = _hpo("HP:0000486", valueBoolean=True, focus=[{"reference": "Patient/fetus1"}], contained=[contained])
    for container in (withdrawn, fetal):
        prepared = read(_bundle(container))
        assert "HP:0001659" not in {f.hpo_id for f in prepared.case.findings}
        (why,) = _why(prepared, "entry[2].resource.contained[0]")
        assert why.startswith("contained[0]: not read, since its container is "), why
    repeat = {**withdrawn, "status": "final", "contained": [{**contained, "code": _hpo(ARACHNODACTYLY)["code"]}]}
    prepared = read(_bundle(repeat))
    (item,) = [n for n in prepared.account.not_understood if n.path == "entry[2].resource.contained[0]"]
    assert "repeats the finding" in item.reason and understood_not_a_finding(item)
    assert item.category == "repeat"
