"""Hybrid retrieval by weighted reciprocal-rank fusion (Cormack et al., 2009).

RRF uses ranks, not scores, so BM25 scores and cosine similarities never need
calibrating against each other; weights (from Settings) let a deployment lean
on whichever retriever serves its corpus better.

The two sides run at once: the dense side in a worker thread while the lexical
side runs in the caller's. Both spend their time in native code that releases
the GIL (FAISS, NumPy, tantivy, or waiting on Elasticsearch), so a query takes
about as long as its slower side rather than the sum (at a million chunks the
two are of the same order; see README, "Dense index at scale").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import Retriever, SearchFilters

if TYPE_CHECKING:
    from dxsearch.settings import Settings


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


_SIDES: ThreadPoolExecutor | None = None
_SIDES_LOCK = threading.Lock()


def _side_threads() -> ThreadPoolExecutor:
    """One pool for every hybrid retriever in the process: concurrent requests share its threads rather than
    each index keeping its own."""
    global _SIDES
    with _SIDES_LOCK:
        if _SIDES is None:
            _SIDES = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="dxsearch-dense")
        return _SIDES


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
        parallel: bool = True,
    ) -> None:
        """``parallel``: run the dense side in a worker thread while the lexical side runs (same results)."""
        self._parallel = parallel
        self._lexical = lexical
        self._dense = dense
        self._k0 = k0
        self._weights = (lexical_weight, dense_weight)
        self._candidates = candidates
        self._dense_only_floor = dense_only_min_similarity

    @classmethod
    def from_settings(
        cls, lexical: Retriever, dense: Retriever, settings: Settings, *, parallel: bool = True
    ) -> HybridRetriever:
        """The two sides fused with the settings' RRF constant, weights, candidates and dense-only floor."""
        return cls(
            lexical,
            dense,
            k0=settings.rrf_k,
            lexical_weight=settings.rrf_lexical_weight,
            dense_weight=settings.rrf_dense_weight,
            candidates=settings.fusion_candidates,
            dense_only_min_similarity=settings.dense_only_min_similarity,
            parallel=parallel,
        )

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
        dense_side: Future[list[tuple[Evidence, float]]] | None = None
        if self._parallel and min(self._weights) > 0:
            dense_side = _side_threads().submit(self._dense_with_peaks, query, kinds, n, filters)
        try:
            lexical_hits = self._lexical.search(query, kinds, n, filters) if self._weights[0] > 0 else []
        except BaseException:
            if dense_side is not None:
                dense_side.cancel()  # the lexical side's error is the one raised; the dense side's result is moot
            raise
        if dense_side is not None:
            found = dense_side.result()
        else:
            found = self._dense_with_peaks(query, kinds, n, filters) if self._weights[1] > 0 else []
        lexical_ids = {e.evidence_id for e in lexical_hits}
        dense_hits = [item for item, peak in found if peak >= self._dense_only_floor or item.evidence_id in lexical_ids]
        return reciprocal_rank_fusion(
            [
                (self._lexical.name, self._weights[0], lexical_hits),
                (self._dense.name, self._weights[1], dense_hits),
            ],
            k0=self._k0,
            limit=k,
            name=self.name,
        )

    def _dense_with_peaks(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None,
        n: int,
        filters: SearchFilters | None,
    ) -> list[tuple[Evidence, float]]:
        """The dense side's hits, each with its peak similarity (1.0, never below the floor, for a dense
        retriever that does not report one, or when no floor is set)."""
        if self._dense_only_floor <= 0 or not isinstance(self._dense, PeakScoredRetriever):
            return [(item, 1.0) for item in self._dense.search(query, kinds, n, filters)]
        return self._dense.search_with_peaks(query, kinds, n, filters)


def best_per_document(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Keep each document's best-ranked passage, in order: document-level rankings for evaluation."""
    seen: set[str] = set()
    kept: list[Evidence] = []
    for item in evidence:
        if item.doc_id not in seen:
            seen.add(item.doc_id)
            kept.append(item)
    return kept
