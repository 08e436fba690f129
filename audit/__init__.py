"""Append-only, hash-chained audit log of diagnostic traces, with stores, queries, export and verification.

Imports nothing else of the project: a record's trace is an opaque JSON object, and the caller extracts
the few fields auditors search by. Typical use::

    from audit import AuditEntry, CheckpointSigner, Diagnosis, open_store, verify

    store = open_store("sqlite:///var/audit.db", signer=CheckpointSigner.from_pem(key_path), checkpoint_every=1000)
    record = store.append(AuditEntry(trace=trace_json, request_id=..., actor_role="clinician", ...))
    report = verify(store, public_key)

See :mod:`audit.store` for the store contract, :mod:`audit.backends` for store URLs, :mod:`audit.chain`
for what is hashed, and :mod:`audit.verify` for what verification proves.
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
from audit.signing import CheckpointSigner, load_public_key
from audit.sqlite_store import SqliteAuditStore
from audit.store import AuditStore
from audit.verify import VerifyReport, verify

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
    "CheckpointSigner",
    "CorruptRecordError",
    "Diagnosis",
    "EmptyLogError",
    "InvalidEntryError",
    "PostgresAuditStore",
    "SigningKeyError",
    "SqliteAuditStore",
    "StoreUrlError",
    "StoredRecord",
    "VerifyReport",
    "load_public_key",
    "open_store",
    "verify",
]
