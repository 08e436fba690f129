"""Ed25519 signing of chain-head checkpoints.

Why checkpoints at all: a hash chain alone shows that records were not altered *in place*, but someone
with write access to the database can rewrite a record and re-hash every record after it, or cut off the
tail. A checkpoint signs ``(seq, head hash)`` with a key the database does not hold the means to forge
(the private key lives outside it; auditors keep the public key), so a rewrite or truncation before a
checkpoint is detected even when the chain itself is internally consistent.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.canonical import canonical_bytes, sha256_hex
from audit.errors import SigningKeyError
from audit.models import Checkpoint
from audit.note import NoteError, TreeHead, open_note, signed_note

#: Domain separation: a checkpoint signature can never be mistaken for a signature over anything else.
CHECKPOINT_TYPE = "dxsearch.audit.checkpoint"
CHECKPOINT_VERSION = 1


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw 32-byte public key: names the key in checkpoints and reports."""
    return sha256_hex(raw_public_bytes(public_key))


def checkpoint_payload(*, seq: int, head_hash: str, created_at: str, key_fingerprint: str) -> bytes:
    """The canonical bytes a checkpoint signature covers."""
    return canonical_bytes(
        {
            "created_at": created_at,
            "head_hash": head_hash,
            "key_fingerprint": key_fingerprint,
            "seq": seq,
            "type": CHECKPOINT_TYPE,
            "v": CHECKPOINT_VERSION,
        }
    )


class CheckpointSigner:
    """Holds the Ed25519 private key that signs checkpoints.

    Load it from a PEM file in deployments (:meth:`from_pem`); :meth:`generate` makes a throwaway key for
    development and tests, and :meth:`from_pem_or_generate` persists one so restarts keep the same key.
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        self.fingerprint: str = key_fingerprint(self.public_key)
        self.public_key_b64: str = base64.b64encode(raw_public_bytes(self.public_key)).decode("ascii")

    @classmethod
    def generate(cls) -> CheckpointSigner:
        """A fresh random key (development: nothing outside this process can verify against it unless saved)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, path: Path, password: bytes | None = None) -> CheckpointSigner:
        """Load a PKCS#8 PEM Ed25519 private key."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=password)
        except (OSError, ValueError, TypeError) as exc:
            raise SigningKeyError(f"cannot load checkpoint signing key from {path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
        return cls(key)

    @classmethod
    def from_pem_or_generate(cls, path: Path) -> CheckpointSigner:
        """Development convenience: load ``path``, or generate a key and write it there (mode 0600)."""
        if path.exists():
            return cls.from_pem(path)
        signer = cls.generate()
        signer.write_pem(path)
        return signer

    def sign(self, payload: bytes) -> str:
        """Base64 Ed25519 signature of ``payload``."""
        return base64.b64encode(self._private_key.sign(payload)).decode("ascii")

    def sign_tree_head(self, head: TreeHead) -> tuple[str, str]:
        """(signed note, base64 signature) of a checkpoint body."""
        signature = self._private_key.sign(head.body().encode("utf-8"))
        return signed_note(head, raw_public_bytes(self.public_key), signature), base64.b64encode(signature).decode(
            "ascii"
        )

    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        return public_pem(self.public_key)

    def write_pem(self, path: Path) -> None:
        """Write the private key as PEM, readable by the owner only; never overwrites an existing key."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise SigningKeyError(f"refusing to overwrite existing key file {path}") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.private_pem())


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from PEM; a private-key PEM is accepted too (its public half is used)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read public key {path}: {exc}") from exc
    try:
        key: object
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if isinstance(key, Ed25519PrivateKey):
                return key.public_key()
        else:
            key = serialization.load_pem_public_key(data)
            if isinstance(key, Ed25519PublicKey):
                return key
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot load public key from {path}: {exc}") from exc
    raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")


def check_checkpoint_signature(checkpoint: Checkpoint, trusted_key: Ed25519PublicKey | None) -> str | None:
    """Why a checkpoint's signature is not acceptable, or None if it is.

    With ``trusted_key`` the checkpoint must have been signed by exactly that key; without it the
    signature is checked against the public key stored with the checkpoint, which proves only internal
    consistency (anyone who can write the database could have made that key too).
    """
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint.public_key, validate=True))
    except ValueError as exc:
        return f"checkpoint {checkpoint.checkpoint_id}: stored public key is malformed ({exc})"
    if key_fingerprint(embedded) != checkpoint.key_fingerprint:
        return f"checkpoint {checkpoint.checkpoint_id}: stored public key does not match its fingerprint"
    key = embedded
    if trusted_key is not None:
        expected = key_fingerprint(trusted_key)
        if checkpoint.key_fingerprint != expected:
            return (
                f"checkpoint {checkpoint.checkpoint_id} (seq {checkpoint.seq}) was signed by key "
                f"{checkpoint.key_fingerprint[:16]}…, not the trusted key {expected[:16]}…"
            )
        key = trusted_key
    if checkpoint.note is not None:
        return _check_note(checkpoint, key)
    payload = checkpoint_payload(
        seq=checkpoint.seq,
        head_hash=checkpoint.head_hash,
        created_at=checkpoint.created_at,
        key_fingerprint=checkpoint.key_fingerprint,
    )
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), payload)
    except (InvalidSignature, ValueError):
        return f"checkpoint {checkpoint.checkpoint_id} (seq {checkpoint.seq}): signature does not verify"
    return None


def _check_note(checkpoint: Checkpoint, key: Ed25519PublicKey) -> str | None:
    """A note checkpoint: the note is signed by ``key`` and states exactly the row's fields."""
    assert checkpoint.note is not None
    try:
        head = open_note(checkpoint.note, key, raw_public_bytes(key))
    except NoteError as exc:
        return f"checkpoint {checkpoint.checkpoint_id} (seq {checkpoint.seq}): {exc}"
    try:
        stored_signature = base64.b64decode(checkpoint.signature, validate=True)
    except ValueError:
        stored_signature = b""
    if signed_note(head, raw_public_bytes(key), stored_signature) != checkpoint.note:
        return (
            f"checkpoint {checkpoint.checkpoint_id} (seq {checkpoint.seq}): signature does not verify "
            "(the stored signature is not its note's, or the note carries other lines)"
        )
    stated = (head.size, head.root_hash, head.chain_head, head.time)
    if stated != (checkpoint.seq, checkpoint.root_hash, checkpoint.head_hash, checkpoint.created_at):
        return (
            f"checkpoint {checkpoint.checkpoint_id} (seq {checkpoint.seq}): its signed note states "
            f"size {head.size}, root {head.root_hash[:16]}…, which the stored row does not match"
        )
    return None
