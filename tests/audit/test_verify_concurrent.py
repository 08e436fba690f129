"""Verification while other writers append: an intact log verifies whatever is committed between its reads.

In the API every read of the log is itself appended (an access event), so the auditor's page verifies
while its own search appends. Which appends land between which reads is up to the scheduler; here
another writer (a second store on the same log, as another server process would be) commits appends
between *every* two reads verification makes, on both backends, so each window is exercised every run.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from audit import (
    AuditEntry,
    AuditStore,
    CheckpointSigner,
    SqliteAuditStore,
    VerifyReport,
    verify,
    verify_with_checkpoint_file,
)
from audit.models import ChainHead, Checkpoint, StoredRecord
from audit.postgres_store import PostgresAuditStore
from audit.sql_store import SqlAuditStore

CHECKPOINT_EVERY = 2


class _AppendsBetweenReads(SqlAuditStore[Any]):
    """A real store whose every read verification makes is followed by appends another writer commits.

    ``writer`` is a second store on the same log, appending ``make_entry(i)``; ``burst`` appends after
    each read cross a multiple of the checkpoint interval whatever the head's parity.
    """

    writer: AuditStore
    make_entry: Callable[..., AuditEntry]
    burst: int = CHECKPOINT_EVERY
    _numbers = itertools.count(10_000)

    def _others_append(self) -> None:
        for _ in range(self.burst):
            self.writer.append(self.make_entry(next(self._numbers)))

    def head(self) -> ChainHead | None:
        head = super().head()
        self._others_append()
        return head

    def checkpoints(self) -> list[Checkpoint]:
        checkpoints = super().checkpoints()
        self._others_append()
        return checkpoints

    def iter_stored(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> Iterator[StoredRecord]:
        for record in super().iter_stored(after_seq=after_seq, up_to_seq=up_to_seq):
            yield record
            self._others_append()

    def dangling_rows(self) -> dict[str, int]:
        dangling = super().dangling_rows()
        self._others_append()
        return dangling


class _SqliteWithWriter(_AppendsBetweenReads, SqliteAuditStore):
    pass


class _PostgresWithWriter(_AppendsBetweenReads, PostgresAuditStore):
    pass


@pytest.fixture(params=["sqlite", "postgres"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]
) -> Iterator[tuple[_AppendsBetweenReads, AuditStore]]:
    """(the store verification reads, the other writer), both signing every CHECKPOINT_EVERY records."""
    published = tmp_path / "checkpoints.jsonl"
    verified: _AppendsBetweenReads
    writer: AuditStore
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        writer = PostgresAuditStore(url, signer=signer, checkpoint_every=CHECKPOINT_EVERY, checkpoint_file=published)
        verified = _PostgresWithWriter(url, signer=signer, checkpoint_every=CHECKPOINT_EVERY, checkpoint_file=published)
    else:
        path = tmp_path / "audit.db"
        writer = SqliteAuditStore(path, signer=signer, checkpoint_every=CHECKPOINT_EVERY, checkpoint_file=published)
        verified = _SqliteWithWriter(path, signer=signer, checkpoint_every=CHECKPOINT_EVERY, checkpoint_file=published)
    verified.writer = writer
    verified.make_entry = make_entry
    with writer, verified:
        yield verified, writer


@pytest.mark.parametrize("start", [0, 1, 5, 6])
def test_appends_committed_between_reads_do_not_break_verification(
    stores: tuple[_AppendsBetweenReads, AuditStore], signer: CheckpointSigner, start: int
) -> None:
    verified, writer = stores
    for i in range(start):
        writer.append(verified.make_entry(i))
    report = verify(verified, signer.public_key, checkpoint_every=CHECKPOINT_EVERY)
    assert report.ok, report.reason
    # It checked a prefix of the log that holds at least what was there when it started, all of it.
    assert report.head_seq >= start
    assert report.records_checked == report.head_seq
    head = writer.head()
    assert head is not None and head.seq > report.head_seq  # the other writer did append meanwhile
    stored = {r.seq: r.hash for r in writer.iter_stored(up_to_seq=report.head_seq)}
    assert report.head_hash == (stored[report.head_seq] if report.head_seq else None)


def test_the_server_view_with_its_published_file_verifies_under_appends(
    stores: tuple[_AppendsBetweenReads, AuditStore], signer: CheckpointSigner
) -> None:
    verified, writer = stores
    for i in range(7):
        writer.append(verified.make_entry(i))
    report = verify_with_checkpoint_file(
        verified, signer.public_key, checkpoint_every=CHECKPOINT_EVERY, checkpoint_file=verified.checkpoint_file
    )
    assert report.ok, report.reason
    assert report.kept_checked >= 3


def test_threads_appending_to_the_store_being_verified(
    tmp_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]
) -> None:
    """As in the API: one store shared by threads, some appending while another verifies, again and again."""
    reports: list[VerifyReport] = []
    errors: list[BaseException] = []
    done = threading.Event()
    with SqliteAuditStore(tmp_path / "audit.db", signer=signer, checkpoint_every=CHECKPOINT_EVERY) as store:

        def append(worker: int) -> None:
            try:
                for i in range(150):
                    store.append(make_entry(worker * 1000 + i))
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        def check() -> None:
            try:
                while not done.is_set():
                    reports.append(verify(store, signer.public_key, checkpoint_every=CHECKPOINT_EVERY))
            except BaseException as exc:
                errors.append(exc)

        writers = [threading.Thread(target=append, args=(w,)) for w in range(2)]
        checker = threading.Thread(target=check)
        checker.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
        done.set()
        checker.join(timeout=120)
        assert errors == []
        reports.append(verify(store, signer.public_key, checkpoint_every=CHECKPOINT_EVERY))
    broken = [r.reason for r in reports if not r.ok]
    assert broken == []
    assert reports[-1].head_seq == 300
