"""Dense index at scale: exact flat FAISS vs IVF at 1x, 10x and ~1 M chunks, in one run.

    nice -n 10 python bench/bench_dense_scale.py --index var/index-lpo --out bench/results/dense_scale.json

For each corpus size one generation is written (chunk store, tantivy, FAISS flat) and two IVF indexes
are made from its statements the way the writer does past ``dense_ivf_min_statements``: ``ivf`` with
float16 lists (the default, ``dense_ivf_storage``) and ``ivf32`` with float32 lists (IVF-Flat, the
default before), same lists. The FAISS files then answer the same queries over the same chunk store
and tantivy index. Reported per size, as ratios IVF / flat and float16 / float32: index build time,
index size and the resident memory the opened dense retriever adds, query p50/p95 of the dense and
the hybrid retriever (lexical + dense, fused as ``HybridRetriever`` does with the settings' weights,
its two sides at once; ``hybrid_ivf_serial`` is the same with the sides one after the other), and
recall@10 of IVF against flat: the share of flat's top-10 chunks that IVF's top-10 also returns, per
query, averaged (and the same for the 64 nearest statements of each query statement). ``--es``
repeats the lexical and hybrid timings with BM25 in Elasticsearch at 1x and 10x (indices
``dxsearch-bench-*``, deleted at the end).

Queries are the findings of real held-out cases (``heldout_phenopacket_cases``), embedded once with
the index's real MiniLM encoder; that time is reported on its own, and the retrievers then get the
cached vectors, so their latencies are the index's part (FAISS + MaxSim scoring + fusion).

What is synthetic. 1x is the index's own documents, rebuilt with their real statement vectors (read
back from its FAISS file). A larger corpus holds ``C`` copies of every document (10x: C = 10; 1M:
C = 56, stopping at 1 000 000 chunks). In each copy every statement (a line, or one ';' item of it)
is replaced by one of ``C`` variants chosen at random: its text gets a mark (" ~v17") and its vector
is the real statement's vector plus Gaussian noise (sigma 0.02 per dimension, re-normalised: cosine
~0.93 to the original). So synthetic chunks are new combinations of variants, a variant is shared by
several chunks as real statements are, and distinct statements grow with the corpus (~1.6 per chunk
against 2.0 in the real index). Re-embedding a million texts with MiniLM on 2 CPUs would take hours.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from corpus_builder.build import peak_rss_mb
from corpus_builder.chunking import chunk_document
from dxsearch.corpus import Chunk, Document, DocumentKind
from dxsearch.retrieval.backends import LexicalWriter
from dxsearch.retrieval.dense import (
    DIR_NAME,
    FLAT,
    FLOAT16,
    FLOAT32,
    DenseRetriever,
    IndexPlan,
    plan_index,
    rebuild_index,
)
from dxsearch.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter
from dxsearch.retrieval.embedder import Embedder, EmbedderSpec
from dxsearch.retrieval.fusion import HybridRetriever
from dxsearch.retrieval.lexical import LexicalIndexWriter, LexicalRetriever
from dxsearch.retrieval.segments import query_segments, segments
from dxsearch.retrieval.store import ChunkStore
from dxsearch.settings import Settings

console = Console(stderr=True)
KINDS = [DocumentKind.DISEASE_KNOWLEDGE]
K = 10
NOISE = 0.02
_MARK = re.compile(r" ~v\d+")
_QUALIFIER = re.compile(r"(\s+\([^()]*\)\s*)?$")
ES_PREFIX = "dxsearch-bench"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
        "mean_ms": statistics.fmean(ordered),
    }


class _VariantEmbedder:
    """Vectors of the real index's statements; a marked variant gets its statement's vector plus noise."""

    def __init__(self, vectors: dict[str, np.ndarray], real: Embedder, seed: int) -> None:
        self.spec: EmbedderSpec = real.spec
        self._vectors = vectors
        self._real = real
        self._rng = np.random.default_rng(seed)
        self.really_embedded = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.spec.dim), dtype=np.float32)
        missing: dict[int, str] = {}
        for i, text in enumerate(texts):
            base = _MARK.sub("", text).strip()
            found = self._vectors.get(base)
            if found is None:
                pieces = segments(base)
                found = self._vectors.get(pieces[0]) if pieces else None
            if found is None:
                missing[i] = base
                continue
            out[i] = found
        if missing:  # a statement the real index never held (a mark moved a chunk boundary): embed it for real,
            bases = sorted(set(missing.values()))  # once, so its later variants are noisy copies of it
            self.really_embedded += len(bases)
            self._vectors.update(zip(bases, np.asarray(self._real.encode(bases), dtype=np.float32), strict=True))
            for i, base in missing.items():
                out[i] = self._vectors[base]
        marked = np.asarray([bool(_MARK.search(t)) for t in texts])
        if marked.any():
            noisy = out[marked] + self._rng.normal(0.0, NOISE, (int(marked.sum()), self.spec.dim)).astype(np.float32)
            out[marked] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
        return out


class _CachedEmbedder:
    """Query statements' vectors computed once (timed apart), so retriever timings are the index's part."""

    def __init__(self, real: Embedder) -> None:
        self.spec = real.spec
        self._real = real
        self._cache: dict[str, np.ndarray] = {}

    def warm(self, query: str) -> float:
        pieces = query_segments(query)
        t0 = time.perf_counter()
        vectors = self._real.encode(pieces) if pieces else np.zeros((0, self.spec.dim), np.float32)
        elapsed = 1000 * (time.perf_counter() - t0)
        self._cache.update(zip(pieces, vectors, strict=True))
        return elapsed

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._cache[t] for t in texts]).astype(np.float32)


def _variant(document: Document, copy: int, variants: int, rng: random.Random) -> Document:
    """Copy ``copy`` of a document: each statement marked with one of ``variants`` variants at random."""
    if copy == 0:
        return document

    def mark(part: str) -> str:
        if not part.strip():
            return part
        return _QUALIFIER.sub(lambda m: f" ~v{rng.randrange(variants)}{m.group(1) or ''}", part.rstrip(), count=1)

    lines = [";".join(mark(part) for part in line.split(";")) for line in document.text.splitlines()]
    return document.model_copy(
        update={"id": f"{document.id}_s{copy}", "title": mark(document.title), "text": "\n".join(lines)}
    )


class _TimedLexical:
    """The generation's tantivy writer, and optionally an Elasticsearch one fed the same chunks, each timed."""

    def __init__(self, generation: Path, es: LexicalWriter | None) -> None:
        self.writers: dict[str, LexicalWriter | LexicalIndexWriter] = {"tantivy": LexicalIndexWriter(generation)}
        if es is not None:
            self.writers["elasticsearch"] = es
        self.seconds = dict.fromkeys(self.writers, 0.0)

    def _each(self, call: Callable[[Any], None]) -> None:
        for name, writer in self.writers.items():
            t0 = time.perf_counter()
            call(writer)
            self.seconds[name] += time.perf_counter() - t0

    def add(self, *columns: Sequence[Any]) -> None:
        self._each(lambda w: w.add(*columns))

    def delete_document(self, doc_id: str, rows: Sequence[int]) -> None:
        raise AssertionError("the bench corpus replaces nothing")

    def commit(self) -> None:
        self._each(lambda w: w.commit())

    def close(self) -> None:
        self._each(lambda w: w.close())

    def publish(self) -> dict[str, Any]:
        return {}


def _build(
    generation: Path,
    corpus: list[Document],
    copies: int,
    max_chunks: int | None,
    embedder: _VariantEmbedder,
    max_chars: int,
    es: LexicalWriter | None,
) -> dict[str, Any]:
    generation.mkdir(parents=True, exist_ok=True)
    lexical = _TimedLexical(generation, es)
    writer = EmbeddedIndexWriter(generation, embedder, lexical, Settings(dense_index="flat"))
    rng = random.Random(11)
    started = time.perf_counter()
    n_docs = n_chunks = 0
    batch: list[tuple[Document, list[Chunk]]] = []
    for copy in range(copies):
        for document in corpus:
            if max_chunks is not None and n_chunks >= max_chunks:
                break
            variant = _variant(document, copy, copies, rng)
            chunks = chunk_document(variant, max_chars)
            batch.append((variant, chunks))
            n_docs += 1
            n_chunks += len(chunks)
            if len(batch) >= 256:
                writer.add(batch)
                batch = []
        if copy % 5 == 4:
            console.log(f"  {generation.name}: {n_chunks} chunks after {time.perf_counter() - started:.0f} s")
    if batch:
        writer.add(batch)
    writer.commit()
    writer.close()
    seconds = time.perf_counter() - started
    db = sqlite3.connect(generation / DIR_NAME / "segments.sqlite")
    (statements,) = db.execute("SELECT COUNT(*) FROM segments").fetchone()
    (postings,) = db.execute("SELECT COUNT(*) FROM postings").fetchone()
    db.close()
    return {
        "documents": n_docs,
        "chunks": n_chunks,
        "statements": statements,
        "postings": postings,
        "generation_s": seconds,
        "lexical_s": lexical.seconds,
        "statements_embedded_for_real": embedder.really_embedded,
    }


def _ivf_generation(flat_generation: Path, target: Path, settings: Settings, storage: str) -> dict[str, Any]:
    """A sibling generation sharing the flat one's files but with an IVF FAISS file storing ``storage``
    vectors; both build times (``ivf32_*`` keys for float32, ``ivf_*`` for the default float16)."""
    (target / DIR_NAME).mkdir(parents=True)
    for name in ("chunks.sqlite", "lexical"):
        (target / name).symlink_to((flat_generation / name).resolve())  # absolute: --keep may be relative
    (target / DIR_NAME / "segments.sqlite").symlink_to((flat_generation / DIR_NAME / "segments.sqlite").resolve())
    flat_path = flat_generation / DIR_NAME / "segments.faiss"
    stored = faiss.read_index(str(flat_path), faiss.IO_FLAG_MMAP_IFC)  # page cache, not a second copy in RSS
    plan = plan_index(settings.model_copy(update={"dense_index": "ivf", "dense_ivf_storage": storage}), stored.ntotal)
    t0 = time.perf_counter()
    again = rebuild_index(stored, IndexPlan(FLAT))  # what a flat build spends on its index
    flat_seconds = time.perf_counter() - t0
    del again
    gc.collect()
    t0 = time.perf_counter()
    ivf = rebuild_index(stored, plan)
    ivf_seconds = time.perf_counter() - t0
    faiss.write_index(ivf, str(target / DIR_NAME / "segments.faiss"))
    del ivf, stored
    gc.collect()
    name = "ivf" if storage == FLOAT16 else "ivf32"
    return {
        "flat_index_s": flat_seconds,
        f"{name}_index_s": ivf_seconds,
        f"{name}_lists": plan.lists,
        "flat_file_mb": flat_path.stat().st_size / 2**20,
        f"{name}_file_mb": (target / DIR_NAME / "segments.faiss").stat().st_size / 2**20,
    }


def _timed(retriever: Any, queries: Sequence[str]) -> tuple[list[float], list[list[str]]]:
    """Per query: milliseconds of ``retriever.search(query, KINDS, K)`` and the evidence ids it returned."""
    for query in queries[:3]:  # lazy loads and caches outside the timing
        retriever.search(query, KINDS, K)
    samples: list[float] = []
    tops: list[list[str]] = []
    for query in queries:
        t0 = time.perf_counter()
        found = retriever.search(query, KINDS, K)
        samples.append(1000 * (time.perf_counter() - t0))
        tops.append([e.evidence_id for e in found])
    return samples, tops


def _recall(approximate: Sequence[Sequence[Any]], exact: Sequence[Sequence[Any]]) -> float:
    shares = [len(set(a) & set(e)) / len(e) for a, e in zip(approximate, exact, strict=True) if len(e)]
    return statistics.fmean(shares) if shares else 1.0


def _neighbours(dense: DenseRetriever, embedder: _CachedEmbedder, queries: Sequence[str]) -> list[list[int]]:
    out: list[list[int]] = []
    for query in queries:
        pieces = query_segments(query)
        if pieces:
            _, ids = dense.nearest_statements(embedder.encode(pieces))
            out.extend([int(i) for i in row if i >= 0] for row in ids)
    return out


def _measure_size(
    label: str,
    generations: dict[str, Path],
    queries: list[str],
    embed_ms: list[float],
    embedder: _CachedEmbedder,
    settings: Settings,
    nprobes: Sequence[int],
    es_index: str | None,
) -> dict[str, Any]:
    """Query the indexes in turn (one opened at a time, so the 1M run holds one copy of the vectors):
    ``flat``, ``ivf`` (float16, the default; also at other nprobe values and with the two sides of hybrid
    one after the other) and ``ivf32`` (float32 lists, as before float16 became the default)."""
    out: dict[str, Any] = {"query": {}, "recall": {}, "memory": {}}
    tops: dict[str, list[list[str]]] = {}
    es_settings = settings.model_copy(update={"es_index_prefix": ES_PREFIX})
    neighbours: dict[str, list[list[int]]] = {}
    for kind, generation in generations.items():
        store = ChunkStore(generation, readonly=True)
        lexical = LexicalRetriever(generation, store)
        gc.collect()
        before = _rss_mb()
        dense = DenseRetriever(generation, store, embedder, nprobe=settings.dense_ivf_nprobe)  # type: ignore[arg-type]
        out["memory"][f"{kind}_retriever_rss_mb"] = _rss_mb() - before
        runs: list[tuple[str, int]] = [(kind, settings.dense_ivf_nprobe)]
        if kind == "ivf":
            runs += [(f"ivf_nprobe{n}", n) for n in nprobes if n != settings.dense_ivf_nprobe]
        if kind == "flat":
            samples, tops["lexical"] = _timed(lexical, queries)
            out["query"]["lexical"] = _percentiles(samples)
        for name, nprobe in runs:
            dense.nprobe = nprobe
            console.log(f"  {label}: {name} dense + hybrid over {len(queries)} queries")
            samples, tops[f"dense_{name}"] = _timed(dense, queries)
            out["query"][f"dense_{name}"] = _percentiles(samples)
            hybrid = HybridRetriever.from_settings(lexical, dense, settings)
            samples, tops[f"hybrid_{name}"] = _timed(hybrid, queries)
            out["query"][f"hybrid_{name}"] = _percentiles(samples)
            if name == "ivf":  # the same hybrid with its sides one after the other (how it ran before)
                samples, tops["hybrid_ivf_serial"] = _timed(
                    HybridRetriever.from_settings(lexical, dense, settings, parallel=False), queries
                )
                out["query"]["hybrid_ivf_serial"] = _percentiles(samples)
            out["query"][f"embed_plus_hybrid_{name}"] = _percentiles(
                [a + b for a, b in zip(samples, embed_ms, strict=True)]
            )
            neighbours[name] = _neighbours(dense, embedder, queries)
            if es_index is not None and nprobe == settings.dense_ivf_nprobe:
                from dxsearch.retrieval.elasticsearch import ElasticsearchLexicalRetriever

                es = ElasticsearchLexicalRetriever(es_index, store, es_settings)
                if kind == "flat":
                    samples, tops["es_lexical"] = _timed(es, queries)
                    out["query"]["es_lexical"] = _percentiles(samples)
                es_hybrid = HybridRetriever.from_settings(es, dense, settings)
                samples, tops[f"es_hybrid_{name}"] = _timed(es_hybrid, queries)
                out["query"][f"es_hybrid_{name}"] = _percentiles(samples)
        del dense, lexical
        store.close()
        gc.collect()
    if "hybrid_ivf_serial" in tops:
        out["recall"]["hybrid@10_ivf_serial_vs_parallel"] = _recall(tops["hybrid_ivf_serial"], tops["hybrid_ivf"])
    for name in [n for n in neighbours if n != "flat"]:
        out["recall"][f"dense@10_{name}"] = _recall(tops[f"dense_{name}"], tops["dense_flat"])
        out["recall"][f"hybrid@10_{name}"] = _recall(tops[f"hybrid_{name}"], tops["hybrid_flat"])
        out["recall"][f"neighbours@64_{name}"] = _recall(neighbours[name], neighbours["flat"])
    if es_index is not None:
        out["recall"]["es_hybrid@10_ivf"] = _recall(tops["es_hybrid_ivf"], tops["es_hybrid_flat"])
        out["recall"]["es_lexical@10_vs_tantivy"] = _recall(tops["es_lexical"], tops["lexical"])
    return out


def _ratios(size: dict[str, Any]) -> dict[str, float]:
    q, b, m = size["query"], size["build"], size["memory"]
    ratios = {
        "index_build_ivf_over_flat": b["ivf_index_s"] / max(b["flat_index_s"], 1e-9),
        "index_build_ivf_over_generation": b["ivf_index_s"] / b["generation_s"],
        "index_file_ivf_over_flat": m["ivf_file_mb"] / m["flat_file_mb"],
        "retriever_rss_ivf_over_flat": m["ivf_retriever_rss_mb"] / max(m["flat_retriever_rss_mb"], 1e-9),
    }
    for kind in ("dense", "hybrid", "es_hybrid"):
        if f"{kind}_ivf" in q:
            for stat in ("p50_ms", "p95_ms"):
                ratios[f"{kind}_{stat.removesuffix('_ms')}_ivf_over_flat"] = (
                    q[f"{kind}_ivf"][stat] / q[f"{kind}_flat"][stat]
                )
    for kind in ("dense", "hybrid"):  # what float16 lists gained over float32 ones, same lists and nprobe
        if f"{kind}_ivf32" in q:
            for stat in ("p50_ms", "p95_ms"):
                ratios[f"{kind}_{stat.removesuffix('_ms')}_float16_over_float32"] = (
                    q[f"{kind}_ivf"][stat] / q[f"{kind}_ivf32"][stat]
                )
    if "ivf32_file_mb" in m:
        ratios["index_file_float16_over_float32"] = m["ivf_file_mb"] / m["ivf32_file_mb"]
    if "hybrid_ivf_serial" in q:  # what running the two sides at once gained
        for stat in ("p50_ms", "p95_ms"):
            ratios[f"hybrid_{stat.removesuffix('_ms')}_parallel_over_serial"] = (
                q["hybrid_ivf"][stat] / q["hybrid_ivf_serial"][stat]
            )
    if "es_lexical" in q:
        for stat in ("p50_ms", "p95_ms"):
            ratios[f"es_lexical_{stat.removesuffix('_ms')}_over_tantivy"] = q["es_lexical"][stat] / q["lexical"][stat]
    return ratios


def _real_vectors(generation: Path) -> dict[str, np.ndarray]:
    index = faiss.read_index(str(generation / DIR_NAME / "segments.faiss"))
    db = sqlite3.connect(f"{(generation / DIR_NAME / 'segments.sqlite').resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {
            text: np.asarray(index.reconstruct(int(i)), dtype=np.float32)
            for i, text in db.execute("SELECT id, text FROM segments")
        }
    finally:
        db.close()


def _es_up(settings: Settings) -> bool:
    from dxsearch.retrieval.elasticsearch import client_for

    try:
        client, _ = client_for(settings)
        return bool(client.cluster.health(wait_for_status="yellow", timeout="5s"))
    except Exception:  # any failure means "not usable here"; the report says so
        return False


@contextlib.contextmanager
def _es_cleanup(settings: Settings, created: list[str]) -> Iterator[None]:
    try:
        yield
    finally:
        if created:
            from dxsearch.retrieval.elasticsearch import client_for

            client, _ = client_for(settings)
            for name in created:  # only the indices this run made
                client.indices.delete(index=name, ignore_unavailable=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"), help="A built index (read only).")
    parser.add_argument("--out", type=Path, default=Path("bench/results/dense_scale.json"))
    parser.add_argument("--sizes", default="1x,10x,1M", help="Comma list of 1x, <n>x and 1M.")
    parser.add_argument("--queries", type=int, default=200, help="Held-out cases queried at each size.")
    parser.add_argument("--queries-1m", type=int, default=100, help="Fewer at 1M (a flat search is ~1 s there).")
    parser.add_argument("--nprobe", default="16,32,64,128", help="IVF nprobe values also measured.")
    parser.add_argument("--es", action="store_true", help="Also BM25 in Elasticsearch at 1x and 10x.")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Write generations here and keep them; a later run with the same --keep reuses a size's generations "
        "(and its recorded build figures) instead of rebuilding it, unless Elasticsearch must be filled for it.",
    )
    args = parser.parse_args(argv)

    from corpus_builder.sources.phenopackets import heldout_phenopacket_cases

    index = EmbeddedIndex(args.index)
    settings = index.settings
    corpus = [d for d in (index.store.document(i) for i, _ in index.store.document_hashes()) if d is not None]
    console.log(f"{len(corpus)} documents from {index.generation}")
    cases = heldout_phenopacket_cases()
    rng = random.Random(7)
    all_queries = [c.case.findings_query() for c in rng.sample(cases, min(args.queries, len(cases)))]
    cached = _CachedEmbedder(index.embedder)
    embed_ms = [cached.warm(q) for q in all_queries[:5]]  # model warm-up, discarded
    embed_ms = [cached.warm(q) for q in all_queries]
    variant_embedder = _VariantEmbedder(_real_vectors(index.generation), index.embedder, seed=1)
    es_settings = settings.model_copy(update={"es_index_prefix": ES_PREFIX})
    es_up = args.es and _es_up(es_settings)
    created: list[str] = []
    results: dict[str, Any] = {
        "index": str(args.index),
        "index_version": index.version,
        "queries": {
            "source": "held-out real cases (heldout_phenopacket_cases), Case.findings_query()",
            "count": len(all_queries),
            "statements_mean": statistics.fmean(len(query_segments(q)) for q in all_queries),
            "kinds": [k.value for k in KINDS],
            "k": K,
        },
        "embed_query": _percentiles(embed_ms),
        "settings": {
            "dense_ivf_nprobe": settings.dense_ivf_nprobe,
            "neighbours": 64,
            "fusion_candidates": settings.fusion_candidates,
        },
        "synthetic": (
            "1x: the index's own documents and real statement vectors. Cx: C copies of each document; in each "
            "copy every statement is one of C marked variants picked at random, with the real vector plus "
            f"N(0, {NOISE}^2) per dimension, re-normalised. 1M: C=56, stopped at 1,000,000 chunks."
        ),
        "elasticsearch": "measured" if es_up else ("node not reachable" if args.es else "not asked (--es)"),
        "sizes": {},
    }
    keep = args.keep is not None
    work = args.keep if keep else Path(tempfile.mkdtemp(prefix="dxsearch-bench-dense-"))
    try:
        with _es_cleanup(es_settings, created):
            for label in args.sizes.split(","):
                if label == "1M":
                    copies, max_chunks = math.ceil(1_000_000 / 18_000), 1_000_000
                else:
                    copies, max_chunks = int(label.removesuffix("x")), None
                queries = all_queries[: args.queries_1m] if label == "1M" else all_queries
                generations = {
                    kind: work / f"{label.lower()}-{kind}" for kind in ("flat", "ivf", "ivf32")
                }  # ivf: float16 lists (the default); ivf32: float32 lists
                storages = {"ivf": FLOAT16, "ivf32": FLOAT32}
                record = work / f"{label.lower()}-build.json"
                if keep and record.is_file() and not (es_up and label != "1M"):
                    build = json.loads(record.read_text(encoding="utf-8"))  # built by an earlier run: reused
                    build["reused_from"] = str(record)
                    console.log(f"{label}: reusing {generations['flat']} (build figures from {record})")
                else:
                    for generation in generations.values():
                        shutil.rmtree(generation, ignore_errors=True)
                    generations["flat"].mkdir(parents=True)
                    es_writer = None
                    if es_up and label != "1M":
                        from dxsearch.retrieval.elasticsearch import ElasticsearchLexicalWriter

                        es_writer = ElasticsearchLexicalWriter(generations["flat"], es_settings)
                        created.append(es_writer.index)
                    console.log(f"{label}: building {copies} copies")
                    build = _build(
                        generations["flat"],
                        corpus,
                        copies,
                        max_chunks,
                        variant_embedder,
                        index.manifest.chunk_max_chars,
                        es_writer,
                    )
                    console.log(f"{label}: {build['chunks']} chunks, {build['statements']} statements")
                for kind, storage in storages.items():
                    if not (generations[kind] / DIR_NAME / "segments.faiss").is_file():  # new, or kept without it
                        shutil.rmtree(generations[kind], ignore_errors=True)
                        console.log(f"{label}: IVF with {storage} lists")
                        build.update(_ivf_generation(generations["flat"], generations[kind], settings, storage))
                if keep:
                    record.write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")
                memory = {k: build.pop(k) for k in ("flat_file_mb", "ivf_file_mb", "ivf32_file_mb")}
                measured = _measure_size(
                    label,
                    generations,
                    queries,
                    embed_ms[: len(queries)],
                    cached,
                    settings,
                    [int(n) for n in args.nprobe.split(",")],
                    created[-1] if es_up and label != "1M" else None,
                )
                measured["memory"].update(memory)
                size = {"build": build, **measured, "peak_rss_mb_so_far": peak_rss_mb(), "queries": len(queries)}
                size["ratios"] = _ratios(size)
                results["sizes"][label] = size
                _write(args.out, results)
                if not keep:
                    for generation in generations.values():
                        shutil.rmtree(generation)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()}
    results["peak_rss_mb"] = peak_rss_mb()
    results["goal"] = _goal(results)
    _write(args.out, results)
    _print(results)
    return 0


def _goal(results: dict[str, Any]) -> dict[str, Any]:
    big = results["sizes"].get("1M")
    if big is None:
        return {"measured": False}
    p95 = big["query"]["hybrid_ivf"]["p95_ms"]
    recall = big["recall"]["hybrid@10_ivf"]
    return {
        "hybrid_p95_ms_at_1M": p95,
        "hybrid_recall@10_vs_flat_at_1M": recall,
        "p95_under_50_ms": p95 < 50,
        "recall_at_least_0.95": recall >= 0.95,
        "met": p95 < 50 and recall >= 0.95,
        "embed_plus_hybrid_p95_ms_at_1M": big["query"]["embed_plus_hybrid_ivf"]["p95_ms"],
    }


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _print(results: dict[str, Any]) -> None:
    table = Table(title="dense index at scale: IVF (float16 lists) / exact flat, same run")
    for column in (
        "size",
        "chunks",
        "statements",
        "build",
        "rss",
        "dense p95",
        "hybrid p50",
        "hybrid p95",
        "dense r@10",
        "hybrid r@10",
    ):
        table.add_column(column, justify="right")
    for label, size in results["sizes"].items():
        r, q = size["ratios"], size["query"]
        table.add_row(
            label,
            str(size["build"]["chunks"]),
            str(size["build"]["statements"]),
            f"{r['index_build_ivf_over_flat']:.1f}x",
            f"{r['retriever_rss_ivf_over_flat']:.2f}x",
            f"{q['dense_ivf']['p95_ms']:.1f}/{q['dense_flat']['p95_ms']:.1f} ms",
            f"{q['hybrid_ivf']['p50_ms']:.1f}/{q['hybrid_flat']['p50_ms']:.1f} ms",
            f"{q['hybrid_ivf']['p95_ms']:.1f}/{q['hybrid_flat']['p95_ms']:.1f} ms",
            f"{size['recall']['dense@10_ivf']:.3f}",
            f"{size['recall']['hybrid@10_ivf']:.3f}",
        )
    console.print(table)
    console.print(f"query embedding (MiniLM, apart): {results['embed_query']}; goal: {results.get('goal')}")


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
