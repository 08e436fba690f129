"""FHIR bundles: round trips through the real fhir.resources models, excluded findings, errors, PHI."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.bundle import Bundle as BundleR5
from fhir.resources.R4B.bundle import Bundle as BundleR4B

from corpus_builder.fhir_bundles import (
    CASE_ID_SYSTEM,
    HPO_SYSTEM,
    OMIM_SYSTEM,
    ORPHA_SYSTEM,
    case_to_bundle,
    describe_age,
    patient_document,
)
from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.corpus import DocumentKind
from dxsearch.intake.fhir import BundleError, FhirVersion, parse_bundle
from dxsearch.pseudonym import Pseudonymiser
from tests.support import fhir_bundle, fhir_condition

PSEUDONYMISER = Pseudonymiser("test-key-for-pseudonyms-0001")

CASE = LabelledCase(
    case=Case(
        case_id="PMID_1_Patient_2",
        sex="female",
        age="P5Y2M",
        findings=(
            Finding(label="Arachnodactyly", hpo_id="HP:0001166"),
            Finding(label="Ectopia lentis", hpo_id="HP:0001083"),
            Finding(label="Intellectual disability", hpo_id="HP:0001249", excluded=True),
        ),
    ),
    gold=GoldDiagnosis(id="OMIM:154700", label="Marfan syndrome"),
    pmid="PMID:12345678",
    genes=("FBN1",),
)


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("version", ["R4B", "R5"])
def test_round_trip(version: FhirVersion) -> None:
    bundle = case_to_bundle(CASE, fhir_version=version)
    # the export is plain JSON that the library itself accepts for that version
    json.dumps(bundle)
    (BundleR5 if version == "R5" else BundleR4B).model_validate(bundle)

    (patient_resource,) = _resources(bundle, "Patient")
    assert patient_resource["gender"] == "female"
    assert patient_resource["identifier"] == [{"system": CASE_ID_SYSTEM, "value": "PMID_1_Patient_2"}]
    assert "name" not in patient_resource
    observations = _resources(bundle, "Observation")
    assert [o["code"]["coding"][0]["system"] for o in observations] == [HPO_SYSTEM] * 3
    assert [o["valueBoolean"] for o in observations] == [True, True, False]
    (condition,) = _resources(bundle, "Condition")
    assert condition["code"]["coding"][0] == {
        "system": OMIM_SYSTEM,
        "code": "154700",
        "display": "Marfan syndrome",
    }

    parsed = parse_bundle(bundle, fhir_version=version)
    assert parsed.fhir_version == version
    (patient,) = parsed.patients
    assert patient.to_case(CASE.case.case_id) == CASE.case
    assert patient.identifiers == ((CASE_ID_SYSTEM, "PMID_1_Patient_2"),)
    assert [(c.label, c.codes) for c in patient.conditions] == [("Marfan syndrome", ("OMIM:154700",))]
    assert patient.publication == "PMID:12345678"


def test_same_case_same_bundle_and_text_or_bytes_payloads() -> None:
    bundle = case_to_bundle(CASE)
    assert case_to_bundle(CASE) == bundle
    as_text = parse_bundle(json.dumps(bundle))
    as_bytes = parse_bundle(json.dumps(bundle).encode("utf-8"))
    assert as_text.patients == as_bytes.patients == parse_bundle(bundle).patients


def test_auto_detects_r4b_only_content() -> None:
    """R4B allows a Condition without clinicalStatus; R5 requires it, so auto must fall back to R4B."""
    bundle = case_to_bundle(CASE, fhir_version="R4B")
    for entry in bundle["entry"]:
        entry["resource"].pop("clinicalStatus", None)
    assert parse_bundle(bundle).fhir_version == "R4B"
    with pytest.raises(BundleError) as raised:
        parse_bundle(bundle, fhir_version="R5")
    assert raised.value.path == "entry[4].resource.clinicalStatus"


def test_orphanet_diagnosis() -> None:
    orpha = CASE.model_copy(update={"gold": GoldDiagnosis(id="ORPHA:558", label="Marfan syndrome")})
    (condition,) = _resources(case_to_bundle(orpha), "Condition")
    assert condition["code"]["coding"][0]["system"] == ORPHA_SYSTEM
    assert parse_bundle(case_to_bundle(orpha)).patients[0].conditions[0].codes == ("ORPHA:558",)


def test_document_lists_observed_and_excluded_findings_and_codes() -> None:
    (patient,) = parse_bundle(case_to_bundle(CASE)).patients
    doc = patient_document(
        patient,
        source="test",
        licence="CC0-1.0",
        pseudonymiser=PSEUDONYMISER,
        origin_namespace="test",
        publication=patient.publication,
    )
    assert doc.kind is DocumentKind.PATIENT_RECORD
    assert doc.title == "Patient record (female, 5 years 2 months)"
    assert doc.text.splitlines() == [
        "Sex: female",
        "Age: 5 years 2 months",
        "Observed findings: Arachnodactyly; Ectopia lentis",
        "Excluded findings: Intellectual disability",
        "Diagnosis: Marfan syndrome (OMIM:154700)",
        "Publication: PMID:12345678",
    ]
    # an excluded feature is not a code the record "has"
    assert doc.metadata.codes == ("OMIM:154700", "HP:0001166", "HP:0001083")
    assert doc.metadata.extra["excluded_hpo"] == ["HP:0001249"]
    same = patient_document(
        patient, source="test", licence="CC0-1.0", pseudonymiser=PSEUDONYMISER, origin_namespace="test"
    )
    assert same.id == doc.id and doc.id.startswith("pt:")
    other_origin = patient_document(
        patient, source="test", licence="CC0-1.0", pseudonymiser=PSEUDONYMISER, origin_namespace="elsewhere"
    )
    assert other_origin.id != doc.id


def _ehr_bundle() -> dict[str, Any]:
    """A hand-written EHR-style R4 bundle: named patient, MRN, birth date, address, notes, labs."""
    return {
        "resourceType": "Bundle",
        "id": "export-7731",
        "type": "collection",
        "timestamp": "2024-06-30T12:00:00Z",
        "entry": [
            {
                "fullUrl": "http://ehr.example/fhir/Patient/pat-5521",
                "resource": {
                    "resourceType": "Patient",
                    "id": "pat-5521",
                    "identifier": [
                        {"use": "old", "system": "urn:oid:9.9.9.1", "value": "OLD-000017"},
                        {"use": "usual", "system": "urn:oid:9.9.9.2", "value": "MRN-88421309"},
                    ],
                    "name": [{"family": "Quixotebottom", "given": ["Jane", "Ermintrude"]}],
                    "telecom": [{"system": "phone", "value": "+1-555-0142"}],
                    "gender": "female",
                    "birthDate": "2019-02-14",
                    "address": [{"line": ["742 Evergreen Terrace"], "city": "Springfield", "postalCode": "49007"}],
                },
            },
            {
                "fullUrl": "urn:uuid:8f0e1c1e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": HPO_SYSTEM, "code": "HP:0001250", "display": "Seizure"}]},
                    "subject": {"reference": "Patient/pat-5521", "display": "Jane Quixotebottom"},
                    "effectiveDateTime": "2024-06-01",
                    "note": [{"text": "Mother Ermintrude reports episodes at 742 Evergreen Terrace"}],
                },
            },
            {
                "fullUrl": "urn:uuid:8f0e1c1e-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": HPO_SYSTEM, "code": "HP:0000252", "display": "Microcephaly"}]},
                    "interpretation": [{"coding": [{"code": "NEG"}]}],
                    "subject": {"reference": "Patient/pat-5521"},
                },
            },
            {
                "fullUrl": "urn:uuid:8f0e1c1e-0000-4000-8000-000000000003",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {
                        "coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin in Blood"}]
                    },
                    "valueQuantity": {"value": 9.1, "unit": "g/dL"},
                    "interpretation": [{"coding": [{"code": "L", "display": "Low"}]}],
                    "subject": {"reference": "Patient/pat-5521"},
                },
            },
            {
                "fullUrl": "urn:uuid:8f0e1c1e-0000-4000-8000-000000000004",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "Clinician comment"},
                    "valueString": "Jane lives with grandmother, call +1-555-0142",
                    "subject": {"reference": "Patient/pat-5521"},
                },
            },
            {
                "fullUrl": "urn:uuid:8f0e1c1e-0000-4000-8000-000000000005",
                "resource": {
                    "resourceType": "Condition",
                    "code": {
                        "coding": [
                            {
                                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                                "code": "G40.909",
                                "display": "Epilepsy",
                            },
                            {"system": "http://snomed.info/sct", "code": "84757009"},
                        ]
                    },
                    "subject": {"reference": "Patient/pat-5521"},
                    "note": [{"text": "Jane Quixotebottom, MRN-88421309"}],
                },
            },
        ],
    }


PHI_STRINGS = [
    "Quixotebottom",
    "Jane",
    "Ermintrude",
    "MRN-88421309",
    "88421309",
    "OLD-000017",
    "pat-5521",
    "export-7731",
    "2019-02-14",
    "2019",
    "Evergreen",
    "Springfield",
    "49007",
    "555-0142",
    "grandmother",
]


def test_phi_never_reaches_the_document() -> None:
    parsed = parse_bundle(_ehr_bundle())
    assert parsed.fhir_version == "R4B"  # no clinicalStatus: valid R4B, invalid R5
    (patient,) = parsed.patients
    doc = patient_document(
        patient,
        source="files",
        licence="supplied by user",
        pseudonymiser=PSEUDONYMISER,
        origin_namespace="site-a",
    )
    dumped = doc.model_dump_json()
    for secret in PHI_STRINGS:
        assert secret not in dumped, secret
    # the identifier is still what the id is made of (usual beats old), never the id itself
    assert patient.identifiers[0] == ("urn:oid:9.9.9.2", "MRN-88421309")
    assert "MRN" not in repr(patient) and "Quixotebottom" not in repr(patient)
    expected_id = PSEUDONYMISER.pseudonym("MRN-88421309", "site-a|identifier|urn:oid:9.9.9.2")
    assert doc.id == f"pt:{expected_id}"
    # what is kept: sex, age from birthDate at the bundle timestamp, coded findings, labs, diagnosis codes
    assert doc.title == "Patient record (female, 5 years)"
    lines = doc.text.splitlines()
    assert "Observed findings: Seizure; Hemoglobin in Blood: 9.1 g/dL (low); Clinician comment" in lines
    assert "Excluded findings: Microcephaly" in lines
    # "Epilepsy" is HPO's word for Seizure: a finding of the patient, as a case read from this bundle says (one
    # reading of a bundle), said once; the low hemoglobin is HPO's Decreased hemoglobin concentration.
    assert not any(line.startswith("Diagnosis:") for line in lines)
    assert doc.metadata.codes == ("HP:0001250", "HP:0020062")


def test_age_from_birth_date_needs_a_reference_date() -> None:
    bundle = _ehr_bundle()
    del bundle["timestamp"]
    # falls back to the latest clinical date in the record (2024-06-01)
    assert parse_bundle(bundle).patients[0].age == "P5Y"
    assert parse_bundle(bundle, reference_date=date(2020, 3, 1)).patients[0].age == "P1Y0M"
    for entry in bundle["entry"]:
        entry["resource"].pop("effectiveDateTime", None)
    assert parse_bundle(bundle).patients[0].age is None


def test_bundle_errors_point_into_the_bundle() -> None:
    bundle = case_to_bundle(CASE)
    bad = copy.deepcopy(bundle)
    bad["entry"][2]["resource"]["valueBoolean"] = "sometimes"
    with pytest.raises(BundleError) as raised:
        parse_bundle(bad)
    assert raised.value.path == "entry[2].resource.valueBoolean"
    assert "boolean" in raised.value.reason and "\n" not in raised.value.reason

    unknown = copy.deepcopy(bundle)
    unknown["entry"][1]["resource"]["resourceType"] = "Observashun"
    with pytest.raises(BundleError, match=r"unknown .* resource type 'Observashun'") as raised:
        parse_bundle(unknown)
    assert raised.value.path == "entry[1].resource.resourceType"

    dangling = copy.deepcopy(bundle)
    dangling["entry"][3]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    with pytest.raises(BundleError) as raised:
        parse_bundle(dangling)
    assert raised.value.path == "entry[3].resource.subject.reference"

    with pytest.raises(BundleError, match="resourceType is 'Patient', expected 'Bundle'"):
        parse_bundle({"resourceType": "Patient"})
    with pytest.raises(BundleError, match="line 1 column"):
        parse_bundle('{"resourceType": "Bundle", ')


def test_age_wording() -> None:
    assert describe_age("P5Y2M") == "5 years 2 months"
    assert describe_age("P1Y") == "1 year"
    assert describe_age("P0Y3M") == "3 months"
    assert describe_age("P10D") == "10 days"
    assert describe_age("P93Y") == "90 years or older"
    assert describe_age(None) == describe_age("five") == "age unknown"


def test_an_indexed_patient_is_diagnosed_only_by_confirmed_disease_conditions() -> None:
    """An HPO-coded Condition is a phenotype of the indexed patient; a provisional diagnosis is no diagnosis
    (its code would make the patient vote for a disease nobody confirmed)."""
    bundle = fhir_bundle(
        fhir_condition("HP:0001250"),
        fhir_condition("154700", system="https://omim.org", text="Marfan syndrome", verification="provisional"),
        gender="male",
    )
    (patient,) = parse_bundle(bundle).patients
    doc = patient_document(
        patient, source="files", licence="supplied by user", pseudonymiser=PSEUDONYMISER, origin_namespace="t"
    )
    lines = doc.text.splitlines()
    assert "Observed findings: Seizure" in lines  # named by its term: the Condition had no display
    assert "Possible diagnosis (unconfirmed): Marfan syndrome (OMIM:154700)" in lines
    assert not any(line.startswith("Diagnosis:") for line in lines)
    assert doc.metadata.codes == ("HP:0001250",)


def test_validate_explain_names_an_unconfirmed_hpo_condition_it_does_not_index(tmp_path: Path) -> None:
    from corpus_builder.validate import explain_path

    bundle = fhir_bundle(
        fhir_condition("HP:0000252", verification="provisional"), fhir_condition("HP:0001250"), gender="male"
    )
    (tmp_path / "b.json").write_text(json.dumps(bundle), encoding="utf-8")
    (record,) = explain_path(tmp_path / "b.json")
    assert record.findings == (("Seizure", "HP:0001250", False),)
    assert record.ignored[1:] == ("entry[1]: an unconfirmed Condition (HP:0000252): a possibility, not indexed",)
    assert record.ignored[0].startswith("entry[0]: the Patient: read for sex and age only")  # every entry is listed
