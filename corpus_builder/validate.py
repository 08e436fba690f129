"""``corpus-builder validate FILE``: run a file through the real source, index nothing.

Validation is the same code path as a build (same checks, same FHIR
validation, same document construction), so "validate says ok" means "build
will accept it"; only the index is not written. Documents are counted, not
kept, so a large directory validates in constant memory (ids aside).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from corpus_builder.sources.base import Reject
from corpus_builder.sources.files import sources_for_path
from dxsearch.corpus import Document
from dxsearch.settings import Settings


class ValidationReport(BaseModel):
    """What a build would make of a path: documents that pass, and every reject with its location."""

    model_config = ConfigDict(frozen=True)

    path: str
    documents: int = Field(description="Documents that passed every check.")
    by_kind: dict[str, int] = Field(default_factory=dict)
    rejects: tuple[Reject, ...] = ()
    duplicate_ids: tuple[str, ...] = Field(
        default=(),
        description="Ids produced more than once (same patient identifier, or the same guideline twice); "
        "a build keeps one document per id.",
    )

    @property
    def ok(self) -> bool:
        """True when there is something to index and nothing was rejected."""
        return self.documents > 0 and not self.rejects

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.by_kind.items())) or "none"
        return f"{self.documents} document(s) ok ({kinds}), {len(self.rejects)} rejected"


def validate_path(path: Path, *, settings: Settings | None = None) -> ValidationReport:
    """Check a file or directory the way ``build --source PATH`` would read it."""
    kinds: Counter[str] = Counter()
    rejects: list[Reject] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for item in sources_for_path(path, settings=settings).iter_items():
        if isinstance(item, Document):
            kinds[item.kind.value] += 1
            if item.id in seen and item.id not in duplicates:
                duplicates.append(item.id)
            seen.add(item.id)
        else:
            rejects.append(item)
    return ValidationReport(
        path=str(path),
        documents=sum(kinds.values()),
        by_kind=dict(kinds),
        rejects=tuple(rejects),
        duplicate_ids=tuple(duplicates),
    )
