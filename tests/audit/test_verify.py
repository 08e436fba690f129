"""Verification: an intact log passes; every kind of tampering names the first broken record or checkpoint.

Tampering goes around the API on purpose (a raw sqlite3 connection that drops the append-only triggers,
or bytes flipped in the database file), since that is what the hash chain and checkpoints exist for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from audit import (
    AuditEntry,
    CheckpointSigner,
    EmptyLogError,
    SigningKeyError,
    SqliteAuditStore,
    load_public_key,
    verify,
)
from audit.chain import record_hash

Filler = Callable[[SqliteAuditStore, int], None]


def _raw(db_path: Path) -> sqlite3.Connection:
    """A connection with the append-only triggers dropped: the tamperer's view of the file."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def _flip_one_byte(text: str, marker: str) -> str:
    """Change one ASCII character inside ``marker`` (keeps the text valid UTF-8 and valid JSON)."""
    at = text.index(marker) + len(marker) - 1
    flipped = chr(ord(text[at]) ^ 0x01)
    return text[:at] + flipped + text[at + 1 :]


def test_intact_log_verifies(store: SqliteAuditStore, fill: Filler, signer: CheckpointSigner) -> None:
    fill(store, 12)
    report = verify(store, signer.public_key)
    assert report.ok, report.reason
    assert (report.records_checked, report.checkpoints_checked, report.first_broken) == (12, 2, None)
    assert (report.head_seq, report.last_checkpoint_seq, report.unsigned_tail) == (12, 10, 2)
    assert report.trusted_key_fingerprint == signer.fingerprint
    assert verify(store).ok  # without a key: checked against the keys stored with the checkpoints


def test_empty_log_verifies(store: SqliteAuditStore) -> None:
    report = verify(store)
    assert report.ok
    assert (report.records_checked, report.head_seq, report.head_hash) == (0, 0, None)


def test_flipped_byte_in_a_trace_names_that_record(store: SqliteAuditStore, fill: Filler, db_path: Path) -> None:
    fill(store, 12)
    raw = _raw(db_path)
    (trace,) = raw.execute("SELECT trace FROM audit_records WHERE seq = 7").fetchone()
    raw.execute("UPDATE audit_records SET trace = ? WHERE seq = 7", (_flip_one_byte(trace, "marker-record-0007"),))
    raw.close()

    report = verify(store)
    assert not report.ok
    assert report.first_broken == 7
    assert report.records_checked == 6
    assert "record 7" in (report.reason or "") and "hash" in (report.reason or "")


def test_flipped_byte_in_the_database_file_names_that_record(
    db_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]
) -> None:
    with SqliteAuditStore(db_path, signer=signer, checkpoint_every=5) as store:
        for i in range(1, 13):
            store.append(make_entry(i))
    # Move every page from the WAL into the main file, then edit the file's bytes like a disk editor would.
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    marker = b"marker-record-0009"
    assert data.count(marker) == 1
    at = data.index(marker) + len(marker) - 1
    data[at] ^= 0x01
    db_path.write_bytes(bytes(data))

    with SqliteAuditStore(db_path, read_only=True) as store:
        report = verify(store, signer.public_key)
    assert not report.ok
    assert report.first_broken == 9
    assert "record 9" in (report.reason or "")


def test_invalid_utf8_in_a_trace_is_reported_not_raised(store: SqliteAuditStore, fill: Filler, db_path: Path) -> None:
    fill(store, 4)
    raw = _raw(db_path)
    raw.execute("UPDATE audit_records SET trace = CAST(X'7B2278223A22FF227D' AS TEXT) WHERE seq = 3")
    raw.close()
    report = verify(store)
    assert (report.ok, report.first_broken) == (False, 3)


def test_corrupt_json_in_an_indexed_field_is_reported(store: SqliteAuditStore, fill: Filler, db_path: Path) -> None:
    fill(store, 4)
    raw = _raw(db_path)
    raw.execute("UPDATE audit_records SET diagnoses = '[{\"name\": ' WHERE seq = 2")
    raw.close()
    report = verify(store)
    assert (report.ok, report.first_broken) == (False, 2)
    assert "not valid JSON" in (report.reason or "")


def test_rewritten_record_with_a_fresh_hash_breaks_the_link_from_its_successor(
    store: SqliteAuditStore, fill: Filler, db_path: Path
) -> None:
    fill(store, 8)
    stored = next(store.iter_stored(after_seq=5, up_to_seq=6))
    forged = replace(stored, outcome="error")
    raw = _raw(db_path)
    raw.execute("UPDATE audit_records SET outcome = 'error', hash = ? WHERE seq = 6", (record_hash(forged),))
    raw.close()

    report = verify(store)
    assert (report.ok, report.first_broken) == (False, 7)
    assert "prev_hash" in (report.reason or "")


def test_missing_record_is_named(store: SqliteAuditStore, fill: Filler, db_path: Path) -> None:
    fill(store, 8)
    raw = _raw(db_path)
    for table in ("audit_record_diagnoses", "audit_record_evidence", "audit_records"):
        raw.execute(f"DELETE FROM {table} WHERE seq = 4")
    raw.close()
    report = verify(store)
    assert (report.ok, report.first_broken) == (False, 4)
    assert "missing" in (report.reason or "")


def test_truncated_tail_is_caught_by_a_checkpoint(store: SqliteAuditStore, fill: Filler, db_path: Path) -> None:
    fill(store, 10)  # checkpoints at 5 and 10
    raw = _raw(db_path)
    for table in ("audit_record_diagnoses", "audit_record_evidence", "audit_records"):
        raw.execute(f"DELETE FROM {table} WHERE seq > 7")
    raw.close()
    report = verify(store)
    assert not report.ok
    assert report.first_broken == 8
    assert report.broken_checkpoint == 2
    assert "removed" in (report.reason or "")


def test_rewriting_the_whole_chain_after_a_record_is_caught_by_the_next_checkpoint(
    store: SqliteAuditStore, fill: Filler, db_path: Path
) -> None:
    """Someone who rewrites record 7 and re-hashes and re-links 7..12 keeps the chain consistent."""
    fill(store, 12)
    records = list(store.iter_stored())
    raw = _raw(db_path)
    prev = records[5].hash
    for stored in records[6:]:
        changed = replace(stored, prev_hash=prev, outcome="error" if stored.seq == 7 else stored.outcome)
        new_hash = record_hash(changed)
        raw.execute(
            "UPDATE audit_records SET outcome = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (changed.outcome, prev, new_hash, stored.seq),
        )
        prev = new_hash
    raw.close()

    report = verify(store)
    assert not report.ok
    assert report.first_broken == 6  # the first record after the last checkpoint that still holds (seq 5)
    assert report.broken_checkpoint == 2
    assert "records 6..10 were rewritten" in (report.reason or "")


def test_forged_lookup_rows_are_caught(store: SqliteAuditStore, fill: Filler, db_path: Path) -> None:
    fill(store, 5)
    raw = _raw(db_path)
    raw.execute("UPDATE audit_record_evidence SET doc_id = 'doc-hidden' WHERE seq = 3 AND pos = 0")
    raw.close()
    report = verify(store)
    assert (report.ok, report.first_broken) == (False, 3)
    assert "lookup rows" in (report.reason or "")


def test_checkpoint_signatures_verify_and_a_wrong_key_fails(
    store: SqliteAuditStore, fill: Filler, signer: CheckpointSigner, db_path: Path
) -> None:
    fill(store, 10)
    checkpoints = store.checkpoints()
    assert [c.seq for c in checkpoints] == [5, 10]
    assert {c.key_fingerprint for c in checkpoints} == {signer.fingerprint}
    assert verify(store, signer.public_key).ok

    wrong = CheckpointSigner.generate()
    report = verify(store, wrong.public_key)
    assert not report.ok
    assert report.broken_checkpoint == checkpoints[0].checkpoint_id
    assert report.first_broken is None  # the records are fine; the key is not the trusted one
    assert "not the trusted key" in (report.reason or "")


def test_a_forged_signature_fails_even_without_a_trusted_key(
    store: SqliteAuditStore, fill: Filler, db_path: Path
) -> None:
    fill(store, 10)
    raw = _raw(db_path)
    (signature,) = raw.execute("SELECT signature FROM audit_checkpoints WHERE seq = 10").fetchone()
    forged = ("A" if signature[0] != "A" else "B") + signature[1:]
    raw.execute("UPDATE audit_checkpoints SET signature = ? WHERE seq = 10", (forged,))
    raw.close()
    report = verify(store)
    assert (report.ok, report.broken_checkpoint) == (False, 2)
    assert "signature does not verify" in (report.reason or "")


def test_re_signing_with_the_tamperers_key_fails_against_the_trusted_key(
    store: SqliteAuditStore, fill: Filler, signer: CheckpointSigner, db_path: Path
) -> None:
    """A consistent forgery (re-hashed chain, checkpoints re-signed with another key) only fails with a key."""
    fill(store, 5)
    tamperer = CheckpointSigner.generate()
    raw = _raw(db_path)
    raw.execute("DELETE FROM audit_checkpoints")
    raw.close()
    with SqliteAuditStore(db_path, signer=tamperer) as forged_store:
        forged_store.checkpoint()
        assert verify(forged_store).ok
        assert not verify(forged_store, signer.public_key).ok


def test_on_demand_checkpoint(db_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]) -> None:
    with SqliteAuditStore(db_path, signer=signer) as store:
        with pytest.raises(EmptyLogError):
            store.checkpoint()
        store.append(make_entry(1))
        store.append(make_entry(2))
        first = store.checkpoint()
        assert (first.seq, first.key_fingerprint) == (2, signer.fingerprint)
        assert store.checkpoint() == first  # head unchanged: no duplicate
        store.append(make_entry(3))
        second = store.checkpoint()
        assert second.seq == 3 and second.checkpoint_id != first.checkpoint_id
        report = verify(store, signer.public_key)
        assert (report.ok, report.checkpoints_checked, report.unsigned_tail) == (True, 2, 0)
    with SqliteAuditStore(db_path) as unsigned, pytest.raises(SigningKeyError):
        unsigned.checkpoint()
    with pytest.raises(SigningKeyError):
        SqliteAuditStore(db_path, checkpoint_every=10)


def test_keys_round_trip_through_pem(tmp_path: Path, signer: CheckpointSigner) -> None:
    key_path = tmp_path / "keys" / "audit.pem"
    signer.write_pem(key_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(SigningKeyError, match="overwrite"):
        signer.write_pem(key_path)
    assert CheckpointSigner.from_pem(key_path).fingerprint == signer.fingerprint
    assert CheckpointSigner.from_pem_or_generate(key_path).fingerprint == signer.fingerprint

    public_path = tmp_path / "audit.pub.pem"
    public_path.write_bytes(signer.public_pem())
    assert load_public_key(public_path) == signer.public_key
    assert load_public_key(key_path) == signer.public_key

    generated = CheckpointSigner.from_pem_or_generate(tmp_path / "dev.pem")
    assert (tmp_path / "dev.pem").exists()
    assert CheckpointSigner.from_pem(tmp_path / "dev.pem").fingerprint == generated.fingerprint

    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError):
        CheckpointSigner.from_pem(tmp_path / "junk.pem")
    with pytest.raises(SigningKeyError):
        load_public_key(tmp_path / "junk.pem")
    with pytest.raises(SigningKeyError):
        load_public_key(tmp_path / "absent.pem")
