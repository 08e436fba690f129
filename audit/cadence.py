"""The checkpoint cadence a log shows, so that a command line that appends to it signs where the server signs.

The server signs a checkpoint at every multiple of N records (``DXSEARCH_AUDIT_CHECKPOINT_EVERY``, default
1000), and ``audit verify --public-key … --checkpoint-every N`` requires one at each. A command-line run that
appends (``audit show/export/verify --key``) must sign at the same positions: an auditor's user test ran
``audit show --key`` four times with the default 1000 against a server signing every 10, crossed seq 40
without signing it, and ``audit verify --checkpoint-every 10`` then called records 31..40 unproven.

The rule (:func:`shown_cadence`, :func:`append_cadence`):

* The evidence is the log's *automatic* checkpoints: those signed by the append that wrote their record, so
  the checkpoint's time is its record's. ``audit checkpoint --key`` signs the head later, wherever it is, and
  is not evidence of a cadence.
* The cadence the log shows is the interval between its last two automatic checkpoints (checkpoints at 30 and
  40: every 10), and with a single one its position (at 10 alone: every 10). A log without one shows none.
* Given a cadence (``--checkpoint-every`` or ``DXSEARCH_AUDIT_CHECKPOINT_EVERY``), a command that appends uses
  it only if it is the one the log shows; with a single automatic checkpoint, a cadence its position is a
  multiple of is taken too (a log signed every 1000 only from record 1500 on has its first checkpoint at
  2000). Anything else is refused (:class:`CadenceError`), naming the cadence the log shows.
* Given none, it uses the cadence the log shows, and on a log that shows none the server's default, 1000.

Limits: after the server's cadence is changed, the log shows the new one from its second checkpoint at the
new cadence on; until then run the command without ``--key`` (the read is then not recorded) or give the
cadence the log shows. The rule reads the log, which a writer could alter; it only decides where the
command line signs, never what verification requires (``audit verify`` takes ``--checkpoint-every`` from
the auditor alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.errors import AuditError
from audit.store import AuditStore

#: The server's checkpoint cadence unless told otherwise (``DXSEARCH_AUDIT_CHECKPOINT_EVERY``'s default).
SERVER_CHECKPOINT_EVERY = 1000


class CadenceError(AuditError, ValueError):
    """A cadence given to a command that appends contradicts the checkpoints the log holds."""


@dataclass(frozen=True)
class ShownCadence:
    """What a log's automatic checkpoints show: a checkpoint ``every`` N records, from the checkpoints ``at``."""

    every: int
    #: The positions of the (one or two) newest automatic checkpoints, oldest first.
    at: tuple[int, ...]

    def describe(self) -> str:
        where = " and ".join(str(seq) for seq in self.at)
        return f"a checkpoint every {self.every} records (its last automatic checkpoints: seq {where})"


def automatic_checkpoint_seqs(store: AuditStore, *, newest: int = 2) -> list[int]:
    """The positions of the ``newest`` latest checkpoints signed by the append that wrote their record, oldest first.

    A checkpoint is automatic when its time is its record's: the append signs it in the same transaction, with
    the record's timestamp; an on-demand checkpoint (``audit checkpoint --key``) takes the time it is signed at.
    """
    found: list[int] = []
    seen: set[int] = set()
    for checkpoint in sorted(store.checkpoints(), key=lambda c: (c.seq, c.checkpoint_id), reverse=True):
        if checkpoint.seq in seen:
            continue
        records = list(store.iter_stored(after_seq=checkpoint.seq - 1, up_to_seq=checkpoint.seq))
        if [(r.seq, r.created_at) for r in records] == [(checkpoint.seq, checkpoint.created_at)]:
            seen.add(checkpoint.seq)
            found.append(checkpoint.seq)
            if len(found) == newest:
                break
    return sorted(found)


def shown_cadence(store: AuditStore) -> ShownCadence | None:
    """The cadence the log's automatic checkpoints show (see the module's rule), or None when it has none."""
    seqs = automatic_checkpoint_seqs(store)
    if not seqs:
        return None
    every = seqs[-1] - seqs[0] if len(seqs) == 2 else seqs[0]
    return ShownCadence(every=every, at=tuple(seqs))


def append_cadence(shown: ShownCadence | None, given: int | None, *, given_as: str | None = None) -> int:
    """The cadence a command that appends signs at: ``given`` if the log does not contradict it, else refused.

    ``given_as`` says how it was given, for the message (default ``--checkpoint-every N``; the command line
    passes ``DXSEARCH_AUDIT_CHECKPOINT_EVERY=N`` when it came from the environment).
    """
    if given is None:
        return SERVER_CHECKPOINT_EVERY if shown is None else shown.every
    if shown is None or given == shown.every or (len(shown.at) == 1 and shown.at[0] % given == 0):
        return given
    raise CadenceError(
        f"{given_as or f'--checkpoint-every {given}'} contradicts the log, which shows {shown.describe()}: "
        f"appending at another cadence would leave a position the server signs unsigned; give {shown.every}, "
        "or leave it out to use the log's"
    )
