"""Errors of the audit package.

One base class so callers (the API, the CLI) can catch every audit failure in one place and map it to a
response, while still telling a bad request (``InvalidEntryError``) from an unavailable store.
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class of every error raised by :mod:`audit`."""


class InvalidEntryError(AuditError, ValueError):
    """An entry cannot be recorded as given (not JSON-canonicalisable, a required field is empty, ...).

    Raised before any write, so nothing reaches the log.
    """


class StoreUrlError(AuditError, ValueError):
    """An audit store URL is malformed or names a store this build does not have."""


class SigningKeyError(AuditError):
    """A checkpoint key cannot be loaded, or a checkpoint was requested from a store without a signer."""


class EmptyLogError(AuditError):
    """An operation that needs at least one record (an on-demand checkpoint) ran on an empty log."""


class CorruptRecordError(AuditError):
    """A stored record cannot be parsed: the log was altered outside the API (run ``audit verify``)."""


class RegistryError(AuditError, KeyError):
    """A registry was asked for a name it does not have, or to register a name twice."""
