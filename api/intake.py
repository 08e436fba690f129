"""From what a caller sends (a note, findings, a FHIR Bundle, a CDS Hooks prefetch) to one ``Case``.

Why here and not in the endpoint: every entry point (``/v1/diagnose`` and the CDS Hooks service) must
make the same decisions: identifiers become keyed pseudonyms before anything else sees them, findings
get HPO ids where their words say which term they mean, markup in labels is refused, and a case with no
observed finding is a 422, not a diagnosis of nothing. Everything here is synchronous and CPU-bound
(FHIR validation, term extraction), so the API runs it in a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from api.schemas import MARKUP_MESSAGE, DiagnoseRequest
from corpus_builder.fhir_bundles import BundleError, ParsedPatient, parse_bundle
from dxsearch.cases import Case, Finding
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import resolve_findings
from dxsearch.pseudonym import Pseudonymiser

#: Pseudonym namespace of patient identifiers given to the API (the trace pseudonymises the result again).
PATIENT_NAMESPACE = "api|patient"
_HPO_ID = re.compile(r"^HP:\d{7}$")

CaseSource = Literal["text", "findings", "bundle"]


class IntakeError(ValueError):
    """The request cannot become a case; ``status`` is the HTTP status, ``path`` points into a bundle."""

    def __init__(self, message: str, *, status: int = 422, path: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path
        self.reason = reason


class NoFindingsError(IntakeError):
    """The case has no observed finding: a 422 for ``/v1/diagnose``, no card for CDS Hooks."""


@dataclass(frozen=True, slots=True)
class PreparedCase:
    """A case ready for the policy; ``identified`` says whether its id stands for a real patient."""

    case: Case
    source: CaseSource
    identified: bool


def prepare_case(request: DiagnoseRequest, *, request_id: str, pseudonymiser: Pseudonymiser) -> PreparedCase:
    """The case a request describes, with findings resolved to HPO terms; raises :class:`IntakeError`."""
    if request.bundle is not None:
        return case_from_bundle(request.bundle, pseudonymiser=pseudonymiser)
    if request.patient_id is not None:
        case_id = pseudonymiser.pseudonym(request.patient_id, PATIENT_NAMESPACE)
    else:
        case_id = f"request:{request_id}"
    findings: list[Finding] = []
    for item in request.findings or ():
        findings.append(_finding(item.label, item.hpo_id, item.excluded))
    source: CaseSource = "text" if request.text is not None else "findings"
    case = Case(
        case_id=case_id,
        sex=request.sex or "unknown",
        age=request.age,
        findings=tuple(findings),
        text=request.text,
    )
    return PreparedCase(_resolved(case, source), source, identified=request.patient_id is not None)


def _finding(label: str, hpo_id: str | None, excluded: bool) -> Finding:
    """A finding with a known HPO id; a bare HPO id as label takes the term's name as its label."""
    if hpo_id is None and _HPO_ID.match(label):
        hpo_id = label
        label = ""
    if hpo_id is not None:
        knowledge = get_hpo_knowledge()
        if not knowledge.has_term(hpo_id):
            raise IntakeError(f"unknown HPO term {hpo_id} (not in the HPO release this server uses)")
        if not label:
            label = knowledge.term_name(hpo_id)
    return Finding(label=label, hpo_id=hpo_id, excluded=excluded)


def _resolved(case: Case, source: CaseSource) -> Case:
    resolved = resolve_findings(case)
    if not resolved.observed:
        if source == "text":
            raise NoFindingsError("no findings recognised in the text: name at least one observed finding")
        raise NoFindingsError("the case has no observed finding: give at least one finding that is present")
    return resolved


def case_from_bundle(payload: Mapping[str, Any], *, pseudonymiser: Pseudonymiser) -> PreparedCase:
    """The case of a Bundle holding exactly one Patient; its id is a pseudonym of the patient's identifiers."""
    try:
        parsed = parse_bundle(payload)
    except BundleError as exc:
        raise IntakeError(
            f"malformed FHIR bundle at {exc.path}: {exc.reason}", path=exc.path, reason=exc.reason
        ) from None
    if len(parsed.patients) != 1:
        raise IntakeError(
            f"the bundle must describe exactly one Patient, it has {len(parsed.patients)}",
            path="entry",
            reason="expected exactly one Patient resource",
        )
    patient = parsed.patients[0]
    for finding in patient.findings:
        if "<" in finding.label or ">" in finding.label:
            raise IntakeError(MARKUP_MESSAGE, path=f"entry[{patient.entry_index}]", reason=MARKUP_MESSAGE)
    case = patient.to_case(patient_case_id(patient, pseudonymiser))
    return PreparedCase(_resolved(case, "bundle"), "bundle", identified=True)


def patient_case_id(patient: ParsedPatient, pseudonymiser: Pseudonymiser) -> str:
    """Pseudonym of the preferred identifier (system + value), else of bundle + resource id, else of content.

    Never the raw identifier: it is PHI, and the case id ends up (pseudonymised once more) in the trace.
    """
    if patient.identifiers:
        system, value = patient.identifiers[0]
        return pseudonymiser.pseudonym(value, f"{PATIENT_NAMESPACE}|identifier|{system}")
    if patient.bundle_id and patient.resource_id:
        return pseudonymiser.pseudonym(f"{patient.bundle_id}/{patient.resource_id}", f"{PATIENT_NAMESPACE}|resource")
    return pseudonymiser.pseudonym(patient.content_hash, f"{PATIENT_NAMESPACE}|content")


def bundle_from_prefetch(prefetch: Mapping[str, Any] | None) -> dict[str, Any]:
    """A collection Bundle from a CDS Hooks prefetch: ``patient`` + ``conditions``/``observations`` searchsets.

    A prefetch may instead hold a ``bundle`` (any Bundle with the Patient and its resources). Prefetch
    values may be null (the client could not fetch them); a missing Patient is a 412, as CDS Hooks asks
    of a service that lacks the data it needs.
    """
    if not prefetch:
        raise IntakeError("the request has no prefetch: this service needs prefetch.patient", status=412)
    whole = prefetch.get("bundle")
    if isinstance(whole, Mapping):
        return dict(whole)
    patient = prefetch.get("patient")
    if not isinstance(patient, Mapping):
        raise IntakeError("prefetch.patient is missing or null: this service needs the Patient resource", status=412)
    if patient.get("resourceType") != "Patient":
        raise IntakeError("prefetch.patient is not a Patient resource", path="prefetch.patient")
    entries: list[dict[str, Any]] = [{"resource": dict(patient)}]
    for key in ("conditions", "observations"):
        value = prefetch.get(key)
        if value is None:
            continue
        for position, resource in enumerate(_resources(value, key)):
            if resource.get("resourceType") in ("Observation", "Condition"):
                entries.append({"resource": resource})
            elif resource.get("resourceType") != "OperationOutcome":
                raise IntakeError(
                    f"prefetch.{key} holds a {resource.get('resourceType')!r} resource",
                    path=f"prefetch.{key}[{position}]",
                )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _resources(value: object, key: str) -> list[dict[str, Any]]:
    """The resources of a prefetch value: a (searchset) Bundle, a list of resources, or one resource."""
    if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
        found: list[dict[str, Any]] = []
        for entry in value.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if isinstance(resource, Mapping):
                found.append(dict(resource))
        return found
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        return [dict(item) for item in value]
    raise IntakeError(f"prefetch.{key} is neither a Bundle nor a list of resources", path=f"prefetch.{key}")
