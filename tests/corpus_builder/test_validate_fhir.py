"""``corpus-builder validate --explain`` reads a bundle as a case is read: one reader, the same findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from corpus_builder.cli import app
from corpus_builder.validate import explain_path
from dxsearch.intake import CaseInput, intake
from dxsearch.pseudonym import Pseudonymiser
from tests.support import HPO_SYSTEM, fhir_bundle, fhir_condition

runner = CliRunner()
SNOMED = "http://snomed.info/sct"


def _condition(text: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "code": {"text": text}, "subject": {"reference": "Patient/p"}, **fields}


def _bundle() -> dict[str, object]:
    tall: dict[str, object] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": HPO_SYSTEM, "code": "HP:0000098", "display": "Tall stature"}]},
        "subject": {"reference": "Patient/p"},
    }
    head: dict[str, object] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8287-5", "display": "Head circumference"}]},
        "valueQuantity": {"value": 42, "unit": "cm"},
        "interpretation": [{"coding": [{"code": "L"}]}],
        "subject": {"reference": "Patient/p"},
    }
    absent: dict[str, object] = {
        **tall,
        "code": {"coding": [{"system": HPO_SYSTEM, "code": "HP:0001250"}]},
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "410516002", "display": "Known absent"}]},
    }
    indeterminate: dict[str, object] = {
        **tall,
        "code": {"coding": [{"system": HPO_SYSTEM, "code": "HP:0000252", "display": "Microcephaly"}]},
        "interpretation": [{"coding": [{"code": "IND"}]}],
    }
    return fhir_bundle(
        tall,
        fhir_condition("298382003", system=SNOMED, text="Scoliosis"),
        fhir_condition("62250003", system=SNOMED, text="Arachnodactyly"),
        _condition("Dislocated lens in both eyes"),
        fhir_condition("I77.810", system="http://hl7.org/fhir/sid/icd-10-cm"),
        head,
        fhir_condition("154700", system="https://omim.org", text="Marfan syndrome"),
        absent,
        indeterminate,
        gender="male",
    )


def test_validate_explain_indexes_the_findings_a_case_reads(tmp_path: Path) -> None:
    """A user test: SNOMED CT "Scoliosis" and "Arachnodactyly" Conditions were findings to the API and diagnoses
    to ``validate --explain`` (and the index), which read codes and words each its own way."""
    (tmp_path / "b.json").write_text(json.dumps(_bundle()), encoding="utf-8")
    (record,) = explain_path(tmp_path / "b.json")
    indexed = {hpo_id for _, hpo_id, excluded in record.findings if not excluded}
    prepared = intake(
        CaseInput(bundle=json.dumps(_bundle()).encode()), pseudonymiser=Pseudonymiser("k" * 20), fallback_id="t"
    )
    read = {f.hpo_id for f in prepared.case.findings if not f.excluded}
    assert indexed == read == {"HP:0000098", "HP:0002650", "HP:0001166", "HP:0001083", "HP:0000252"}
    assert record.diagnoses == ("OMIM:154700 Marfan syndrome",)
    # "Known absent" is absent, an indeterminate finding a possibility: in the index as in a case.
    assert ("Seizure", "HP:0001250", True) in record.findings
    assert [f.hpo_id for f in prepared.case.excluded] == ["HP:0001250"]
    assert "entry[9]: an uncertain Observation (Microcephaly): a possibility, not indexed" in record.ignored
    assert [(m.hpo_id, m.assertion) for m in prepared.account.mapped if m.path == "entry[9].resource"] == [
        ("HP:0000252", "uncertain")
    ]
    # The Condition neither reader understood is said to be so, with why, by both.
    (unread,) = [why for why in record.ignored if why.startswith("entry[5]")]
    assert "not understood" in unread and "ICD10CM:I77.810" in unread and "diagnosis" not in unread
    assert [n.reason for n in prepared.account.not_understood if n.path == "entry[5].resource"] == [
        unread.removeprefix("entry[5]: ")
    ]


def test_validate_says_in_plain_words_which_element_is_wrong(tmp_path: Path) -> None:
    bundle = _bundle()
    bundle["entry"][6]["resource"]["valueQuantity"] = 42  # type: ignore[index]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert (
        f"{path}#entry[6].resource.valueQuantity: valueQuantity must be a JSON object (a FHIR Quantity), not a "
        "number (got 42)"
    ) in result.stdout
    assert "<class" not in result.output and "instance of" not in result.output


def test_validate_reads_bundles_as_the_fhir_version_asked(tmp_path: Path) -> None:
    """``--fhir-version``: a bundle read as R4B or R5 on request (auto guesses), and a version nobody has is one line,
    exit 2. An R5 Encounter's ``actualPeriod`` is no R4B element; as R5 the bundle's own R5 errors are told."""
    encounter = {
        "resourceType": "Encounter",
        "status": "completed",
        "class": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}]}],
        "subject": {"reference": "Patient/p"},
        "actualPeriod": {"start": "2024-09-03"},
    }
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p"}, "code": {"text": "Seizures"}}
    bundle = fhir_bundle(encounter, condition)
    path = tmp_path / "r5.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")

    as_r4b = runner.invoke(app, ["validate", str(path), "--fhir-version", "R4B"])
    assert as_r4b.exit_code == 2
    assert "actualPeriod is not an element of a FHIR R4B Encounter" in as_r4b.stdout
    as_r5 = runner.invoke(app, ["validate", str(path), "--fhir-version", "r5"])  # any case
    assert as_r5.exit_code == 2
    assert "clinicalStatus is required and missing" in as_r5.stdout and "R4B" not in as_r5.stdout
    unknown = runner.invoke(app, ["validate", str(path), "--fhir-version", "R6"])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == "error: --fhir-version 'R6': expected one of auto, R4B, R5"
