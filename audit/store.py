"""The store interface every audit backend implements (stores are opened by URL: :mod:`audit.backends`).

Why an abstract base class: the API, the CLI and :func:`audit.verify.verify` talk only to this
interface, so the embedded SQLite store and the PostgreSQL store (psycopg 3, for deployments:
:mod:`audit.postgres_store`) are interchangeable behind ``DXSEARCH_AUDIT_URL``. Hashing, canonicalisation
and checkpoint payloads live in :mod:`audit.chain` and :mod:`audit.signing`, and the chain protocol in SQL
(append, checkpoints, queries, reads) in :class:`audit.sql_store.SqlAuditStore`, so a new SQL store only
has to supply a connection, its schema and an atomic "read head, insert next" transaction.

Contract for implementations:

* :meth:`AuditStore.append` returns only after the record is durably committed; the new record's
  ``seq`` is the previous head's plus one and its ``prev_hash`` the head's hash, atomically with respect
  to every other writer (threads and processes).
* There is no update or delete, and the backend itself refuses them (triggers, grants).
* With a signer and ``checkpoint_every=N``, the append that writes a multiple of N also writes a signed
  checkpoint of that head (tree size, Merkle root of records 1..N·k, chain head, time: a signed note,
  :mod:`audit.note`), in the same transaction; with a ``checkpoint_file`` it is then appended there too.
* :meth:`AuditStore.iter_stored` returns fields as stored (JSON as text), so verification can report a
  corrupted record instead of failing to read it.

For the PostgreSQL store (:mod:`audit.postgres_store`) the same contract maps onto: the tables and indexes of
:mod:`audit.sqlite_store` (``jsonb`` is not suitable for the hashed text, which must keep its exact
bytes: use ``text``); appends as ``BEGIN; SELECT pg_advisory_xact_lock(<log key>); read head; INSERT …;
COMMIT`` (or ``LOCK TABLE audit_records IN EXCLUSIVE MODE``), so concurrent writers serialise like
SQLite's ``BEGIN IMMEDIATE``; ``synchronous_commit = on``; UPDATE/DELETE refused by triggers and by
granting the service role only INSERT and SELECT.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from types import TracebackType
from typing import Self

from audit.models import AuditEntry, AuditPage, AuditQuery, AuditRecord, ChainHead, Checkpoint, StoredRecord


class AuditStore(ABC):
    """An append-only, hash-chained log of decisions."""

    @abstractmethod
    def append(self, entry: AuditEntry) -> AuditRecord:
        """Record one decision and return it (``record_id``, ``seq``, ``hash``) once it is committed."""

    @abstractmethod
    def get(self, record_id: str) -> AuditRecord | None:
        """The record with this id, or None."""

    @abstractmethod
    def get_by_seq(self, seq: int) -> AuditRecord | None:
        """The record at this sequence number, or None."""

    @abstractmethod
    def head(self) -> ChainHead | None:
        """The last record's sequence number and hash, or None for an empty log."""

    @abstractmethod
    def query(self, query: AuditQuery) -> AuditPage:
        """One page of records matching ``query``, in sequence order (``query.order``)."""

    @abstractmethod
    def count(self, query: AuditQuery) -> int:
        """How many records match ``query``'s filters (pagination fields are ignored)."""

    @abstractmethod
    def iter_stored(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> Iterator[StoredRecord]:
        """Records as stored (raw text, lookup rows included), by ascending ``seq``: what verification reads."""

    @abstractmethod
    def checkpoint(self) -> Checkpoint:
        """Sign the current head now (returns the existing checkpoint if the head is already signed).

        With a checkpoint file, the checkpoint returned is (re)published to it, and an error to do so raised.
        """

    @abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first."""

    @abstractmethod
    def dangling_rows(self) -> dict[str, int]:
        """Rows of the lookup and checkpoint tables whose record does not exist, counted per table.

        A log cut short by deleting records (triggers dropped) leaves these behind unless the tamperer
        cleaned every table; an intact log has none (a record and its rows commit together).
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""

    def iter_query(self, query: AuditQuery) -> Iterator[AuditRecord]:
        """Every record matching ``query``, following cursors page by page (exports stream through this)."""
        page = self.query(query)
        while True:
            yield from page.records
            if page.next_cursor is None:
                return
            page = self.query(replace(query, cursor=page.next_cursor, offset=0))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
