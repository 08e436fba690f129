"""Dense retrieval: exact inner-product search over unit sentence embeddings with FAISS.

One FAISS index per document kind, so a kind filter costs nothing and never
starves results (a global top-k filtered afterwards can return fewer than k).
Vectors are keyed by chunk-store row (``IndexIDMap2``), which makes deletes
and incremental additions exact.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import faiss
import numpy as np

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import SearchFilters
from dxsearch.retrieval.embedder import Embedder, FloatMatrix
from dxsearch.retrieval.store import ChunkStore

DIR_NAME = "dense"


def _index_path(generation: Path, kind: DocumentKind) -> Path:
    return generation / DIR_NAME / f"{kind.value}.faiss"


def _new_index(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


class DenseIndexWriter:
    """Adds, deletes and persists vectors of one generation."""

    def __init__(self, generation: Path, dim: int) -> None:
        self._generation = generation
        self._dim = dim
        (generation / DIR_NAME).mkdir(parents=True, exist_ok=True)
        self._indexes: dict[DocumentKind, faiss.Index] = {}
        for kind in DocumentKind:
            path = _index_path(generation, kind)
            self._indexes[kind] = faiss.read_index(str(path)) if path.exists() else _new_index(dim)

    def add(self, kind: DocumentKind, rows: Sequence[int], vectors: FloatMatrix) -> None:
        if vectors.shape != (len(rows), self._dim):
            raise ValueError(f"expected {len(rows)} x {self._dim} vectors, got {vectors.shape}")
        self._indexes[kind].add_with_ids(vectors, np.asarray(rows, dtype=np.int64))

    def delete_rows(self, rows: Sequence[int]) -> None:
        if not rows:
            return
        selector = faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64))
        for index in self._indexes.values():
            index.remove_ids(selector)

    def commit(self) -> None:
        for kind, index in self._indexes.items():
            path = _index_path(self._generation, kind)
            tmp = path.with_suffix(".tmp")
            faiss.write_index(index, str(tmp))
            tmp.replace(path)


class DenseRetriever:
    """Cosine-similarity retriever over one generation's FAISS indexes."""

    name = "dense"

    def __init__(self, generation: Path, store: ChunkStore, embedder: Embedder) -> None:
        self._store = store
        self._embedder = embedder
        self._indexes: dict[DocumentKind, faiss.Index] = {}
        for kind in DocumentKind:
            path = _index_path(generation, kind)
            if path.exists():
                index = faiss.read_index(str(path))
                if index.d != embedder.spec.dim:
                    raise ValueError(f"{path} has dimension {index.d}, embedder gives {embedder.spec.dim}")
                self._indexes[kind] = index

    def _raw_search(self, vector: FloatMatrix, kinds: Collection[DocumentKind], n: int) -> list[tuple[float, int]]:
        merged: list[tuple[float, int]] = []
        for kind in kinds:
            index = self._indexes.get(kind)
            if index is None or index.ntotal == 0:
                continue
            scores, rows = index.search(vector, min(n, index.ntotal))
            merged.extend((float(s), int(r)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0)
        merged.sort(key=lambda pair: (-pair[0], pair[1]))
        return merged

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        if not query.strip() or k <= 0:
            return []
        wanted = list(kinds) if kinds else list(DocumentKind)
        vector = self._embedder.encode([query])
        restrictive = filters is not None and (filters.sources is not None or bool(filters.exclude_doc_ids))
        n = k * 4 if restrictive else k
        while True:
            candidates = self._raw_search(vector, wanted, n)
            stored = self._store.chunks_by_rows(row for _, row in candidates)
            results: list[Evidence] = []
            for score, row in candidates:
                chunk = stored.get(row)
                if chunk is None:
                    continue
                if filters and filters.sources is not None and chunk.source not in filters.sources:
                    continue
                if filters and filters.exclude_doc_ids and chunk.doc_id in filters.exclude_doc_ids:
                    continue
                results.append(
                    Evidence(
                        evidence_id=chunk.chunk_id,
                        doc_id=chunk.doc_id,
                        kind=chunk.kind,
                        title=chunk.title,
                        text=chunk.text,
                        score=score,
                        rank=len(results) + 1,
                        retriever=self.name,
                    )
                )
                if len(results) == k:
                    return results
            total = sum(self._indexes[kd].ntotal for kd in wanted if kd in self._indexes)
            if n >= total:
                return results
            n *= 4
