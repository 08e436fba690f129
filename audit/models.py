"""Value types of the audit log: what callers append, what stores keep, and what queries return.

Plain frozen dataclasses rather than pydantic models: the package must stay importable without the rest
of the project, and these types carry no parsing logic beyond the checks an append needs before it
touches the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from audit.canonical import JsonObject, JsonValue
from audit.errors import InvalidEntryError

#: Longest value accepted for an indexed text field; longer ones are almost certainly a caller bug (free
#: text where an identifier belongs) and would bloat every index.
MAX_FIELD_CHARS = 512
#: A record id: stores name each record ``str(uuid.uuid4())`` as they append it (:mod:`audit.sql_store`, since
#: the first record format), so a value of any other shape names no record, and readers can say so.
RECORD_ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def fold(value: str) -> str:
    """Case-insensitive lookup key (Unicode case folding, not just ASCII ``lower``)."""
    return value.casefold()


def _require_text(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntryError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidEntryError(f"{name} is longer than {MAX_FIELD_CHARS} characters")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One diagnosis of a decision, as an indexed query field (the full ranked list lives in the trace)."""

    name: str
    code: str | None = None

    def __post_init__(self) -> None:
        _require_text("diagnosis name", self.name)
        _require_text("diagnosis code", self.code, optional=True)

    def to_json(self) -> dict[str, JsonValue]:
        return {"code": self.code, "name": self.name}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One decision to record.

    The trace is opaque to this package: the caller also extracts the few fields auditors search by
    (patient pseudonym, diagnoses, evidence document ids, outcome), so the log never needs to know the
    trace schema. All of these are covered by the record hash, so tampering with an indexed field is as
    detectable as tampering with the trace.
    """

    trace: JsonObject
    request_id: str
    actor_role: str
    actor_id: str
    model_version: str
    index_version: str
    outcome: str
    patient_pseudonym: str | None = None
    diagnoses: Sequence[Diagnosis] = ()
    evidence_ids: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.trace, dict):
            raise InvalidEntryError(f"trace must be a JSON object (dict), got {type(self.trace).__name__}")
        for name in ("request_id", "actor_role", "actor_id", "model_version", "index_version", "outcome"):
            _require_text(name, getattr(self, name))
        _require_text("patient_pseudonym", self.patient_pseudonym, optional=True)
        diagnoses = tuple(self.diagnoses)
        for diagnosis in diagnoses:
            if not isinstance(diagnosis, Diagnosis):
                raise InvalidEntryError(f"diagnoses must be Diagnosis values, got {diagnosis!r}")
        evidence_ids = tuple(self.evidence_ids)
        for evidence_id in evidence_ids:
            _require_text("evidence id", evidence_id)
        # Normalise to tuples so an entry cannot change after validation through a list the caller kept.
        object.__setattr__(self, "diagnoses", diagnoses)
        object.__setattr__(self, "evidence_ids", evidence_ids)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record exactly as a store keeps it: JSON-valued fields as their canonical text.

    Verification works on this form, not on :class:`AuditRecord`, so that a record whose stored JSON was
    corrupted is reported as broken instead of making the reader raise.
    """

    seq: int
    record_id: str
    created_at: str
    request_id: str
    actor_role: str
    actor_id: str
    model_version: str
    index_version: str
    outcome: str
    patient_pseudonym: str | None
    diagnoses_json: str
    evidence_ids_json: str
    trace_json: str
    prev_hash: str
    hash: str
    format_version: int
    #: The rows of the store's lookup tables for this record, as ``(code_key, name_key)`` and document
    #: ids; verification checks they agree with the hashed fields, so a forged index cannot make a query
    #: return (or hide) a record.
    indexed_diagnoses: tuple[tuple[str | None, str], ...] = ()
    indexed_evidence_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A record as read back: the entry's fields plus its place in the chain."""

    seq: int
    record_id: str
    created_at: datetime
    request_id: str
    actor_role: str
    actor_id: str
    model_version: str
    index_version: str
    outcome: str
    patient_pseudonym: str | None
    diagnoses: tuple[Diagnosis, ...]
    evidence_ids: tuple[str, ...]
    trace: JsonObject
    prev_hash: str
    hash: str
    format_version: int

    @classmethod
    def from_stored(cls, stored: StoredRecord) -> AuditRecord:
        """Parse a stored record (raises ``ValueError`` if its JSON fields are corrupt)."""
        trace = json.loads(stored.trace_json)
        diagnoses_raw = json.loads(stored.diagnoses_json)
        evidence_raw = json.loads(stored.evidence_ids_json)
        if not isinstance(trace, dict) or not isinstance(diagnoses_raw, list) or not isinstance(evidence_raw, list):
            raise ValueError(f"record {stored.seq}: stored JSON fields have the wrong shape")
        diagnoses = tuple(Diagnosis(name=d["name"], code=d.get("code")) for d in diagnoses_raw)
        return cls(
            seq=stored.seq,
            record_id=stored.record_id,
            created_at=parse_timestamp(stored.created_at),
            request_id=stored.request_id,
            actor_role=stored.actor_role,
            actor_id=stored.actor_id,
            model_version=stored.model_version,
            index_version=stored.index_version,
            outcome=stored.outcome,
            patient_pseudonym=stored.patient_pseudonym,
            diagnoses=diagnoses,
            evidence_ids=tuple(str(e) for e in evidence_raw),
            trace=trace,
            prev_hash=stored.prev_hash,
            hash=stored.hash,
            format_version=stored.format_version,
        )

    def to_json(self) -> dict[str, JsonValue]:
        """The record as one JSON object: the JSONL export line and what an API returns for a trace."""
        return {
            "seq": self.seq,
            "record_id": self.record_id,
            "created_at": format_timestamp(self.created_at),
            "request_id": self.request_id,
            "actor_role": self.actor_role,
            "actor_id": self.actor_id,
            "model_version": self.model_version,
            "index_version": self.index_version,
            "outcome": self.outcome,
            "patient_pseudonym": self.patient_pseudonym,
            "diagnoses": [d.to_json() for d in self.diagnoses],
            "evidence_ids": list(self.evidence_ids),
            "trace": self.trace,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "format_version": self.format_version,
        }


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of the chain: what a checkpoint signs."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "the chain had head ``head_hash`` at ``seq``", made with an Ed25519 key.

    The public key travels with the checkpoint so a log can be checked for internal consistency without
    any key at hand; trust comes only from verifying against a key the auditor holds (its fingerprint
    must match ``key_fingerprint``).
    """

    checkpoint_id: int
    seq: int
    head_hash: str
    created_at: str
    key_fingerprint: str
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    signature: str  # base64 of the 64-byte Ed25519 signature
    #: Merkle root (hex) of records 1..seq (:mod:`audit.merkle`); None on checkpoints of schema version 1.
    root_hash: str | None = None
    #: The signed note (:mod:`audit.note`) the signature is over; None on version-1 checkpoints, whose
    #: signature covers :func:`audit.signing.checkpoint_payload` (seq and chain head only).
    note: str | None = None
    #: The Merkle frontier at ``seq`` (:class:`audit.merkle.MerkleFrontier` text), so a writer extends the
    #: tree from here instead of from the first record. Not signed: verification recomputes it.
    frontier: str | None = None


#: The trace key under which a decision lists the candidates it considered without answering with them (a list
#: of objects with ``code`` and ``name``): the one part of the trace stores look into, for diagnosis filters.
CONSIDERED_KEY = "considered"


def considered_diagnoses(trace: JsonObject) -> tuple[Diagnosis, ...]:
    """The candidates ``trace`` lists under :data:`CONSIDERED_KEY`, as diagnoses (malformed items are skipped)."""
    items = trace.get(CONSIDERED_KEY)
    found: list[Diagnosis] = []
    for item in items if isinstance(items, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        code = item.get("code") if isinstance(item, dict) else None
        if isinstance(name, str) and name.strip():
            kept_code = code[:MAX_FIELD_CHARS] if isinstance(code, str) and code.strip() else None
            found.append(Diagnosis(name=name[:MAX_FIELD_CHARS], code=kept_code))
    return tuple(found)


SortOrder = Literal["asc", "desc"]
#: Which records a query returns: decisions, access events (:mod:`audit.access`), or both (None).
RecordKind = Literal["decision", "access"]
#: The reserved ``outcome`` of access events (:mod:`audit.access`); no decision has it.
ACCESS_OUTCOME = "access"

#: Largest page a query may ask for: bounds memory per request in the API.
MAX_PAGE_SIZE = 1000
#: Most codes and names one diagnosis filter may stand for (bounds the parameters of its SQL).
MAX_DIAGNOSIS_EQUIVALENTS = 128
#: Largest sequence number a store can hold (a signed 64-bit integer in SQLite and PostgreSQL).
MAX_SEQ = 2**63 - 1
_MAX_SEQ_DIGITS = len(str(MAX_SEQ))


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters (all optional, combined with AND) and pagination for :meth:`AuditStore.query`.

    ``since`` is inclusive and ``until`` exclusive, both timezone-aware. ``diagnosis`` matches a code or a
    name, case-insensitively (Unicode case folding), exactly, among a decision's diagnoses or the candidates
    its trace lists as considered (:data:`CONSIDERED_KEY`: an abstention names them to the clinician);
    ``diagnosis_equivalents`` are further codes and names that count as the same diagnosis (``OMIM:154700``
    for ``ORPHA:558``). ``patient_pseudonym`` matches a record about that patient, and an access event whose
    records read (or asked for) include one about that patient, whatever its own ``patient_pseudonym``. This
    package knows no ontology, so the caller expands (``dxsearch.knowledge.disease_equivalents``). Pagination is
    by ``cursor`` (the ``next_cursor`` of the previous page: stable while records are appended) and/or ``offset``.
    """

    since: datetime | None = None
    until: datetime | None = None
    patient_pseudonym: str | None = None
    diagnosis: str | None = None
    diagnosis_equivalents: tuple[str, ...] = ()
    evidence_id: str | None = None
    model_version: str | None = None
    index_version: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    #: The server's request id (the ``request_id`` column) or the client's own ``X-Request-ID``, as the decision's
    #: trace keeps it (``client_request_id``): whichever an auditor was handed.
    any_request_id: str | None = None
    #: The ``trace_id`` a decision's trace carries (the agent's id, not the record id).
    trace_id: str | None = None
    actor_id: str | None = None
    limit: int = 50
    offset: int = 0
    cursor: str | None = None
    order: SortOrder = "asc"
    kind: RecordKind | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, got {self.offset}")
        if self.order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {self.order!r}")
        if self.kind not in (None, "decision", "access"):
            raise ValueError(f"kind must be 'decision' or 'access', got {self.kind!r}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
            if value is not None:
                try:
                    value.astimezone(UTC)
                except OverflowError:
                    raise ValueError(f"{name} is outside the years 1 to 9999 once converted to UTC") from None
        if self.since is not None and self.until is not None and self.since >= self.until:
            # since is inclusive and until exclusive: the window is empty, so the filter can match nothing.
            raise ValueError(
                f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()}): since is "
                "inclusive and until exclusive, so no record can match"
            )
        if self.cursor is not None:
            cursor_seq(self.cursor)
        _require_text("any_request_id", self.any_request_id, optional=True)
        _require_text("trace_id", self.trace_id, optional=True)
        if self.diagnosis_equivalents:
            if self.diagnosis is None:
                raise ValueError("diagnosis_equivalents need the diagnosis they are equivalent to")
            if len(self.diagnosis_equivalents) > MAX_DIAGNOSIS_EQUIVALENTS:
                raise ValueError(f"at most {MAX_DIAGNOSIS_EQUIVALENTS} diagnosis equivalents")
            for value in self.diagnosis_equivalents:
                _require_text("diagnosis equivalent", value)

    def diagnosis_keys(self) -> tuple[str, ...]:
        """The folded codes and names a decision's diagnosis is matched against (empty: no diagnosis filter)."""
        if self.diagnosis is None:
            return ()
        return tuple(dict.fromkeys(fold(v) for v in (self.diagnosis, *self.diagnosis_equivalents)))

    def after_cursor_seq(self) -> int | None:
        return None if self.cursor is None else cursor_seq(self.cursor)


def cursor_seq(cursor: str) -> int:
    """The sequence number a cursor stands for; cursors are opaque to callers but just ``s<seq>``."""
    digits = cursor[1:]
    if not cursor.startswith("s") or not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_SEQ_DIGITS:
        raise ValueError(f"malformed cursor {cursor!r}")
    seq = int(digits)
    if seq > MAX_SEQ:
        raise ValueError(f"cursor {cursor!r} is beyond the largest sequence number ({MAX_SEQ})")
    return seq


def make_cursor(seq: int) -> str:
    return f"s{seq}"


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of query results; ``next_cursor`` is None on the last page."""

    records: list[AuditRecord]
    next_cursor: str | None = None


_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_timestamp(value: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds, so text order is time order in every store's index."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
