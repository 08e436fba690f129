"""Issue 16, part 1: the attacks that used to pass verification, on SQLite and on PostgreSQL.

Each test builds the same log (13 records, a checkpoint signed every 5 and published to a file, and an
auditor's own copy of the checkpoint at 13), then tampers with the database as someone with full write
access would (triggers dropped on SQLite; ``session_replication_role = replica`` as the PostgreSQL
superuser, which silences every trigger and foreign key), and checks that verification names it:

* ``db_only``: the trusted public key and the checkpoint interval, nothing outside the database;
* ``against``: the same, plus the checkpoints the auditor kept outside the database.

A cut that also removes every checkpoint it invalidates, and stops just below a multiple of the
interval, leaves nothing in the database to contradict it: only a checkpoint kept outside can. That is
what the ``against`` column is for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit import AuditEntry, CheckpointSigner, open_store, verify
from audit.verify import VerifyReport, verify_with_checkpoint_file
from audit.witness import KeptCheckpoint, append_checkpoint, read_checkpoints

EVERY = 5
RECORDS = 13
TABLES = ("audit_record_diagnoses", "audit_record_evidence", "audit_checkpoints", "audit_records")


@dataclass
class Log:
    url: str
    signer: CheckpointSigner
    kept_file: Path  # the auditor's copy (audit checkpoint --out)
    published_file: Path  # the store's own checkpoint file

    def tamper(self, *statements: tuple[str, Sequence[object]]) -> None:
        """Run statements around every guard the database has."""
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                conn.execute(f"DROP TRIGGER {name}")
            for statement, params in statements:
                conn.execute(statement, params)
            conn.close()
        else:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as pg:
                pg.execute("SET session_replication_role = replica")
                for statement, params in statements:
                    pg.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]

    def cut_after(self, seq: int, *, tables: Sequence[str] = TABLES) -> None:
        self.tamper(*((f"DELETE FROM {table} WHERE seq > ?", (seq,)) for table in tables))

    def kept(self) -> list[KeptCheckpoint]:
        return read_checkpoints(self.kept_file, self.signer.public_key)

    def db_only(self) -> VerifyReport:
        with open_store(self.url, read_only=True) as store:
            return verify(store, self.signer.public_key, checkpoint_every=EVERY)

    def against(self, kept: Sequence[KeptCheckpoint] | None = None) -> VerifyReport:
        with open_store(self.url, read_only=True) as store:
            return verify(
                store, self.signer.public_key, checkpoint_every=EVERY, kept=self.kept() if kept is None else kept
            )


@pytest.fixture
def log(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    signer: CheckpointSigner,
    make_entry: Callable[..., AuditEntry],
) -> Iterator[Log]:
    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'audit.db'}"
    built = Log(url, signer, tmp_path / "kept.jsonl", tmp_path / "published.jsonl")
    with open_store(url, signer=signer, checkpoint_every=EVERY, checkpoint_file=built.published_file) as store:
        for i in range(1, RECORDS + 1):
            store.append(make_entry(i))
        append_checkpoint(built.kept_file, store.checkpoint())  # the auditor keeps the head, outside the log
    assert built.db_only().ok and built.against().ok
    yield built


def _rewrite_everything(log: Log, make_entry: Callable[..., AuditEntry], signer: CheckpointSigner | None) -> None:
    """Delete every row, then append the history again with record 7 changed (through the API)."""
    log.tamper(*((f"DELETE FROM {table}", ()) for table in TABLES))
    with open_store(log.url, signer=signer, checkpoint_every=EVERY if signer else None) as forger:
        for i in range(1, RECORDS + 1):
            forger.append(make_entry(i, outcome="error" if i == 7 else "ok"))


# -- the intact log ----------------------------------------------------------------------------------------


def test_intact_log_extends_what_was_kept_and_published(log: Log) -> None:
    report = log.against()
    assert (report.ok, report.kept_checked, report.checkpoints_checked) == (True, 1, 3)
    published = read_checkpoints(log.published_file, log.signer.public_key)
    assert [k.head.size for k in published] == [5, 10, 13]
    assert log.against(published).kept_checked == 3
    assert report.tree_root == published[-1].head.root_hash


# -- tail cuts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 3])
def test_tail_cut_with_its_checkpoints_is_caught_by_the_kept_checkpoint(log: Log, cut: int) -> None:
    log.cut_after(RECORDS - cut)
    report = log.against()
    assert not report.ok
    assert "removed from the end" in (report.reason or "")
    assert report.first_broken == RECORDS - cut + 1


def test_tail_cut_below_a_multiple_with_every_checkpoint_it_touched(log: Log) -> None:
    log.cut_after(7)  # checkpoints 10 and 13 go too; 5 still holds
    assert not log.against().ok
    published = read_checkpoints(log.published_file, log.signer.public_key)
    report = log.against(published)
    assert not report.ok and "removed from the end" in (report.reason or "")


def test_tail_cut_leaving_its_checkpoint_is_caught_from_the_database_alone(log: Log) -> None:
    log.cut_after(RECORDS - 1, tables=("audit_record_diagnoses", "audit_record_evidence", "audit_records"))
    report = log.db_only()
    assert not report.ok and "removed" in (report.reason or "")


def test_tail_cut_leaving_lookup_rows_is_caught_even_without_a_key(log: Log) -> None:
    log.cut_after(RECORDS - 1, tables=("audit_checkpoints", "audit_records"))
    with open_store(log.url, read_only=True) as store:
        report = verify(store)
    assert not report.ok
    assert "rows without their record" in (report.reason or "")


# -- rewrites ----------------------------------------------------------------------------------------------


def test_full_rewrite_with_every_checkpoint_deleted(log: Log, make_entry: Callable[..., AuditEntry]) -> None:
    _rewrite_everything(log, make_entry, signer=None)
    with open_store(log.url, read_only=True) as store:
        assert verify(store).ok  # internally consistent: the chain alone cannot tell
    report = log.db_only()
    assert not report.ok
    assert report.first_broken == 1
    assert f"no checkpoint signed by the trusted key at seq {EVERY}" in (report.reason or "")
    against = log.against()
    assert not against.ok


def test_full_rewrite_re_signed_with_another_key(log: Log, make_entry: Callable[..., AuditEntry]) -> None:
    tamperer = CheckpointSigner.generate()
    _rewrite_everything(log, make_entry, signer=tamperer)
    with open_store(log.url, read_only=True) as store:
        assert verify(store).ok  # consistent, with its own key
        assert verify(store, tamperer.public_key, checkpoint_every=EVERY).ok
    report = log.db_only()
    assert not report.ok and "not the trusted key" in (report.reason or "")
    assert not log.against().ok
    # kept checkpoints re-signed by the tamperer are refused when they are read
    with pytest.raises(Exception, match="not a checkpoint signed by the trusted key"):
        read_checkpoints(log.kept_file, tamperer.public_key)


def test_rewrite_of_the_tail_after_the_last_database_checkpoint(
    log: Log, make_entry: Callable[..., AuditEntry]
) -> None:
    """Records 11..13 rewritten (checkpoint 13 deleted): nothing in the database contradicts it."""
    log.cut_after(10)
    with open_store(log.url) as forger:
        for i in range(11, RECORDS + 1):
            forger.append(make_entry(i, outcome="error"))
    report = log.against()
    assert not report.ok
    assert "does not extend the kept checkpoint of size 13" in (report.reason or "")


# -- a record removed from the middle ----------------------------------------------------------------------


def test_deleted_middle_record(log: Log) -> None:
    log.tamper(*((f"DELETE FROM {table} WHERE seq = ?", (7,)) for table in TABLES if table != "audit_checkpoints"))
    for report in (log.db_only(), log.against()):
        assert (report.ok, report.first_broken) == (False, 7)
        assert "missing" in (report.reason or "")


def test_the_server_view_uses_its_published_file(log: Log) -> None:
    """What ``GET /v1/audit/verify`` runs: the server's key, interval and published checkpoint file."""
    with open_store(log.url, read_only=True) as store:
        ok = verify_with_checkpoint_file(
            store, log.signer.public_key, checkpoint_every=EVERY, checkpoint_file=log.published_file
        )
    assert (ok.ok, ok.kept_checked) == (True, 3)
    log.cut_after(RECORDS - 1)
    with open_store(log.url, read_only=True) as store:
        cut = verify_with_checkpoint_file(
            store, log.signer.public_key, checkpoint_every=EVERY, checkpoint_file=log.published_file
        )
        forged_file = verify_with_checkpoint_file(
            store, CheckpointSigner.generate().public_key, checkpoint_file=log.published_file
        )
    assert not cut.ok and "removed from the end" in (cut.reason or "")
    assert not forged_file.ok and "published checkpoints" in (forged_file.reason or "")
