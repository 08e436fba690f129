"""The chain protocol both SQL audit stores share, written once over one table layout.

:class:`SqlAuditStore` holds what is the same SQL on SQLite and PostgreSQL: reading the head and inserting
head + 1 (with its lookup rows and, every ``checkpoint_every`` records, a signed checkpoint) inside one
write transaction, on-demand checkpoints, the WHERE clauses of auditors' queries and their cursors,
batched reads for verification, decoding rows into records, and the per-process plumbing (one connection
behind a lock, forgotten in a forked child). Statements here use ``?`` placeholders. A backend supplies
only what differs:

* :meth:`~SqlAuditStore._connect`: open a connection, set durability, create or check the schema;
* :meth:`~SqlAuditStore._write_transaction`: a transaction in which this writer alone extends the chain
  (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``pg_advisory_xact_lock``), committed on success;
* :meth:`~SqlAuditStore._execute`, :meth:`~SqlAuditStore._execute_many` and
  :meth:`~SqlAuditStore._insert_returning_id`: run a statement in the driver's placeholder style.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import weakref
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from audit.canonical import canonical_text
from audit.chain import GENESIS_HASH, hash_payload, prepare, seal
from audit.errors import AuditError, CorruptRecordError, EmptyLogError, SigningKeyError
from audit.merkle import MerkleFrontier, leaf_hash
from audit.models import (
    ACCESS_OUTCOME,
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
from audit.note import TreeHead, open_note
from audit.signing import CheckpointSigner, raw_public_bytes
from audit.store import AuditStore
from audit.witness import append_checkpoint

log = logging.getLogger(__name__)

#: 2 added the Merkle root, frontier and signed note to checkpoints; a writer migrates a version-1 log.
SCHEMA_VERSION = 2
#: Schema versions a writer upgrades to :data:`SCHEMA_VERSION` when it opens the log.
MIGRATABLE_VERSIONS = (1,)
#: Columns version 2 added to ``audit_checkpoints`` (all nullable: version-1 checkpoints have none).
CHECKPOINT_V2_COLUMNS = ("root_hash", "frontier", "note")

APPEND_ONLY_TABLES = ("audit_records", "audit_record_diagnoses", "audit_record_evidence", "audit_checkpoints")

#: The indexes of every query field, the same SQL on each backend (created after their tables).
RECORD_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS audit_records_created_at ON audit_records (created_at)",
    "CREATE INDEX IF NOT EXISTS audit_records_patient ON audit_records (patient_pseudonym)",
    "CREATE INDEX IF NOT EXISTS audit_records_model ON audit_records (model_version)",
    "CREATE INDEX IF NOT EXISTS audit_records_index_version ON audit_records (index_version)",
    "CREATE INDEX IF NOT EXISTS audit_records_outcome ON audit_records (outcome)",
    "CREATE INDEX IF NOT EXISTS audit_records_request ON audit_records (request_id)",
    "CREATE INDEX IF NOT EXISTS audit_records_actor ON audit_records (actor_id)",
)
DIAGNOSIS_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS audit_record_diagnoses_code ON audit_record_diagnoses (code_key)",
    "CREATE INDEX IF NOT EXISTS audit_record_diagnoses_name ON audit_record_diagnoses (name_key)",
)
EVIDENCE_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS audit_record_evidence_doc ON audit_record_evidence (doc_id)",
)

_RECORD_COLUMNS = (
    "seq, record_id, created_at, request_id, actor_role, actor_id, model_version, index_version, outcome, "
    "patient_pseudonym, diagnoses, evidence_ids, trace, prev_hash, hash, format_version"
)

_CHECKPOINT_COLUMNS = (
    "checkpoint_id, seq, head_hash, created_at, key_fingerprint, public_key, signature, root_hash, note, frontier"
)

#: How many records :meth:`SqlAuditStore.iter_stored` reads per round trip.
_BATCH = 500

Row = Sequence[Any]


class Connection(Protocol):
    def close(self) -> None: ...


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


ConnT = TypeVar("ConnT", bound=Connection)


def utc_now() -> datetime:
    return datetime.now(UTC)


_LIVE_STORES: weakref.WeakSet[SqlAuditStore[Any]] = weakref.WeakSet()
# Connections inherited through fork: referenced forever so they are never closed (nor finalised) in the
# child. SQLite forbids touching a connection across fork, closing included; closing a PostgreSQL one
# would end the parent's session on the shared socket.
_INHERITED_CONNECTIONS: list[object] = []


def _after_fork_in_child() -> None:
    for store in list(_LIVE_STORES):
        store._forget_connection_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SqlAuditStore(AuditStore, Generic[ConnT]):
    """An audit log in SQL tables, one connection per store (behind a lock), the chain protocol in SQL.

    ``signer`` and ``checkpoint_every`` enable automatic checkpoints: the append that writes record
    ``k * checkpoint_every`` also signs that head (tree size, Merkle root, chain head, time: a signed
    note), in the same transaction. ``checkpoint_file`` publishes every checkpoint this store signs to an
    append-only file outside the database (:mod:`audit.witness`) once its transaction has committed.
    ``clock`` exists for tests (timestamps are taken inside the write transaction, so they follow chain
    order on one machine). A backend sets what its :meth:`_connect` needs, then calls this ``__init__``, which connects.
    """

    def __init__(
        self,
        *,
        signer: CheckpointSigner | None,
        checkpoint_every: int | None,
        busy_timeout_s: float,
        clock: Callable[[], datetime],
        read_only: bool,
        checkpoint_file: Path | None = None,
    ) -> None:
        if checkpoint_every is not None:
            if checkpoint_every < 1:
                raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
            if signer is None:
                raise SigningKeyError("checkpoint_every needs a signer")
        if checkpoint_file is not None and signer is None:
            raise SigningKeyError("checkpoint_file needs a signer")
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_file = checkpoint_file
        # The Merkle frontier at the head this process last wrote: (seq, chain hash, frontier).
        self._tree: tuple[int, str, MerkleFrontier] | None = None
        self.busy_timeout_s = busy_timeout_s
        self._clock = clock
        self.read_only = read_only
        self._lock = threading.RLock()
        self._conn: ConnT | None = None
        self._closed = False
        _LIVE_STORES.add(self)
        self._connection()  # connect and create the schema now, so configuration errors surface at startup

    # -- backend hooks ---------------------------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> ConnT:
        """A new connection with the backend's durability settings and a checked (or created) schema."""

    @abstractmethod
    def _write_transaction(self) -> AbstractContextManager[ConnT]:
        """Hold this store's lock and the log's write lock: commit on success, roll back on error."""

    @abstractmethod
    def _execute(self, conn: ConnT, statement: str, params: Sequence[object] | None = None) -> Cursor:
        """Run one statement written with ``?`` placeholders."""

    @abstractmethod
    def _execute_many(self, conn: ConnT, statement: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement written with ``?`` placeholders once per row."""

    @abstractmethod
    def _insert_returning_id(self, conn: ConnT, statement: str, params: Sequence[object], id_column: str) -> int:
        """Run an INSERT of one row and return the value its database generated for ``id_column``."""

    def _connection_lost(self, conn: ConnT) -> bool:
        """True when ``conn`` was closed under the store (by the server, say) and must be replaced."""
        return False

    # -- connection management -------------------------------------------------------------------------

    def _connection(self) -> ConnT:
        if self._closed:
            raise AuditError("the audit store is closed")
        if self._conn is None or self._connection_lost(self._conn):
            self._conn = self._connect()
        return self._conn

    def _forget_connection_after_fork(self) -> None:
        self._lock = threading.RLock()  # another thread of the parent may have held it at the fork
        if self._conn is not None:
            _INHERITED_CONNECTIONS.append(self._conn)
            self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._closed = True

    # -- writes ----------------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise AuditError("this audit store was opened read-only")

    def append(self, entry: AuditEntry) -> AuditRecord:
        self._writable()
        prepared = prepare(entry)  # canonicalise outside the write transaction
        record_id = str(uuid.uuid4())
        checkpoint = None
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
            if self.signer is not None:
                due = self.checkpoint_every is not None and seq % self.checkpoint_every == 0
                # Extend this process's frontier when it is the head's; when another writer moved the head,
                # rebuild only when a checkpoint is due (at most once per N appends, never per append).
                frontier = self._cached_frontier(head)
                if frontier is None and due:
                    frontier = self._frontier_at(conn, head)
                self._tree = None  # until the frontier below is the committed head's
                if frontier is not None:
                    frontier.append(leaf_hash(hash_payload(stored)))
                    self._tree = (seq, stored.hash, frontier)
                if due and frontier is not None:
                    checkpoint = self._insert_checkpoint(
                        conn, self.signer, ChainHead(seq=seq, hash=stored.hash), stored.created_at, frontier
                    )
        if checkpoint is not None:
            self._publish(checkpoint, raise_errors=False)
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

    def _insert(self, conn: ConnT, stored: StoredRecord) -> None:
        self._execute(
            conn,
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
            self._execute_many(
                conn,
                "INSERT INTO audit_record_diagnoses (seq, pos, code_key, name_key) VALUES (?, ?, ?, ?)",
                [(stored.seq, pos, code, name) for pos, (code, name) in enumerate(stored.indexed_diagnoses)],
            )
        if stored.indexed_evidence_ids:
            self._execute_many(
                conn,
                "INSERT INTO audit_record_evidence (seq, pos, doc_id) VALUES (?, ?, ?)",
                [(stored.seq, pos, doc_id) for pos, doc_id in enumerate(stored.indexed_evidence_ids)],
            )

    def _cached_frontier(self, head: ChainHead | None) -> MerkleFrontier | None:
        """The frontier at ``head`` without reading the database, if this process knows it."""
        if head is None:
            return MerkleFrontier()
        if self._tree is not None and self._tree[:2] == (head.seq, head.hash):
            return self._tree[2]
        return None

    def _trusted_frontier(self, checkpoint: Checkpoint) -> MerkleFrontier | None:
        """The checkpoint's stored frontier, if this store's own key signed a note whose size and root it gives.

        The frontier column is not signed; a writer that extended an edited one would sign wrong roots from
        then on. Checking it against the signed note costs one signature verification per rebuild.
        """
        signer = self.signer
        if signer is None or checkpoint.note is None or checkpoint.frontier is None:
            return None
        try:
            frontier = MerkleFrontier.from_text(checkpoint.frontier)
            head = open_note(checkpoint.note, signer.public_key, raw_public_bytes(signer.public_key))
        except ValueError:  # NoteError is a ValueError
            return None
        if (head.size, head.root_hash) != (frontier.size, frontier.root().hex()) or head.size != checkpoint.seq:
            return None
        return frontier

    def _frontier_at(self, conn: ConnT, head: ChainHead | None) -> MerkleFrontier:
        """The Merkle frontier of records 1..head, inside the write transaction.

        From this process's last append when nobody wrote since; otherwise from the latest stored
        frontier at or below the head (a checkpoint's), extended by the records after it: at most
        ``checkpoint_every`` records are read when checkpoints are automatic.
        """
        cached = self._cached_frontier(head)
        if cached is not None:
            return cached
        assert head is not None  # the empty log's frontier is always known
        frontier = MerkleFrontier()
        row = self._execute(
            conn,
            f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE frontier IS NOT NULL AND seq <= ? "
            "ORDER BY seq DESC, checkpoint_id DESC LIMIT 1",
            (head.seq,),
        ).fetchone()
        if row is not None:
            trusted = self._trusted_frontier(self._checkpoint_from_row(row))
            if trusted is None:
                log.warning("audit: the latest stored Merkle frontier is not one this key signed; rebuilding from 1")
            else:
                frontier = trusted
        last = frontier.size
        while last < head.seq:
            rows = self._execute(
                conn,
                f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (last, head.seq, _BATCH),
            ).fetchall()
            if not rows:
                break
            for record_row in rows:
                stored = self._stored_from_row(record_row)
                if stored.seq != frontier.size + 1:
                    raise CorruptRecordError(f"record {frontier.size + 1} is missing; run `audit verify`")
                try:
                    frontier.append(leaf_hash(hash_payload(stored)))
                except (ValueError, TypeError) as exc:
                    raise CorruptRecordError(f"record {stored.seq} cannot be read ({exc}); run `audit verify`") from exc
            last = frontier.size
        return frontier

    def _insert_checkpoint(
        self, conn: ConnT, signer: CheckpointSigner, head: ChainHead, created_at: str, frontier: MerkleFrontier
    ) -> Checkpoint:
        if frontier.size != head.seq:
            raise AuditError(f"Merkle frontier covers {frontier.size} records, the head is {head.seq}")
        root_hash = frontier.root().hex()
        note, signature = signer.sign_tree_head(
            TreeHead(size=head.seq, root_hash=root_hash, chain_head=head.hash, time=created_at)
        )
        frontier_text = frontier.to_text()
        checkpoint_id = self._insert_returning_id(
            conn,
            "INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_fingerprint, public_key, signature, "
            "root_hash, note, frontier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                head.seq,
                head.hash,
                created_at,
                signer.fingerprint,
                signer.public_key_b64,
                signature,
                root_hash,
                note,
                frontier_text,
            ),
            "checkpoint_id",
        )
        return Checkpoint(
            checkpoint_id=checkpoint_id,
            seq=head.seq,
            head_hash=head.hash,
            created_at=created_at,
            key_fingerprint=signer.fingerprint,
            public_key=signer.public_key_b64,
            signature=signature,
            root_hash=root_hash,
            note=note,
            frontier=frontier_text,
        )

    def _publish(self, checkpoint: Checkpoint, *, raise_errors: bool) -> None:
        """Append a committed checkpoint to the checkpoint file, if one is configured.

        An automatic checkpoint whose publication fails is logged, not raised: its record is committed,
        and the next checkpoint published extends it (consistency proofs cover the gap).
        """
        if self.checkpoint_file is None:
            return
        try:
            append_checkpoint(self.checkpoint_file, checkpoint)
        except OSError as exc:
            if raise_errors:
                raise AuditError(f"checkpoint {checkpoint.seq} committed but not published to the file: {exc}") from exc
            log.error("audit: checkpoint %d not published to %s: %s", checkpoint.seq, self.checkpoint_file, exc)

    def checkpoint(self) -> Checkpoint:
        self._writable()
        if self.signer is None:
            raise SigningKeyError("this store has no checkpoint signer; open it with signer=CheckpointSigner(...)")
        signer = self.signer
        with self._write_transaction() as conn:
            head = self._head(conn)
            if head is None:
                raise EmptyLogError("cannot checkpoint an empty audit log")
            row = self._execute(
                conn,
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq = ? AND key_fingerprint = ? "
                "AND note IS NOT NULL ORDER BY checkpoint_id DESC LIMIT 1",
                (head.seq, signer.fingerprint),
            ).fetchone()
            if row is not None:
                checkpoint = self._checkpoint_from_row(row)
            else:
                frontier = self._frontier_at(conn, head)
                self._tree = (head.seq, head.hash, frontier)
                checkpoint = self._insert_checkpoint(conn, signer, head, format_timestamp(self._clock()), frontier)
        # Published even when the head was already signed: its automatic publication may have failed.
        self._publish(checkpoint, raise_errors=True)
        return checkpoint

    # -- reads -----------------------------------------------------------------------------------------

    def _head(self, conn: ConnT) -> ChainHead | None:
        row = self._execute(conn, "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else ChainHead(seq=int(row[0]), hash=str(row[1]))

    def head(self) -> ChainHead | None:
        with self._lock:
            return self._head(self._connection())

    @staticmethod
    def _stored_from_row(
        row: Row,
        diagnoses: tuple[tuple[str | None, str], ...] = (),
        evidence: tuple[str, ...] = (),
    ) -> StoredRecord:
        # int(str(...)), as the SQLite store always read them: a value of another type written around the
        # API (SQLite keeps what it is given, 1.5 in an INTEGER column) fails to parse instead of rounding.
        return StoredRecord(
            seq=int(str(row[0])),
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
            format_version=int(str(row[15])),
            indexed_diagnoses=diagnoses,
            indexed_evidence_ids=evidence,
        )

    @classmethod
    def _record_from_row(cls, row: Row) -> AuditRecord:
        stored = cls._stored_from_row(row)
        try:
            return AuditRecord.from_stored(stored)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptRecordError(f"record {stored.seq} cannot be read ({exc}); run `audit verify`") from exc

    @staticmethod
    def _checkpoint_from_row(row: Row) -> Checkpoint:
        return Checkpoint(
            checkpoint_id=int(str(row[0])),
            seq=int(str(row[1])),
            head_hash=str(row[2]),
            created_at=str(row[3]),
            key_fingerprint=str(row[4]),
            public_key=str(row[5]),
            signature=str(row[6]),
            root_hash=None if row[7] is None else str(row[7]),
            note=None if row[8] is None else str(row[8]),
            frontier=None if row[9] is None else str(row[9]),
        )

    def _record_where(self, column: str, value: object) -> AuditRecord | None:
        with self._lock:
            row = self._execute(
                self._connection(), f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE {column} = ?", (value,)
            ).fetchone()
        return None if row is None else self._record_from_row(row)

    def get(self, record_id: str) -> AuditRecord | None:
        return self._record_where("record_id", record_id)

    def get_by_seq(self, seq: int) -> AuditRecord | None:
        return self._record_where("seq", seq)

    # -- what stores read inside a trace (backend SQL; constants only, values travel as ``?`` parameters) ----

    @abstractmethod
    def _trace_text_sql(self, key: str) -> str:
        """SQL of the text at the top-level ``key`` of the row's ``trace`` (NULL when absent)."""

    @abstractmethod
    def _trace_contains_sql(self) -> str:
        """SQL true when the row's ``trace`` text contains the ``?`` parameter (a cheap scan before parsing)."""

    def _trace_text_is(self, key: str, value: str) -> tuple[str, list[object]]:
        """The clause and parameters of "the trace's ``key`` is ``value``": the canonical text of the pair is
        looked for first (no index holds trace fields: a text scan, then one parse per candidate)."""
        return (
            f"({self._trace_contains_sql()} AND {self._trace_text_sql(key)} = ?)",
            [f"{canonical_text(key)}:{canonical_text(value)}", value],
        )

    @abstractmethod
    def _considered_seqs_sql(self, keys: int) -> str:
        """SQL selecting the ``seq`` of decisions whose trace lists under :data:`CONSIDERED_KEY` a candidate whose
        folded code or name is one of ``keys`` parameters (given twice: codes, then names; after the ``?`` of the
        access outcome, which it excludes)."""

    @abstractmethod
    def _reading_seqs_sql(self) -> str:
        """SQL selecting the ``seq`` of access events (outcome ``?``) whose trace ``records`` include a record of
        patient ``?``."""

    def _where(self, query: AuditQuery, *, with_cursor: bool) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if query.since is not None:
            clauses.append("created_at >= ?")
            params.append(format_timestamp(query.since))
        if query.until is not None:
            clauses.append("created_at < ?")
            params.append(format_timestamp(query.until))
        for column, value in (
            ("model_version", query.model_version),
            ("index_version", query.index_version),
            ("outcome", query.outcome),
            ("request_id", query.request_id),
            ("actor_id", query.actor_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.patient_pseudonym is not None:
            if query.kind == "decision":
                clauses.append("patient_pseudonym = ?")
                params.append(query.patient_pseudonym)
            else:
                # A search or export that returned several patients' records is an access event without a
                # patient of its own: it is found through the records it returned (computed on read, so
                # events appended before this existed are found too).
                clauses.append(f"(patient_pseudonym = ? OR seq IN ({self._reading_seqs_sql()}))")
                params.extend((query.patient_pseudonym, ACCESS_OUTCOME, query.patient_pseudonym))
        if query.any_request_id is not None:
            client, client_params = self._trace_text_is("client_request_id", query.any_request_id)
            clauses.append(f"(request_id = ? OR {client})")
            params.extend((query.any_request_id, *client_params))
        if query.trace_id is not None:
            clause, clause_params = self._trace_text_is("trace_id", query.trace_id)
            clauses.append(clause)
            params.extend(clause_params)
        if query.kind == "decision":
            clauses.append("outcome <> ?")
            params.append(ACCESS_OUTCOME)
        elif query.kind == "access":
            clauses.append("outcome = ?")
            params.append(ACCESS_OUTCOME)
        keys = query.diagnosis_keys()
        if keys:
            # A UNION of two indexed lookups instead of "code_key IN (...) OR name_key IN (...)", which
            # SQLite may answer with a full scan. The asked value and its equivalents are matched alike,
            # as codes and as names, one bound parameter each; then the candidates an abstention considered,
            # read from the traces (no lookup table holds them: logs written before are searched alike).
            marks = ", ".join("?" * len(keys))
            clauses.append(
                f"seq IN (SELECT seq FROM audit_record_diagnoses WHERE code_key IN ({marks}) "
                f"UNION SELECT seq FROM audit_record_diagnoses WHERE name_key IN ({marks}) "
                f"UNION {self._considered_seqs_sql(len(keys))})"
            )
            params.extend((*keys, *keys, ACCESS_OUTCOME, *keys, *keys))
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
        statement = f"SELECT {_RECORD_COLUMNS} FROM audit_records{where} ORDER BY seq {order} LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._execute(self._connection(), statement, [*params, query.limit + 1, query.offset]).fetchall()
        records = [self._record_from_row(row) for row in rows[: query.limit]]
        next_cursor = make_cursor(records[-1].seq) if len(rows) > query.limit else None
        return AuditPage(records=records, next_cursor=next_cursor)

    def count(self, query: AuditQuery) -> int:
        where, params = self._where(query, with_cursor=False)
        with self._lock:
            row = self._execute(self._connection(), f"SELECT COUNT(*) FROM audit_records{where}", params).fetchone()
        assert row is not None
        return int(row[0])

    def iter_stored(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> Iterator[StoredRecord]:
        last = after_seq
        upper = up_to_seq if up_to_seq is not None else 2**63 - 1
        while True:
            with self._lock:
                conn = self._connection()
                rows = self._execute(
                    conn,
                    f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (last, upper, _BATCH),
                ).fetchall()
                if not rows:
                    return
                low, high = int(rows[0][0]), int(rows[-1][0])
                diagnoses: dict[int, list[tuple[str | None, str]]] = {}
                for seq, code_key, name_key in self._execute(
                    conn,
                    "SELECT seq, code_key, name_key FROM audit_record_diagnoses WHERE seq BETWEEN ? AND ? "
                    "ORDER BY seq, pos",
                    (low, high),
                ).fetchall():
                    diagnoses.setdefault(int(seq), []).append((code_key, name_key))
                evidence: dict[int, list[str]] = {}
                for seq, doc_id in self._execute(
                    conn,
                    "SELECT seq, doc_id FROM audit_record_evidence WHERE seq BETWEEN ? AND ? ORDER BY seq, pos",
                    (low, high),
                ).fetchall():
                    evidence.setdefault(int(seq), []).append(doc_id)
            for row in rows:
                seq = int(row[0])
                yield self._stored_from_row(row, tuple(diagnoses.get(seq, ())), tuple(evidence.get(seq, ())))
            last = high

    def dangling_rows(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        with self._lock:
            conn = self._connection()
            for table in ("audit_record_diagnoses", "audit_record_evidence", "audit_checkpoints"):
                (count,) = self._execute(
                    conn,
                    f"SELECT COUNT(*) FROM {table} t "
                    "WHERE NOT EXISTS (SELECT 1 FROM audit_records r WHERE r.seq = t.seq)",
                ).fetchone()
                if int(count):
                    rows[table] = int(count)
        return rows

    def checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            rows = self._execute(
                self._connection(), f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY checkpoint_id"
            ).fetchall()
        return [self._checkpoint_from_row(row) for row in rows]
