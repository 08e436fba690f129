"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and SHA-256 helpers.

Why RFC 8785 rather than ``json.dumps(sort_keys=True)``: the hash chain must be recomputable from the
stored JSON alone by any verifier, including one written in another language or run inside PostgreSQL.
JCS pins number formatting (ECMAScript shortest round trip, so ``1.0`` is ``1``), key order (UTF-16 code
units) and string escaping, so independent implementations produce the same bytes. ``rfc8785`` (Trail of
Bits) is a small, typed, pure-Python implementation of it.

A consequence worth knowing: values outside the I-JSON domain (integers beyond ±(2**53 - 1), NaN,
infinities, lone surrogates, non-string keys) are refused, at append time, instead of being hashed in a
form other verifiers could not reproduce.
"""

from __future__ import annotations

import hashlib
from typing import TypeAlias

import rfc8785

from audit.errors import InvalidEntryError

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"


def canonical_bytes(value: JsonValue) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON (UTF-8 bytes).

    Raises :class:`InvalidEntryError` for values that have no canonical form, so callers never hash
    something a second verifier would serialise differently.
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeError, TypeError, RecursionError) as exc:
        raise InvalidEntryError(f"value is not canonicalisable JSON (RFC 8785): {exc}") from exc


def canonical_text(value: JsonValue) -> str:
    """Canonical JSON as ``str``: what the stores keep, so stored text and hashed bytes are the same thing."""
    return canonical_bytes(value).decode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256, the digest format of every hash in the log."""
    return hashlib.sha256(data).hexdigest()
