"""The embedded audit store: one SQLite file in WAL mode, shared safely by several writer processes.

Concurrency design
------------------
* Every append runs in ``BEGIN IMMEDIATE``: the transaction takes SQLite's single write lock *before*
  it reads the chain head, so "read head, insert head + 1" is atomic across threads and processes. A
  deferred transaction would read first and fail with ``SQLITE_BUSY_SNAPSHOT`` (which the busy handler
  cannot retry) when another process wrote in between.
* Writers that find the lock taken wait in SQLite's busy handler (``busy_timeout_s``), not in Python.
* Canonicalising the entry (the expensive part) happens before the lock is taken; inside it only a small
  header is hashed.
* WAL mode lets readers (queries, verification) run while a writer commits; ``synchronous=FULL``
  fsyncs the WAL at every commit, so a record whose append returned survives a power cut or ``kill -9``.
* Within a process, one connection is shared behind a lock (``check_same_thread=False``). After a
  ``fork`` the child drops (without closing: SQLite forbids touching a connection across fork, closing
  included) the connection it inherited, opens its own, and gets a fresh lock in case another thread of
  the parent held it at the moment of the fork.

Tamper resistance inside the file: triggers abort UPDATE and DELETE on every table, and a BEFORE INSERT
trigger refuses any record that does not extend the head (wrong ``seq`` or ``prev_hash``), which also
stops ``INSERT OR REPLACE`` from silently swapping a row. Someone who edits the file directly (or drops
the triggers) is caught by :func:`audit.verify.verify`, not prevented.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from audit.chain import GENESIS_HASH
from audit.errors import AuditError, StoreUrlError
from audit.models import CONSIDERED_KEY, fold
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

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS audit_records (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        record_id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
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
        seq INTEGER NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        code_key TEXT,
        name_key TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    ) WITHOUT ROWID""",
    *DIAGNOSIS_INDEXES,
    """CREATE TABLE IF NOT EXISTS audit_record_evidence (
        seq INTEGER NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    ) WITHOUT ROWID""",
    *EVIDENCE_INDEXES,
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        checkpoint_id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL REFERENCES audit_records (seq),
        head_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        key_fingerprint TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL,
        root_hash TEXT,
        note TEXT,
        frontier TEXT
    )""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"""
        for table in APPEND_ONLY_TABLES
        for verb in ("UPDATE", "DELETE")
    ),
    f"""CREATE TRIGGER IF NOT EXISTS audit_records_extend_head BEFORE INSERT ON audit_records
    WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_records)
      OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_records WHERE seq = NEW.seq - 1), '{GENESIS_HASH}')
    BEGIN SELECT RAISE(ABORT, 'audit_records: an insert must extend the chain head'); END""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_head_only BEFORE INSERT ON {table}
        WHEN NEW.seq IS NOT (SELECT MAX(seq) FROM audit_records)
          OR EXISTS (SELECT 1 FROM {table} WHERE seq = NEW.seq AND pos = NEW.pos)
        BEGIN SELECT RAISE(ABORT, '{table}: rows may only be added for the head record'); END"""
        for table in ("audit_record_diagnoses", "audit_record_evidence")
    ),
    """CREATE TRIGGER IF NOT EXISTS audit_checkpoints_match_chain BEFORE INSERT ON audit_checkpoints
    WHEN NEW.head_hash IS NOT (SELECT hash FROM audit_records WHERE seq = NEW.seq)
      OR EXISTS (SELECT 1 FROM audit_checkpoints WHERE checkpoint_id = NEW.checkpoint_id)
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoints: a checkpoint must sign an existing record hash'); END""",
)


def _decode_text(raw: bytes) -> str:
    # Why "replace": a byte flipped inside a stored text must surface as a hash mismatch that verify
    # reports, not as a UnicodeDecodeError that stops every reader of the log.
    return raw.decode("utf-8", "replace")


def _fold_sql(value: object) -> str | None:
    return fold(value) if isinstance(value, str) else None


def _add_functions(conn: sqlite3.Connection) -> None:
    """``audit_fold``: the case folding of lookup keys (:func:`audit.models.fold`), which SQLite's ``lower`` is not."""
    conn.create_function("audit_fold", 1, _fold_sql, deterministic=True)


def sqlite_path_from_url(url: str) -> Path:
    """The file a ``sqlite:`` URL names, with SQLAlchemy's convention.

    ``sqlite:///var/audit.db`` is relative to the working directory; ``sqlite:////srv/audit.db`` (four
    slashes) is absolute. In-memory databases are refused: the log must be shared between processes and
    survive them.
    """
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise StoreUrlError(f"not a sqlite URL: {url!r}")
    if parts.netloc:
        raise StoreUrlError(
            f"sqlite URLs take no host: use sqlite:///relative.db or sqlite:////absolute.db, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise StoreUrlError(f"sqlite audit URLs take no query or fragment: {url!r}")
    raw = unquote(parts.path)
    if not raw.startswith("/") or len(raw) < 2:
        raise StoreUrlError(f"sqlite URL has no path: {url!r} (expected sqlite:///path/to/audit.db)")
    path = raw[1:]
    if path in (":memory:", "") or path.startswith("file:"):
        raise StoreUrlError("the audit log needs a database file shared by every process; in-memory is refused")
    return Path(path)


class SqliteAuditStore(SqlAuditStore[sqlite3.Connection]):
    """Audit log in one SQLite file (WAL, ``synchronous=FULL``), safe with several writer processes.

    ``signer``, ``checkpoint_every`` and ``clock`` are those of :class:`~audit.sql_store.SqlAuditStore`.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int | None = None,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
        read_only: bool = False,
        checkpoint_file: Path | None = None,
    ) -> None:
        if read_only and not Path(path).exists():
            raise AuditError(f"no audit log at {path}")
        self.path = Path(path)
        self._lock_fd: int | None = None
        super().__init__(
            signer=signer,
            checkpoint_every=checkpoint_every,
            busy_timeout_s=busy_timeout_s,
            clock=clock,
            read_only=read_only,
            checkpoint_file=checkpoint_file,
        )

    # -- connection management -------------------------------------------------------------------------

    def _forget_connection_after_fork(self) -> None:
        super()._forget_connection_after_fork()
        if self._lock_fd is not None:
            # Shared with the parent (same open file description): closing our copy is safe, unlocking
            # it would release the parent's lock.
            os.close(self._lock_fd)
            self._lock_fd = None

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            # Verification and export must not change the file they judge (not even restore a trigger).
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.text_factory = _decode_text
            _add_functions(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            try:
                version = conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.DatabaseError:
                version = None
            if version is not None and int(version[0]) != SCHEMA_VERSION:
                conn.close()
                raise AuditError(
                    f"{self.path} has audit schema version {version[0]}, this build reads {SCHEMA_VERSION}"
                    + (" (open it once for writing to upgrade it)" if int(version[0]) in MIGRATABLE_VERSIONS else "")
                )
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.text_factory = _decode_text
        _add_functions(conn)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            # Several processes opening a new file at once would race to switch it to WAL and create the
            # schema; taking the writers' turn makes them do it one after another.
            with self._writer_turn():
                self._enable_wal(conn)
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a fresh file to WAL needs a moment of exclusive access; a reader or another tool on
        # the file can make the switch report the old mode or fail busy instead of waiting, so retry.
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                # The mode switch can fail with SQLITE_BUSY without going through the busy handler
                # (e.g. while another tool holds the file); retry until the timeout like a busy wait.
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                mode = "busy"
            if mode == "wal":
                return
            if time.monotonic() > deadline:
                raise AuditError(f"could not switch {self.path} to WAL mode (journal_mode is {mode})")
            time.sleep(0.01)

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        # Run at every open, under the write lock so concurrent first opens do not race: the statements
        # are idempotent, and re-running them restores any trigger someone dropped (verify still reports
        # what was changed while it was gone).
        conn.execute("BEGIN IMMEDIATE")
        try:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_meta'"
            ).fetchone()
            version = (
                conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
                if has_meta
                else None
            )
            if version is not None and int(version[0]) not in (SCHEMA_VERSION, *MIGRATABLE_VERSIONS):
                # Checked before touching anything: a newer layout must not get this build's triggers.
                raise AuditError(
                    f"{self.path} has audit schema version {version[0]}, this build reads {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(audit_checkpoints)")}
            for column in CHECKPOINT_V2_COLUMNS:
                if column not in columns:  # version 1 -> 2
                    conn.execute(f"ALTER TABLE audit_checkpoints ADD COLUMN {column} TEXT")
            if version is None:
                conn.execute("INSERT INTO audit_meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(version[0]) != SCHEMA_VERSION:
                conn.execute("UPDATE audit_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            super().close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
            self._lock_fd = None

    # -- what queries read inside a trace ----------------------------------------------------------------

    def _trace_text_sql(self, key: str) -> str:
        return f"json_extract(trace, '$.{key}')"

    def _trace_contains_sql(self) -> str:
        return "instr(trace, ?) > 0"

    def _considered_seqs_sql(self, keys: int) -> str:
        marks = ", ".join("?" * keys)
        # instr() first: a cheap scan of the text skips every trace without a considered candidate unparsed.
        return (
            "SELECT r.seq FROM audit_records r, json_each(r.trace, '$.considered') c "
            f"WHERE r.outcome <> ? AND instr(r.trace, '\"{CONSIDERED_KEY}\":[{{') > 0 "
            f"AND (audit_fold(json_extract(c.value, '$.code')) IN ({marks}) "
            f"OR audit_fold(json_extract(c.value, '$.name')) IN ({marks}))"
        )

    def _reading_seqs_sql(self) -> str:
        return (
            "SELECT a.seq FROM audit_records a, json_each(a.trace, '$.records') e WHERE a.outcome = ? "
            "AND e.value IN (SELECT record_id FROM audit_records WHERE patient_pseudonym = ?)"
        )

    # -- statements and transactions -------------------------------------------------------------------

    def _execute(
        self, conn: sqlite3.Connection, statement: str, params: Sequence[object] | None = None
    ) -> sqlite3.Cursor:
        return conn.execute(statement, () if params is None else params)

    def _execute_many(self, conn: sqlite3.Connection, statement: str, rows: Sequence[Sequence[object]]) -> None:
        conn.executemany(statement, rows)

    def _insert_returning_id(
        self, conn: sqlite3.Connection, statement: str, params: Sequence[object], id_column: str
    ) -> int:
        row_id = conn.execute(statement, params).lastrowid  # id_column is the table's INTEGER PRIMARY KEY
        assert row_id is not None
        return row_id

    @contextmanager
    def _write_transaction(self) -> Iterator[sqlite3.Connection]:
        """One writer at a time, across threads and processes: commit on success, roll back on error."""
        with self._lock:
            conn = self._connection()  # before the turn: opening a connection takes the turn itself
            with self._writer_turn():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """Queue for the write lock on a sidecar ``flock`` before asking SQLite for it.

        Why: a writer that finds SQLite's lock taken sleeps in the busy handler for up to 100 ms per try
        while the holder takes the lock again and again, so under contention between processes some
        appends starve. Measured with 4 processes x 500 appends on a 2-core machine: worst append
        0.6-1.7 s and p99 83-112 ms through the busy handler alone, 0.10-0.12 s and 42-71 ms with this
        turn, at the same throughput. Waiting here re-polls within 2 ms. ``BEGIN IMMEDIATE`` still
        provides the atomicity; this only shortens the wait, and a writer that skips it (another tool)
        is still serialised by SQLite.
        """
        if self._lock_fd is None:
            self._lock_fd = os.open(f"{self.path}-lock", os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._lock_fd
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AuditError(f"timed out after {self.busy_timeout_s} s waiting to write {self.path}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.002)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
