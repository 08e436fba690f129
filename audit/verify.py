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
   result prove anything against someone able to write the database) and the head hash it signed is the
   hash the chain has at that sequence number (a rewrite of the whole chain after some record fails
   here), and no checkpoint names a record past the end of the log (truncation fails here).

Records after the last checkpoint are protected by the chain only: whoever can write the file could cut
them off unnoticed, which is why stores checkpoint every N records and on demand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.canonical import JsonValue
from audit.chain import GENESIS_HASH, expected_index_rows, record_hash
from audit.models import Checkpoint
from audit.signing import check_checkpoint_signature, key_fingerprint
from audit.store import AuditStore


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify`.

    ``first_broken`` is the sequence number of the first record that cannot be trusted (None when the
    log is intact, or when what failed is a checkpoint rather than a record: see
    ``broken_checkpoint``). ``unsigned_tail`` counts records after the last valid checkpoint.
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

    def to_json(self) -> dict[str, JsonValue]:
        return dict(asdict(self))


class _BrokenError(Exception):
    def __init__(self, reason: str, *, seq: int | None = None, checkpoint: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seq = seq
        self.checkpoint = checkpoint


def verify(store: AuditStore, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Walk the whole chain of ``store`` and report the first broken record or checkpoint.

    Safe to run while writers append: it checks the log up to the head it sees when it starts (records
    are immutable, so later appends cannot change what it reads).
    """
    # Checkpoints first, then the head: every checkpoint read must then lie within the head, unless
    # records were removed.
    checkpoints = store.checkpoints()
    head = store.head()
    head_seq = 0 if head is None else head.seq
    trusted = None if public_key is None else key_fingerprint(public_key)
    by_seq: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_seq.setdefault(checkpoint.seq, []).append(checkpoint)

    checked = 0
    checkpoints_checked = 0
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
        )

    try:
        expected = 1
        for record in store.iter_stored(up_to_seq=head_seq):
            seq = record.seq
            if seq != expected:
                raise _BrokenError(f"record {expected} is missing (the next stored record is {seq})", seq=expected)
            try:
                computed = record_hash(record)
                index_rows = expected_index_rows(record)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise _BrokenError(f"record {seq}: stored fields are not valid JSON ({exc})", seq=seq) from None
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
                checkpoints_checked += 1
                last_signed = seq
            prev_hash = record.hash
            checked += 1
            expected += 1
        if expected - 1 != head_seq:
            raise _BrokenError(f"records {expected}..{head_seq} are missing", seq=expected)
        beyond = [c for c in checkpoints if c.seq > head_seq or c.seq < 1]
        if beyond:
            first = min(beyond, key=lambda c: c.checkpoint_id)
            raise _BrokenError(
                f"checkpoint {first.checkpoint_id} signed seq {first.seq} but the log ends at {head_seq}: "
                "records were removed from the end",
                seq=head_seq + 1 if first.seq > head_seq else None,
                checkpoint=first.checkpoint_id,
            )
    except _BrokenError as broken:
        return report(broken)
    return report(None)
