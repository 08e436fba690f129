"""Chain verification: prove a log was not altered, or name the first record where it was.

What is checked, in sequence order, stopping at the first failure:

1. sequence numbers run 1, 2, 3, … without a gap;
2. each record's hash equals the hash recomputed from its stored fields (an edit in place, a flipped
   byte, a corrupted JSON field all fail here);
3. each record's ``prev_hash`` equals the previous record's hash (a record rewritten *with* a fresh
   hash breaks the link from its successor);
4. the store's lookup rows (diagnoses, evidence ids) agree with the hashed fields, so a forged index
   cannot make a query return or hide a record;
5. every checkpoint's Ed25519 signature verifies (against ``public_key`` when given: only then does the
   result prove anything against someone able to write the database), the chain head and the Merkle root
   it signed are the ones the records give at that size (a rewrite of the whole chain after some record
   fails here), and no checkpoint names a record past the end of the log (truncation fails here);
6. with ``public_key`` and ``checkpoint_every=N``: a valid checkpoint by that key exists at every
   multiple of N up to the head, so deleting checkpoints (with a rewrite, or with the tail they signed
   down to below the last multiple) fails;
7. ``kept`` checkpoints (read from a file the auditor kept, :mod:`audit.witness`): each is within the
   log and the log extends it (its root is the root of the first ``size`` records, and a consistency
   proof from it to the current head verifies), so a tail cut or a rewrite of anything they covered
   fails even when every checkpoint in the database went with it;
8. no lookup or checkpoint row is left without its record (orphans of deleted records).

Records after the last checkpoint are protected by the chain only: whoever can write the database could
cut them off unnoticed, which is why stores checkpoint every N records and on demand, and publish their
checkpoints outside the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.canonical import JsonValue, sha256_hex
from audit.chain import GENESIS_HASH, expected_index_rows, hash_payload
from audit.merkle import MerkleFrontier, consistency_proof, leaf_hash, verify_consistency
from audit.models import Checkpoint
from audit.signing import check_checkpoint_signature, key_fingerprint
from audit.store import AuditStore
from audit.witness import CheckpointFileError, KeptCheckpoint, read_checkpoints


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify`.

    ``first_broken`` is the sequence number of the first record that cannot be trusted (None when the
    log is intact, or when what failed is a checkpoint rather than a record: see
    ``broken_checkpoint``). ``unsigned_tail`` counts records after the last valid checkpoint.
    ``tree_root`` is the Merkle root of the records checked (hex), ``kept_checked`` how many kept
    checkpoints the log was proven to extend.
    """

    ok: bool
    records_checked: int
    first_broken: int | None
    reason: str | None
    checkpoints_checked: int
    head_seq: int = 0
    head_hash: str | None = None
    broken_checkpoint: int | None = None
    last_checkpoint_seq: int | None = None
    unsigned_tail: int = 0
    trusted_key_fingerprint: str | None = None
    tree_root: str | None = None
    checkpoint_every: int | None = None
    kept_checked: int = 0

    def to_json(self) -> dict[str, JsonValue]:
        return dict(asdict(self))


class _BrokenError(Exception):
    def __init__(self, reason: str, *, seq: int | None = None, checkpoint: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seq = seq
        self.checkpoint = checkpoint


def verify(
    store: AuditStore,
    public_key: Ed25519PublicKey | None = None,
    *,
    checkpoint_every: int | None = None,
    kept: Sequence[KeptCheckpoint] = (),
) -> VerifyReport:
    """Walk the whole chain of ``store`` and report the first broken record or checkpoint.

    ``checkpoint_every`` (with ``public_key``) requires a checkpoint by that key at every multiple of it;
    ``kept`` are checkpoints held outside the log (already verified against ``public_key`` by
    :func:`audit.witness.read_checkpoints`) that the log must extend. Safe to run while writers append:
    it checks the log up to the head it sees when it starts (records are immutable, so later appends
    cannot change what it reads), and leaves the records and checkpoints appended meanwhile to the next run.
    """
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if kept and public_key is None:
        raise ValueError("kept checkpoints are only meaningful against a trusted public key")
    required_every = checkpoint_every if public_key is not None else None
    # The head, the checkpoints, the head again: records 1..head are what is verified. A checkpoint is
    # committed with the record it signs, so each checkpoint of 1..head is among those read (a check
    # for the checkpoint due at every multiple of N needs them all), and every checkpoint of a record
    # that exists lies within the second head. Those between the two heads sign records appended while
    # this ran (left for the next verification); those past the second sign records that were removed.
    head = store.head()
    head_seq = 0 if head is None else head.seq
    checkpoints = store.checkpoints()
    later = store.head()
    later_seq = 0 if later is None else later.seq
    trusted = None if public_key is None else key_fingerprint(public_key)
    by_seq: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_seq.setdefault(checkpoint.seq, []).append(checkpoint)

    kept_by_size: dict[int, list[KeptCheckpoint]] = {}
    for kept_checkpoint in kept:
        kept_by_size.setdefault(kept_checkpoint.head.size, []).append(kept_checkpoint)
    frontier = MerkleFrontier()
    leaves: list[bytes] = []  # every leaf hash, only when consistency proofs are to be made
    checked = 0
    checkpoints_checked = 0
    kept_checked = 0
    last_signed = 0
    prev_hash = GENESIS_HASH

    def report(broken: _BrokenError | None) -> VerifyReport:
        return VerifyReport(
            ok=broken is None,
            records_checked=checked,
            first_broken=None if broken is None else broken.seq,
            reason=None if broken is None else broken.reason,
            checkpoints_checked=checkpoints_checked,
            head_seq=head_seq,
            head_hash=None if head is None else head.hash,
            broken_checkpoint=None if broken is None else broken.checkpoint,
            last_checkpoint_seq=last_signed or None,
            unsigned_tail=head_seq - last_signed if broken is None else 0,
            trusted_key_fingerprint=trusted,
            tree_root=frontier.root().hex(),
            checkpoint_every=required_every,
            kept_checked=kept_checked,
        )

    try:
        expected = 1
        for record in store.iter_stored(up_to_seq=head_seq):
            seq = record.seq
            if seq != expected:
                raise _BrokenError(f"record {expected} is missing (the next stored record is {seq})", seq=expected)
            try:
                payload = hash_payload(record)
                index_rows = expected_index_rows(record)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise _BrokenError(f"record {seq}: stored fields are not valid JSON ({exc})", seq=seq) from None
            computed = sha256_hex(payload)
            if computed != record.hash:
                raise _BrokenError(
                    f"record {seq}: content does not match its hash (altered after it was written)", seq=seq
                )
            if record.prev_hash != prev_hash:
                raise _BrokenError(
                    f"record {seq}: prev_hash does not match the hash of record {seq - 1} "
                    f"(record {seq - 1} was replaced, or this one was re-linked)",
                    seq=seq,
                )
            if (record.indexed_diagnoses, record.indexed_evidence_ids) != index_rows:
                raise _BrokenError(
                    f"record {seq}: lookup rows (diagnoses / evidence ids) disagree with the record", seq=seq
                )
            leaf = leaf_hash(payload)
            frontier.append(leaf)
            if kept:
                leaves.append(leaf)
            root = None
            for checkpoint in by_seq.get(seq, ()):
                problem = check_checkpoint_signature(checkpoint, public_key)
                if problem is not None:
                    raise _BrokenError(problem, checkpoint=checkpoint.checkpoint_id)
                if checkpoint.head_hash != computed:
                    first_unproven = last_signed + 1
                    raise _BrokenError(
                        f"checkpoint {checkpoint.checkpoint_id} signed head {checkpoint.head_hash[:16]}… at seq {seq} "
                        f"but the chain has {computed[:16]}…: some of records {first_unproven}..{seq} were rewritten",
                        seq=first_unproven,
                        checkpoint=checkpoint.checkpoint_id,
                    )
                if checkpoint.root_hash is not None or checkpoint.frontier is not None:
                    root = root or frontier.root().hex()
                    if checkpoint.root_hash != root or checkpoint.frontier != frontier.to_text():
                        raise _BrokenError(
                            f"checkpoint {checkpoint.checkpoint_id} at seq {seq}: its Merkle root or frontier is "
                            f"not the one records 1..{seq} give (the checkpoint was forged or altered)",
                            checkpoint=checkpoint.checkpoint_id,
                        )
                checkpoints_checked += 1
                last_signed = seq
            if required_every is not None and seq % required_every == 0 and last_signed != seq:
                raise _BrokenError(
                    f"no checkpoint signed by the trusted key at seq {seq} (one is due every {required_every} "
                    f"records): records {last_signed + 1}..{seq} are unproven (checkpoints deleted, or the chain "
                    "rewritten)",
                    seq=last_signed + 1,
                )
            for kept_checkpoint in kept_by_size.get(seq, ()):
                root = root or frontier.root().hex()
                if (kept_checkpoint.head.root_hash, kept_checkpoint.head.chain_head) != (root, computed):
                    raise _BrokenError(
                        f"the log does not extend the kept checkpoint of size {seq} (line {kept_checkpoint.line}): "
                        f"some of records 1..{seq} were rewritten or removed"
                    )
            prev_hash = record.hash
            checked += 1
            expected += 1
        if expected - 1 != head_seq:
            raise _BrokenError(f"records {expected}..{head_seq} are missing", seq=expected)
        beyond = [c for c in checkpoints if c.seq > later_seq or c.seq < 1]
        if beyond:
            first = min(beyond, key=lambda c: c.checkpoint_id)
            raise _BrokenError(
                f"checkpoint {first.checkpoint_id} signed seq {first.seq} but the log ends at "
                f"{later_seq}: records were removed from the end",
                seq=later_seq + 1 if first.seq > later_seq else None,
                checkpoint=first.checkpoint_id,
            )
        if kept:
            current_root = frontier.root()
            for kept_checkpoint in sorted(kept, key=lambda k: k.head.size):
                size = kept_checkpoint.head.size
                if size > head_seq:
                    raise _BrokenError(
                        f"a kept checkpoint (line {kept_checkpoint.line}) covers {size} records but the log ends at "
                        f"{head_seq}: records were removed from the end",
                        seq=head_seq + 1,
                    )
                if size == 0:
                    continue
                proof = consistency_proof(leaves, size, head_seq)
                if not verify_consistency(
                    size, head_seq, bytes.fromhex(kept_checkpoint.head.root_hash), current_root, proof
                ):
                    raise _BrokenError(
                        f"the log (size {head_seq}) does not extend the kept checkpoint of size {size} "
                        f"(line {kept_checkpoint.line}): consistency proof fails"
                    )
                kept_checked += 1
        orphans = store.dangling_rows()
        if orphans:
            described = ", ".join(f"{count} in {table}" for table, count in sorted(orphans.items()))
            raise _BrokenError(f"rows without their record ({described}): records were removed", seq=head_seq + 1)
    except _BrokenError as broken:
        return report(broken)
    return report(None)


def verify_with_checkpoint_file(
    store: AuditStore,
    public_key: Ed25519PublicKey | None,
    *,
    checkpoint_every: int | None = None,
    checkpoint_file: Path | None = None,
) -> VerifyReport:
    """:func:`verify`, against the checkpoints published to ``checkpoint_file`` too when it exists.

    What a server runs on its own log (its key, its interval, its published file). A file that cannot be
    read or holds a checkpoint not signed by ``public_key`` fails the verification, with the reason.
    """
    kept: list[KeptCheckpoint] = []
    if public_key is not None and checkpoint_file is not None and checkpoint_file.exists():
        try:
            kept = read_checkpoints(checkpoint_file, public_key)
        except CheckpointFileError as exc:
            return VerifyReport(
                ok=False,
                records_checked=0,
                first_broken=None,
                reason=f"published checkpoints: {exc}",
                checkpoints_checked=0,
                trusted_key_fingerprint=key_fingerprint(public_key),
                checkpoint_every=checkpoint_every,
            )
    return verify(store, public_key, checkpoint_every=checkpoint_every, kept=kept)
