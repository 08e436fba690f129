"""Signed checkpoints (audit.note), the checkpoint file (audit.witness), and what the stores write.

Golden vectors: the C2SP signed-note key id and signature of Go's ``golang.org/x/mod/sumdb/note``
example (key "PeterNeumann"), and this log's own on-disk format for a fixed key, so a change to either
format fails here rather than in an auditor's hands.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import AuditEntry, AuditError, Checkpoint, CheckpointSigner, SqliteAuditStore, verify
from audit.canonical import sha256_hex
from audit.chain import hash_payload
from audit.merkle import MerkleFrontier, leaf_hash, root
from audit.note import NoteError, TreeHead, key_id, open_note, verified_body
from audit.signing import checkpoint_payload, raw_public_bytes
from audit.store import AuditStore
from audit.witness import CheckpointFileError, append_checkpoint, read_checkpoints

PETER_KEY = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
PETER_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

FIXED = CheckpointSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
HEAD = TreeHead(size=12, root_hash="ab" * 32, chain_head="cd" * 32, time="2024-03-01T00:11:00.000000Z")
GOLDEN_NOTE = (
    "dxsearch/audit\n"
    "12\n"
    "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
    f"chain {'cd' * 32}\n"
    "time 2024-03-01T00:11:00.000000Z\n"
    "\n"
    "\u2014 dxsearch/audit "
)


def test_signed_note_interoperates_with_go_sumdb_note() -> None:
    public = Ed25519PublicKey.from_public_bytes(PETER_KEY)
    assert key_id("PeterNeumann", PETER_KEY).hex() == "c74f20a3"
    assert verified_body(PETER_NOTE, "PeterNeumann", public, PETER_KEY).startswith("If you think")
    with pytest.raises(NoteError):
        verified_body(PETER_NOTE.replace("problem is", "problem was"), "PeterNeumann", public, PETER_KEY)
    with pytest.raises(NoteError, match="no signature"):
        verified_body(PETER_NOTE, "PaulErdos", public, PETER_KEY)


def test_golden_checkpoint_note() -> None:
    note, signature = FIXED.sign_tree_head(HEAD)
    assert note.startswith(GOLDEN_NOTE) and note.endswith("\n")
    token = base64.b64decode(note[len(GOLDEN_NOTE) :])
    assert token[:4] == key_id("dxsearch/audit", raw_public_bytes(FIXED.public_key))
    assert base64.b64encode(token[4:]).decode() == signature
    assert open_note(note, FIXED.public_key, raw_public_bytes(FIXED.public_key)) == HEAD


@pytest.mark.parametrize(
    "change",
    [
        lambda n: n.replace("\n12\n", "\n13\n"),  # tree size
        lambda n: n.replace("q6urq6ur", "q6urq6us", 1),  # root
        lambda n: n.replace("chain cd", "chain ce"),
        lambda n: n.replace("time 2024", "time 2025"),
        lambda n: n.replace("dxsearch/audit\n", "other/log\n", 1),  # another log's origin
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n[:-2] + "\n",  # a signature byte gone
        lambda n: n.replace("time", "extra line\ntime"),
    ],
)
def test_altered_notes_are_refused(change: Callable[[str], str]) -> None:
    note, _ = FIXED.sign_tree_head(HEAD)
    with pytest.raises(NoteError):
        open_note(change(note), FIXED.public_key, raw_public_bytes(FIXED.public_key))
    other = CheckpointSigner.generate()
    with pytest.raises(NoteError, match="no signature"):
        open_note(note, other.public_key, raw_public_bytes(other.public_key))


def test_store_checkpoints_sign_the_merkle_root_of_the_records(store: AuditStore, fill: Callable[..., None]) -> None:
    fill(store, 12)
    leaves = [leaf_hash(hash_payload(r)) for r in store.iter_stored()]
    assert [leaf_hash(hash_payload(r)) for r in store.iter_stored()] == leaves
    checkpoints = store.checkpoints()
    assert [c.seq for c in checkpoints] == [5, 10]
    for checkpoint in checkpoints:
        assert checkpoint.root_hash == root(leaves, checkpoint.seq).hex()
        assert checkpoint.note is not None and checkpoint.root_hash is not None
        head = open_note(checkpoint.note, store.signer.public_key, raw_public_bytes(store.signer.public_key))  # type: ignore[attr-defined]
        assert (head.size, head.root_hash, head.chain_head) == (
            checkpoint.seq,
            checkpoint.root_hash,
            checkpoint.head_hash,
        )
    on_demand = store.checkpoint()
    assert (on_demand.seq, on_demand.root_hash) == (12, root(leaves).hex())
    assert verify(store, store.signer.public_key, checkpoint_every=5).tree_root == on_demand.root_hash  # type: ignore[attr-defined]


def test_a_writer_in_another_process_state_extends_the_stored_frontier(
    db_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]
) -> None:
    """Two store objects interleaving appends (as two processes would) both sign the true root."""
    with (
        SqliteAuditStore(db_path, signer=signer, checkpoint_every=3) as first,
        SqliteAuditStore(db_path, signer=signer, checkpoint_every=3) as second,
    ):
        rebuilds: list[int] = []
        for store in (first, second):
            rebuild = store._frontier_at
            store._frontier_at = lambda conn, head, rebuild=rebuild: (  # type: ignore[method-assign]
                rebuilds.append(0 if head is None else head.seq),
                rebuild(conn, head),
            )[1]
        for i in range(1, 17):
            (first if i % 2 else second).append(make_entry(i))
        assert rebuilds == [2, 5, 8, 11, 14]  # only when a checkpoint is due, never on every append
        leaves = [leaf_hash(hash_payload(r)) for r in first.iter_stored()]
        for checkpoint in first.checkpoints():
            assert checkpoint.root_hash == root(leaves, checkpoint.seq).hex()
        assert verify(first, signer.public_key, checkpoint_every=3).ok


def test_the_checkpoint_file_is_appended_and_fsynced(
    tmp_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry], monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "witness" / "checkpoints.jsonl"
    synced: list[int] = []
    import audit.witness

    real_fsync = audit.witness.os.fsync
    monkeypatch.setattr(audit.witness.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with SqliteAuditStore(tmp_path / "a.db", signer=signer, checkpoint_every=2, checkpoint_file=published) as store:
        store.append(make_entry(1))
        store.append(make_entry(2))  # the directory does not exist: logged, the record stays committed
        assert not published.exists() and store.head() is not None
        with pytest.raises(AuditError, match="not published"):
            store.checkpoint()
        published.parent.mkdir()
        for i in range(3, 7):
            store.append(make_entry(i))
        store.append(make_entry(7))
        store.checkpoint()
        store.checkpoint()  # the same head again: the file does not grow
        first_checkpoint = store.checkpoints()[0]
    lines = published.read_bytes().split(b"\n")
    assert lines[-1] == b""
    rows = [json.loads(line) for line in lines[:-1]]
    assert [r["tree_size"] for r in rows] == [4, 6, 7]
    assert set(rows[0]) == {"created_at", "key_fingerprint", "note", "root_hash", "tree_size"}
    assert len(synced) >= 4  # every line, and the directory when the file was created
    kept = read_checkpoints(published, signer.public_key)
    assert [k.head.size for k in kept] == [4, 6, 7]

    # a torn last line (a crash mid-write) is ignored; a bad line anywhere else is an error
    with published.open("ab") as handle:
        handle.write(b'{"note": "dxsearch/au')
    assert len(read_checkpoints(published, signer.public_key)) == 3
    assert append_checkpoint(published, first_checkpoint)  # cuts the torn bytes, then appends
    assert [k.head.size for k in read_checkpoints(published, signer.public_key)] == [4, 6, 7, 2]
    assert not append_checkpoint(published, first_checkpoint)  # already the last line
    published.write_bytes(b"not json\n" + published.read_bytes())
    with pytest.raises(CheckpointFileError, match=":1:"):
        read_checkpoints(published, signer.public_key)
    with pytest.raises(CheckpointFileError, match="cannot read"):
        read_checkpoints(tmp_path / "absent.jsonl", signer.public_key)


def test_a_version_1_log_is_upgraded_and_its_old_checkpoints_still_verify(
    db_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry]
) -> None:
    with SqliteAuditStore(db_path) as store:
        for i in range(1, 6):
            store.append(make_entry(i))
        head = store.head()
    assert head is not None
    # Make the file what version 1 wrote: no Merkle columns, a checkpoint over (seq, chain head) only.
    raw = sqlite3.connect(db_path, isolation_level=None)
    for column in ("root_hash", "note", "frontier"):
        raw.execute(f"ALTER TABLE audit_checkpoints DROP COLUMN {column}")
    created_at = "2024-03-01T00:05:00.000000Z"
    signature = signer.sign(
        checkpoint_payload(seq=5, head_hash=head.hash, created_at=created_at, key_fingerprint=signer.fingerprint)
    )
    raw.execute(
        "INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_fingerprint, public_key, signature) "
        "VALUES (5, ?, ?, ?, ?, ?)",
        (head.hash, created_at, signer.fingerprint, signer.public_key_b64, signature),
    )
    raw.execute("UPDATE audit_meta SET value = '1' WHERE key = 'schema_version'")
    raw.close()

    with pytest.raises(AuditError, match="open it once for writing"):
        SqliteAuditStore(db_path, read_only=True)
    with SqliteAuditStore(db_path, signer=signer, checkpoint_every=5) as store:
        for i in range(6, 11):
            store.append(make_entry(i))
        checkpoints = store.checkpoints()
        assert [(c.seq, c.note is None) for c in checkpoints] == [(5, True), (10, False)]
        leaves = [leaf_hash(hash_payload(r)) for r in store.iter_stored()]
        assert checkpoints[1].root_hash == root(leaves).hex()  # the tree was rebuilt from record 1
    with SqliteAuditStore(db_path, read_only=True) as reader:
        report = verify(reader, signer.public_key, checkpoint_every=5)
    assert (report.ok, report.checkpoints_checked) == (True, 2), report.reason
    assert sha256_hex(b"") != report.tree_root


def test_an_edited_frontier_does_not_poison_later_checkpoints(
    db_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry], caplog: pytest.LogCaptureFixture
) -> None:
    with SqliteAuditStore(db_path, signer=signer, checkpoint_every=4) as store:
        for i in range(1, 5):
            store.append(make_entry(i))
    forged = MerkleFrontier(4, [leaf_hash(b"forged")])
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("DROP TRIGGER audit_checkpoints_no_update")
    raw.execute("UPDATE audit_checkpoints SET frontier = ? WHERE seq = 4", (forged.to_text(),))
    raw.close()
    with SqliteAuditStore(db_path, signer=signer, checkpoint_every=4) as store:  # a new process: no cached tree
        for i in range(5, 9):
            store.append(make_entry(i))
        leaves = [leaf_hash(hash_payload(r)) for r in store.iter_stored()]
        assert store.checkpoints()[-1].root_hash == root(leaves).hex()
        report = verify(store, signer.public_key, checkpoint_every=4)
    assert "not one this key signed" in caplog.text
    assert not report.ok and report.broken_checkpoint == 1  # the edit itself is still reported
    assert "frontier" in (report.reason or "")


def test_an_injected_fsync_failure_is_reported_and_the_record_kept(
    tmp_path: Path, signer: CheckpointSigner, make_entry: Callable[..., AuditEntry], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import audit.witness

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "injected fsync failure")

    published = tmp_path / "checkpoints.jsonl"
    with SqliteAuditStore(tmp_path / "a.db", signer=signer, checkpoint_every=2, checkpoint_file=published) as store:
        monkeypatch.setattr(audit.witness.os, "fsync", failing_fsync)
        store.append(make_entry(1))
        record = store.append(make_entry(2))  # due: publication fails, the append does not
        assert record.seq == 2 and store.head() is not None
        with pytest.raises(AuditError, match="injected fsync failure"):
            store.checkpoint()
        monkeypatch.undo()
        store.checkpoint()  # a later publication succeeds
    kept = read_checkpoints(published, signer.public_key)
    assert kept[-1].head.size == 2


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 2**63),
    root_hash=st.binary(min_size=32, max_size=32),
    chain=st.text("0123456789abcdef", min_size=1, max_size=64),
    time=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
)
def test_notes_round_trip(size: int, root_hash: bytes, chain: str, time: str) -> None:
    head = TreeHead(size=size, root_hash=root_hash.hex(), chain_head=chain, time=time)
    note, _ = FIXED.sign_tree_head(head)
    assert open_note(note, FIXED.public_key, raw_public_bytes(FIXED.public_key)) == head


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=300) | st.builds(lambda a, b: a + "\n\n" + b, st.text(max_size=100), st.text(max_size=100))
)
def test_note_parsing_refuses_garbage_with_note_error_only(text: str) -> None:
    with pytest.raises(NoteError):
        open_note(text, FIXED.public_key, raw_public_bytes(FIXED.public_key))


def _publish_many(path: str, first: int, count: int) -> None:
    for size in range(first, first + count):
        head = TreeHead(size=size, root_hash="ab" * 32, chain_head="cd" * 32, time=f"t{size}")
        note, signature = FIXED.sign_tree_head(head)
        checkpoint = Checkpoint(
            checkpoint_id=size,
            seq=size,
            head_hash=head.chain_head,
            created_at=head.time,
            key_fingerprint=FIXED.fingerprint,
            public_key=FIXED.public_key_b64,
            signature=signature,
            root_hash=head.root_hash,
            note=note,
        )
        append_checkpoint(Path(path), checkpoint)


def test_several_processes_publish_to_one_file(tmp_path: Path) -> None:
    import multiprocessing

    published = tmp_path / "checkpoints.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_publish_many, args=(str(published), 1 + 100 * w, 25)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    sizes = sorted(k.head.size for k in read_checkpoints(published, FIXED.public_key))
    assert sizes == sorted(1 + 100 * w + i for w in range(4) for i in range(25))
