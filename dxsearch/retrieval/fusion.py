"""Hybrid retrieval by weighted reciprocal-rank fusion (Cormack et al., 2009).

RRF uses ranks, not scores, so BM25 scores and cosine similarities never need
calibrating against each other; weights (from Settings) let a deployment lean
on whichever retriever serves its corpus better.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import Retriever, SearchFilters


@runtime_checkable
class PeakScoredRetriever(Protocol):
    """A dense retriever that also says how close each hit's closest match is (cosine, 0..1)."""

    def search_with_peaks(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[tuple[Evidence, float]]: ...


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[str, float, Sequence[Evidence]]], *, k0: int, limit: int, name: str = "hybrid"
) -> list[Evidence]:
    """Fuse ``(retriever name, weight, ranked evidence)`` lists into one ranking of ``limit`` items."""
    scores: dict[str, float] = {}
    first_seen: dict[str, Evidence] = {}
    component_ranks: dict[str, dict[str, int]] = {}
    for retriever, weight, ranked in rankings:
        for rank, item in enumerate(ranked, start=1):
            scores[item.evidence_id] = scores.get(item.evidence_id, 0.0) + weight / (k0 + rank)
            first_seen.setdefault(item.evidence_id, item)
            component_ranks.setdefault(item.evidence_id, {})[retriever] = rank
    ordered = sorted(scores, key=lambda eid: (-scores[eid], eid))[:limit]
    return [
        first_seen[eid].model_copy(
            update={
                "score": scores[eid],
                "rank": position,
                "retriever": name,
                "component_ranks": component_ranks[eid],
            }
        )
        for position, eid in enumerate(ordered, start=1)
    ]


class HybridRetriever:
    """Lexical + dense, fused by weighted RRF.

    RRF turns any ranked list into confident-looking scores, and a dense index always has
    nearest neighbours, however unrelated. So a passage that only the dense side found is
    kept only if its closest statement is at least ``dense_only_min_similarity`` (cosine) to
    a query statement; a nonsense query ("zanzibarquokka") then returns nothing rather than
    the least unrelated passages. Passages the lexical side also found are always kept.
    """

    name = "hybrid"

    def __init__(
        self,
        lexical: Retriever,
        dense: Retriever,
        *,
        k0: int = 60,
        lexical_weight: float = 1.0,
        dense_weight: float = 1.0,
        candidates: int = 50,
        dense_only_min_similarity: float = 0.0,
    ) -> None:
        self._lexical = lexical
        self._dense = dense
        self._k0 = k0
        self._weights = (lexical_weight, dense_weight)
        self._candidates = candidates
        self._dense_only_floor = dense_only_min_similarity

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        if k <= 0 or (kinds is not None and not kinds):
            return []
        n = max(k, self._candidates)
        lexical_hits = self._lexical.search(query, kinds, n, filters) if self._weights[0] > 0 else []
        dense_hits = self._dense_hits(query, kinds, n, filters, {e.evidence_id for e in lexical_hits})
        return reciprocal_rank_fusion(
            [
                (self._lexical.name, self._weights[0], lexical_hits),
                (self._dense.name, self._weights[1], dense_hits),
            ],
            k0=self._k0,
            limit=k,
            name=self.name,
        )

    def _dense_hits(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None,
        n: int,
        filters: SearchFilters | None,
        lexical_ids: set[str],
    ) -> list[Evidence]:
        if self._weights[1] <= 0:
            return []
        if self._dense_only_floor <= 0 or not isinstance(self._dense, PeakScoredRetriever):
            return self._dense.search(query, kinds, n, filters)
        return [
            item
            for item, peak in self._dense.search_with_peaks(query, kinds, n, filters)
            if peak >= self._dense_only_floor or item.evidence_id in lexical_ids
        ]


def best_per_document(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Keep each document's best-ranked passage, in order: document-level rankings for evaluation."""
    seen: set[str] = set()
    kept: list[Evidence] = []
    for item in evidence:
        if item.doc_id not in seen:
            seen.add(item.doc_id)
            kept.append(item)
    return kept
