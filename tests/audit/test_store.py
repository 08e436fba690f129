"""SQLite store: append and read back, what is hashed, durability settings, and append-only enforcement."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from audit import (
    AuditEntry,
    AuditError,
    Diagnosis,
    InvalidEntryError,
    SqliteAuditStore,
    StoreUrlError,
    open_store,
    verify,
)
from audit.canonical import canonical_bytes
from audit.chain import GENESIS_HASH, hash_payload, record_hash
from audit.sqlite_store import sqlite_path_from_url


def test_append_returns_committed_records_in_a_gapless_chain(
    store: SqliteAuditStore, make_entry: Callable[..., AuditEntry], db_path: Path
) -> None:
    records = [store.append(make_entry(i)) for i in range(1, 8)]

    assert [r.seq for r in records] == list(range(1, 8))
    assert records[0].prev_hash == GENESIS_HASH
    for previous, current in itertools.pairwise(records):
        assert current.prev_hash == previous.hash
    head = store.head()
    assert head is not None and (head.seq, head.hash) == (7, records[-1].hash)

    # Committed: another connection (as another process would) sees every record.
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT COUNT(*), MAX(seq) FROM audit_records").fetchone() == (7, 7)


def test_records_read_back_equal_what_was_appended(
    store: SqliteAuditStore, make_entry: Callable[..., AuditEntry]
) -> None:
    entry = make_entry(1)
    appended = store.append(entry)

    by_id = store.get(appended.record_id)
    by_seq = store.get_by_seq(1)
    assert by_id == by_seq
    assert by_id is not None
    assert by_id.trace == entry.trace
    assert by_id.diagnoses == (Diagnosis(name="Marfan syndrome", code="ORPHA:558"),)
    assert by_id.evidence_ids == ("doc-1", "doc-common")
    assert (by_id.request_id, by_id.actor_role, by_id.actor_id) == ("req-0001", "clinician", "actor-1")
    assert (by_id.model_version, by_id.index_version, by_id.outcome) == ("evidence-baseline@1", "idx-2024-01", "ok")
    assert by_id.patient_pseudonym == "pt-1"
    assert by_id.created_at.tzinfo is not None
    assert by_id.hash == appended.hash
    assert store.get("no-such-id") is None
    assert store.get_by_seq(99) is None


def test_hash_is_sha256_of_the_rfc8785_serialisation_of_the_whole_record(
    store: SqliteAuditStore, make_entry: Callable[..., AuditEntry]
) -> None:
    """The spliced payload must be byte-identical to JCS of the full record, so other verifiers agree."""
    store.append(make_entry(1, trace={"z": 1.0, "a": [1e21, 0.1, "é\u2028"], "€": {"b": None, "a": True}}))
    stored = next(store.iter_stored())
    record = store.get_by_seq(1)
    assert record is not None
    whole = record.to_json()
    del whole["hash"], whole["format_version"]
    whole["format"] = 1

    assert hash_payload(stored) == canonical_bytes(whole)
    assert record_hash(stored) == record.hash
    assert json.loads(stored.trace_json) == {"z": 1, "a": [1e21, 0.1, "é\u2028"], "€": {"b": None, "a": True}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trace": {"x": float("nan")}}, "canonicalisable"),
        ({"trace": {"x": 2**60}}, "canonicalisable"),
        ({"trace": {"x": "\ud800"}}, "canonicalisable"),
        ({"trace": ["not", "an", "object"]}, "JSON object"),
        ({"request_id": ""}, "request_id"),
        ({"actor_role": "   "}, "actor_role"),
        ({"evidence_ids": ["ok", ""]}, "evidence id"),
        ({"diagnoses": [("Marfan", "ORPHA:558")]}, "Diagnosis"),
        ({"patient_pseudonym": "x" * 600}, "longer than"),
    ],
)
def test_invalid_entries_are_refused_before_anything_is_written(
    store: SqliteAuditStore, make_entry: Callable[..., AuditEntry], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidEntryError, match=message):
        store.append(make_entry(1, **overrides))
    assert store.head() is None
    store.append(make_entry(2))
    assert store.head() is not None and store.head().seq == 1  # type: ignore[union-attr]


def test_sqlite_runs_in_wal_mode_with_full_sync(store: SqliteAuditStore, db_path: Path) -> None:
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    with sqlite3.connect(db_path) as raw:  # WAL is a property of the file, seen by every connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


_TABLES_AND_STATEMENTS = [
    "UPDATE audit_records SET outcome = 'error' WHERE seq = 2",
    "UPDATE audit_records SET trace = '{}'",
    "DELETE FROM audit_records WHERE seq = 3",
    "DELETE FROM audit_records",
    "UPDATE audit_record_diagnoses SET name_key = 'x'",
    "DELETE FROM audit_record_diagnoses",
    "UPDATE audit_record_evidence SET doc_id = 'x'",
    "DELETE FROM audit_record_evidence",
    "UPDATE audit_checkpoints SET signature = 'x'",
    "DELETE FROM audit_checkpoints",
    # REPLACE deletes the old row without firing DELETE triggers; the insert triggers must stop it.
    "INSERT OR REPLACE INTO audit_records SELECT * FROM audit_records WHERE seq = 2",
    "INSERT OR REPLACE INTO audit_record_evidence (seq, pos, doc_id) VALUES (6, 0, 'forged')",
    "INSERT INTO audit_record_evidence (seq, pos, doc_id) VALUES (2, 9, 'forged')",
    "INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_fingerprint, public_key, signature) "
    "VALUES (2, 'forged', 'x', 'x', 'x', 'x')",
    "INSERT INTO audit_records (seq, record_id, created_at, request_id, actor_role, actor_id, model_version, "
    "index_version, outcome, patient_pseudonym, diagnoses, evidence_ids, trace, prev_hash, hash, format_version) "
    "VALUES (7, 'r', 't', 'q', 'a', 'a', 'm', 'i', 'o', NULL, '[]', '[]', '{}', 'wrong-prev', 'h', 1)",
]


@pytest.mark.parametrize("statement", _TABLES_AND_STATEMENTS)
def test_sql_cannot_update_delete_or_rewrite_the_log(
    store: SqliteAuditStore, fill: Callable[[SqliteAuditStore, int], None], db_path: Path, statement: str
) -> None:
    fill(store, 6)
    before = verify(store)
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match=r"append-only|extend the chain head|head record|checkpoint"):
            raw.execute(statement)
    finally:
        raw.close()
    after = verify(store)
    assert before.ok and after.ok
    assert (after.head_seq, after.head_hash, after.checkpoints_checked) == (6, before.head_hash, 1)


def test_reopening_continues_the_chain(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    with SqliteAuditStore(db_path) as first:
        first.append(make_entry(1))
        first.append(make_entry(2))
    with SqliteAuditStore(db_path) as second:
        third = second.append(make_entry(3))
        assert third.seq == 3
        assert verify(second).ok


def test_read_only_store_refuses_writes_and_leaves_the_file_alone(
    db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    with SqliteAuditStore(db_path) as writer:
        writer.append(make_entry(1))
    with open_store(f"sqlite:///{db_path}", read_only=True) as reader:
        assert reader.head() is not None
        with pytest.raises(AuditError, match="read-only"):
            reader.append(make_entry(2))
    with pytest.raises(AuditError, match="no audit log"):
        SqliteAuditStore(db_path.with_name("missing.db"), read_only=True)


def test_closed_store_cannot_be_used(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    store = SqliteAuditStore(db_path)
    store.close()
    with pytest.raises(AuditError, match="closed"):
        store.append(make_entry(1))


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_path_from_url("sqlite:///var/audit.db") == Path("var/audit.db")
    assert sqlite_path_from_url("sqlite:////srv/audit%20log.db") == Path("/srv/audit log.db")
    store = open_store("sqlite:///var/audit.db")
    try:
        assert isinstance(store, SqliteAuditStore)
        assert (tmp_path / "var" / "audit.db").exists()
    finally:
        store.close()
    for bad in ("sqlite://host/x.db", "sqlite:///:memory:", "sqlite://", "sqlite:///x.db?mode=ro", "mysql://x/y"):
        with pytest.raises(StoreUrlError):
            open_store(bad)
    for postgres in (
        "postgresql://audit@127.0.0.1:1/a",
        "postgres://127.0.0.1:1/a",
        "postgresql+psycopg://127.0.0.1:1/a",
    ):
        with pytest.raises(AuditError, match=r"cannot connect to the PostgreSQL audit store"):
            open_store(postgres)  # recognised as PostgreSQL (nothing listens on port 1)


def test_a_log_with_another_schema_version_is_refused(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    with SqliteAuditStore(db_path) as store:
        store.append(make_entry(1))
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE audit_meta SET value = '3' WHERE key = 'schema_version'")
    with pytest.raises(AuditError, match="schema version 3"):
        SqliteAuditStore(db_path)
