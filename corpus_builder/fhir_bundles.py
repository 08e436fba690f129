"""FHIR Bundles out, and patient records into documents: the writer side of :mod:`dxsearch.intake.fhir`.

Every patient record the builder indexes (a user's FHIR export or a published phenopacket) is read by
:func:`dxsearch.intake.fhir.parse_bundle` and becomes a document through :func:`patient_document`, so
there is exactly one place that decides what of a record may reach the index: sex, age, findings,
diagnoses and a public PMID. Identifiers only feed a keyed pseudonym.

Encoding choices of :func:`case_to_bundle` (read back by ``parse_bundle``):

* Bundle ``type`` is ``collection`` (no server semantics; a transaction would need
  ``request`` entries). ``fullUrl`` values are ``urn:uuid:`` UUIDv5s derived from
  the case id, so the same case always yields the same bundle.
* Findings: one ``Observation`` per finding, ``code`` = HPO coding,
  ``valueBoolean`` true when observed and false when explicitly excluded.
* Age: a ``Patient.extension`` (:data:`AGE_EXTENSION_URL`) with ``valueString``
  holding the ISO 8601 duration unchanged (``P5Y2M``); a quantity would lose
  the exact form.
* Publication: ``Patient.meta.source`` = ``https://pubmed.ncbi.nlm.nih.gov/<n>/``.
* Diagnosis: a ``Condition`` (clinicalStatus active, verificationStatus
  confirmed, required by R5) coded with OMIM / Orphanet systems.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from fhir_core.fhirabstractmodel import FHIRAbstractModel

from dxsearch.cases import Finding, LabelledCase
from dxsearch.corpus import Document, DocumentKind, DocumentMetadata
from dxsearch.intake.fhir import (
    AGE_EXTENSION_URL,
    ISO_DURATION,
    FhirVersion,
    ParsedCondition,
    ParsedPatient,
    fhir_model_class,
)
from dxsearch.pseudonym import Pseudonymiser

CASE_ID_SYSTEM = "urn:dxsearch:case-id"
HPO_SYSTEM = "http://purl.obolibrary.org/obo/hp.owl"
OMIM_SYSTEM = "https://omim.org"
ORPHA_SYSTEM = "https://www.orpha.net"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/"
_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
#: CURIE prefix -> the system URI written by :func:`case_to_bundle`.
_PREFIX_TO_SYSTEM: dict[str, str] = {
    "OMIM": OMIM_SYSTEM,
    "ORPHA": ORPHA_SYSTEM,
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "SNOMED": "http://snomed.info/sct",
    "MONDO": "http://purl.obolibrary.org/obo/mondo.owl",
}
_PMID = re.compile(r"^(?:PMID:)?(\d+)$")
#: Ages at or above this many years are shown as "90 years or older" (HIPAA safe harbour).
_AGE_CAP_YEARS = 90


def case_to_bundle(labelled: LabelledCase, *, fhir_version: FhirVersion = "R4B") -> dict[str, Any]:
    """Encode a labelled case as a FHIR ``collection`` Bundle, validated by ``fhir.resources``.

    Building through the library's models means an invalid bundle fails here,
    at the producer, and the returned JSON is the library's own export.
    """
    model_class = fhir_model_class(fhir_version)
    case = labelled.case
    patient_url = _urn(case.case_id, "patient")
    subject = {"reference": patient_url}

    patient_fields: dict[str, Any] = {
        "identifier": [{"system": CASE_ID_SYSTEM, "value": case.case_id}],
        "gender": case.sex,
    }
    if case.age is not None:
        if not ISO_DURATION.match(case.age):
            raise ValueError(f"case {case.case_id}: age {case.age!r} is not an ISO 8601 duration")
        patient_fields["extension"] = [{"url": AGE_EXTENSION_URL, "valueString": case.age}]
    if labelled.pmid is not None:
        match = _PMID.match(labelled.pmid.strip())
        if match is None:
            raise ValueError(f"case {case.case_id}: pmid {labelled.pmid!r} is not PMID:<digits>")
        patient_fields["meta"] = {"source": f"{PUBMED_URL}{match.group(1)}/"}

    entries: list[tuple[str, FHIRAbstractModel]] = [(patient_url, model_class("Patient")(**patient_fields))]
    for number, finding in enumerate(case.findings):
        code: dict[str, Any] = {"text": finding.label}
        if finding.hpo_id is not None:
            code["coding"] = [{"system": HPO_SYSTEM, "code": finding.hpo_id, "display": finding.label}]
        observation = model_class("Observation")(
            status="final", code=code, subject=subject, valueBoolean=not finding.excluded
        )
        entries.append((_urn(case.case_id, f"finding-{number}"), observation))

    condition = model_class("Condition")(
        clinicalStatus={"coding": [{"system": _CONDITION_CLINICAL, "code": "active"}]},
        verificationStatus={"coding": [{"system": _CONDITION_VERIFICATION, "code": "confirmed"}]},
        code={
            "coding": [_curie_to_coding(labelled.gold.id, labelled.gold.label)],
            "text": labelled.gold.label,
        },
        subject=subject,
    )
    entries.append((_urn(case.case_id, "diagnosis"), condition))

    bundle = model_class("Bundle")(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{CASE_ID_SYSTEM}:{case.case_id}")),
        type="collection",
        entry=[{"fullUrl": url, "resource": resource} for url, resource in entries],
    )
    exported: dict[str, Any] = json.loads(bundle.model_dump_json())
    return exported


def _urn(case_id: str, part: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{CASE_ID_SYSTEM}:{case_id}#{part}')}"


def _curie_to_coding(curie: str, display: str) -> dict[str, str]:
    prefix, sep, local = curie.partition(":")
    system = _PREFIX_TO_SYSTEM.get(prefix.upper())
    if not sep or not local or system is None:
        known = ", ".join(sorted(_PREFIX_TO_SYSTEM))
        raise ValueError(f"diagnosis {curie!r} is not a CURIE with a known prefix ({known})")
    return {"system": system, "code": local, "display": display}


def patient_document(
    parsed_patient: ParsedPatient,
    *,
    source: str,
    licence: str,
    pseudonymiser: Pseudonymiser,
    origin_namespace: str,
    publication: str | None = None,
) -> Document:
    """The indexable patient record: sex, age, findings, diagnoses, and a public PMID if given.

    The id is ``pt:<pseudonym>`` of the preferred identifier (system + value,
    within ``origin_namespace``), else of bundle id + Patient id, else of the
    content hash, so a rebuild gives the same id and nothing reversible.
    Only observed HPO ids and diagnosis CURIEs go into ``codes``: an excluded
    feature listed there would make a code filter match its opposite.
    """
    patient = parsed_patient
    findings = indexed_findings(patient)
    observed = [f for f in findings if not f.excluded]
    excluded = [f for f in findings if f.excluded]
    diseases = [c for c in patient.conditions if c.hpo_id is None]
    diagnoses = [c for c in diseases if not c.refuted and not c.unconfirmed]
    possible = [c for c in diseases if c.unconfirmed and not c.refuted]
    ruled_out = [c for c in diseases if c.refuted]
    age_text = describe_age(patient.age)
    sex_text = patient.sex if patient.sex != "unknown" else "sex unknown"

    lines = [f"Sex: {patient.sex}", f"Age: {age_text}"]
    if observed:
        lines.append("Observed findings: " + "; ".join(f.label for f in observed))
    if excluded:
        lines.append("Excluded findings: " + "; ".join(f.label for f in excluded))
    if diagnoses:
        lines.append("Diagnosis: " + "; ".join(_condition_text(c) for c in diagnoses))
    if possible:
        lines.append("Possible diagnosis (unconfirmed): " + "; ".join(_condition_text(c) for c in possible))
    if ruled_out:
        lines.append("Ruled out: " + "; ".join(_condition_text(c) for c in ruled_out))
    if publication:
        lines.append(f"Publication: {publication}")

    codes: list[str] = []
    for code in [*(c for d in diagnoses for c in d.codes), *(f.hpo_id for f in observed if f.hpo_id)]:
        if code not in codes:
            codes.append(code)
    extra: dict[str, Any] = {
        "sex": patient.sex,
        "age": _capped_age(patient.age),
        "fhir_version": patient.fhir_version,
        "observed_count": len(observed),
        "excluded_count": len(excluded),
        "excluded_hpo": [f.hpo_id for f in excluded if f.hpo_id],
    }
    if publication:
        extra["publication"] = publication
    return Document(
        id=f"pt:{patient.pseudonym(pseudonymiser, origin_namespace)}",
        kind=DocumentKind.PATIENT_RECORD,
        title=f"Patient record ({sex_text}, {age_text})",
        text="\n".join(lines),
        metadata=DocumentMetadata(source=source, licence=licence, codes=tuple(codes), extra=extra),
    )


def indexed_findings(patient: ParsedPatient) -> list[Finding]:
    """What an indexed patient record says the patient has or has not: its Observations' findings, then those of
    its HPO-coded Conditions not already said, each named by its term when coded without words.

    The build and ``validate --explain`` both read it, so the explanation is what the index holds.
    """
    said = {f.hpo_id for f in patient.findings if f.hpo_id}
    conditions = [f for f in _condition_findings(patient.conditions) if f.hpo_id not in said]  # said once
    return [_named_finding(f) for f in [*patient.findings, *conditions]]


def _named_finding(finding: Finding) -> Finding:
    """A finding coded without a display or text is indexed by its term's name, not its id."""
    if finding.hpo_id is None or finding.label != finding.hpo_id:
        return finding
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    knowledge = get_hpo_knowledge()
    current = knowledge.current_id(finding.hpo_id)
    return finding.model_copy(update={"label": knowledge.term_name(current)}) if current else finding


def _condition_findings(conditions: Iterable[ParsedCondition]) -> list[Finding]:
    """The findings of Conditions coded in HPO (a phenotype, not a diagnosis): excluded when refuted; an
    unconfirmed one is no finding. Only a Condition naming a disease is a diagnosis of the indexed patient."""
    return [
        Finding(label=c.label, hpo_id=c.hpo_id, excluded=c.refuted)
        for c in conditions
        if c.hpo_id is not None and not (c.unconfirmed and not c.refuted)
    ]


def _condition_text(condition: ParsedCondition) -> str:
    return f"{condition.label} ({', '.join(condition.codes)})" if condition.codes else condition.label


def _duration_parts(age: str | None) -> tuple[int, int, int, int] | None:
    match = ISO_DURATION.match(age or "")
    if match is None:
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return years, months, weeks, days


def _capped_age(age: str | None) -> str | None:
    parts = _duration_parts(age)
    if parts is None:
        return None
    return f"P{_AGE_CAP_YEARS}Y" if parts[0] >= _AGE_CAP_YEARS else age


def describe_age(age: str | None) -> str:
    """``P5Y2M`` -> ``5 years 2 months``; 90 and over -> ``90 years or older``; unknown -> ``age unknown``."""
    parts = _duration_parts(age)
    if parts is None:
        return "age unknown"
    years, months, weeks, days = parts
    if years >= _AGE_CAP_YEARS:
        return f"{_AGE_CAP_YEARS} years or older"
    words = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((years, "year"), (months, "month"), (weeks, "week"), (days, "day"))
        if n
    ]
    return " ".join(words) if words else "0 days"
