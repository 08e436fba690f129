"""Audit stores by URL scheme: the registry of store openers, and ``open_store(url)``.

Each backend registers an opener (URL and options -> open store) under the schemes it serves. An opener
imports its backend module only when it is called, so ``import audit`` loads no backend it does not use
and works without psycopg (the optional ``pg`` extra). A scheme registered with a trailing ``+`` serves
every SQLAlchemy-style ``dialect+driver`` scheme of that dialect (``postgresql+`` serves
``postgresql+psycopg``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from audit.errors import StoreUrlError
from audit.registry import Registry
from audit.signing import CheckpointSigner
from audit.store import AuditStore


class StoreOpener(Protocol):
    def __call__(
        self,
        url: str,
        *,
        signer: CheckpointSigner | None,
        checkpoint_every: int | None,
        busy_timeout_s: float,
        read_only: bool,
        checkpoint_file: Path | None,
    ) -> AuditStore: ...


#: URL scheme -> opener of that backend's store.
STORES: Registry[StoreOpener] = Registry("audit store scheme")


@STORES.register("sqlite")
def _open_sqlite(
    url: str,
    *,
    signer: CheckpointSigner | None,
    checkpoint_every: int | None,
    busy_timeout_s: float,
    read_only: bool,
    checkpoint_file: Path | None,
) -> AuditStore:
    from audit.sqlite_store import SqliteAuditStore, sqlite_path_from_url

    return SqliteAuditStore(
        sqlite_path_from_url(url),
        signer=signer,
        checkpoint_every=checkpoint_every,
        busy_timeout_s=busy_timeout_s,
        read_only=read_only,
        checkpoint_file=checkpoint_file,
    )


@STORES.register("postgresql")
@STORES.register("postgres")
@STORES.register("postgresql+")
def _open_postgres(
    url: str,
    *,
    signer: CheckpointSigner | None,
    checkpoint_every: int | None,
    busy_timeout_s: float,
    read_only: bool,
    checkpoint_file: Path | None,
) -> AuditStore:
    try:
        from audit.postgres_store import PostgresAuditStore
    except ImportError as exc:
        raise StoreUrlError(f"the PostgreSQL audit store needs psycopg 3 (pip install '.[pg]'): {exc}") from exc

    return PostgresAuditStore(
        url,
        signer=signer,
        checkpoint_every=checkpoint_every,
        busy_timeout_s=busy_timeout_s,
        read_only=read_only,
        checkpoint_file=checkpoint_file,
    )


def store_scheme(url: str) -> str | None:
    """The registered scheme that serves ``url``, or None."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in STORES:
        return scheme
    dialect, plus, _driver = scheme.partition("+")
    return dialect + plus if plus and dialect + plus in STORES else None


def open_store(
    url: str,
    *,
    signer: CheckpointSigner | None = None,
    checkpoint_every: int | None = None,
    busy_timeout_s: float = 30.0,
    read_only: bool = False,
    checkpoint_file: Path | None = None,
) -> AuditStore:
    """Open the store a URL names: ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or
    ``postgresql://user@host:port/db`` (psycopg 3; ``postgres://`` and ``postgresql+psycopg://`` too).

    ``read_only`` is for auditors' tools (verify, export): they must not write to the log they judge.
    ``checkpoint_file`` publishes every checkpoint the store signs to that append-only file as well.

    A PostgreSQL URL needs the ``pg`` extra (``psycopg[binary]``).
    """
    scheme = store_scheme(url)
    if scheme is None:
        raise StoreUrlError(f"unsupported audit store URL {url!r}: expected sqlite:///path or postgresql://…")
    return STORES.get(scheme)(
        url,
        signer=signer,
        checkpoint_every=checkpoint_every,
        busy_timeout_s=busy_timeout_s,
        read_only=read_only,
        checkpoint_file=checkpoint_file,
    )
