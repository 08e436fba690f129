"""PostgreSQL store specifics, against a real server (the ``pg_server`` fixture; skipped without binaries).

The backend-neutral suite (append, query, export, verify) already runs against PostgreSQL through the
parametrised ``store`` fixture; here are the PostgreSQL counterparts of the SQLite-file tests: triggers
refusing changes, tampering by a superuser who drops them, several writer processes, reopening.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import psycopg
import pytest

from audit import AuditEntry, AuditError, AuditStore, CheckpointSigner, open_store, verify
from audit.postgres_store import PostgresAuditStore

Filler = Callable[[AuditStore, int], None]

_fork = multiprocessing.get_context("fork")


def _superuser(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A raw connection on the test schema, as the database superuser (around the API on purpose)."""
    return psycopg.connect(url, autocommit=True)


_STATEMENTS = [
    "UPDATE audit_records SET outcome = 'error' WHERE seq = 2",
    "UPDATE audit_records SET trace = '{}'",
    "DELETE FROM audit_records WHERE seq = 3",
    "DELETE FROM audit_records",
    "TRUNCATE audit_records CASCADE",
    "UPDATE audit_record_diagnoses SET name_key = 'x'",
    "DELETE FROM audit_record_diagnoses",
    "TRUNCATE audit_record_evidence",
    "UPDATE audit_record_evidence SET doc_id = 'x'",
    "DELETE FROM audit_record_evidence",
    "UPDATE audit_checkpoints SET signature = 'x'",
    "DELETE FROM audit_checkpoints",
    "TRUNCATE audit_checkpoints",
    "INSERT INTO audit_record_evidence (seq, pos, doc_id) VALUES (6, 0, 'forged') "
    "ON CONFLICT (seq, pos) DO UPDATE SET doc_id = 'forged'",
    "INSERT INTO audit_record_evidence (seq, pos, doc_id) VALUES (2, 9, 'forged')",
    "INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_fingerprint, public_key, signature) "
    "VALUES (2, 'forged', 'x', 'x', 'x', 'x')",
    "INSERT INTO audit_records (seq, record_id, created_at, request_id, actor_role, actor_id, model_version, "
    "index_version, outcome, patient_pseudonym, diagnoses, evidence_ids, trace, prev_hash, hash, format_version) "
    "VALUES (7, 'r', 't', 'q', 'a', 'a', 'm', 'i', 'o', NULL, '[]', '[]', '{}', 'wrong-prev', 'h', 1)",
]


@pytest.mark.parametrize("statement", _STATEMENTS)
def test_sql_cannot_update_delete_truncate_or_rewrite_the_log(pg_url: str, fill: Filler, statement: str) -> None:
    with PostgresAuditStore(pg_url, signer=CheckpointSigner.generate(), checkpoint_every=5) as store:
        fill(store, 6)
        before = verify(store)
        with _superuser(pg_url) as raw, pytest.raises(psycopg.errors.RaiseException):
            raw.execute(statement)
        after = verify(store)
    assert before.ok and after.ok
    assert (after.head_seq, after.head_hash, after.checkpoints_checked) == (6, before.head_hash, 1)


def test_a_superuser_who_drops_the_trigger_and_edits_a_record_is_named_by_verify(pg_url: str, fill: Filler) -> None:
    with PostgresAuditStore(pg_url) as store:
        fill(store, 6)
        with _superuser(pg_url) as raw:
            raw.execute("DROP TRIGGER audit_records_no_change ON audit_records")
            raw.execute("UPDATE audit_records SET trace = replace(trace, 'marker', 'market') WHERE seq = 4")
        report = verify(store)
    assert not report.ok and report.first_broken == 4
    assert report.reason is not None and "does not match its hash" in report.reason


def test_a_deleted_record_is_named_and_reopening_restores_the_triggers(pg_url: str, fill: Filler) -> None:
    with PostgresAuditStore(pg_url) as store:
        fill(store, 5)
        with _superuser(pg_url) as raw:
            for table in ("audit_records", "audit_record_diagnoses", "audit_record_evidence"):
                raw.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            raw.execute("DELETE FROM audit_record_diagnoses WHERE seq = 3")
            raw.execute("DELETE FROM audit_record_evidence WHERE seq = 3")
            raw.execute("DELETE FROM audit_records WHERE seq = 3")
            raw.execute("DROP TRIGGER audit_records_no_change ON audit_records")
        report = verify(store)
        assert not report.ok and report.first_broken == 3 and "missing" in (report.reason or "")
    with (
        PostgresAuditStore(pg_url),  # opening re-creates the dropped trigger
        _superuser(pg_url) as raw,
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
    ):
        raw.execute("DELETE FROM audit_records WHERE seq = 4")


def _writer(url: str, key_path: Path, worker: int, barrier: Barrier, make_entry: Callable[..., AuditEntry]) -> None:
    signer = CheckpointSigner.from_pem(key_path)
    barrier.wait(timeout=20)  # all processes create the (new) schema at the same moment
    with PostgresAuditStore(url, signer=signer, checkpoint_every=10) as store:
        barrier.wait(timeout=20)  # all processes start appending at the same moment
        for i in range(25):
            store.append(make_entry(worker * 1000 + i, request_id=f"w{worker}-{i:03d}", actor_id=f"worker-{worker}"))


def test_writer_processes_produce_one_gapless_valid_chain(
    pg_url: str, tmp_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    key_path = tmp_path / "audit.pem"
    signer = CheckpointSigner.generate()
    signer.write_pem(key_path)
    processes = 4
    barrier = _fork.Barrier(processes)
    workers = [
        _fork.Process(target=_writer, args=(pg_url, key_path, worker, barrier, make_entry))
        for worker in range(processes)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert [p.exitcode for p in workers] == [0] * processes
    total = processes * 25
    with open_store(pg_url, read_only=True) as store:
        stored = list(store.iter_stored())
        assert [r.seq for r in stored] == list(range(1, total + 1))
        assert sorted(r.request_id for r in stored) == sorted(
            f"w{w}-{i:03d}" for w in range(processes) for i in range(25)
        )
        assert [c.seq for c in store.checkpoints()] == list(range(10, total + 1, 10))
        report = verify(store, signer.public_key)
    assert report.ok and report.records_checked == total and report.checkpoints_checked == total // 10


def test_a_store_inherited_through_fork_reconnects_in_the_child(
    pg_url: str, make_entry: Callable[..., AuditEntry]
) -> None:
    with PostgresAuditStore(pg_url) as store:
        store.append(make_entry(1))
        child = _fork.Process(target=lambda: [store.append(make_entry(500 + i)) for i in range(3)])
        child.start()
        child.join(timeout=30)
        assert child.exitcode == 0
        assert store.append(make_entry(2)).seq == 5  # the parent's session survived the child
        assert verify(store).ok


def test_reopening_read_only_and_open_store(pg_url: str, make_entry: Callable[..., AuditEntry]) -> None:
    with open_store(pg_url) as first:
        assert isinstance(first, PostgresAuditStore)
        first.append(make_entry(1))
        first.append(make_entry(2))
    with open_store(pg_url.replace("postgresql://", "postgresql+psycopg://")) as second:
        assert second.append(make_entry(3)).seq == 3
        assert verify(second).ok
    with open_store(pg_url, read_only=True) as reader:
        head = reader.head()
        assert head is not None and head.seq == 3
        with pytest.raises(AuditError, match="read-only"):
            reader.append(make_entry(4))
    empty = pg_url.rsplit("%3D", 1)[0] + "%3Dno_such_schema"
    with pytest.raises(AuditError, match="no audit log"):
        open_store(empty, read_only=True)


def test_a_log_with_another_schema_version_is_refused(pg_url: str, make_entry: Callable[..., AuditEntry]) -> None:
    with PostgresAuditStore(pg_url) as store:
        store.append(make_entry(1))
    with _superuser(pg_url) as raw:
        raw.execute("UPDATE audit_meta SET value = '3' WHERE key = 'schema_version'")
    with pytest.raises(AuditError, match="schema version 3"):
        PostgresAuditStore(pg_url)


def test_durability_setting(pg_url: str) -> None:
    with PostgresAuditStore(pg_url) as store:
        row = store._connection().execute("SHOW synchronous_commit").fetchone()
    assert row == ("on",)


def test_a_version_1_log_is_upgraded_by_its_first_writer(
    pg_url: str, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]
) -> None:
    with PostgresAuditStore(pg_url) as store:
        for i in range(1, 4):
            store.append(make_entry(i))
    with _superuser(pg_url) as raw:
        raw.execute("ALTER TABLE audit_checkpoints DROP COLUMN root_hash, DROP COLUMN note, DROP COLUMN frontier")
        raw.execute("UPDATE audit_meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(AuditError, match="open it once for writing"):
        PostgresAuditStore(pg_url, read_only=True)
    with PostgresAuditStore(pg_url, signer=signer, checkpoint_every=5) as store:
        for i in range(4, 6):
            store.append(make_entry(i))
        assert [(c.seq, c.root_hash is not None) for c in store.checkpoints()] == [(5, True)]
    with PostgresAuditStore(pg_url, read_only=True) as reader:
        assert verify(reader, signer.public_key, checkpoint_every=5).ok
    with _superuser(pg_url) as raw:
        assert raw.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone() == ("2",)
