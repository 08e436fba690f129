"""The source contract: anything that yields documents (and rejects) for the builder.

A source never raises on one bad record: it yields a ``Reject`` naming the
file, the place inside it and the reason, and goes on, so that one malformed
bundle neither stops a build nor corrupts the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.corpus import Document
from dxsearch.registry import Registry


class Reject(BaseModel):
    """A record a source could not turn into a document, and why."""

    model_config = ConfigDict(frozen=True)

    source: str
    location: str  # "file", "file:line" or "file#/entry/3/resource"
    reason: str
    problems: tuple[tuple[str, str], ...] = Field(
        default=(),
        description="Every (location, reason with the offending value) of a record that failed validation. "
        "Shown by `validate` and `add` to whoever ran them; never written to the index (reason names no value).",
    )

    def lines(self) -> list[str]:
        """Every problem of this record as ``location: reason (got value)``, one per line."""
        return [f"{where}: {why}" for where, why in self.problems] or [f"{self.location}: {self.reason}"]


class SourceInfo(BaseModel):
    """What the manifest records about a source."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    licence: str
    versions: dict[str, str] = {}
    citation: str | None = None


@runtime_checkable
class Source(Protocol):
    """Yields documents and rejects; ``info`` goes into the manifest."""

    @property
    def info(self) -> SourceInfo: ...

    def iter_items(self) -> Iterator[Document | Reject]: ...


SourceFactory = Callable[[], Source]

#: Named sources usable as ``corpus-builder build --source NAME``.
SOURCES: Registry[SourceFactory] = Registry("source")
