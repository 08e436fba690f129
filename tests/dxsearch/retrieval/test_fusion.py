"""Hybrid fusion: a passage only the dense side found, and only weakly, is not passed off as a match."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pytest

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import SearchFilters
from dxsearch.retrieval.fusion import HybridRetriever


def _evidence(doc: str, retriever: str, rank: int) -> Evidence:
    return Evidence(
        evidence_id=f"{doc}#0",
        doc_id=doc,
        kind=DocumentKind.DISEASE_KNOWLEDGE,
        title=doc,
        text=doc,
        score=1.0 / rank,
        rank=rank,
        retriever=retriever,
    )


class _Fixed:
    """A retriever that returns fixed hits; the dense one also reports each hit's peak similarity."""

    def __init__(self, name: str, hits: list[tuple[str, float]]) -> None:
        self.name = name
        self._hits = hits

    def search_with_peaks(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[tuple[Evidence, float]]:
        return [(_evidence(doc, self.name, i), peak) for i, (doc, peak) in enumerate(self._hits[:k], start=1)]

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        return [item for item, _ in self.search_with_peaks(query, kinds, k, filters)]


@pytest.mark.parametrize("floor", [0.0, 0.6])
def test_weak_dense_only_hits_are_dropped_and_lexical_ones_always_kept(floor: float) -> None:
    lexical = _Fixed("lexical", [("b", 0.0)])
    dense = _Fixed("dense", [("a", 0.52), ("b", 0.41), ("c", 0.83)])
    hybrid = HybridRetriever(lexical, dense, k0=10, dense_weight=3.0, dense_only_min_similarity=floor)
    found = [e.doc_id for e in hybrid.search("q", None, 10)]
    if floor == 0.0:
        assert sorted(found) == ["a", "b", "c"]
    else:  # a: dense only and weak -> dropped; b: weak but lexical found it too -> kept; c: strong -> kept
        assert sorted(found) == ["b", "c"]


def test_a_query_that_only_weakly_resembles_anything_finds_nothing() -> None:
    hybrid = HybridRetriever(
        _Fixed("lexical", []), _Fixed("dense", [("a", 0.48), ("b", 0.45)]), dense_only_min_similarity=0.6
    )
    assert hybrid.search("zanzibarquokka", None, 10) == []


def test_dense_peaks_are_the_closest_statement_similarity(small_index: Path) -> None:
    from dxsearch.retrieval.embedded import EmbeddedIndex

    dense = EmbeddedIndex(small_index).dense
    peaked = dense.search_with_peaks("Ectopia lentis; nonexistent finding xyz", [DocumentKind.DISEASE_KNOWLEDGE], 5)
    assert (
        peaked[0][0].doc_id == "omim:154700" and peaked[0][1] > 0.9
    )  # the card states it word for word (int8 model: ~0.97)
    assert all(0.4 <= peak <= 1.0 + 1e-6 for _, peak in peaked)  # below MIN_SIMILARITY nothing matches
    assert [e for e, _ in peaked] == dense.search(
        "Ectopia lentis; nonexistent finding xyz", [DocumentKind.DISEASE_KNOWLEDGE], 5
    )


@pytest.mark.parametrize(
    "query", ["arachnodactyly, ectopia lentis, tall stature", "cognitive decline; odd gait", "zanzibarquokka"]
)
def test_both_sides_at_once_rank_as_one_after_the_other(small_index: Path, query: str) -> None:
    from dxsearch.retrieval.embedded import EmbeddedIndex

    index = EmbeddedIndex(small_index)
    sides = {
        parallel: HybridRetriever.from_settings(index.lexical, index.dense, index.settings, parallel=parallel)
        for parallel in (True, False)
    }
    at_once, in_turn = (
        [(e.evidence_id, e.score) for e in sides[p].search(query, [DocumentKind.DISEASE_KNOWLEDGE], 10)]
        for p in (True, False)
    )
    assert at_once == in_turn
    assert at_once == [
        (e.evidence_id, e.score) for e in index.hybrid.search(query, [DocumentKind.DISEASE_KNOWLEDGE], 10)
    ]


class _Broken(_Fixed):
    """A side whose backend fails (Elasticsearch down, say): every search raises."""

    def search_with_peaks(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[tuple[Evidence, float]]:
        raise ConnectionError(f"{self.name} backend unreachable")


@pytest.mark.parametrize("broken", ["lexical", "dense"])
def test_a_failing_side_fails_the_search_with_its_own_error(broken: str) -> None:
    sides = {name: (_Broken if name == broken else _Fixed)(name, [("a", 0.9)]) for name in ("lexical", "dense")}
    hybrid = HybridRetriever(sides["lexical"], sides["dense"], dense_only_min_similarity=0.6)
    with pytest.raises(ConnectionError, match=f"{broken} backend unreachable"):
        hybrid.search("q", None, 10)
