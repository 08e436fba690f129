"""Dense retrieval: statement-level embeddings in FAISS, scored by late interaction (MaxSim).

Each chunk is cut into statements (see :mod:`dxsearch.retrieval.segments`);
every distinct statement is embedded once with MiniLM and stored in one FAISS
inner-product index, with postings from statement to the chunk rows that
contain it. A query is cut the same way; each query statement finds its
nearest corpus statements, and a chunk's score is the mean over query
statements of the best (similarity x IDF) among its own statements. So a
patient's twelve findings are matched one by one, a paraphrase still matches
("lens dislocation" ~ "Ectopia lentis"), and a finding that half the corpus
mentions counts for less than a rare one.

Deduplicating statements also makes the build cheap: the default corpus has
~0.4 M statement occurrences but far fewer distinct statements, and short
texts embed an order of magnitude faster than full chunks on a CPU.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import SearchFilters
from dxsearch.retrieval.embedder import Embedder, TextEmbedder
from dxsearch.retrieval.segments import query_segments, segments
from dxsearch.retrieval.store import ChunkStore

DIR_NAME = "dense"
_INDEX_FILE = "segments.faiss"
_DB_FILE = "segments.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS postings (segment_id INTEGER NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (segment_id, row));
CREATE INDEX IF NOT EXISTS postings_row ON postings(row);
"""
#: Corpus statements each query statement considers, and the least cosine that counts as a match.
NEIGHBOURS = 64
MIN_SIMILARITY = 0.4
#: A match's weight grows from 0 at MIN_SIMILARITY to 1 at identity, raised to this power, so
#: near-identical statements dominate while paraphrases still count.
SHARPNESS = 2.0


class DenseIndexWriter:
    """Adds chunks' statements (embedding only statements not seen before) and their postings."""

    def __init__(self, generation: Path, embedder: TextEmbedder) -> None:
        directory = generation / DIR_NAME
        directory.mkdir(parents=True, exist_ok=True)
        self._index_path = directory / _INDEX_FILE
        self._embedder = embedder
        self._db = sqlite3.connect(directory / _DB_FILE)
        self._db.executescript(_SCHEMA)
        self._ids: dict[str, int] = dict(self._db.execute("SELECT text, id FROM segments"))
        self._next_id = max(self._ids.values(), default=-1) + 1  # ids are never reused
        if self._index_path.exists():
            self._index = faiss.read_index(str(self._index_path))
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.spec.dim))
        self.embedded_segments = 0

    def add(self, rows: Sequence[int], texts: Sequence[str]) -> None:
        postings: list[tuple[int, int]] = []
        new_texts: list[str] = []
        for row, text in zip(rows, texts, strict=True):
            for segment in segments(text):
                segment_id = self._ids.get(segment)
                if segment_id is None:
                    segment_id = self._next_id
                    self._next_id += 1
                    self._ids[segment] = segment_id
                    new_texts.append(segment)
                postings.append((segment_id, row))
        if new_texts:
            vectors = self._embedder.encode(new_texts)
            ids = np.asarray([self._ids[t] for t in new_texts], dtype=np.int64)
            self._index.add_with_ids(vectors, ids)
            self._db.executemany("INSERT INTO segments VALUES (?, ?)", [(self._ids[t], t) for t in new_texts])
            self.embedded_segments += len(new_texts)
        self._db.executemany("INSERT OR IGNORE INTO postings VALUES (?, ?)", postings)

    def delete_rows(self, rows: Sequence[int]) -> None:
        """Forget chunks, and the statements no remaining chunk contains (so they stop taking
        nearest-neighbour slots from live statements)."""
        touched: set[int] = set()
        for row in rows:
            touched.update(r[0] for r in self._db.execute("SELECT segment_id FROM postings WHERE row = ?", (row,)))
        self._db.executemany("DELETE FROM postings WHERE row = ?", [(r,) for r in rows])
        orphans = [
            s
            for s in touched
            if self._db.execute("SELECT 1 FROM postings WHERE segment_id = ?", (s,)).fetchone() is None
        ]
        if orphans:
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(orphans, dtype=np.int64)))
            self._db.executemany("DELETE FROM segments WHERE id = ?", [(s,) for s in orphans])
            gone = set(orphans)
            self._ids = {text: i for text, i in self._ids.items() if i not in gone}

    def commit(self) -> None:
        self._db.commit()
        tmp = self._index_path.with_suffix(".tmp")
        faiss.write_index(self._index, str(tmp))
        tmp.replace(self._index_path)

    def close(self) -> None:
        self._db.close()


class DenseRetriever:
    """Late-interaction dense retriever over one generation."""

    name = "dense"

    def __init__(self, generation: Path, store: ChunkStore, embedder: Embedder) -> None:
        directory = generation / DIR_NAME
        self._store = store
        self._embedder = embedder
        self._index = faiss.read_index(str(directory / _INDEX_FILE))
        if self._index.d != embedder.spec.dim:
            raise ValueError(f"{directory} has dimension {self._index.d}, embedder gives {embedder.spec.dim}")
        db = sqlite3.connect(f"{(directory / _DB_FILE).resolve().as_uri()}?mode=ro", uri=True)
        try:
            pairs = np.asarray(
                db.execute("SELECT segment_id, row FROM postings ORDER BY segment_id, row").fetchall(),
                dtype=np.int64,
            ).reshape(-1, 2)
        finally:
            db.close()
        n_segments = int(pairs[:, 0].max()) + 1 if len(pairs) else 0
        counts = np.bincount(pairs[:, 0], minlength=n_segments) if len(pairs) else np.zeros(0, np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._rows = pairs[:, 1].copy()
        n_rows = int(self._rows.max()) + 1 if len(self._rows) else 0
        live = len(np.unique(self._rows))
        with np.errstate(divide="ignore"):
            self._idf = np.where(counts > 0, np.log1p(live / np.maximum(counts, 1)), 0.0).astype(np.float32)
        self._idf_max = float(self._idf.max()) if len(self._idf) else 1.0
        self._row_kind = np.full(n_rows, -1, dtype=np.int8)
        kinds = list(DocumentKind)
        for row, kind in store.row_kinds():
            if row < n_rows:
                self._row_kind[row] = kinds.index(kind)
        self._kinds = kinds

    def _postings(self, segment_id: int) -> npt.NDArray[np.int64]:
        return self._rows[self._offsets[segment_id] : self._offsets[segment_id + 1]]

    def _score_rows(self, query: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Per row: the late-interaction score, and the best cosine similarity of any of its statements
        to any query statement (how close its closest match is, whatever the query's length)."""
        statements = query_segments(query)
        if not statements or len(self._row_kind) == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        vectors = self._embedder.encode(statements)
        similarities, neighbours = self._index.search(vectors, min(NEIGHBOURS, max(1, self._index.ntotal)))
        total = np.zeros(len(self._row_kind), dtype=np.float32)
        peak = np.zeros(len(self._row_kind), dtype=np.float32)
        for sims, ids in zip(similarities, neighbours, strict=True):
            best = np.zeros(len(self._row_kind), dtype=np.float32)
            for similarity, segment_id in zip(sims, ids, strict=True):
                if segment_id < 0 or segment_id >= len(self._idf) or similarity < MIN_SIMILARITY:
                    continue
                rows = self._postings(int(segment_id))
                if len(rows):
                    closeness = (float(similarity) - MIN_SIMILARITY) / (1.0 - MIN_SIMILARITY)
                    weight = closeness**SHARPNESS * float(self._idf[segment_id]) / self._idf_max
                    # A statement's postings hold each row once, so plain fancy indexing is exact here.
                    best[rows] = np.maximum(best[rows], weight)
                    peak[rows] = np.maximum(peak[rows], float(similarity))
            total += best
        return (total / np.float32(len(statements))).astype(np.float32), peak

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        return [item for item, _ in self.search_with_peaks(query, kinds, k, filters)]

    def search_with_peaks(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[tuple[Evidence, float]]:
        """Like ``search``, with each hit's peak similarity: the cosine of its closest statement to the
        closest query statement. Fusion uses it to tell a real paraphrase from a nearest neighbour
        that is merely the least unrelated statement in the corpus."""
        if k <= 0 or (kinds is not None and not kinds):
            return []
        scores, peaks = self._score_rows(query)
        if not len(scores):
            return []
        if kinds is not None:
            allowed = np.isin(self._row_kind, [self._kinds.index(kind) for kind in kinds])
            scores = np.where(allowed, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        results: list[tuple[Evidence, float]] = []
        for start in range(0, len(order), max(k * 4, 64)):
            window = [int(r) for r in order[start : start + max(k * 4, 64)]]
            stored = self._store.chunks_by_rows(window)
            for row in window:
                chunk = stored.get(row)
                if chunk is None:
                    continue
                if filters and filters.sources is not None and chunk.source not in filters.sources:
                    continue
                if filters and filters.exclude_doc_ids and chunk.doc_id in filters.exclude_doc_ids:
                    continue
                evidence = Evidence(
                    evidence_id=chunk.chunk_id,
                    doc_id=chunk.doc_id,
                    kind=chunk.kind,
                    title=chunk.title,
                    text=chunk.text,
                    score=float(scores[row]),
                    rank=len(results) + 1,
                    retriever=self.name,
                    codes=chunk.codes,
                )
                results.append((evidence, float(peaks[row])))
                if len(results) == k:
                    return results
        return results
