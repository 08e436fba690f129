"""Append-only, hash-chained audit log of diagnostic traces, with stores, queries, export and verification.

Imports nothing else of the project: a record's trace is an opaque JSON object, and the caller extracts
the few fields auditors search by. Typical use::

    from audit import AuditEntry, CheckpointSigner, Diagnosis, open_store, verify

    store = open_store(
        "sqlite:///var/audit.db",
        signer=CheckpointSigner.from_pem(key_path),
        checkpoint_every=1000,
        checkpoint_file=Path("/srv/witness/audit-checkpoints.jsonl"),
    )
    record = store.append(AuditEntry(trace=trace_json, request_id=..., actor_role="clinician", ...))
    report = verify(store, public_key, checkpoint_every=1000, kept=read_checkpoints(kept_path, public_key))

See :mod:`audit.store` for the store contract, :mod:`audit.backends` for store URLs, :mod:`audit.chain`
for what is hashed, :mod:`audit.merkle` for the tree over the records, :mod:`audit.note` for signed
checkpoints, :mod:`audit.witness` for checkpoints kept outside the database, :mod:`audit.proofs` for
inclusion and consistency proofs, and :mod:`audit.verify` for what verification proves.
"""

from audit.backends import open_store
from audit.errors import (
    AuditError,
    CorruptRecordError,
    EmptyLogError,
    InvalidEntryError,
    SigningKeyError,
    StoreUrlError,
)
from audit.models import (
    AuditEntry,
    AuditPage,
    AuditQuery,
    AuditRecord,
    ChainHead,
    Checkpoint,
    Diagnosis,
    StoredRecord,
)
from audit.proofs import ConsistencyProof, InclusionProof, prove_consistency, prove_inclusion
from audit.signing import CheckpointSigner, load_public_key
from audit.sqlite_store import SqliteAuditStore
from audit.store import AuditStore
from audit.verify import VerifyReport, verify, verify_with_checkpoint_file
from audit.witness import CheckpointFileError, KeptCheckpoint, append_checkpoint, read_checkpoints

TYPE_CHECKING = False
if TYPE_CHECKING:
    from audit.postgres_store import PostgresAuditStore


def __getattr__(name: str) -> object:
    # Lazy: psycopg is an optional dependency (the ``pg`` extra); ``import audit`` must work without it.
    if name == "PostgresAuditStore":
        from audit.postgres_store import PostgresAuditStore

        return PostgresAuditStore
    raise AttributeError(f"module 'audit' has no attribute {name!r}")


__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "AuditStore",
    "ChainHead",
    "Checkpoint",
    "CheckpointFileError",
    "CheckpointSigner",
    "ConsistencyProof",
    "CorruptRecordError",
    "Diagnosis",
    "EmptyLogError",
    "InclusionProof",
    "InvalidEntryError",
    "KeptCheckpoint",
    "PostgresAuditStore",
    "SigningKeyError",
    "SqliteAuditStore",
    "StoreUrlError",
    "StoredRecord",
    "VerifyReport",
    "append_checkpoint",
    "load_public_key",
    "open_store",
    "prove_consistency",
    "prove_inclusion",
    "read_checkpoints",
    "verify",
    "verify_with_checkpoint_file",
]
