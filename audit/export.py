"""Exports: JSONL (one record per line, chain fields included) and FHIR R4B ``AuditEvent`` + ``Provenance``.

Why two formats: JSONL is the lossless form (an auditor can re-verify the chain from it with
:func:`audit.chain.record_hash`); FHIR is what hospital audit repositories and IHE BALP-style tooling
ingest. Each record becomes one ``AuditEvent`` (who asked, when, for which patient pseudonym, with what
outcome, and the full trace as an entity detail) and one ``Provenance`` (the decision was produced by
model M from index I using evidence documents D₁…Dₙ). Resources are built through ``fhir.resources.R4B``
so every exported resource has passed the library's validation.

The code systems below that start with ``urn:dxsearch:`` are local to this product (AuditEvent.type and
the identifier systems are extensible bindings); a deployment that has registered URIs can change them
here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import TextIO

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.provenance import Provenance

from audit.access import AccessEvent
from audit.canonical import canonical_text
from audit.models import AuditRecord, format_timestamp

SYSTEM_EVENT_TYPE = "urn:dxsearch:audit-event-type"
SYSTEM_ACTOR = "urn:dxsearch:actor"
SYSTEM_ROLE = "urn:dxsearch:role"
SYSTEM_PATIENT_PSEUDONYM = "urn:dxsearch:patient-pseudonym"
SYSTEM_REQUEST = "urn:dxsearch:request-id"
SYSTEM_MODEL_VERSION = "urn:dxsearch:model-version"
SYSTEM_INDEX_VERSION = "urn:dxsearch:index-version"
SYSTEM_EVIDENCE_DOCUMENT = "urn:dxsearch:evidence-document"
SYSTEM_AUDIT_RECORD = "urn:dxsearch:audit-record"

_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SECURITY_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
_PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#: AuditEvent.purposeOfEvent of an access, by its purpose (v3 ActReason: treatment, operations, break the glass).
_PURPOSE_CODES = {
    "treatment": ("TREAT", "treatment"),
    "audit": ("HOPERAT", "healthcare operations"),
    "break-glass": ("BTG", "break the glass"),
}
#: AuditEvent.subtype of an access (FHIR restful interactions; a pseudonym lookup is a search by identifier,
#: a verification or a refused call of a route that reads no record an operation).
_ACCESS_SUBTYPES = {
    "read": ("read", "read"),
    "search": ("search-type", "search type"),
    "export": ("search-type", "search type"),
    "pseudonym-lookup": ("search-type", "search type"),
    "verify": ("operation", "operation"),
    "operation": ("operation", "operation"),
}

#: Outcomes that mean the decision failed (AuditEvent.outcome "8", serious failure); any other outcome,
#: "insufficient evidence" included, is a completed decision ("0").
FAILURE_OUTCOMES = frozenset({"error", "failed", "failure", "rejected", "timeout"})

# Namespace for deriving the Provenance id from the record id: stable across exports, distinct from the
# AuditEvent id so both can sit in one Bundle.
_PROVENANCE_NAMESPACE = uuid.UUID("6b0c3f8e-4a59-5d1e-9a43-2f7d0c9b8e11")


def record_to_jsonl_line(record: AuditRecord) -> str:
    """One JSONL line (no newline): sorted keys, UTF-8 text, compact separators."""
    return json.dumps(record.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write records as JSONL; returns how many were written."""
    count = 0
    for record in records:
        out.write(record_to_jsonl_line(record))
        out.write("\n")
        count += 1
    return count


def provenance_id(record: AuditRecord) -> str:
    return str(uuid.uuid5(_PROVENANCE_NAMESPACE, record.record_id))


def _detail(kind: str, value: str) -> dict[str, object]:
    return {"type": kind, "valueString": value}


def _actor(record: AuditRecord) -> dict[str, object]:
    return {
        "type": {"coding": [{"system": _SECURITY_ROLE_TYPE, "code": "humanuser", "display": "human user"}]},
        "role": [{"coding": [{"system": SYSTEM_ROLE, "code": record.actor_role}], "text": record.actor_role}],
        "who": {"identifier": {"system": SYSTEM_ACTOR, "value": record.actor_id}},
        "requestor": True,
    }


def _source() -> dict[str, object]:
    return {
        "observer": {"display": "DxSearch audit log"},
        "type": [{"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }


def _patient_entity(pseudonym: str) -> dict[str, object]:
    """The patient a record is about, by pseudonym only: an AuditEvent entity of type Person, role Patient."""
    return {
        "what": {"identifier": {"system": SYSTEM_PATIENT_PSEUDONYM, "value": pseudonym}},
        "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
    }


def access_to_audit_event(record: AuditRecord, event: AccessEvent) -> AuditEvent:
    """The FHIR R4B AuditEvent of an access event: action ``R`` (read), the records read as entities.

    Shaped like IHE BALP's read and query events: type ``rest``, subtype the restful interaction, the
    purpose of use (treatment, operations, or break-the-glass with its reason), the reader as the
    requesting agent, and each record read as a ``Report`` entity (with the patient pseudonym when the
    read was of one patient's records).
    """
    subtype_code, subtype_display = _ACCESS_SUBTYPES[event.action]
    purpose_code, purpose_display = _PURPOSE_CODES[event.purpose]
    entities: list[dict[str, object]] = []
    if record.patient_pseudonym is not None:
        entities.append(_patient_entity(record.patient_pseudonym))
    entities.extend(
        {
            "what": {"identifier": {"system": SYSTEM_AUDIT_RECORD, "value": record_id}},
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": _OBJECT_ROLE, "code": "3", "display": "Report"},
        }
        for record_id in event.records
    )
    details = [_detail("seq", str(record.seq)), _detail("hash", record.hash), _detail("request_id", record.request_id)]
    if event.route is not None:
        details.append(_detail("route", event.route))
    if event.filters:
        details.append(_detail("filters", canonical_text(event.filters)))
    entities.append(
        {
            "what": {
                "identifier": {"system": SYSTEM_AUDIT_RECORD, "value": record.record_id},
                "display": f"Access event, audit record {record.seq}",
            },
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
            "detail": details,
        }
    )
    purpose: dict[str, object] = {"coding": [{"system": _ACT_REASON, "code": purpose_code, "display": purpose_display}]}
    if event.reason is not None:
        purpose["text"] = event.reason
    return AuditEvent.model_validate(
        {
            "id": record.record_id,
            "type": {"system": _AUDIT_EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
            "subtype": [{"system": _RESTFUL_INTERACTION, "code": subtype_code, "display": subtype_display}],
            "action": "R",
            "recorded": format_timestamp(record.created_at),
            "outcome": "4" if event.denied else "0",  # minor failure: the read was refused
            "outcomeDesc": f"{event.action} ({event.purpose})" + (": denied" if event.denied else ""),
            "purposeOfEvent": [purpose],
            "agent": [{**_actor(record), "purposeOfUse": [purpose]}],
            "source": _source(),
            "entity": entities,
        }
    )


def to_audit_event(record: AuditRecord) -> AuditEvent:
    """The FHIR R4B AuditEvent of one record (validated by ``fhir.resources``): a decision or an access."""
    access = AccessEvent.from_record(record)
    if access is not None:
        return access_to_audit_event(record, access)
    recorded = format_timestamp(record.created_at)
    entities: list[dict[str, object]] = []
    if record.patient_pseudonym is not None:
        entities.append(_patient_entity(record.patient_pseudonym))
    entities.append(
        {
            "what": {
                "identifier": {"system": SYSTEM_AUDIT_RECORD, "value": record.record_id},
                "display": f"Diagnostic trace, audit record {record.seq}",
            },
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": _OBJECT_ROLE, "code": "3", "display": "Report"},
            "name": f"trace {record.request_id}",
            "detail": [
                _detail("seq", str(record.seq)),
                _detail("hash", record.hash),
                _detail("prev_hash", record.prev_hash),
                _detail("request_id", record.request_id),
                _detail("model_version", record.model_version),
                _detail("index_version", record.index_version),
                _detail("outcome", record.outcome),
                _detail("diagnoses", canonical_text([d.to_json() for d in record.diagnoses])),
                _detail("evidence_ids", canonical_text(list(record.evidence_ids))),
                _detail("trace", canonical_text(record.trace)),
            ],
        }
    )
    return AuditEvent.model_validate(
        {
            "id": record.record_id,
            "type": {"system": SYSTEM_EVENT_TYPE, "code": "diagnostic-decision", "display": "Diagnostic decision"},
            "action": "E",
            "recorded": recorded,
            "outcome": "8" if record.outcome.lower() in FAILURE_OUTCOMES else "0",
            "outcomeDesc": record.outcome,
            "agent": [
                {
                    "type": {"coding": [{"system": _SECURITY_ROLE_TYPE, "code": "humanuser", "display": "human user"}]},
                    "role": [
                        {"coding": [{"system": SYSTEM_ROLE, "code": record.actor_role}], "text": record.actor_role}
                    ],
                    "who": {"identifier": {"system": SYSTEM_ACTOR, "value": record.actor_id}},
                    "requestor": True,
                },
                {
                    "type": {
                        "coding": [
                            {"system": _SECURITY_ROLE_TYPE, "code": "dataprocessor", "display": "data processor"}
                        ]
                    },
                    "who": {
                        "identifier": {"system": SYSTEM_MODEL_VERSION, "value": record.model_version},
                        "display": f"DxSearch {record.model_version}",
                    },
                    "requestor": False,
                },
            ],
            "source": {
                "observer": {"display": "DxSearch audit log"},
                "type": [{"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}],
            },
            "entity": entities,
        }
    )


def to_provenance(record: AuditRecord) -> Provenance:
    """The FHIR R4B Provenance of one record: what produced the decision, from which evidence."""
    recorded = format_timestamp(record.created_at)
    entities: list[dict[str, object]] = [
        {
            "role": "source",
            "what": {
                "identifier": {"system": SYSTEM_INDEX_VERSION, "value": record.index_version},
                "display": "Evidence index",
            },
        }
    ]
    entities.extend(
        {"role": "source", "what": {"identifier": {"system": SYSTEM_EVIDENCE_DOCUMENT, "value": doc_id}}}
        for doc_id in record.evidence_ids
    )
    return Provenance.model_validate(
        {
            "id": provenance_id(record),
            "target": [
                {
                    "reference": f"AuditEvent/{record.record_id}",
                    "identifier": {"system": SYSTEM_REQUEST, "value": record.request_id},
                    "display": "DxSearch diagnostic decision",
                }
            ],
            "occurredDateTime": recorded,
            "recorded": recorded,
            "activity": {
                "coding": [{"system": _DATA_OPERATION, "code": "CREATE", "display": "create"}],
                "text": "differential diagnosis",
            },
            "agent": [
                {
                    "type": {"coding": [{"system": _PARTICIPANT_TYPE, "code": "assembler", "display": "Assembler"}]},
                    "who": {
                        "identifier": {"system": SYSTEM_MODEL_VERSION, "value": record.model_version},
                        "display": f"DxSearch {record.model_version}",
                    },
                },
                {
                    "type": {"coding": [{"system": _PARTICIPANT_TYPE, "code": "enterer", "display": "Enterer"}]},
                    "role": [{"coding": [{"system": SYSTEM_ROLE, "code": record.actor_role}]}],
                    "who": {"identifier": {"system": SYSTEM_ACTOR, "value": record.actor_id}},
                },
            ],
            "entity": entities,
        }
    )


def to_fhir(record: AuditRecord) -> tuple[AuditEvent] | tuple[AuditEvent, Provenance]:
    """The FHIR resources of one record: AuditEvent and Provenance of a decision, the AuditEvent of an access."""
    if AccessEvent.from_record(record) is not None:
        return (to_audit_event(record),)
    return to_audit_event(record), to_provenance(record)


def write_fhir_ndjson(records: Iterable[AuditRecord], out: TextIO) -> int:
    """FHIR Bulk Data style NDJSON: an AuditEvent line (then a Provenance line for a decision) per record.

    Returns how many records were written.
    """
    count = 0
    for record in records:
        for resource in to_fhir(record):
            out.write(resource.model_dump_json(exclude_none=True))
            out.write("\n")
        count += 1
    return count


def fhir_bundle(records: Iterable[AuditRecord]) -> Bundle:
    """A ``collection`` Bundle holding the resources of each record (for small exports and API replies)."""
    entries: list[dict[str, object]] = []
    for record in records:
        for resource in to_fhir(record):
            full_url = record.record_id if isinstance(resource, AuditEvent) else provenance_id(record)
            entries.append({"fullUrl": f"urn:uuid:{full_url}", "resource": resource})
    return Bundle.model_validate({"type": "collection", "entry": entries})
