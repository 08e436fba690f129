"""What a user test of FHIR bundles found the reader got wrong, on the real HPO dictionary (2026-11-28).

Absent and indeterminate values read as present, body measurements and vital signs named in nonsense words,
reference ranges ignored, Conditions not recognised said to be diagnoses (and Conditions the API read as
findings indexed as diagnoses), library words in error messages, FamilyMemberHistory unexplained.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dxsearch.intake import CaseInput, PreparedCase, intake
from dxsearch.intake.account import NOT_A_FINDING
from dxsearch.intake.fhir import LOINC_TERMS, BundleError, parse_bundle
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.pseudonym import Pseudonymiser
from tests.support import fhir_bundle, fhir_condition, fhir_hpo_observation

PSEUDONYMISER = Pseudonymiser("fhir-reading-test-key")
ARACHNODACTYLY = "HP:0001166"
SEIZURE = "HP:0001250"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def read(*resources: dict[str, Any]) -> PreparedCase:
    """The intake of a bundle of patient "p": an Arachnodactyly Observation (so that the case has a finding) and
    ``resources`` (``entry[2]`` on)."""
    bundle = fhir_bundle(_hpo(ARACHNODACTYLY), *resources)
    return intake(CaseInput(bundle=json.dumps(bundle).encode()), pseudonymiser=PSEUDONYMISER, fallback_id="t")


_hpo = fhir_hpo_observation


def _measured(code: str, name: str, value: float, unit: str, flag: str | None = None, **fields: Any) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code, "display": name}]},
        "valueQuantity": {"value": value, "unit": unit},
        "subject": {"reference": "Patient/p"},
        **fields,
    }
    if flag is not None:
        observation["interpretation"] = [{"coding": [{"system": V3, "code": flag}]}]
    return observation


def _said(prepared: PreparedCase, path: str = "entry[2].resource") -> list[tuple[str, str]]:
    return [(m.hpo_id, m.assertion) for m in prepared.account.mapped if m.path == path]


def _why(prepared: PreparedCase, path: str = "entry[2].resource") -> list[str]:
    return [n.reason for n in prepared.account.not_understood if n.path == path]


# -- 1. absent, indeterminate, and a Condition's statuses ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"coding": [{"system": SNOMED, "code": "410516002", "display": "Known absent"}]},
        {"coding": [{"system": SNOMED, "code": "272519000", "display": "Absence findings"}]},
        {"coding": [{"system": SNOMED, "code": "410516002"}]},  # the code alone
        {"text": "Known absent"},
    ],
)
def test_a_finding_valued_known_absent_or_absence_findings_is_absent(value: dict[str, Any]) -> None:
    prepared = read(_hpo(SEIZURE, valueCodeableConcept=value))
    assert _said(prepared) == [(SEIZURE, "absent")]
    assert [f.hpo_id for f in prepared.case.excluded] == [SEIZURE]


@pytest.mark.parametrize(
    "fields",
    [
        {"interpretation": [{"coding": [{"system": V3, "code": "IND"}]}]},
        {"interpretation": [{"coding": [{"system": V3, "code": "E"}]}]},
        {"interpretation": [{"text": "Indeterminate"}]},
        {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "60022001", "display": "Possible diagnosis"}]}},
    ],
)
def test_an_indeterminate_finding_is_uncertain_and_in_no_case(fields: dict[str, Any]) -> None:
    prepared = read(_hpo(SEIZURE, **fields))
    assert _said(prepared) == [(SEIZURE, "uncertain")]
    assert SEIZURE not in {f.hpo_id for f in prepared.case.findings}


def test_a_value_unknown_is_not_read_and_an_indeterminate_lab_is_no_finding() -> None:
    unknown = _hpo(SEIZURE, valueCodeableConcept={"coding": [{"system": SNOMED, "code": "261665006"}]})
    lab = _measured("5196-1", "Hepatitis B surface Ag", 1, "{index}", "IND")
    prepared = read(unknown, lab)
    assert _why(prepared) == ["Observation whose value is unknown (asked, not known): not read"]
    assert _why(prepared, "entry[3].resource") == ["an indeterminate result, neither present nor absent: not read"]
    assert [f.hpo_id for f in prepared.case.findings] == [ARACHNODACTYLY]


@pytest.mark.parametrize(
    ("verification", "clinical", "assertion"),
    [
        ("refuted", None, "absent"),
        ("provisional", None, "uncertain"),
        ("differential", None, "uncertain"),
        ("unconfirmed", None, "uncertain"),
        ("confirmed", "inactive", "historical"),
        ("confirmed", "resolved", "historical"),
        (None, "remission", "historical"),
        ("confirmed", "recurrence", "present"),
        ("confirmed", "active", "present"),
    ],
)
def test_a_conditions_verification_and_clinical_status(
    verification: str | None, clinical: str | None, assertion: str
) -> None:
    prepared = read(fhir_condition("HP:0002650", verification=verification, clinical=clinical))
    assert _said(prepared) == [("HP:0002650", assertion)]


def test_a_condition_status_given_in_words_only_is_read() -> None:
    refuted = {**fhir_condition("HP:0002650"), "verificationStatus": {"text": "Refuted"}}
    resolved = {**fhir_condition("HP:0000098"), "clinicalStatus": {"text": "resolved"}}
    prepared = read(refuted, resolved)
    assert _said(prepared) == [("HP:0002650", "absent")]
    assert _said(prepared, "entry[3].resource") == [("HP:0000098", "historical")]


def test_a_condition_entered_in_error_is_not_read_and_says_so() -> None:
    prepared = read(fhir_condition("HP:0002650", verification="entered-in-error"))
    assert _why(prepared) == ["Condition entered in error (verificationStatus): not read"]
    assert _said(prepared) == []


# -- 3. body measurements, vital signs, glucose; reference ranges ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "flag", "term"),
    [
        ("8287-5", "Head Occipital-frontal circumference by Tape measure", "L", "Microcephaly"),
        ("9843-4", "Head Occipital-frontal circumference", "L", "Microcephaly"),
        ("9843-4", "Head Occipital-frontal circumference", "H", "Macrocephaly"),
        ("8310-5", "Body temperature", "H", "Fever"),
        ("8310-5", "Body temperature", "L", "Hypothermia"),
        ("2339-0", "Glucose [Mass/volume] in Blood", "L", "Hypoglycemia"),
        ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "H", "Hyperglycemia"),
        ("1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma", "L", "Hypoglycemia"),
        ("1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma", "H", "Hyperglycemia"),
        ("8302-2", "Body height", "L", "Short stature"),
        ("8302-2", "Body height", "H", "Tall stature"),
        ("29463-7", "Body weight", "L", "Decreased body weight"),
        ("29463-7", "Body weight", "H", "Increased body weight"),
        ("9279-1", "Respiratory rate", "H", "Tachypnea"),
        ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "L", "Hypoxemia"),
    ],
)
def test_a_body_measurement_or_vital_sign_off_one_way_is_the_term_hpo_names_it_by(
    code: str, name: str, flag: str, term: str
) -> None:
    prepared = read(_measured(code, name, 40, "x", flag))
    assert [m.label for m in prepared.account.mapped if m.path == "entry[2].resource"] == [term]
    assert _why(prepared) == []  # no "no HPO term is named 'decreased circulating head ... concentration'"


def test_every_loinc_term_is_a_live_phenotype_named_as_the_table_says() -> None:
    """The table's ids and names checked against hp.obo, so an HPO release that renames or retires one fails here."""
    knowledge = get_hpo_knowledge()
    for (code, direction), (term_id, name) in LOINC_TERMS.items():
        assert direction in ("high", "low"), code
        assert knowledge.current_id(term_id) == term_id, (code, term_id)
        assert knowledge.term_name(term_id) == name, (code, term_id)
        assert knowledge.is_phenotypic_abnormality(term_id), (code, term_id)


def _creatinine(value: float, **fields: Any) -> dict[str, Any]:
    return _measured("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", value, "mg/dL", **fields)


def _range(low: float | None, high: float | None, **fields: Any) -> list[dict[str, Any]]:
    bounds = {key: {"value": value, "unit": "mg/dL"} for key, value in (("low", low), ("high", high)) if value}
    return [{**bounds, **fields}]


def test_a_value_outside_its_reference_range_is_read_as_off_and_the_account_says_so() -> None:
    prepared = read(
        _creatinine(3.1, referenceRange=_range(0.6, 1.0)), _creatinine(0.2, referenceRange=_range(0.6, None))
    )
    high = next(m for m in prepared.account.mapped if m.path == "entry[2].resource")
    assert high.label == "Elevated circulating creatinine concentration"
    assert high.given == (
        "Creatinine [Mass/volume] in Serum or Plasma: 3.1 mg/dL (high: above the reference range, 0.6–1 mg/dL)"
    )
    low = next(m for m in prepared.account.mapped if m.path == "entry[3].resource")
    assert low.label == "Decreased serum creatinine"
    assert "below the reference range, from 0.6 mg/dL" in (low.given or "")


def test_a_reference_range_is_not_guessed_from() -> None:
    within = _creatinine(0.8, referenceRange=_range(0.6, 1.0))
    interpreted = _creatinine(3.1, referenceRange=_range(0.6, 1.0), interpretation=[{"coding": [{"code": "N"}]}])
    for_some = _creatinine(3.1, referenceRange=_range(0.6, 1.0, appliesTo=[{"text": "female"}]))
    other_unit = _creatinine(3.2, referenceRange=[{"high": {"value": 90, "unit": "umol/L"}}])
    prepared = read(within, interpreted, for_some, other_unit)
    assert _why(prepared) == [
        "Creatinine [Mass/volume] in Serum or Plasma: within the reference range, 0.6–1 mg/dL, a normal result, "
        "no finding"
    ]
    assert _why(prepared, "entry[3].resource") == [
        "Creatinine [Mass/volume] in Serum or Plasma: a normal result, no finding"  # the laboratory's word wins
    ]
    for path in ("entry[4].resource", "entry[5].resource"):  # a range for some patients, or in another unit
        assert _said(prepared, path) == [] and "no interpretation" in _why(prepared, path)[0]


# -- 4. Conditions not recognised, and one reading for every reader ----------------------------------------------


def _text_condition(text: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "code": {"text": text}, "subject": {"reference": "Patient/p"}, **fields}


def test_a_condition_is_read_for_the_terms_its_words_name() -> None:
    prepared = read(_text_condition("Dislocated lens in both eyes"), _text_condition("Jane Doe's tall stature"))
    assert _said(prepared) == [("HP:0001083", "present")]  # Ectopia lentis
    tall = next(m for m in prepared.account.mapped if m.path == "entry[3].resource")
    assert (tall.hpo_id, tall.given) == ("HP:0000098", "tall stature")  # the words beside the term kept nowhere
    assert "Jane" not in prepared.account.model_dump_json() and "Jane" not in prepared.case.model_dump_json()


def test_a_condition_not_recognised_is_said_not_understood_not_a_diagnosis() -> None:
    icd = {
        "resourceType": "Condition",
        "code": {
            "coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I77.810", "display": "Thoracic aortic ectasia"}
            ]
        },
        "subject": {"reference": "Patient/p"},
    }
    prepared = read(icd, _text_condition("Zorblax wibbling"), _text_condition("Marfan syndrome"))
    assert _why(prepared) == [
        "a Condition not understood: hp.obo cross-references no HPO term from its code ICD10CM:I77.810, and its "
        "words name no HPO term nor a disease HPO annotates; not read"
    ]
    assert _why(prepared, "entry[3].resource") == [
        "a Condition not understood: its words name no HPO term nor a disease HPO annotates; not read"
    ]
    # A disease HPO annotates is a diagnosis, as before; words not understood are never kept (``given`` is None).
    assert _why(prepared, "entry[4].resource") == [NOT_A_FINDING]
    assert all(n.given is None for n in prepared.account.not_understood if n.path != "entry[4].resource")


def test_the_index_and_a_case_read_a_snomed_condition_alike() -> None:
    """``corpus-builder validate --explain`` indexed SNOMED CT "Scoliosis" and "Arachnodactyly" Conditions as
    diagnoses, the API read them as findings: the reader of both now maps them (hp.obo's cross-references)."""
    conditions = [
        fhir_condition("298382003", system=SNOMED, text="Scoliosis"),  # read by its words
        fhir_condition("62250003", system=SNOMED, text="Arachnodactyly"),
        fhir_condition("74969002", system=SNOMED),  # no words: hp.obo's cross-reference (Ectopia lentis)
        fhir_condition("154700", system="https://omim.org", text="Marfan syndrome"),
    ]
    (patient,) = parse_bundle(fhir_bundle(*conditions)).patients
    assert [(c.hpo_id, c.codes) for c in patient.conditions] == [
        ("HP:0002650", ("SNOMED:298382003",)),
        (ARACHNODACTYLY, ("SNOMED:62250003",)),
        ("HP:0001083", ("SNOMED:74969002",)),
        (None, ("OMIM:154700",)),  # a disease code: a diagnosis
    ]
    prepared = read(*conditions)
    assert {m.hpo_id for m in prepared.account.mapped} == {ARACHNODACTYLY, "HP:0002650", "HP:0001083"}
    assert _why(prepared, "entry[5].resource") == [NOT_A_FINDING]


# -- 5. error messages in plain words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (
            {"valueQuantity": 5},
            "entry[1].resource.valueQuantity",
            "valueQuantity must be a JSON object (a FHIR Quantity), not a number",
        ),
        (
            {"valueQuantity": "5 cm"},
            "entry[1].resource.valueQuantity",
            "valueQuantity must be a JSON object, not a string",
        ),
        (
            {"interpretation": {"text": "H"}},
            "entry[1].resource.interpretation",
            "interpretation must be a JSON array ([...]), not an object",
        ),
        (
            {"effectiveDateTime": "yesterday"},
            "entry[1].resource.effectiveDateTime",
            "effectiveDateTime must be a FHIR dateTime",
        ),
        (
            {"valueString": "x"},
            "entry[1].resource",
            "Observation holds more than one of valueBoolean, valueString: give one",
        ),
        ({"colour": "red"}, "entry[1].resource.colour", "colour is not an element of a FHIR R4B Observation"),
    ],
)
def test_a_malformed_element_is_named_in_plain_words(change: dict[str, Any], path: str, reason: str) -> None:
    bundle = fhir_bundle(_hpo(ARACHNODACTYLY, valueBoolean=True))
    bundle["entry"][1]["resource"].update(change)  # type: ignore[index]
    with pytest.raises(BundleError) as raised:
        parse_bundle(bundle)
    assert raised.value.path == path
    assert raised.value.reason.startswith(reason), raised.value.reason
    for library in (
        "<class",
        "Invalid JSON",
        "instance of",
        "trailing characters",
        "spec regex",
        ".root",
        "Any of one",
    ):
        assert library not in raised.value.reason and all(library not in p for _, p in raised.value.problems)


def test_a_bundle_without_a_resource_type_is_told_what_a_bundle_says() -> None:
    bundle = fhir_bundle(_hpo(ARACHNODACTYLY))
    del bundle["resourceType"]
    with pytest.raises(BundleError, match='no resourceType: a FHIR Bundle says "resourceType": "Bundle"'):
        parse_bundle(bundle)


# -- 6. FamilyMemberHistory ----------------------------------------------------------------------------------------


def test_a_family_member_history_is_listed_with_why_it_is_not_read() -> None:
    history = {
        "resourceType": "FamilyMemberHistory",
        "status": "completed",
        "patient": {"reference": "Patient/p"},
        "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}]},
        "condition": [{"code": {"coding": [{"system": SNOMED, "code": "298382003", "display": "Scoliosis"}]}}],
    }
    prepared = read(history)
    assert _why(prepared) == [
        "FamilyMemberHistory: a relative's history, not the patient's findings; this reader does not read family "
        "history from it (only Patient, Observation, Condition)"
    ]
    assert "HP:0002650" not in {f.hpo_id for f in prepared.case.findings}


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (None, "entry must be a JSON array of values: entry[0] is null (remove it)"),
        (
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "x"}, None]}}},
            "coding must be a JSON array of values: coding[1] is null (remove it)",
        ),
        (
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "Jane \udfff"}}},
            "text holds a lone UTF-16 surrogate, which is not valid Unicode: send text as UTF-8",
        ),
    ],
)
def test_a_null_item_or_a_lone_surrogate_is_named_as_such(entry: Any, said: str) -> None:
    # A user test read "entry must be a JSON array ([...]), not an array" and "text must be a string, not a
    # string": the library's refusal of a null item and of a lone surrogate, in words that contradicted themselves.
    with pytest.raises(BundleError) as raised:
        parse_bundle({"resourceType": "Bundle", "type": "collection", "entry": [entry]})
    assert said in str(raised.value)
    assert "Jane" not in str(raised.value)  # the text is never quoted
