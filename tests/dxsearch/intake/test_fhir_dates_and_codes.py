"""What a user test of FHIR bundles found (2026-11-28, report items 1, 4, 5, 7, 8, 12), on real bundles and the real
readers: an ICD-10 code of several diseases linked to the first one found, an Encounter's date never used for the age
(counted from today, and said to come from the bundle), Fabry laboratory results not understood, the Patient entry
missing from the account, validation telling one problem at a time, an R5 bundle judged by R4B rules.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from dxsearch.intake import CaseInput, PreparedCase, intake
from dxsearch.intake.fhir import BundleError, parse_bundle
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.pseudonym import Pseudonymiser
from tests.support import fhir_bundle, fhir_hpo_observation

PSEUDONYMISER = Pseudonymiser("fhir-dates-and-codes-test-key")
ANGIOKERATOMA = "HP:0001014"
LOINC = "http://loinc.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def read(bundle: dict[str, Any]) -> PreparedCase:
    return intake(CaseInput(bundle=json.dumps(bundle).encode()), pseudonymiser=PSEUDONYMISER, fallback_id="t")


def _icd(code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": ICD10, "code": code, **({"display": display} if display else {})}
    return {"resourceType": "Condition", "code": {"coding": [coding]}, "subject": {"reference": "Patient/p"}}


def _encounter(start: str, *, r5: bool = False) -> dict[str, Any]:
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished",
        "subject": {"reference": "Patient/p"},
    }
    if r5:  # R5: class is a list of CodeableConcepts, the period actualPeriod
        encounter["class"] = [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}]}
        ]
        encounter["actualPeriod"] = {"start": start}
    else:
        encounter["class"] = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
        encounter["period"] = {"start": start}
    return encounter


def _lab(code: str, name: str, value: float, unit: str, flag: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code, "display": name}]},
        "valueQuantity": {"value": value, "unit": unit},
        "interpretation": [{"coding": [{"system": V3, "code": flag}]}],
        "subject": {"reference": "Patient/p"},
    }


# -- item 1: an ICD-10 code the Disease Ontology lists for several diseases links to none ----------------------------


def test_an_icd10_code_of_sixteen_diseases_links_to_none_and_the_account_says_it_is_ambiguous() -> None:
    """E75.2 "Other sphingolipidosis", the WHO code given for Fabry disease: it was read as hypomyelinating
    leukodystrophy 2 (OMIM:608804), the first of the 16 diseases the Disease Ontology lists it for."""
    bundle = fhir_bundle(fhir_hpo_observation(ANGIOKERATOMA), _icd("E75.2", "Other sphingolipidosis"), gender="male")
    (patient,) = parse_bundle(bundle).patients
    assert patient.conditions == ()  # no diagnosis, no OMIM or Orphanet id
    prepared = read(bundle)
    (item,) = [n for n in prepared.account.not_understood if n.path == "entry[2].resource"]
    assert "ICD-10 E75.2 is ambiguous: the Disease Ontology lists it for 16 diseases" in item.reason
    assert "linked to none" in item.reason
    assert "OMIM:608804" not in json.dumps(prepared.account.model_dump())


def test_an_icd10_code_of_several_diseases_links_to_the_one_its_words_name() -> None:
    (patient,) = parse_bundle(fhir_bundle(_icd("E75.2", "Gaucher's disease type I"))).patients
    assert [c.codes for c in patient.conditions] == [("ICD10:E75.2", "OMIM:230800", "ORPHA:77259")]


@pytest.mark.parametrize("display", [None, "Marfan syndrome"])
def test_an_icd10_code_of_one_disease_still_links_to_it(display: str | None) -> None:
    """Q87.4 names Marfan syndrome alone; with its name as display, it was a diagnosis with no OMIM id at all."""
    (patient,) = parse_bundle(fhir_bundle(_icd("Q87.4", display))).patients
    assert [c.codes for c in patient.conditions] == [("ICD10:Q87.4", "OMIM:154700")]


@pytest.mark.parametrize("where", ["text", "display"])
def test_an_icd10_code_of_one_disease_with_words_naming_another_links_to_none(where: str) -> None:
    """A code review: Q87.4 (Marfan syndrome alone) with "Ehlers-Danlos syndrome" was linked to Marfan syndrome
    (OMIM:154700). The words name a disease the code is not listed for: a diagnosis, linked to none."""
    condition = _icd("Q87.4", "Ehlers-Danlos syndrome" if where == "display" else None)
    if where == "text":
        condition["code"]["text"] = "Ehlers-Danlos syndrome"
    bundle = fhir_bundle(fhir_hpo_observation(ANGIOKERATOMA), condition)
    (patient,) = parse_bundle(bundle).patients
    assert [c.codes for c in patient.conditions] == [("ICD10:Q87.4",)]
    assert "OMIM:154700" not in json.dumps(read(bundle).account.model_dump())
    # Its own name, possessive or not, still links it.
    named = _icd("Q87.4")
    named["code"]["text"] = "Marfan's syndrome"
    (patient,) = parse_bundle(fhir_bundle(named)).patients
    assert [c.codes for c in patient.conditions] == [("ICD10:Q87.4", "OMIM:154700")]


# -- item 4: an Encounter's start is a clinical date; an age counted from today says so -----------------------------


def test_the_age_is_counted_to_the_encounter_not_to_today() -> None:
    """05_fabry_r4.json: born 1987-04-22, seen 2024-11-02, no other date: 37 years (it was P39Y, counted to today, and
    validate --explain said there was no date in the bundle)."""
    bundle = fhir_bundle(_encounter("2024-11-02"), fhir_hpo_observation(ANGIOKERATOMA), birth_date="1987-04-22")
    (patient,) = parse_bundle(bundle, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P37Y", "clinical")
    (patient,) = parse_bundle(bundle).patients  # an index build, which never counts to today, has the age too
    assert patient.age == "P37Y"
    prepared = read(bundle)
    (said,) = [n.reason for n in prepared.account.not_understood if n.path == "entry[0].resource"]
    assert "counted to 2024-11-02: the latest clinical date in the bundle (Encounter.period.start of entry[1])" in said
    (encounter,) = [n.reason for n in prepared.account.not_understood if n.path == "entry[1].resource"]
    assert "its start (Encounter.period.start) is a clinical date the age may be counted to" in encounter


def test_a_29_february_birthday_counts_whole_years_to_an_encounter_late_in_the_day() -> None:
    """10_noonan_codes_r4.json: born 2016-02-29, encounter 2025-02-28T23:30:00-05:00: 8 years (it said P10Y)."""
    bundle = fhir_bundle(
        _encounter("2025-02-28T23:30:00-05:00"), fhir_hpo_observation(ANGIOKERATOMA), birth_date="2016-02-29"
    )
    (patient,) = parse_bundle(bundle, today=date(2026, 11, 28)).patients
    assert patient.age == "P8Y"


def test_an_r5_encounters_actual_period_counts_too() -> None:
    bundle = fhir_bundle(
        _encounter("2024-09-03", r5=True), fhir_hpo_observation(ANGIOKERATOMA), birth_date="2021-02-10"
    )
    parsed = parse_bundle(bundle, today=date(2026, 11, 28))
    assert parsed.fhir_version == "R5"
    assert parsed.patients[0].age == "P3Y"


def test_the_latest_clinical_date_wins_an_encounter_after_the_observations() -> None:
    """07_huge300_r4.json: Observations dated 2023, the Encounter 2024-03-01, born 2010-01-01: 14 (it said 13)."""
    dated = fhir_hpo_observation(ANGIOKERATOMA, effectiveDateTime="2023-10-10")
    bundle = fhir_bundle(_encounter("2024-03-01"), dated, birth_date="2010-01-01")
    (patient,) = parse_bundle(bundle, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P14Y", "clinical")
    later = fhir_hpo_observation(ANGIOKERATOMA, effectiveDateTime="2025-01-15")
    (patient,) = parse_bundle(fhir_bundle(_encounter("2024-03-01"), later, birth_date="2010-01-01")).patients
    assert patient.age == "P15Y"  # the Observation is the latest now


def test_an_age_counted_from_today_says_today_not_the_bundle() -> None:
    bundle = fhir_bundle(fhir_hpo_observation(ANGIOKERATOMA), birth_date="2010-01-01")
    (patient,) = parse_bundle(bundle, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P16Y", "today")
    (said,) = [n.reason for n in read(bundle).account.not_understood if n.path == "entry[0].resource"]
    assert "today (no date in the bundle to count the age to)" in said
    assert read(bundle).account.age_from == "today"  # the account's source of the age says it too, not "bundle"
    timestamped = {**bundle, "timestamp": "2024-06-01T00:00:00Z"}
    (patient,) = parse_bundle(timestamped, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P14Y", "timestamp")
    assert (read(timestamped).account.age, read(timestamped).account.age_from) == ("P14Y", "bundle")


def _planned(encounter: dict[str, Any]) -> dict[str, Any]:
    return {**encounter, "status": "planned"}


def test_a_planned_encounter_or_a_date_after_today_never_dates_the_age() -> None:
    """A code review: a planned Encounter starting 2031-06-01 (born 2020-03-01) gave P11Y, counted to "clinical"."""
    bundle = fhir_bundle(
        _planned(_encounter("2031-06-01")), fhir_hpo_observation(ANGIOKERATOMA), birth_date="2020-03-01"
    )
    (patient,) = parse_bundle(bundle, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P6Y", "today")
    prepared = read(bundle)
    (encounter,) = [n.reason for n in prepared.account.not_understood if n.path == "entry[1].resource"]
    assert "is not counted: the Encounter is planned" in encounter
    assert "may be counted to" not in encounter
    # A planned visit beside one made: the one made dates the age.
    both = fhir_bundle(
        _encounter("2024-11-02"),
        _planned(_encounter("2027-01-10")),
        fhir_hpo_observation(ANGIOKERATOMA),
        birth_date="2020-03-01",
    )
    (patient,) = parse_bundle(both, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P4Y", "clinical")
    # A finished Encounter dated after today is not counted to either.
    future = fhir_bundle(_encounter("2031-06-01"), fhir_hpo_observation(ANGIOKERATOMA), birth_date="2020-03-01")
    (patient,) = parse_bundle(future, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P6Y", "today")


def test_an_encounter_before_the_birth_is_no_date_to_count_the_age_to() -> None:
    """A code review: a bundle whose only Encounter was before the birth gave no age, not today's."""
    bundle = fhir_bundle(_encounter("2019-06-01"), fhir_hpo_observation(ANGIOKERATOMA), birth_date="2020-03-01")
    (patient,) = parse_bundle(bundle, today=date(2026, 11, 28)).patients
    assert (patient.age, patient.age_counted_to) == ("P6Y", "today")


# -- item 5: Fabry's laboratory results named as HPO names them -------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "unit", "flag", "term", "label"),
    [
        ("2888-6", "Protein [Mass/volume] in Urine", "mg/dL", "H", "HP:0000093", "Proteinuria"),
        *(
            (code, "eGFR", "mL/min/{1.73_m2}", "L", "HP:0012213", "Decreased glomerular filtration rate")
            for code in ("33914-3", "62238-1", "48642-3", "48643-1", "98979-8")
        ),
        (
            "24086-8",
            "Alpha galactosidase [Enzymatic activity/mass] in Leukocytes",
            "nmol/h/mg",
            "L",
            "HP:0034864",
            "Decreased alpha-galactosidase A activity",
        ),
    ],
)
def test_fabry_laboratory_results_are_named_as_hpo_names_them(
    code: str, name: str, unit: str, flag: str, term: str, label: str
) -> None:
    assert get_hpo_knowledge().term_name(term) == label
    prepared = read(fhir_bundle(fhir_hpo_observation(ANGIOKERATOMA), _lab(code, name, 10, unit, flag)))
    assert [(m.hpo_id, m.label) for m in prepared.account.mapped if m.path == "entry[2].resource"] == [(term, label)]
    assert [n for n in prepared.account.not_understood if n.path == "entry[2].resource"] == []
    # A normal result is no finding, and the account says so.
    normal = read(fhir_bundle(fhir_hpo_observation(ANGIOKERATOMA), _lab(code, name, 10, unit, "N")))
    assert [m for m in normal.account.mapped if m.path == "entry[2].resource"] == []
    (why,) = [n.reason for n in normal.account.not_understood if n.path == "entry[2].resource"]
    assert why == f"{name}: a normal result, no finding"
    # The other way names nothing HPO has a term for: no guess.
    other = {"H": "L", "L": "H"}[flag]
    opposite = read(fhir_bundle(fhir_hpo_observation(ANGIOKERATOMA), _lab(code, name, 10, unit, other)))
    assert term not in {m.hpo_id for m in opposite.account.mapped}


# -- item 12: every entry, the Patient's too, is in the account once -------------------------------------------------


def test_every_entry_of_a_300_entry_bundle_is_in_the_account_once_the_patient_too() -> None:
    """07_huge300_r4.json: 299 of 300 entries were in the account; the Patient was in none."""
    resources: list[dict[str, Any]] = [_encounter("2024-03-01")]
    for k in range(298):
        flag = ("H", "N", "L")[k % 3]
        resources.append(_lab("2888-6", "Protein [Mass/volume] in Urine", 10 + k, "mg/dL", flag))
    bundle = fhir_bundle(*resources, birth_date="2010-01-01", gender="male")
    assert len(bundle["entry"]) == 300  # type: ignore[arg-type]
    account = read(bundle).account
    paths = [m.path for m in account.mapped] + [n.path for n in account.not_understood]
    assert sorted(set(paths)) == sorted(f"entry[{k}].resource" for k in range(300))
    assert paths.count("entry[0].resource") == 1
    (patient,) = [n for n in account.not_understood if n.path == "entry[0].resource"]
    assert patient.category == "age_source"
    assert patient.reason.startswith("the Patient: read for sex and age only, giving sex male (Patient.gender) and age")
    assert account.age == "P14Y"
    assert "2010-01-01" not in patient.reason  # the birth date is never copied out


# -- items 7 and 8: every problem in one pass, an R5 bundle judged as R5 ----------------------------------------------


def test_every_structural_problem_is_told_in_one_pass() -> None:
    """06b_malformed_struct.json: only "entry[0] ... has no resourceType" was told; fixing it showed three more, and
    fixing those the Patient.gender "M"."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"code": {"text": "x"}}},
            {"resource": {"resourceType": "Condition", "code": "HP:0001166"}},
            {"resource": {"resourceType": "Patient", "gender": "M", "birthDate": "15/03/2008"}},
        ],
    }
    with pytest.raises(BundleError) as raised:
        parse_bundle(bundle)
    assert [path for path, _ in raised.value.problems] == [
        "entry[0].resource.resourceType",
        "entry[1].resource.code",
        "entry[1].resource.subject",
        "entry[2].resource.birthDate",
        "entry[2].resource.gender",
    ]
    assert raised.value.path == "entry[0].resource.resourceType"
    assert "(and 4 more errors)" in raised.value.reason
    assert "15/03/2008" not in raised.value.reason  # the reason names no value (it reaches API responses)


def test_an_r5_bundle_is_judged_by_r5_rules() -> None:
    """04_tsc_r5.json: an Encounter with actualPeriod (R5's) and Conditions without clinicalStatus (required in R5)
    was told only "actualPeriod is not an element of a FHIR R4B Encounter", never its R5 errors."""
    condition = {"resourceType": "Condition", "code": {"text": "Seizure"}, "subject": {"reference": "Patient/p"}}
    encounter = {
        "resourceType": "Encounter",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "actualPeriod": {"start": "2024-09-03"},
    }
    with pytest.raises(BundleError) as raised:
        parse_bundle(fhir_bundle(encounter, condition, dict(condition)))
    assert [path for path, _ in raised.value.problems] == [
        "entry[2].resource.clinicalStatus",
        "entry[3].resource.clinicalStatus",
    ]
    assert "(as R5, the version whose elements it uses (entry[1].resource.actualPeriod); also invalid as R4B)" in (
        raised.value.reason
    )
    # Fixed as R5, it is read as R5.
    fixed = {**condition, "clinicalStatus": {"coding": [{"code": "active"}]}}
    parsed = parse_bundle(fhir_bundle(encounter, fixed), today=date(2026, 11, 28))
    assert parsed.fhir_version == "R5" and [c.hpo_id for c in parsed.patients[0].conditions] == ["HP:0001250"]
