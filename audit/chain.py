"""The hash chain: how a record is sealed (its hash computed from its fields and its predecessor's hash).

Every store uses these functions, so a SQLite log and a PostgreSQL log of the same entries hash alike and
one verifier serves both.

Record hash = SHA-256 over the RFC 8785 canonical JSON of one object holding every stored field except the
hash itself::

    {"actor_id", "actor_role", "created_at", "diagnoses", "evidence_ids", "format", "index_version",
     "model_version", "outcome", "patient_pseudonym", "prev_hash", "record_id", "request_id", "seq", "trace"}

``"trace"`` sorts last, so the canonical bytes are the canonical header (all other fields) with the
stored canonical trace text spliced in before the closing brace. Hashing that way is byte-for-byte the
JCS serialisation of the whole object (a test checks it) but spares re-serialising a large trace on every
append and every verification: the stored trace text is hashed as it is, so flipping any byte of it
changes the hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from audit.canonical import JsonValue, canonical_bytes, canonical_text, sha256_hex
from audit.models import AuditEntry, StoredRecord

#: Version of the hashed layout; stored with each record so a later layout can coexist with old records.
FORMAT_VERSION = 1

#: ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64


def fold(value: str) -> str:
    """Case-insensitive lookup key (Unicode case folding, not just ASCII ``lower``)."""
    return value.casefold()


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """An entry with its JSON fields already canonicalised.

    Stores prepare an entry *before* taking the write lock, so the only work done while other writers
    wait is hashing a small header and the insert itself.
    """

    entry: AuditEntry
    trace_json: str
    diagnoses_json: str
    evidence_ids_json: str
    indexed_diagnoses: tuple[tuple[str | None, str], ...]


def prepare(entry: AuditEntry) -> PreparedEntry:
    """Canonicalise an entry's JSON fields.

    Raises :class:`~audit.errors.InvalidEntryError` for an entry that has no canonical form, before any
    write, so a bad entry leaves the store untouched.
    """
    return PreparedEntry(
        entry=entry,
        trace_json=canonical_text(entry.trace),
        diagnoses_json=canonical_text([d.to_json() for d in entry.diagnoses]),
        evidence_ids_json=canonical_text(list(entry.evidence_ids)),
        indexed_diagnoses=tuple((None if d.code is None else fold(d.code), fold(d.name)) for d in entry.diagnoses),
    )


def seal(prepared: PreparedEntry, *, seq: int, prev_hash: str, record_id: str, created_at: str) -> StoredRecord:
    """The record a store writes at ``seq`` after ``prev_hash``, hash included."""
    entry = prepared.entry
    unsealed = StoredRecord(
        seq=seq,
        record_id=record_id,
        created_at=created_at,
        request_id=entry.request_id,
        actor_role=entry.actor_role,
        actor_id=entry.actor_id,
        model_version=entry.model_version,
        index_version=entry.index_version,
        outcome=entry.outcome,
        patient_pseudonym=entry.patient_pseudonym,
        diagnoses_json=prepared.diagnoses_json,
        evidence_ids_json=prepared.evidence_ids_json,
        trace_json=prepared.trace_json,
        prev_hash=prev_hash,
        hash="",
        format_version=FORMAT_VERSION,
        indexed_diagnoses=prepared.indexed_diagnoses,
        indexed_evidence_ids=tuple(entry.evidence_ids),
    )
    return replace(unsealed, hash=record_hash(unsealed))


def hash_payload(record: StoredRecord) -> bytes:
    """The exact bytes a record's hash is taken over (raises ``ValueError`` on corrupt stored JSON)."""
    if record.format_version != FORMAT_VERSION:
        raise ValueError(f"unknown record format version {record.format_version}")
    header: dict[str, JsonValue] = {
        "actor_id": record.actor_id,
        "actor_role": record.actor_role,
        "created_at": record.created_at,
        "diagnoses": json.loads(record.diagnoses_json),
        "evidence_ids": json.loads(record.evidence_ids_json),
        "format": record.format_version,
        "index_version": record.index_version,
        "model_version": record.model_version,
        "outcome": record.outcome,
        "patient_pseudonym": record.patient_pseudonym,
        "prev_hash": record.prev_hash,
        "record_id": record.record_id,
        "request_id": record.request_id,
        "seq": record.seq,
    }
    head = canonical_bytes(header)
    return head[:-1] + b',"trace":' + record.trace_json.encode("utf-8") + b"}"


def record_hash(record: StoredRecord) -> str:
    """SHA-256 (hex) of :func:`hash_payload`."""
    return sha256_hex(hash_payload(record))


def expected_index_rows(record: StoredRecord) -> tuple[tuple[tuple[str | None, str], ...], tuple[str, ...]]:
    """The lookup-table rows a record must have, derived from its hashed fields (raises on corrupt JSON)."""
    diagnoses = json.loads(record.diagnoses_json)
    evidence = json.loads(record.evidence_ids_json)
    if not isinstance(diagnoses, list) or not isinstance(evidence, list):
        raise ValueError("diagnoses and evidence_ids must be JSON arrays")
    rows = tuple((None if d.get("code") is None else fold(str(d["code"])), fold(str(d["name"]))) for d in diagnoses)
    return rows, tuple(str(e) for e in evidence)
