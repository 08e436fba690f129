"""Several writer processes (and threads) appending to one SQLite log still produce one gapless chain."""

from __future__ import annotations

import fcntl
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from audit import AuditEntry, AuditError, CheckpointSigner, SqliteAuditStore, verify

PROCESSES = 4
APPENDS_EACH = 25
CHECKPOINT_EVERY = 10

# fork (not spawn) so the workers can be plain functions of this test module, which pytest imports in a
# way a spawned interpreter could not re-import. Each worker opens its own store, as separate server
# processes would.
_fork = multiprocessing.get_context("fork")


def _writer(
    db_path: Path, key_path: Path, worker: int, barrier: Barrier, make_entry: Callable[..., AuditEntry]
) -> None:
    signer = CheckpointSigner.from_pem(key_path)
    barrier.wait(timeout=20)  # all processes create the (new) file at the same moment
    with SqliteAuditStore(db_path, signer=signer, checkpoint_every=CHECKPOINT_EVERY) as store:
        barrier.wait(timeout=20)  # all processes start appending at the same moment
        for i in range(APPENDS_EACH):
            store.append(make_entry(worker * 1000 + i, request_id=f"w{worker}-{i:03d}", actor_id=f"worker-{worker}"))


def test_writer_processes_produce_one_gapless_valid_chain(
    tmp_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    db_path = tmp_path / "audit.db"
    key_path = tmp_path / "audit.pem"
    signer = CheckpointSigner.generate()
    signer.write_pem(key_path)

    barrier = _fork.Barrier(PROCESSES)
    workers = [
        _fork.Process(target=_writer, args=(db_path, key_path, worker, barrier, make_entry))
        for worker in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert [p.exitcode for p in workers] == [0] * PROCESSES

    total = PROCESSES * APPENDS_EACH
    with SqliteAuditStore(db_path, read_only=True) as store:
        stored = list(store.iter_stored())
        assert [r.seq for r in stored] == list(range(1, total + 1))
        assert len({r.record_id for r in stored}) == total
        assert sorted(r.request_id for r in stored) == sorted(
            f"w{w}-{i:03d}" for w in range(PROCESSES) for i in range(APPENDS_EACH)
        )
        # The writers really interleaved (otherwise this test would not test the lock).
        owners = [r.actor_id for r in stored]
        assert sum(a != b for a, b in itertools.pairwise(owners)) >= PROCESSES
        # Exactly one checkpoint per multiple of N, whichever process wrote that record.
        assert [c.seq for c in store.checkpoints()] == list(range(CHECKPOINT_EVERY, total + 1, CHECKPOINT_EVERY))
        report = verify(store, signer.public_key)
    assert report.ok, report.reason
    assert (report.records_checked, report.checkpoints_checked) == (total, total // CHECKPOINT_EVERY)


def _append_from_forked_child(store: SqliteAuditStore, make_entry: Callable[..., AuditEntry]) -> None:
    for i in range(5):
        store.append(make_entry(500 + i))


def test_a_store_inherited_through_fork_reconnects_in_the_child(
    db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    with SqliteAuditStore(db_path) as store:
        store.append(make_entry(1))
        child = _fork.Process(target=_append_from_forked_child, args=(store, make_entry))
        child.start()
        child.join(timeout=30)
        assert child.exitcode == 0
        store.append(make_entry(2))
        report = verify(store)
    assert (report.ok, report.records_checked) == (True, 7)


def test_threads_sharing_one_store(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    errors: list[BaseException] = []

    with SqliteAuditStore(db_path) as store:

        def work(worker: int) -> None:
            try:
                for i in range(20):
                    store.append(make_entry(worker * 100 + i))
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        report = verify(store)
    assert (report.ok, report.records_checked) == (True, 80)


def test_a_failed_append_rolls_back_and_releases_the_write_lock(
    db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    calls = 0

    def flaky_clock() -> datetime:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("clock failure inside the transaction")
        return datetime.now(UTC)

    with SqliteAuditStore(db_path, clock=flaky_clock, busy_timeout_s=2) as store:
        store.append(make_entry(1))
        with pytest.raises(RuntimeError, match="clock failure"):
            store.append(make_entry(2))
        assert store.append(make_entry(3)).seq == 2  # no gap, lock free again
        with SqliteAuditStore(db_path, busy_timeout_s=2) as other:
            assert other.append(make_entry(4)).seq == 3
        assert verify(store).ok


def test_a_writer_that_cannot_get_its_turn_times_out(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    with SqliteAuditStore(db_path, busy_timeout_s=0.3) as store:
        store.append(make_entry(1))
        fd = os.open(f"{db_path}-lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another process mid-append, as far as the store can tell
            started = time.monotonic()
            with pytest.raises(AuditError, match="timed out"):
                store.append(make_entry(2))
            assert 0.25 < time.monotonic() - started < 5
        finally:
            os.close(fd)
        assert store.append(make_entry(3)).seq == 2


def _append_forever(db_path: Path, make_entry: Callable[..., AuditEntry], conn: Connection) -> None:
    with SqliteAuditStore(db_path) as store:
        for i in range(1, 100_000):
            record = store.append(make_entry(i))
            conn.send(record.seq)  # only after append returned, i.e. after COMMIT


def test_kill_9_mid_append_loses_no_acknowledged_record(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    receiver, sender = _fork.Pipe(duplex=False)
    writer = _fork.Process(target=_append_forever, args=(db_path, make_entry, sender))
    writer.start()
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < 30 and receiver.poll(20):
            acknowledged.append(receiver.recv())
    finally:
        os.kill(writer.pid or 0, signal.SIGKILL)
        writer.join(timeout=10)
    while receiver.poll(0.1):
        acknowledged.append(receiver.recv())
    assert len(acknowledged) >= 30

    with SqliteAuditStore(db_path) as store:  # recovery of the WAL happens on open
        report = verify(store)
        assert report.ok, report.reason
        assert report.head_seq >= acknowledged[-1]
        assert store.append(make_entry(0)).seq == report.head_seq + 1
