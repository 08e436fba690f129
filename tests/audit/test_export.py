"""Exports: JSONL is lossless (the chain can be recomputed from it); FHIR resources validate in fhir.resources."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.provenance import Provenance

from audit import AuditEntry, AuditQuery, Diagnosis, SqliteAuditStore
from audit.canonical import canonical_bytes, sha256_hex
from audit.chain import GENESIS_HASH
from audit.export import fhir_bundle, provenance_id, to_fhir, write_fhir_ndjson, write_jsonl

Filler = Callable[[SqliteAuditStore, int], None]


def test_jsonl_export_is_lossless_and_the_chain_recomputes_from_it(store: SqliteAuditStore, fill: Filler) -> None:
    fill(store, 6)
    out = io.StringIO()
    assert write_jsonl(store.iter_query(AuditQuery(limit=2)), out) == 6
    lines = out.getvalue().splitlines()
    assert len(lines) == 6

    prev = GENESIS_HASH
    for seq, line in enumerate(lines, start=1):
        row = json.loads(line)
        assert row["seq"] == seq
        assert row["prev_hash"] == prev
        # An auditor needs nothing but this line and RFC 8785 to recompute the record hash.
        payload = {k: v for k, v in row.items() if k not in ("hash", "format_version")}
        payload["format"] = row["format_version"]
        assert sha256_hex(canonical_bytes(payload)) == row["hash"]
        prev = row["hash"]
    assert json.loads(lines[0])["trace"]["unicode"] == "naïve café – Straße 𝔘"


def test_fhir_resources_validate_and_carry_the_record(
    store: SqliteAuditStore, make_entry: Callable[..., AuditEntry]
) -> None:
    record = store.append(
        make_entry(
            1,
            outcome="error",
            diagnoses=[Diagnosis(name="Marfan syndrome", code="ORPHA:558"), Diagnosis(name="Loeys–Dietz")],
            evidence_ids=["doc-a", "doc-b"],
        )
    )
    event, provenance = to_fhir(record)

    # Round-trip through JSON and the library's own validation, as a FHIR server would receive them.
    event = AuditEvent.model_validate_json(event.model_dump_json(exclude_none=True))
    provenance = Provenance.model_validate_json(provenance.model_dump_json(exclude_none=True))

    assert event.id == record.record_id
    assert event.outcome == "8"  # "error" is a failed decision
    assert event.outcomeDesc == "error"
    assert event.recorded is not None
    requestor = event.agent[0]
    assert requestor.requestor is True
    assert requestor.who.identifier.value == record.actor_id
    assert requestor.role[0].text == "clinician"
    patient, trace = event.entity
    assert patient.what.identifier.value == "pt-1"
    assert patient.role.code == "1"
    details = {d.type: d.valueString for d in trace.detail}
    assert details["hash"] == record.hash
    assert details["seq"] == "1"
    assert json.loads(details["trace"]) == record.trace
    assert json.loads(details["diagnoses"])[1] == {"code": None, "name": "Loeys–Dietz"}

    assert provenance.id == provenance_id(record) != record.record_id
    assert provenance.target[0].reference == f"AuditEvent/{record.record_id}"
    assert provenance.target[0].identifier.value == record.request_id
    sources = [e.what.identifier.value for e in provenance.entity]
    assert sources == [record.index_version, "doc-a", "doc-b"]
    assert provenance.agent[0].who.identifier.value == record.model_version


def test_fhir_ndjson_and_bundle(store: SqliteAuditStore, fill: Filler, make_entry: Callable[..., AuditEntry]) -> None:
    fill(store, 3)
    store.append(make_entry(4, patient_pseudonym=None, evidence_ids=[], diagnoses=[]))
    records = list(store.iter_query(AuditQuery()))

    out = io.StringIO()
    assert write_fhir_ndjson(records, out) == 4
    resources = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["resourceType"] for r in resources] == ["AuditEvent", "Provenance"] * 4
    for resource in resources:
        model = AuditEvent if resource["resourceType"] == "AuditEvent" else Provenance
        model.model_validate(resource)
    no_patient = AuditEvent.model_validate(resources[6])
    assert len(no_patient.entity) == 1  # only the trace entity
    assert resources[6]["outcome"] == "0"

    bundle = Bundle.model_validate_json(fhir_bundle(records).model_dump_json(exclude_none=True))
    assert bundle.type == "collection"
    assert len(bundle.entry) == 8
    assert len({e.fullUrl for e in bundle.entry}) == 8
