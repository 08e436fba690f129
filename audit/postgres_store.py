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

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from audit.chain import GENESIS_HASH
from audit.errors import AuditError
from audit.models import CONSIDERED_KEY
from audit.signing import CheckpointSigner
from audit.sql_store import (
    APPEND_ONLY_TABLES,
    CHECKPOINT_V2_COLUMNS,
    DIAGNOSIS_INDEXES,
    EVIDENCE_INDEXES,
    MIGRATABLE_VERSIONS,
    RECORD_INDEXES,
    SCHEMA_VERSION,
    SqlAuditStore,
    utc_now,
)

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
    *RECORD_INDEXES,
    """CREATE TABLE IF NOT EXISTS audit_record_diagnoses (
        seq BIGINT NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        code_key TEXT,
        name_key TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    )""",
    *DIAGNOSIS_INDEXES,
    """CREATE TABLE IF NOT EXISTS audit_record_evidence (
        seq BIGINT NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    )""",
    *EVIDENCE_INDEXES,
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        checkpoint_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        seq BIGINT NOT NULL REFERENCES audit_records (seq),
        head_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        key_fingerprint TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL,
        root_hash TEXT,
        note TEXT,
        frontier TEXT
    )""",
    *(f"ALTER TABLE audit_checkpoints ADD COLUMN IF NOT EXISTS {column} TEXT" for column in CHECKPOINT_V2_COLUMNS),
    """CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
    END $$""",
    *(
        f"""CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"""
        for table in APPEND_ONLY_TABLES
    ),
    *(
        f"""CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"""
        for table in APPEND_ONLY_TABLES
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


def _q(text: str) -> sql.SQL:
    # Statements composed with f-strings here and in audit.sql_store use only constants of those modules
    # (table and column names, the lock key), never input values: values travel as parameters.
    return sql.SQL(text)


def libpq_url(url: str) -> str:
    """The URL libpq accepts: ``postgresql+psycopg://`` and ``postgres://`` become ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme.lower() in ("postgres", "postgresql") or scheme.lower().startswith("postgresql+"):
        return "postgresql://" + rest
    return url


class PostgresAuditStore(SqlAuditStore[psycopg.Connection[Any]]):
    """Audit log in PostgreSQL tables (in the connection's ``search_path`` schema), psycopg 3, sync.

    ``signer``, ``checkpoint_every`` and ``clock`` are those of :class:`~audit.sql_store.SqlAuditStore`.
    ``read_only`` opens read-only transactions and never creates the schema.
    """

    def __init__(
        self,
        url: str,
        *,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int | None = None,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
        read_only: bool = False,
        connect_timeout_s: float = 10.0,
        checkpoint_file: Path | None = None,
    ) -> None:
        self.url = libpq_url(url)
        self.connect_timeout_s = connect_timeout_s
        super().__init__(
            signer=signer,
            checkpoint_every=checkpoint_every,
            busy_timeout_s=busy_timeout_s,
            clock=clock,
            read_only=read_only,
            checkpoint_file=checkpoint_file,
        )

    # -- connection management -------------------------------------------------------------------------

    def _connection_lost(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.closed

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
                if self._check_version(conn) != SCHEMA_VERSION:
                    raise AuditError(
                        f"this PostgreSQL log has an older audit schema; open it once for writing to upgrade it "
                        f"to version {SCHEMA_VERSION}"
                    )
            else:
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _check_version(conn: psycopg.Connection[Any]) -> int | None:
        """The log's schema version (None before one is recorded); raise on one this build cannot read."""
        has_meta = conn.execute("SELECT to_regclass('audit_meta')").fetchone()
        if has_meta is None or has_meta[0] is None:
            return None
        row = conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return None
        if int(row[0]) not in (SCHEMA_VERSION, *MIGRATABLE_VERSIONS):
            raise AuditError(
                f"this PostgreSQL log has audit schema version {row[0]}, this build reads {SCHEMA_VERSION}"
            )
        return int(row[0])

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        # Idempotent, run at every open under the log's advisory lock (concurrent first opens would race on
        # the catalogs otherwise); it also restores a dropped trigger.
        with conn.transaction():
            conn.execute(_q(f"SELECT pg_advisory_xact_lock({_LOCK_KEY_SQL})"))
            version = self._check_version(conn)
            for statement in _SCHEMA:
                conn.execute(_q(statement))
            if version is None:
                conn.execute(
                    "INSERT INTO audit_meta (key, value) VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),)
                )
            elif version != SCHEMA_VERSION:  # the ALTERs above upgraded it
                conn.execute("UPDATE audit_meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    # -- what queries read inside a trace ----------------------------------------------------------------

    def _trace_text_sql(self, key: str) -> str:
        return f"(trace::jsonb ->> '{key}')"

    def _trace_contains_sql(self) -> str:
        return "strpos(trace, ?) > 0"

    @staticmethod
    def _trace_list(alias: str, key: str) -> str:
        value = f"{alias}.trace::jsonb -> '{key}'"
        return f"(CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} ELSE '[]'::jsonb END)"

    def _considered_seqs_sql(self, keys: int) -> str:
        marks = ", ".join("?" * keys)
        return (
            f"SELECT r.seq FROM audit_records r CROSS JOIN LATERAL jsonb_array_elements("
            f"{self._trace_list('r', CONSIDERED_KEY)}) AS c(value) "
            f"WHERE r.outcome <> ? AND strpos(r.trace, '\"{CONSIDERED_KEY}\":[{{') > 0 "
            f"AND (lower(c.value ->> 'code') IN ({marks}) OR lower(c.value ->> 'name') IN ({marks}))"
        )

    def _reading_seqs_sql(self) -> str:
        return (
            f"SELECT a.seq FROM audit_records a CROSS JOIN LATERAL jsonb_array_elements_text("
            f"{self._trace_list('a', 'records')}) AS e(value) WHERE a.outcome = ? "
            "AND e.value IN (SELECT record_id FROM audit_records WHERE patient_pseudonym = ?)"
        )

    # -- statements and transactions -------------------------------------------------------------------

    def _execute(
        self, conn: psycopg.Connection[Any], statement: str, params: Sequence[object] | None = None
    ) -> psycopg.Cursor[Any]:
        # The shared statements hold no literal "?" or "%", so every "?" is a placeholder.
        return conn.execute(_q(statement.replace("?", "%s")), params)

    def _execute_many(self, conn: psycopg.Connection[Any], statement: str, rows: Sequence[Sequence[object]]) -> None:
        with conn.cursor() as cur:
            cur.executemany(_q(statement.replace("?", "%s")), rows)

    def _insert_returning_id(
        self, conn: psycopg.Connection[Any], statement: str, params: Sequence[object], id_column: str
    ) -> int:
        row = self._execute(conn, f"{statement} RETURNING {id_column}", params).fetchone()
        assert row is not None
        return int(row[0])

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
