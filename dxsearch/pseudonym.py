"""Keyed pseudonyms for patient identifiers.

Medical record numbers are low-entropy: a plain hash of one is reversible by
enumeration. A keyed HMAC is not, as long as the key stays secret, and it is
deterministic, so a rebuild or a second request for the same patient yields
the same pseudonym and the audit trail stays joinable.
"""

from __future__ import annotations

import hashlib
import hmac

#: What the key fingerprint is the HMAC of.
FINGERPRINT_LABEL = b"dxsearch pseudonym key fingerprint v1"


class Pseudonymiser:
    """Maps (namespace, identifier) pairs to stable, non-reversible pseudonyms."""

    def __init__(self, key: str, length: int = 20) -> None:
        if len(key) < 16:
            raise ValueError("pseudonym key must be at least 16 characters")
        if not 8 <= length <= 64:
            raise ValueError("pseudonym length must be between 8 and 64 hex characters")
        self._key = key.encode("utf-8")
        self._length = length

    def pseudonym(self, identifier: str, namespace: str = "") -> str:
        """Hex pseudonym of ``identifier`` within ``namespace`` (e.g. an identifier system URI)."""
        message = f"{namespace}\x1f{identifier}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[: self._length]

    def key_fingerprint(self) -> str:
        """A fingerprint of the key, safe to log and record (says which key, never what key).

        The first 16 hex digits of HMAC-SHA-256 of a fixed label under the key: a key rotation shows as a
        new fingerprint in the startup log and in every trace (``case.pseudonym_key``).
        """
        return hmac.new(self._key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]
