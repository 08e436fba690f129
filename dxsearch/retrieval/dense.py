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

The FAISS index is exact (flat inner product) at today's corpus size and an
IVF index above ``Settings.dense_ivf_min_statements`` statements (see
:func:`plan_index`): a flat search is linear in the statements, which at a
million chunks (~2 M statements) costs about a second per query. IVF keeps the
vectors whole, by default in float16 (``Settings.dense_ivf_storage``): scanning
its lists is bound by memory bandwidth, and half the bytes halve a 1M-chunk
search while similarities move by ~1e-4 (no ranking change measured). Unlike
HNSW, IVF deletes ids for real, so an incremental update still removes a
replaced document's statements.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import SearchFilters
from dxsearch.retrieval.embedder import Embedder, TextEmbedder
from dxsearch.retrieval.segments import query_segments, segments
from dxsearch.retrieval.store import ChunkStore

if TYPE_CHECKING:
    from dxsearch.settings import Settings

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
FLAT = "flat"
IVF = "ivf"
FLOAT16 = "float16"
FLOAT32 = "float32"
#: FAISS's k-means wants at least this many training points per centroid; fewer lists are made otherwise.
MIN_POINTS_PER_LIST = 39
#: Training sample per inverted list (k-means cost grows with it; 64 is plenty for 384-d sentence vectors).
TRAIN_POINTS_PER_LIST = 64
_COPY_BATCH = 65_536


@dataclass(frozen=True)
class IndexPlan:
    """Which FAISS index a generation's statements go in: ``flat``, or ``ivf`` with ``lists`` lists whose
    vectors are stored as ``storage`` (``float16`` or ``float32``; empty for flat)."""

    kind: str
    lists: int = 0
    storage: str = ""


def plan_index(settings: Settings, statements: int) -> IndexPlan:
    """The index ``settings`` ask for at ``statements`` distinct statements.

    ``auto`` keeps the exact flat index below ``dense_ivf_min_statements``. Lists not given
    (``dense_ivf_lists=0``) are about the square root of the statements, with at least
    ``MIN_POINTS_PER_LIST`` statements each to train on; a corpus too small for two lists
    stays flat whatever was asked (it is also the fastest there).
    """
    wanted: str = settings.dense_index
    if wanted == "auto":
        wanted = IVF if statements >= settings.dense_ivf_min_statements else FLAT
    if wanted == FLAT:
        return IndexPlan(FLAT)
    if settings.dense_ivf_lists:  # asked for: k-means needs no more lists than points
        lists = min(settings.dense_ivf_lists, statements)
    else:
        lists = min(1 << math.ceil(np.log2(max(1.0, np.sqrt(statements)))), statements // MIN_POINTS_PER_LIST)
    return IndexPlan(IVF, lists, settings.dense_ivf_storage) if lists >= 2 else IndexPlan(FLAT)


def index_plan_of(index: faiss.Index) -> IndexPlan:
    """What an opened FAISS index is (an IVF-Flat index of an earlier build reads as ``float32``)."""
    if isinstance(index, faiss.IndexIVF):
        return IndexPlan(
            IVF, int(index.nlist), FLOAT16 if isinstance(index, faiss.IndexIVFScalarQuantizer) else FLOAT32
        )
    return IndexPlan(FLAT)


def _flat_index(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def statement_vectors(
    generation: Path,
) -> tuple[int, Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]]:
    """The dimension of a generation's statement vectors, and (ids, vectors) of every statement its FAISS
    index holds, a batch at a time; the index file is read once."""
    index = faiss.read_index(str(generation / DIR_NAME / _INDEX_FILE))
    return int(index.d), _contents(index)


def _contents(index: faiss.Index) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """(ids, vectors) of every statement in ``index``, a batch at a time (no second full copy)."""
    dim = index.d
    if isinstance(index, faiss.IndexIVF):
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))  # the concrete class: how its lists store vectors
        assert isinstance(ivf, faiss.IndexIVF)
        lists = ivf.invlists
        assert lists is not None
        for number in range(ivf.nlist):
            size = lists.list_size(number)
            if size:
                ids = faiss.rev_swig_ptr(lists.get_ids(number), size).copy()
                codes = faiss.rev_swig_ptr(lists.get_codes(number), size * lists.code_size).reshape(size, -1)
                if isinstance(ivf, faiss.IndexIVFScalarQuantizer):
                    yield ids, ivf.sq.decode(codes)
                else:
                    yield ids, np.frombuffer(codes.tobytes(), dtype=np.float32).reshape(size, dim)
        return
    assert isinstance(index, faiss.IndexIDMap2)
    ids = faiss.vector_to_array(index.id_map)
    flat = faiss.downcast_index(index.index)
    for start in range(0, index.ntotal, _COPY_BATCH):
        yield ids[start : start + _COPY_BATCH], flat.reconstruct_n(start, min(_COPY_BATCH, index.ntotal - start))


def _training_sample(index: faiss.Index, size: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """``size`` statements of ``index`` drawn uniformly (fixed seed: the same corpus trains the same lists)."""
    rng = np.random.default_rng(seed)
    if isinstance(index, faiss.IndexIDMap2):
        flat = faiss.downcast_index(index.index)
        assert isinstance(flat, faiss.IndexFlat)
        positions = np.sort(rng.choice(index.ntotal, size=size, replace=False))
        stored = faiss.rev_swig_ptr(flat.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
        return np.ascontiguousarray(stored[positions])
    every = np.concatenate([vectors for _, vectors in _contents(index)])
    return np.ascontiguousarray(every[np.sort(rng.choice(len(every), size=size, replace=False))])


def rebuild_index(index: faiss.Index, plan: IndexPlan) -> faiss.Index:
    """A new index of ``plan``'s kind holding the same (id, vector) pairs; an IVF index is trained on a
    uniform sample of them first. Float16 lists hold the vectors themselves, not residuals: a statement's
    stored similarity is then its own vector's, whichever list it went to."""
    if plan.kind == FLAT:
        target = _flat_index(index.d)
    else:
        quantizer = faiss.IndexFlatIP(index.d)  # the Python wrapper keeps it alive with the IVF index
        if plan.storage == FLOAT32:
            target = faiss.IndexIVFFlat(quantizer, index.d, plan.lists, faiss.METRIC_INNER_PRODUCT)
        else:
            target = faiss.IndexIVFScalarQuantizer(
                quantizer, index.d, plan.lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False
            )
        target.cp.seed = 1234
        sample = _training_sample(index, min(index.ntotal, plan.lists * TRAIN_POINTS_PER_LIST))
        target.train(sample)
    for ids, vectors in _contents(index):
        target.add_with_ids(vectors, ids)
    return target


class DenseIndexWriter:
    """Adds chunks' statements (embedding only statements not seen before) and their postings."""

    def __init__(self, generation: Path, embedder: TextEmbedder, settings: Settings | None = None) -> None:
        from dxsearch.settings import get_settings

        directory = generation / DIR_NAME
        self._settings = settings or get_settings()
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
            self._index = _flat_index(embedder.spec.dim)
        self.embedded_segments = 0
        self.rebuild_seconds = 0.0

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

    @property
    def plan(self) -> IndexPlan:
        """What the index is now (after :meth:`commit`, what the manifest records)."""
        return index_plan_of(self._index)

    def commit(self) -> None:
        """Write the index, first moving it to the kind the settings ask for at its size (a flat index
        that grew past the threshold becomes IVF, an IVF one asked to be flat becomes flat, one asked
        for the other storage is rebuilt; an IVF index that stays as it is keeps its trained lists, so
        new statements go to the nearest of them)."""
        wanted = plan_index(self._settings, self._index.ntotal)
        if (wanted.kind, wanted.storage) != (self.plan.kind, self.plan.storage):
            import time

            started = time.perf_counter()
            self._index = rebuild_index(self._index, wanted)
            self.rebuild_seconds = time.perf_counter() - started
        self._db.commit()
        tmp = self._index_path.with_suffix(".tmp")
        faiss.write_index(self._index, str(tmp))
        tmp.replace(self._index_path)

    def close(self) -> None:
        self._db.close()


class StatementSearch(Protocol):
    """Finds the ``k`` corpus statements nearest each query vector: (cosine similarities, ids), -1 padded."""

    def search(
        self, vectors: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...


def _best_first(scores: npt.NDArray[np.float32], candidates: npt.NDArray[np.int64], step: int) -> Iterator[list[int]]:
    """``candidates`` best first (score descending, then row ascending), ``step`` rows at a time. Only the
    best ``step`` (and rows tied with the last of them) are sorted up front; the rest, often a hundred
    thousand rows at a million chunks, are sorted only if a caller reads past them (filters, deleted rows)."""
    values = -scores[candidates]
    if len(candidates) > step:
        cut = np.partition(values, step - 1)[step - 1]
        parts = [values <= cut, values > cut]
    else:
        parts = [np.ones(len(candidates), dtype=bool)]
    for part in parts:
        rows, keys = candidates[part], values[part]
        order = rows[np.lexsort((rows, keys))]
        for start in range(0, len(order), step):
            yield [int(r) for r in order[start : start + step]]


class DenseRetriever:
    """Late-interaction dense retriever over one generation."""

    name = "dense"

    def __init__(
        self,
        generation: Path,
        store: ChunkStore,
        embedder: Embedder,
        nprobe: int = 32,
        statement_search: StatementSearch | None = None,
    ) -> None:
        """``nprobe``: inverted lists each query statement searches when the index is IVF (ignored if flat).
        ``statement_search``: where nearest statements are found instead of this generation's FAISS index
        (Elasticsearch's knn, ``es_dense_knn``); the same statement ids, so postings and scoring are unchanged."""
        self._statement_search = statement_search
        directory = generation / DIR_NAME
        self._store = store
        self._embedder = embedder
        self._index = faiss.read_index(str(directory / _INDEX_FILE))
        if self._index.d != embedder.spec.dim:
            raise ValueError(f"{directory} has dimension {self._index.d}, embedder gives {embedder.spec.dim}")
        self.plan = index_plan_of(self._index)
        self.nprobe = nprobe
        db = sqlite3.connect(f"{(directory / _DB_FILE).resolve().as_uri()}?mode=ro", uri=True)
        try:
            cursor = db.execute("SELECT segment_id, row FROM postings ORDER BY segment_id, row")
            # Streamed into one array: a million chunks have ~20 M postings, too many for a list of tuples.
            pairs = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.int64).reshape(-1, 2)
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

    @property
    def nprobe(self) -> int:
        """Inverted lists an IVF index searches per query statement (0 for a flat index)."""
        return int(faiss.extract_index_ivf(self._index).nprobe) if self.plan.kind == IVF else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.plan.kind == IVF:
            faiss.extract_index_ivf(self._index).nprobe = max(1, min(value, self.plan.lists))

    def nearest_statements(
        self, vectors: npt.NDArray[np.float32], k: int = NEIGHBOURS
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Cosine similarities and ids of the ``k`` corpus statements nearest each query vector (id -1
        pads when an IVF search reaches fewer than ``k``)."""
        wanted = min(k, max(1, self._index.ntotal))
        if self._statement_search is not None:
            return self._statement_search.search(vectors, wanted)
        similarities, ids = self._index.search(vectors, wanted)
        return similarities, ids

    def _postings(self, segment_id: int) -> npt.NDArray[np.int64]:
        return self._rows[self._offsets[segment_id] : self._offsets[segment_id + 1]]

    def _score_rows(self, query: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Per row: the late-interaction score, and the best cosine similarity of any of its statements
        to any query statement (how close its closest match is, whatever the query's length)."""
        statements = query_segments(query)
        if not statements or len(self._row_kind) == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        similarities, neighbours = self.nearest_statements(self._embedder.encode(statements))
        n_rows = len(self._row_kind)
        total = np.zeros(n_rows, dtype=np.float32)
        peak = np.zeros(n_rows, dtype=np.float32)
        best = np.zeros(n_rows, dtype=np.float32)  # one query statement's best weight per row; zero between them
        matched = (neighbours >= 0) & (neighbours < len(self._idf)) & (similarities >= MIN_SIMILARITY)
        closeness = (similarities.astype(np.float64) - MIN_SIMILARITY) / (1.0 - MIN_SIMILARITY)
        # Every pass below is over the postings a query statement's matches touch (no sort, no pass over every
        # row): a common statement has thousands of postings at a million chunks.
        for statement in range(len(statements)):
            segment_ids = neighbours[statement, matched[statement]]
            if not len(segment_ids):
                continue
            starts = self._offsets[segment_ids]
            counts = self._offsets[segment_ids + 1] - starts
            if not counts.sum():
                continue
            weight = closeness[statement, matched[statement]] ** SHARPNESS * self._idf[segment_ids] / self._idf_max
            rows = self._rows[np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())]
            np.maximum.at(best, rows, np.repeat(weight.astype(np.float32), counts))
            np.maximum.at(peak, rows, np.repeat(similarities[statement, matched[statement]], counts))
            # A row listed twice gets the same sum written twice: each row is added to once per query statement,
            # in the query's order, as a running float32 sum.
            total[rows] += best[rows]
            best[rows] = 0.0
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
        candidates = np.flatnonzero(scores > 0)
        if kinds is not None:
            candidates = candidates[np.isin(self._row_kind[candidates], [self._kinds.index(kind) for kind in kinds])]
        results: list[tuple[Evidence, float]] = []
        step = max(k * 4, 64) if filters else k  # unfiltered, only a deleted row is skipped: read k at a time
        for window in _best_first(scores, candidates, step):
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
