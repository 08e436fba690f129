"""The retrieval contract that inference, training and evaluation all use.

Every backend (embedded tantivy + FAISS, and later Elasticsearch) implements
``Retriever``; the agent's environment, the reward functions and the
benchmarks only ever see this protocol.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from dxsearch.corpus import DocumentKind, Evidence


class SearchFilters(BaseModel):
    """Restrictions beyond document kind. ``None`` means "no restriction"."""

    model_config = ConfigDict(frozen=True)

    sources: frozenset[str] | None = None
    exclude_doc_ids: frozenset[str] | None = None


@runtime_checkable
class Retriever(Protocol):
    """Finds chunks for a query, best first."""

    name: str

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        """Return at most ``k`` evidence items, ranks 1..n, scores descending."""
        ...


class RetrievalUnavailableError(RuntimeError):
    """A search backend cannot answer (node down, index missing, wrong URL): one line saying which and why.

    Raised instead of an empty result, so a diagnosis is never made on evidence that could not be
    searched: the API answers 503, a command line exits 2, and nothing is audited as a decision.
    """
