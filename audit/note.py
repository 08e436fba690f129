"""Checkpoints as signed notes: the C2SP ``tlog-checkpoint`` body, signed in the C2SP ``signed-note`` format.

A checkpoint says "the log had ``size`` records, its Merkle root was ``root``, at ``time``", signed with
the log's Ed25519 key. The text is what transparency logs (Go's sumdb, Sigstore Rekor, Trillian Tessera)
exchange, so the file an auditor keeps is readable by people and by their tools::

    dxsearch/audit                       origin: names the log (and the key)
    1200                                 tree size = sequence number of the last record covered
    kG4X…base64 root hash…=              RFC 6962 root of records 1..size (audit.merkle)
    chain 3f9a…                          extension: the hash-chain head at that size (audit.chain)
    time 2024-03-01T00:20:00.000000Z     extension: when it was signed
                                         (blank line ends the body)
    — dxsearch/audit Ab3x…base64(key id || signature)…

The signature covers the body bytes (every line up to and including the last ``\\n`` before the blank
line); the key id is the first 4 bytes of SHA-256(name || ``\\n`` || 0x01 || raw public key), as
signed-note defines it for Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

#: The origin line of this log's checkpoints, also the signature's key name.
ORIGIN = "dxsearch/audit"
_ED25519 = b"\x01"
_SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space


class NoteError(ValueError):
    """A note is malformed, or carries no valid signature by the expected key."""


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The body of a checkpoint: tree size, Merkle root (hex), chain head hash (hex) and time."""

    size: int
    root_hash: str
    chain_head: str
    time: str
    origin: str = ORIGIN

    def body(self) -> str:
        root_b64 = base64.b64encode(bytes.fromhex(self.root_hash)).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root_b64}\nchain {self.chain_head}\ntime {self.time}\n"


def key_id(name: str, raw_public_key: bytes) -> bytes:
    """The signed-note key id of an Ed25519 key: 4 bytes naming (name, key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519 + raw_public_key).digest()[:4]


def signed_note(head: TreeHead, raw_public_key: bytes, signature: bytes) -> str:
    """The full note: body, blank line, one signature line."""
    token = base64.b64encode(key_id(head.origin, raw_public_key) + signature).decode("ascii")
    return f"{head.body()}\n{_SIGNATURE_PREFIX}{head.origin} {token}\n"


def _parse_body(body: str) -> TreeHead:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint body needs origin, size and root lines, each ending in a newline")
    origin, size_text, root_b64, *extensions = lines[:-1]
    if not origin or not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise NoteError(f"bad origin or tree size line: {origin!r} / {size_text!r}")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except binascii.Error as exc:
        raise NoteError(f"root hash is not base64: {exc}") from exc
    if len(root) != 32:
        raise NoteError("root hash is not 32 bytes")
    fields: dict[str, str] = {}
    for line in extensions:
        key, _, value = line.partition(" ")
        if not line or key in fields:
            raise NoteError(f"empty or repeated extension line {line!r}")
        fields[key] = value
    if set(fields) != {"chain", "time"}:
        raise NoteError(f"expected 'chain' and 'time' extension lines, got {sorted(fields)}")
    return TreeHead(int(size_text), root.hex(), fields["chain"], fields["time"], origin)


def note_parts(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(body text, [(key name, key id + signature), ...]) of any signed note; raises :class:`NoteError`."""
    body, sep, signatures = text.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("a note is a body, a blank line and signature lines")
    parsed: list[tuple[str, bytes]] = []
    for line in signatures[:-1].split("\n"):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line[:40]!r}")
        name, _, token = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(token, validate=True)
        except binascii.Error as exc:
            raise NoteError(f"signature is not base64: {exc}") from exc
        if len(raw) < 5:
            raise NoteError("signature too short")
        parsed.append((name, raw))
    return body + "\n", parsed


def verified_body(text: str, name: str, public_key: Ed25519PublicKey, raw_public_key: bytes) -> str:
    """The body of a note that carries a valid signature by (``name``, ``public_key``); else :class:`NoteError`."""
    body, signatures = note_parts(text)
    wanted = key_id(name, raw_public_key)
    for signer_name, raw in signatures:
        if signer_name == name and raw[:4] == wanted:
            try:
                public_key.verify(raw[4:], body.encode("utf-8"))
            except InvalidSignature:
                raise NoteError("checkpoint signature does not verify") from None
            return body
    raise NoteError(f"checkpoint carries no signature by key {wanted.hex()} for {name!r}")


def open_note(text: str, public_key: Ed25519PublicKey, raw_public_key: bytes, origin: str = ORIGIN) -> TreeHead:
    """The checkpoint a note states, if it carries a valid signature by ``public_key`` for ``origin``."""
    head = _parse_body(verified_body(text, origin, public_key, raw_public_key))
    if head.origin != origin:
        raise NoteError(f"checkpoint of log {head.origin!r}, expected {origin!r}")
    return head
