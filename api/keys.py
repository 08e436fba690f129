"""API keys and roles: who a caller is.

Keys are held only as SHA-256 digests: the process never keeps a raw key after parsing its settings, and a
deployment can configure digests (``sha256=<hex>:role``) so no raw key is in its environment either. A
presented key is hashed and compared with every configured digest in constant time, so neither timing nor
an early exit tells which prefix matched.

The actor id written to logs and the audit log is a keyed HMAC of the key's digest (the pseudonym key of
the settings): stable per key, so an auditor can tell requests of one key apart from another's, and not
reversible into the key by anyone who reads the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from dxsearch.pseudonym import Pseudonymiser

#: Pseudonym namespace of actor ids.
ACTOR_NAMESPACE = "api-key"
#: Shortest raw key accepted in settings: anything shorter is guessable.
MIN_KEY_CHARS = 16
_DIGEST_ENTRY = re.compile(r"sha256=([0-9a-fA-F]{64})")


class Role(StrEnum):
    """Who a caller is; each route names the roles it admits."""

    CLINICIAN = "clinician"
    DATA_TEAM = "data_team"
    AUDITOR = "auditor"
    ADMIN = "admin"


class KeyConfigError(ValueError):
    """The ``api_keys`` setting cannot be read; the message names the entry by position, never the key."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: role, pseudonymous actor id, and the key digest (rate-limit bucket)."""

    role: Role
    actor_id: str
    key_digest: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    principal: Principal


def key_digest(key: str) -> bytes:
    """SHA-256 of a key's UTF-8 bytes: the only form in which keys are kept."""
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyRing:
    """Configured keys as digests, each mapped to a role."""

    def __init__(self, entries: Iterable[tuple[bytes, Role]], pseudonymiser: Pseudonymiser) -> None:
        self._entries: list[_Entry] = []
        seen: set[bytes] = set()
        for digest, role in entries:
            if digest in seen:
                raise KeyConfigError("the same API key is configured twice")
            seen.add(digest)
            hex_digest = digest.hex()
            actor_id = pseudonymiser.pseudonym(hex_digest, ACTOR_NAMESPACE)
            self._entries.append(_Entry(digest, Principal(role=role, actor_id=actor_id, key_digest=hex_digest)))

    @classmethod
    def parse(cls, spec: str | None, pseudonymiser: Pseudonymiser) -> KeyRing:
        """Read ``key:role,key:role`` (or ``sha256=<hex>:role``); the role is after the last colon."""
        entries: list[tuple[bytes, Role]] = []
        for position, raw in enumerate((spec or "").split(","), start=1):
            item = raw.strip()
            if not item:
                continue
            key, sep, role_name = item.rpartition(":")
            key = key.strip()
            if not sep or not key:
                raise KeyConfigError(f"API key entry {position} is not 'key:role'")
            try:
                role = Role(role_name.strip())
            except ValueError:
                roles = ", ".join(r.value for r in Role)
                raise KeyConfigError(f"API key entry {position} has an unknown role (roles: {roles})") from None
            digest_match = _DIGEST_ENTRY.fullmatch(key)
            if digest_match is not None:
                entries.append((bytes.fromhex(digest_match.group(1)), role))
                continue
            if len(key) < MIN_KEY_CHARS:
                raise KeyConfigError(f"API key entry {position} is shorter than {MIN_KEY_CHARS} characters")
            entries.append((key_digest(key), role))
        return cls(entries, pseudonymiser)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a presented key, or None; every configured digest is compared, in constant time."""
        digest = key_digest(presented)
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.principal
        return found
