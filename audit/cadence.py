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
* The cadence the log shows is the greatest common divisor of its last two automatic checkpoints' positions
  (30 and 40: every 10), and with a single one, of its position and the server's default 1000 (at 10: every
  10). Every position the server signs at is then a multiple of it, also across a change of the server's
  cadence (4 and 8, then 9: every 1, until a second checkpoint at the new cadence shows every 3): signing more
  often than the server is safe, skipping a position it signs is not. A log without one shows none.
* Given a cadence (``--checkpoint-every`` or ``DXSEARCH_AUDIT_CHECKPOINT_EVERY``), a command that appends uses
  it only if the cadence the log shows is a multiple of it; anything else could skip a position the server
  signs, and is refused (:class:`CadenceError`), naming the cadence the log shows.
* Given none, it uses the cadence the log shows, and on a log that shows none the server's default, 1000.

Limits: right after the server's cadence is changed, the log shows a smaller cadence than either (signing
there is safe but adds checkpoints) and refuses the new one until its second checkpoint at it. A log whose
signing began mid-way at a cadence that is not a divisor of 1000 shows its first position's divisor with 1000
until its second checkpoint. The rule reads the log, which a writer could alter; it only decides where the
command line signs, never what verification requires (``audit verify`` takes ``--checkpoint-every`` from the
auditor alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

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
    return cadence_of(automatic_checkpoint_seqs(store))


def cadence_of(seqs: Sequence[int]) -> ShownCadence | None:
    """The cadence automatic checkpoints at ``seqs`` (the last one or two, oldest first) show: the greatest common
    divisor of their positions, and of a single one's with the server's default; ``None`` for none."""
    if not seqs:
        return None
    every = gcd(*seqs) if len(seqs) > 1 else gcd(seqs[0], SERVER_CHECKPOINT_EVERY)
    return ShownCadence(every=every, at=tuple(seqs))


def append_cadence(shown: ShownCadence | None, given: int | None, *, given_as: str | None = None) -> int:
    """The cadence a command that appends signs at: ``given`` if the log does not contradict it, else refused.

    ``given_as`` says how it was given, for the message (default ``--checkpoint-every N``; the command line
    passes ``DXSEARCH_AUDIT_CHECKPOINT_EVERY=N`` when it came from the environment).
    """
    if given is None:
        return SERVER_CHECKPOINT_EVERY if shown is None else shown.every
    if shown is None or shown.every % given == 0:
        return given
    raise CadenceError(
        f"{given_as or f'--checkpoint-every {given}'} contradicts the log, which shows {shown.describe()}: "
        f"appending at a cadence {shown.every} is no multiple of could leave a position the server signs unsigned; "
        f"give {shown.every} (or a divisor of it), or leave it out to use the log's"
    )
