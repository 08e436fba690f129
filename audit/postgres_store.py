"""The deployment audit store: PostgreSQL through psycopg 3, safe with any number of writer processes.

Same schema semantics as :mod:`audit.sqlite_store` (gapless ``seq``, ``prev_hash``/``hash``, lookup
tables for diagnoses and evidence ids, signed checkpoints), mapped onto PostgreSQL:

* Every append is one transaction that first takes ``pg_advisory_xact_lock`` on a key derived from the
  schema the log lives in, then reads the head and inserts head + 1. The lock is released at COMMIT or
  ROLLBACK, so "read head, insert next" is atomic across threads, processes and hosts. Canonicalising the
  entry happens before the transaction.
* ``synchronous_commit = on`` for every connection: an append returns only after its WAL is flushed.
* Hashed JSON is stored as ``text`` (never ``jsonb``, which would not keep the exact bytes).
* plpgsql triggers refuse UPDATE, DELETE and TRUNCATE on every table, and refuse any insert that does not
  extend the chain head (wrong ``seq`` or ``prev_hash``, lookup rows for an older record, a checkpoint of
  a hash the chain does not have). Grant the service role only INSERT and SELECT in production; a
  superuser who drops the triggers is caught by :func:`audit.verify.verify`, not prevented.
* One connection per store (autocommit, explicit transactions) behind a lock; after ``fork`` the child
  forgets (without closing: that would end the parent's session) the inherited connection.
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from audit.chain import GENESIS_HASH, fold, prepare, seal
from audit.errors import AuditError, CorruptRecordError, EmptyLogError, SigningKeyError
from audit.models import (
    AuditEntry,
    AuditPage,
    AuditQuery,
    AuditRecord,
    ChainHead,
    Checkpoint,
    StoredRecord,
    format_timestamp,
    make_cursor,
    parse_timestamp,
)
from audit.signing import CheckpointSigner, checkpoint_payload
from audit.store import AuditStore

SCHEMA_VERSION = 1

_APPEND_ONLY_TABLES = ("audit_records", "audit_record_diagnoses", "audit_record_evidence", "audit_checkpoints")

#: The advisory lock key: one per schema, so two logs in one database do not serialise each other.
_LOCK_KEY_SQL = "hashtextextended(current_schema() || '.dxsearch_audit_log', 0)"

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS audit_records (
        seq BIGINT PRIMARY KEY CHECK (seq >= 1),
        record_id TEXT NOT NULL UNIQUE,
        created_at TEXT COLLATE "C" NOT NULL,
        request_id TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        model_version TEXT NOT NULL,
        index_version TEXT NOT NULL,
        outcome TEXT NOT NULL,
        patient_pseudonym TEXT,
        diagnoses TEXT NOT NULL,
        evidence_ids TEXT NOT NULL,
        trace TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        format_version INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_records_created_at ON audit_records (created_at)",
    "CREATE INDEX IF NOT EXISTS audit_records_patient ON audit_records (patient_pseudonym)",
    "CREATE INDEX IF NOT EXISTS audit_records_model ON audit_records (model_version)",
    "CREATE INDEX IF NOT EXISTS audit_records_index_version ON audit_records (index_version)",
    "CREATE INDEX IF NOT EXISTS audit_records_outcome ON audit_records (outcome)",
    "CREATE INDEX IF NOT EXISTS audit_records_request ON audit_records (request_id)",
    "CREATE INDEX IF NOT EXISTS audit_records_actor ON audit_records (actor_id)",
    """CREATE TABLE IF NOT EXISTS audit_record_diagnoses (
        seq BIGINT NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        code_key TEXT,
        name_key TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    )""",
    "CREATE INDEX IF NOT EXISTS audit_record_diagnoses_code ON audit_record_diagnoses (code_key)",
    "CREATE INDEX IF NOT EXISTS audit_record_diagnoses_name ON audit_record_diagnoses (name_key)",
    """CREATE TABLE IF NOT EXISTS audit_record_evidence (
        seq BIGINT NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    )""",
    "CREATE INDEX IF NOT EXISTS audit_record_evidence_doc ON audit_record_evidence (doc_id)",
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        checkpoint_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        seq BIGINT NOT NULL REFERENCES audit_records (seq),
        head_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        key_fingerprint TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    """CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
    END $$""",
    *(
        f"""CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"""
        for table in _APPEND_ONLY_TABLES
    ),
    *(
        f"""CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"""
        for table in _APPEND_ONLY_TABLES
    ),
    f"""CREATE OR REPLACE FUNCTION audit_records_extend_head() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_records)
           OR NEW.prev_hash IS DISTINCT FROM COALESCE(
                (SELECT hash FROM audit_records WHERE seq = NEW.seq - 1), '{GENESIS_HASH}') THEN
            RAISE EXCEPTION 'audit_records: an insert must extend the chain head';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE OR REPLACE TRIGGER audit_records_extend_head BEFORE INSERT ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_extend_head()""",
    """CREATE OR REPLACE FUNCTION audit_lookup_head_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq IS DISTINCT FROM (SELECT MAX(seq) FROM audit_records) THEN
            RAISE EXCEPTION '%: rows may only be added for the head record', TG_TABLE_NAME;
        END IF;
        RETURN NEW;
    END $$""",
    *(
        f"""CREATE OR REPLACE TRIGGER {table}_head_only BEFORE INSERT ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_lookup_head_only()"""
        for table in ("audit_record_diagnoses", "audit_record_evidence")
    ),
    """CREATE OR REPLACE FUNCTION audit_checkpoints_match_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.head_hash IS DISTINCT FROM (SELECT hash FROM audit_records WHERE seq = NEW.seq) THEN
            RAISE EXCEPTION 'audit_checkpoints: a checkpoint must sign an existing record hash';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE OR REPLACE TRIGGER audit_checkpoints_match_chain BEFORE INSERT ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_match_chain()""",
)

_RECORD_COLUMNS = (
    "seq, record_id, created_at, request_id, actor_role, actor_id, model_version, index_version, outcome, "
    "patient_pseudonym, diagnoses, evidence_ids, trace, prev_hash, hash, format_version"
)

_CHECKPOINT_COLUMNS = "checkpoint_id, seq, head_hash, created_at, key_fingerprint, public_key, signature"

#: How many records :meth:`PostgresAuditStore.iter_stored` reads per round trip.
_BATCH = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _q(text: str) -> sql.SQL:
    # Statements composed with f-strings here use only constants of this module, never input values.
    return sql.SQL(text)


_LIVE_STORES: weakref.WeakSet[PostgresAuditStore] = weakref.WeakSet()
# Connections inherited through fork: referenced forever so they are never closed (nor finalised) in the
# child, which would end the parent's session on the shared socket.
_INHERITED_CONNECTIONS: list[psycopg.Connection[Any]] = []


def _after_fork_in_child() -> None:
    for store in list(_LIVE_STORES):
        store._forget_connection_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def libpq_url(url: str) -> str:
    """The URL libpq accepts: ``postgresql+psycopg://`` and ``postgres://`` become ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme.lower() in ("postgres", "postgresql") or scheme.lower().startswith("postgresql+"):
        return "postgresql://" + rest
    return url


class PostgresAuditStore(AuditStore):
    """Audit log in PostgreSQL tables (in the connection's ``search_path`` schema), psycopg 3, sync.

    ``signer`` and ``checkpoint_every`` enable automatic checkpoints exactly as in the SQLite store;
    ``clock`` exists for tests. ``read_only`` opens read-only transactions and never creates the schema.
    """

    def __init__(
        self,
        url: str,
        *,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int | None = None,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = _utc_now,
        read_only: bool = False,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if checkpoint_every is not None:
            if checkpoint_every < 1:
                raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
            if signer is None:
                raise SigningKeyError("checkpoint_every needs a signer")
        self.url = libpq_url(url)
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.busy_timeout_s = busy_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._clock = clock
        self.read_only = read_only
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        _LIVE_STORES.add(self)
        self._connection()  # connect and create the schema now, so configuration errors surface at startup

    # -- connection management -------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise AuditError("the audit store is closed")
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _forget_connection_after_fork(self) -> None:
        self._lock = threading.RLock()
        if self._conn is not None:
            _INHERITED_CONNECTIONS.append(self._conn)
            self._conn = None

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s)))
        except psycopg.Error as exc:
            raise AuditError(f"cannot connect to the PostgreSQL audit store: {exc}") from exc
        try:
            conn.execute("SET synchronous_commit = on")
            conn.execute(_q(f"SET lock_timeout = {int(self.busy_timeout_s * 1000)}"))
            if self.read_only:
                conn.execute("SET default_transaction_read_only = on")
                if conn.execute("SELECT to_regclass('audit_records')").fetchone() in (None, (None,)):
                    raise AuditError("no audit log in this PostgreSQL database/schema")
                self._check_version(conn)
            else:
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _check_version(conn: psycopg.Connection[Any]) -> bool:
        """Raise on another schema version; True if the log already has a version row."""
        has_meta = conn.execute("SELECT to_regclass('audit_meta')").fetchone()
        if has_meta is None or has_meta[0] is None:
            return False
        row = conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return False
        if int(row[0]) != SCHEMA_VERSION:
            raise AuditError(
                f"this PostgreSQL log has audit schema version {row[0]}, this build reads {SCHEMA_VERSION}"
            )
        return True

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        # Idempotent, run at every open under the log's advisory lock (concurrent first opens would race on
        # the catalogs otherwise); it also restores a dropped trigger.
        with conn.transaction():
            conn.execute(_q(f"SELECT pg_advisory_xact_lock({_LOCK_KEY_SQL})"))
            has_version = self._check_version(conn)
            for statement in _SCHEMA:
                conn.execute(_q(statement))
            if not has_version:
                conn.execute(
                    "INSERT INTO audit_meta (key, value) VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),)
                )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._closed = True

    # -- writes ----------------------------------------------------------------------------------------

    @contextmanager
    def _write_transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One writer at a time per log, across threads, processes and hosts: commit or roll back."""
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute(_q(f"SELECT pg_advisory_xact_lock({_LOCK_KEY_SQL})"))
                    yield conn
            except psycopg.errors.LockNotAvailable as exc:
                raise AuditError(f"timed out after {self.busy_timeout_s} s waiting to write the audit log") from exc
            except psycopg.errors.QueryCanceled as exc:
                raise AuditError(f"audit write cancelled: {exc}") from exc

    def _writable(self) -> None:
        if self.read_only:
            raise AuditError("this audit store was opened read-only")

    def append(self, entry: AuditEntry) -> AuditRecord:
        self._writable()
        prepared = prepare(entry)  # canonicalise outside the transaction
        record_id = str(uuid.uuid4())
        with self._write_transaction() as conn:
            head = self._head(conn)
            seq, prev_hash = (1, GENESIS_HASH) if head is None else (head.seq + 1, head.hash)
            stored = seal(
                prepared,
                seq=seq,
                prev_hash=prev_hash,
                record_id=record_id,
                created_at=format_timestamp(self._clock()),
            )
            self._insert(conn, stored)
            if self.signer is not None and self.checkpoint_every is not None and seq % self.checkpoint_every == 0:
                self._insert_checkpoint(conn, self.signer, ChainHead(seq=seq, hash=stored.hash), stored.created_at)
        return AuditRecord(
            seq=stored.seq,
            record_id=stored.record_id,
            created_at=parse_timestamp(stored.created_at),
            request_id=entry.request_id,
            actor_role=entry.actor_role,
            actor_id=entry.actor_id,
            model_version=entry.model_version,
            index_version=entry.index_version,
            outcome=entry.outcome,
            patient_pseudonym=entry.patient_pseudonym,
            diagnoses=tuple(entry.diagnoses),
            evidence_ids=tuple(entry.evidence_ids),
            trace=entry.trace,
            prev_hash=stored.prev_hash,
            hash=stored.hash,
            format_version=stored.format_version,
        )

    @staticmethod
    def _insert(conn: psycopg.Connection[Any], stored: StoredRecord) -> None:
        conn.execute(
            _q(f"INSERT INTO audit_records ({_RECORD_COLUMNS}) VALUES ({', '.join(['%s'] * 16)})"),
            (
                stored.seq,
                stored.record_id,
                stored.created_at,
                stored.request_id,
                stored.actor_role,
                stored.actor_id,
                stored.model_version,
                stored.index_version,
                stored.outcome,
                stored.patient_pseudonym,
                stored.diagnoses_json,
                stored.evidence_ids_json,
                stored.trace_json,
                stored.prev_hash,
                stored.hash,
                stored.format_version,
            ),
        )
        with conn.cursor() as cur:
            if stored.indexed_diagnoses:
                cur.executemany(
                    "INSERT INTO audit_record_diagnoses (seq, pos, code_key, name_key) VALUES (%s, %s, %s, %s)",
                    [(stored.seq, pos, code, name) for pos, (code, name) in enumerate(stored.indexed_diagnoses)],
                )
            if stored.indexed_evidence_ids:
                cur.executemany(
                    "INSERT INTO audit_record_evidence (seq, pos, doc_id) VALUES (%s, %s, %s)",
                    [(stored.seq, pos, doc_id) for pos, doc_id in enumerate(stored.indexed_evidence_ids)],
                )

    @staticmethod
    def _insert_checkpoint(
        conn: psycopg.Connection[Any], signer: CheckpointSigner, head: ChainHead, created_at: str
    ) -> Checkpoint:
        signature = signer.sign(
            checkpoint_payload(
                seq=head.seq, head_hash=head.hash, created_at=created_at, key_fingerprint=signer.fingerprint
            )
        )
        row = conn.execute(
            "INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_fingerprint, public_key, signature) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING checkpoint_id",
            (head.seq, head.hash, created_at, signer.fingerprint, signer.public_key_b64, signature),
        ).fetchone()
        assert row is not None
        return Checkpoint(
            checkpoint_id=int(row[0]),
            seq=head.seq,
            head_hash=head.hash,
            created_at=created_at,
            key_fingerprint=signer.fingerprint,
            public_key=signer.public_key_b64,
            signature=signature,
        )

    def checkpoint(self) -> Checkpoint:
        self._writable()
        if self.signer is None:
            raise SigningKeyError("this store has no checkpoint signer; open it with signer=CheckpointSigner(...)")
        signer = self.signer
        with self._write_transaction() as conn:
            head = self._head(conn)
            if head is None:
                raise EmptyLogError("cannot checkpoint an empty audit log")
            row = conn.execute(
                _q(
                    f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq = %s AND key_fingerprint = %s "
                    "ORDER BY checkpoint_id DESC LIMIT 1"
                ),
                (head.seq, signer.fingerprint),
            ).fetchone()
            if row is not None:
                return self._checkpoint_from_row(row)
            return self._insert_checkpoint(conn, signer, head, format_timestamp(self._clock()))

    # -- reads -----------------------------------------------------------------------------------------

    @staticmethod
    def _head(conn: psycopg.Connection[Any]) -> ChainHead | None:
        row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else ChainHead(seq=int(row[0]), hash=str(row[1]))

    def head(self) -> ChainHead | None:
        with self._lock:
            return self._head(self._connection())

    @staticmethod
    def _stored_from_row(
        row: Sequence[Any],
        diagnoses: tuple[tuple[str | None, str], ...] = (),
        evidence: tuple[str, ...] = (),
    ) -> StoredRecord:
        return StoredRecord(
            seq=int(row[0]),
            record_id=str(row[1]),
            created_at=str(row[2]),
            request_id=str(row[3]),
            actor_role=str(row[4]),
            actor_id=str(row[5]),
            model_version=str(row[6]),
            index_version=str(row[7]),
            outcome=str(row[8]),
            patient_pseudonym=None if row[9] is None else str(row[9]),
            diagnoses_json=str(row[10]),
            evidence_ids_json=str(row[11]),
            trace_json=str(row[12]),
            prev_hash=str(row[13]),
            hash=str(row[14]),
            format_version=int(row[15]),
            indexed_diagnoses=diagnoses,
            indexed_evidence_ids=evidence,
        )

    @classmethod
    def _record_from_row(cls, row: Sequence[Any]) -> AuditRecord:
        stored = cls._stored_from_row(row)
        try:
            return AuditRecord.from_stored(stored)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptRecordError(f"record {stored.seq} cannot be read ({exc}); run `audit verify`") from exc

    @staticmethod
    def _checkpoint_from_row(row: Sequence[Any]) -> Checkpoint:
        return Checkpoint(
            checkpoint_id=int(row[0]),
            seq=int(row[1]),
            head_hash=str(row[2]),
            created_at=str(row[3]),
            key_fingerprint=str(row[4]),
            public_key=str(row[5]),
            signature=str(row[6]),
        )

    def get(self, record_id: str) -> AuditRecord | None:
        with self._lock:
            row = (
                self._connection()
                .execute(_q(f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE record_id = %s"), (record_id,))
                .fetchone()
            )
        return None if row is None else self._record_from_row(row)

    def get_by_seq(self, seq: int) -> AuditRecord | None:
        with self._lock:
            row = (
                self._connection()
                .execute(_q(f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE seq = %s"), (seq,))
                .fetchone()
            )
        return None if row is None else self._record_from_row(row)

    @staticmethod
    def _where(query: AuditQuery, *, with_cursor: bool) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if query.since is not None:
            clauses.append("created_at >= %s")
            params.append(format_timestamp(query.since))
        if query.until is not None:
            clauses.append("created_at < %s")
            params.append(format_timestamp(query.until))
        for column, value in (
            ("patient_pseudonym", query.patient_pseudonym),
            ("model_version", query.model_version),
            ("index_version", query.index_version),
            ("outcome", query.outcome),
            ("request_id", query.request_id),
            ("actor_id", query.actor_id),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if query.diagnosis is not None:
            clauses.append(
                "seq IN (SELECT seq FROM audit_record_diagnoses WHERE code_key = %s "
                "UNION SELECT seq FROM audit_record_diagnoses WHERE name_key = %s)"
            )
            key = fold(query.diagnosis)
            params.extend((key, key))
        if query.evidence_id is not None:
            clauses.append("seq IN (SELECT seq FROM audit_record_evidence WHERE doc_id = %s)")
            params.append(query.evidence_id)
        after = query.after_cursor_seq() if with_cursor else None
        if after is not None:
            clauses.append("seq > %s" if query.order == "asc" else "seq < %s")
            params.append(after)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query(self, query: AuditQuery) -> AuditPage:
        where, params = self._where(query, with_cursor=True)
        order = "ASC" if query.order == "asc" else "DESC"
        statement = f"SELECT {_RECORD_COLUMNS} FROM audit_records{where} ORDER BY seq {order} LIMIT %s OFFSET %s"
        with self._lock:
            rows = self._connection().execute(_q(statement), [*params, query.limit + 1, query.offset]).fetchall()
        records = [self._record_from_row(row) for row in rows[: query.limit]]
        next_cursor = make_cursor(records[-1].seq) if len(rows) > query.limit else None
        return AuditPage(records=records, next_cursor=next_cursor)

    def count(self, query: AuditQuery) -> int:
        where, params = self._where(query, with_cursor=False)
        with self._lock:
            row = self._connection().execute(_q(f"SELECT COUNT(*) FROM audit_records{where}"), params).fetchone()
        assert row is not None
        return int(row[0])

    def iter_stored(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> Iterator[StoredRecord]:
        last = after_seq
        upper = up_to_seq if up_to_seq is not None else 2**63 - 1
        while True:
            with self._lock:
                conn = self._connection()
                rows = conn.execute(
                    _q(
                        f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE seq > %s AND seq <= %s "
                        "ORDER BY seq LIMIT %s"
                    ),
                    (last, upper, _BATCH),
                ).fetchall()
                if not rows:
                    return
                low, high = int(rows[0][0]), int(rows[-1][0])
                diagnoses: dict[int, list[tuple[str | None, str]]] = {}
                for seq, code_key, name_key in conn.execute(
                    "SELECT seq, code_key, name_key FROM audit_record_diagnoses WHERE seq BETWEEN %s AND %s "
                    "ORDER BY seq, pos",
                    (low, high),
                ):
                    diagnoses.setdefault(int(seq), []).append((code_key, name_key))
                evidence: dict[int, list[str]] = {}
                for seq, doc_id in conn.execute(
                    "SELECT seq, doc_id FROM audit_record_evidence WHERE seq BETWEEN %s AND %s ORDER BY seq, pos",
                    (low, high),
                ):
                    evidence.setdefault(int(seq), []).append(doc_id)
            for row in rows:
                seq = int(row[0])
                yield self._stored_from_row(row, tuple(diagnoses.get(seq, ())), tuple(evidence.get(seq, ())))
            last = high

    def checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            rows = (
                self._connection()
                .execute(_q(f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY checkpoint_id"))
                .fetchall()
            )
        return [self._checkpoint_from_row(row) for row in rows]
