"""The hash chain: how a record is sealed (its hash computed from its fields and its predecessor's hash).

Every store uses these functions, so a SQLite log and a PostgreSQL log of the same entries hash alike and
one verifier serves both.

Record hash = SHA-256 over the RFC 8785 canonical JSON of one object holding every stored field except the
hash itself::

    {"actor_id", "actor_role", "created_at", "diagnoses", "evidence_ids", "format", "index_version",
     "model_version", "outcome", "patient_pseudonym", "prev_hash", "record_id", "request_id", "seq", "trace"}

``"trace"`` sorts last, so the canonical bytes are the canonical header (all other fields) with the
stored canonical trace text spliced in before the closing brace (the stored canonical ``diagnoses`` and
``evidence_ids`` are spliced into the header the same way). Hashing that way is byte-for-byte the JCS
serialisation of the whole object (tests check it) but spares re-serialising JSON on every append and
every verification: the stored text is hashed as it is, so flipping any byte of it changes the hash.

The same bytes are the record's leaf in the log's Merkle tree (:mod:`audit.merkle`): leaf hash =
SHA-256(0x00 || :func:`hash_payload`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from json.encoder import encode_basestring as _json_string

from audit.canonical import canonical_text, sha256_hex
from audit.errors import InvalidEntryError
from audit.models import AuditEntry, StoredRecord, fold

#: Version of the hashed layout; stored with each record so a later layout can coexist with old records.
FORMAT_VERSION = 1

#: ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64


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
    """The exact bytes a record's hash is taken over (the leaf bytes of its Merkle tree leaf too).

    Assembled directly rather than through :func:`~audit.canonical.canonical_bytes`, which is the
    verifier's hot spot (100,000 records): the keys are fixed ASCII names in JCS order, header strings
    are escaped exactly as RFC 8785 escapes them (``"``, ``\\`` and U+0000..U+001F, short forms where
    JSON has them, else ``\\u00xx``: what :func:`json.encoder.encode_basestring` does), integers are
    plain decimals, and the stored canonical JSON of ``diagnoses``, ``evidence_ids`` and ``trace`` is
    spliced in as stored. For every record the store wrote this is byte-for-byte the JCS serialisation of
    the whole object (tests check it against :mod:`rfc8785`); a stored JSON field edited into another
    spelling of the same value no longer hashes alike, which only makes tampering easier to see.
    Raises ``ValueError`` for an unknown format version or a string that is not valid Unicode.
    """
    if record.format_version != FORMAT_VERSION:
        raise ValueError(f"unknown record format version {record.format_version}")
    pseudonym = "null" if record.patient_pseudonym is None else _json_string(record.patient_pseudonym)
    head = (
        f'{{"actor_id":{_json_string(record.actor_id)},"actor_role":{_json_string(record.actor_role)},'
        f'"created_at":{_json_string(record.created_at)},"diagnoses":{record.diagnoses_json},'
        f'"evidence_ids":{record.evidence_ids_json},"format":{int(record.format_version)},'
        f'"index_version":{_json_string(record.index_version)},"model_version":{_json_string(record.model_version)},'
        f'"outcome":{_json_string(record.outcome)},"patient_pseudonym":{pseudonym},'
        f'"prev_hash":{_json_string(record.prev_hash)},"record_id":{_json_string(record.record_id)},'
        f'"request_id":{_json_string(record.request_id)},"seq":{int(record.seq)},"trace":'
    )
    try:
        return b"".join((head.encode("utf-8"), record.trace_json.encode("utf-8"), b"}"))
    except UnicodeEncodeError as exc:
        raise InvalidEntryError(f"record {record.seq} holds text that is not valid Unicode: {exc}") from exc


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
