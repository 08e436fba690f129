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
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from audit.chain import GENESIS_HASH, fold, prepare, seal
from audit.errors import AuditError, CorruptRecordError, EmptyLogError, SigningKeyError, StoreUrlError
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
    "CREATE INDEX IF NOT EXISTS audit_records_created_at ON audit_records (created_at)",
    "CREATE INDEX IF NOT EXISTS audit_records_patient ON audit_records (patient_pseudonym)",
    "CREATE INDEX IF NOT EXISTS audit_records_model ON audit_records (model_version)",
    "CREATE INDEX IF NOT EXISTS audit_records_index_version ON audit_records (index_version)",
    "CREATE INDEX IF NOT EXISTS audit_records_outcome ON audit_records (outcome)",
    "CREATE INDEX IF NOT EXISTS audit_records_request ON audit_records (request_id)",
    "CREATE INDEX IF NOT EXISTS audit_records_actor ON audit_records (actor_id)",
    """CREATE TABLE IF NOT EXISTS audit_record_diagnoses (
        seq INTEGER NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        code_key TEXT,
        name_key TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS audit_record_diagnoses_code ON audit_record_diagnoses (code_key)",
    "CREATE INDEX IF NOT EXISTS audit_record_diagnoses_name ON audit_record_diagnoses (name_key)",
    """CREATE TABLE IF NOT EXISTS audit_record_evidence (
        seq INTEGER NOT NULL REFERENCES audit_records (seq),
        pos INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (seq, pos)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS audit_record_evidence_doc ON audit_record_evidence (doc_id)",
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        checkpoint_id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL REFERENCES audit_records (seq),
        head_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        key_fingerprint TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"""
        for table in _APPEND_ONLY_TABLES
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

_RECORD_COLUMNS = (
    "seq, record_id, created_at, request_id, actor_role, actor_id, model_version, index_version, outcome, "
    "patient_pseudonym, diagnoses, evidence_ids, trace, prev_hash, hash, format_version"
)

_CHECKPOINT_COLUMNS = "checkpoint_id, seq, head_hash, created_at, key_fingerprint, public_key, signature"

#: How many records :meth:`SqliteAuditStore.iter_stored` reads per round trip.
_BATCH = 500


def _decode_text(raw: bytes) -> str:
    # Why "replace": a byte flipped inside a stored text must surface as a hash mismatch that verify
    # reports, not as a UnicodeDecodeError that stops every reader of the log.
    return raw.decode("utf-8", "replace")


def _utc_now() -> datetime:
    return datetime.now(UTC)


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


_LIVE_STORES: weakref.WeakSet[SqliteAuditStore] = weakref.WeakSet()
# Connections inherited through fork: referenced forever so they are never closed in the child.
_INHERITED_CONNECTIONS: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for store in list(_LIVE_STORES):
        store._forget_connection_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SqliteAuditStore(AuditStore):
    """Audit log in one SQLite file (WAL, ``synchronous=FULL``), safe with several writer processes.

    ``signer`` and ``checkpoint_every`` enable automatic checkpoints: the append that writes record
    ``k * checkpoint_every`` also signs that head, in the same transaction. ``clock`` exists for tests
    (timestamps are taken inside the write lock, so they follow chain order on one machine).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int | None = None,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = _utc_now,
        read_only: bool = False,
    ) -> None:
        if read_only and not Path(path).exists():
            raise AuditError(f"no audit log at {path}")
        if checkpoint_every is not None:
            if checkpoint_every < 1:
                raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
            if signer is None:
                raise SigningKeyError("checkpoint_every needs a signer")
        self.path = Path(path)
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.busy_timeout_s = busy_timeout_s
        self._clock = clock
        self.read_only = read_only
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._closed = False
        _LIVE_STORES.add(self)
        self._connection()  # create the file and schema now, so configuration errors surface at startup

    # -- connection management -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise AuditError("the audit store is closed")
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _forget_connection_after_fork(self) -> None:
        self._lock = threading.RLock()
        if self._conn is not None:
            _INHERITED_CONNECTIONS.append(self._conn)
            self._conn = None
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
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.text_factory = _decode_text
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
            if version is not None and int(version[0]) != SCHEMA_VERSION:
                # Checked before touching anything: a newer layout must not get this build's triggers.
                raise AuditError(
                    f"{self.path} has audit schema version {version[0]}, this build reads {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            if version is None:
                conn.execute("INSERT INTO audit_meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
            self._conn = None
            self._lock_fd = None
            self._closed = True

    # -- writes ----------------------------------------------------------------------------------------

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

    def _writable(self) -> None:
        if self.read_only:
            raise AuditError("this audit store was opened read-only")

    def append(self, entry: AuditEntry) -> AuditRecord:
        self._writable()
        prepared = prepare(entry)  # canonicalise outside the write lock
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
    def _insert(conn: sqlite3.Connection, stored: StoredRecord) -> None:
        conn.execute(
            f"INSERT INTO audit_records ({_RECORD_COLUMNS}) VALUES ({', '.join('?' * 16)})",
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
        if stored.indexed_diagnoses:
            conn.executemany(
                "INSERT INTO audit_record_diagnoses (seq, pos, code_key, name_key) VALUES (?, ?, ?, ?)",
                [(stored.seq, pos, code, name) for pos, (code, name) in enumerate(stored.indexed_diagnoses)],
            )
        if stored.indexed_evidence_ids:
            conn.executemany(
                "INSERT INTO audit_record_evidence (seq, pos, doc_id) VALUES (?, ?, ?)",
                [(stored.seq, pos, doc_id) for pos, doc_id in enumerate(stored.indexed_evidence_ids)],
            )

    @staticmethod
    def _insert_checkpoint(
        conn: sqlite3.Connection, signer: CheckpointSigner, head: ChainHead, created_at: str
    ) -> Checkpoint:
        signature = signer.sign(
            checkpoint_payload(
                seq=head.seq, head_hash=head.hash, created_at=created_at, key_fingerprint=signer.fingerprint
            )
        )
        cursor = conn.execute(
            "INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_fingerprint, public_key, signature) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (head.seq, head.hash, created_at, signer.fingerprint, signer.public_key_b64, signature),
        )
        checkpoint_id = cursor.lastrowid
        assert checkpoint_id is not None
        return Checkpoint(
            checkpoint_id=checkpoint_id,
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
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq = ? AND key_fingerprint = ? "
                "ORDER BY checkpoint_id DESC LIMIT 1",
                (head.seq, signer.fingerprint),
            ).fetchone()
            if row is not None:
                return self._checkpoint_from_row(row)
            return self._insert_checkpoint(conn, signer, head, format_timestamp(self._clock()))

    # -- reads -----------------------------------------------------------------------------------------

    @staticmethod
    def _head(conn: sqlite3.Connection) -> ChainHead | None:
        row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else ChainHead(seq=int(row[0]), hash=str(row[1]))

    def head(self) -> ChainHead | None:
        with self._lock:
            return self._head(self._connection())

    @staticmethod
    def _stored_from_row(
        row: Sequence[object],
        diagnoses: tuple[tuple[str | None, str], ...] = (),
        evidence: tuple[str, ...] = (),
    ) -> StoredRecord:
        def text(value: object) -> str:
            return value if isinstance(value, str) else str(value)

        return StoredRecord(
            seq=int(str(row[0])),
            record_id=text(row[1]),
            created_at=text(row[2]),
            request_id=text(row[3]),
            actor_role=text(row[4]),
            actor_id=text(row[5]),
            model_version=text(row[6]),
            index_version=text(row[7]),
            outcome=text(row[8]),
            patient_pseudonym=None if row[9] is None else text(row[9]),
            diagnoses_json=text(row[10]),
            evidence_ids_json=text(row[11]),
            trace_json=text(row[12]),
            prev_hash=text(row[13]),
            hash=text(row[14]),
            format_version=int(str(row[15])),
            indexed_diagnoses=diagnoses,
            indexed_evidence_ids=evidence,
        )

    @staticmethod
    def _record_from_row(row: Sequence[object]) -> AuditRecord:
        stored = SqliteAuditStore._stored_from_row(row)
        try:
            return AuditRecord.from_stored(stored)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptRecordError(f"record {stored.seq} cannot be read ({exc}); run `audit verify`") from exc

    @staticmethod
    def _checkpoint_from_row(row: Sequence[object]) -> Checkpoint:
        return Checkpoint(
            checkpoint_id=int(str(row[0])),
            seq=int(str(row[1])),
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
                .execute(f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE record_id = ?", (record_id,))
                .fetchone()
            )
        return None if row is None else self._record_from_row(row)

    def get_by_seq(self, seq: int) -> AuditRecord | None:
        with self._lock:
            row = (
                self._connection()
                .execute(f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE seq = ?", (seq,))
                .fetchone()
            )
        return None if row is None else self._record_from_row(row)

    @staticmethod
    def _where(query: AuditQuery, *, with_cursor: bool) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if query.since is not None:
            clauses.append("created_at >= ?")
            params.append(format_timestamp(query.since))
        if query.until is not None:
            clauses.append("created_at < ?")
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
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.diagnosis is not None:
            # A UNION of two indexed lookups instead of "code_key = ? OR name_key = ?", which SQLite
            # may answer with a full scan.
            clauses.append(
                "seq IN (SELECT seq FROM audit_record_diagnoses WHERE code_key = ? "
                "UNION SELECT seq FROM audit_record_diagnoses WHERE name_key = ?)"
            )
            key = fold(query.diagnosis)
            params.extend((key, key))
        if query.evidence_id is not None:
            clauses.append("seq IN (SELECT seq FROM audit_record_evidence WHERE doc_id = ?)")
            params.append(query.evidence_id)
        after = query.after_cursor_seq() if with_cursor else None
        if after is not None:
            clauses.append("seq > ?" if query.order == "asc" else "seq < ?")
            params.append(after)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query(self, query: AuditQuery) -> AuditPage:
        where, params = self._where(query, with_cursor=True)
        order = "ASC" if query.order == "asc" else "DESC"
        sql = f"SELECT {_RECORD_COLUMNS} FROM audit_records{where} ORDER BY seq {order} LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._connection().execute(sql, [*params, query.limit + 1, query.offset]).fetchall()
        records = [self._record_from_row(row) for row in rows[: query.limit]]
        next_cursor = make_cursor(records[-1].seq) if len(rows) > query.limit else None
        return AuditPage(records=records, next_cursor=next_cursor)

    def count(self, query: AuditQuery) -> int:
        where, params = self._where(query, with_cursor=False)
        with self._lock:
            row = self._connection().execute(f"SELECT COUNT(*) FROM audit_records{where}", params).fetchone()
        return int(row[0])

    def iter_stored(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> Iterator[StoredRecord]:
        last = after_seq
        upper = up_to_seq if up_to_seq is not None else 2**63 - 1
        while True:
            with self._lock:
                conn = self._connection()
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (last, upper, _BATCH),
                ).fetchall()
                if not rows:
                    return
                low, high = int(rows[0][0]), int(rows[-1][0])
                diagnoses: dict[int, list[tuple[str | None, str]]] = {}
                for seq, code_key, name_key in conn.execute(
                    "SELECT seq, code_key, name_key FROM audit_record_diagnoses WHERE seq BETWEEN ? AND ? "
                    "ORDER BY seq, pos",
                    (low, high),
                ):
                    diagnoses.setdefault(int(seq), []).append((code_key, name_key))
                evidence: dict[int, list[str]] = {}
                for seq, doc_id in conn.execute(
                    "SELECT seq, doc_id FROM audit_record_evidence WHERE seq BETWEEN ? AND ? ORDER BY seq, pos",
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
                .execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY checkpoint_id")
                .fetchall()
            )
        return [self._checkpoint_from_row(row) for row in rows]
