"""Checkpoints published outside the database: an append-only file of signed checkpoints.

Why: checkpoints kept in the same database as the records can be deleted together with the records they
sign. A copy elsewhere (a file on another volume, an auditor's machine) is what a truncated or rewritten
log cannot follow: ``audit verify --against FILE`` fails unless the current log extends every
checkpoint in FILE (a consistency proof per checkpoint, :mod:`audit.merkle`).

Format: JSON Lines, one checkpoint per line, oldest first::

    {"created_at": "...", "key_fingerprint": "...", "note": "<signed note>", "root_hash": "<hex>", "tree_size": 12}

Only ``note`` is trusted (it is signed, :mod:`audit.note`); the other fields are for people and ``grep``.
Each line is written with one ``write`` on a descriptor opened ``O_APPEND`` and fsynced before the call
returns (the directory too when the file is new), so a crash leaves at most a torn last line: readers
ignore it, and the next append cuts it off before writing. Writers take turns on a ``flock`` of the file.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.canonical import canonical_bytes
from audit.errors import AuditError
from audit.models import Checkpoint
from audit.note import NoteError, TreeHead, open_note
from audit.signing import raw_public_bytes


class CheckpointFileError(AuditError):
    """A checkpoint file cannot be read, or holds a line that is not a checkpoint signed by the trusted key."""


@dataclass(frozen=True, slots=True)
class KeptCheckpoint:
    """A checkpoint read from a file, its note verified against the trusted key."""

    line: int
    head: TreeHead
    note: str


def checkpoint_line(checkpoint: Checkpoint) -> bytes:
    """The file line of a (note) checkpoint, newline included."""
    if checkpoint.note is None or checkpoint.root_hash is None:
        raise AuditError(f"checkpoint {checkpoint.checkpoint_id} has no signed note (schema version 1)")
    return (
        canonical_bytes(
            {
                "created_at": checkpoint.created_at,
                "key_fingerprint": checkpoint.key_fingerprint,
                "note": checkpoint.note,
                "root_hash": checkpoint.root_hash,
                "tree_size": checkpoint.seq,
            }
        )
        + b"\n"
    )


def _last_line(fd: int) -> bytes | None:
    size = os.fstat(fd).st_size
    start = max(0, size - 16384)
    lines = os.pread(fd, size - start, start).split(b"\n")
    return lines[-2] + b"\n" if len(lines) >= 2 else None


def _drop_torn_tail(fd: int) -> None:
    """Cut bytes after the last newline: the remains of a write a crash cut short, never a whole line."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - 16384)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        end = start
    os.ftruncate(fd, 0)


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> bool:
    """Append one checkpoint to ``path`` and fsync it (and its directory when the file is new).

    Writers (several server processes, a cron job) take turns on an exclusive ``flock`` of the file.
    Returns False, writing nothing (but fsyncing), when the file already ends with this very checkpoint
    (an on-demand checkpoint of an unchanged head, run from cron, does not grow the file).
    """
    data = checkpoint_line(checkpoint)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        appended = _last_line(fd) != data  # if it is there already, perhaps its fsync failed: sync again
        if appended:
            _drop_torn_tail(fd)
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return appended


def read_checkpoints(path: Path, public_key: Ed25519PublicKey) -> list[KeptCheckpoint]:
    """Every checkpoint in ``path``, each verified against ``public_key``.

    A last line without its newline is a write cut short by a crash and is ignored; any other line that
    is not a checkpoint signed by ``public_key`` is an error.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointFileError(f"cannot read checkpoint file {path}: {exc}") from exc
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a torn write
    raw_key = raw_public_bytes(public_key)
    kept: list[KeptCheckpoint] = []
    for number, raw in enumerate(lines, start=1):
        try:
            note = json.loads(raw)["note"]
            if not isinstance(note, str):
                raise TypeError("note is not a string")
            head = open_note(note, public_key, raw_key)
        except NoteError as exc:
            raise CheckpointFileError(f"{path}:{number}: not a checkpoint signed by the trusted key: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointFileError(f"{path}:{number}: not a checkpoint line ({exc})") from exc
        kept.append(KeptCheckpoint(line=number, head=head, note=note))
    if not kept:
        raise CheckpointFileError(f"{path} holds no checkpoint")
    return kept
