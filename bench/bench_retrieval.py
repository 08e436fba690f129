"""Retrieval benchmark: index build throughput and query latency at 1x and 10x corpus size.

    python bench/bench_retrieval.py --index var/index --out bench/results/retrieval.json

The 10x corpus is synthetic replication of the built one: every document is
copied under new ids, and its vectors are the originals plus small Gaussian
noise (re-normalised), because re-embedding ten copies of the same text would
measure the encoder ten times, not the index. Encoder throughput is measured
separately on a sample of real chunks. Every figure is also given as a ratio
to a baseline measured in the same run (1x build, lexical query latency).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from corpus_builder.build import peak_rss_mb
from dxsearch.corpus import Chunk, DocumentKind
from dxsearch.retrieval.base import Retriever
from dxsearch.retrieval.dense import DenseIndexWriter, DenseRetriever
from dxsearch.retrieval.embedded import EmbeddedIndex, index_text
from dxsearch.retrieval.fusion import HybridRetriever
from dxsearch.retrieval.lexical import LexicalIndexWriter, LexicalRetriever
from dxsearch.retrieval.store import ChunkStore

console = Console()


def _load_corpus(index: EmbeddedIndex) -> list[tuple[Any, list[Chunk], np.ndarray]]:
    """Every document of the live generation with its chunks and stored vectors."""
    import faiss

    vectors_by_row: dict[int, np.ndarray] = {}
    for kind in DocumentKind:
        path = index.generation / "dense" / f"{kind.value}.faiss"
        if not path.exists():
            continue
        faiss_index = faiss.read_index(str(path))
        ids = faiss.vector_to_array(faiss_index.id_map)
        flat = faiss.downcast_index(faiss_index.index)
        matrix = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d).copy()
        vectors_by_row.update(zip(ids.tolist(), matrix, strict=True))
    corpus = []
    db = index.store._db
    for (doc_id,) in db.execute("SELECT doc_id FROM documents ORDER BY doc_id"):
        document = index.store.document(doc_id)
        rows = db.execute(
            "SELECT row, ordinal, text, start, end, section FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
        ).fetchall()
        chunks = [Chunk(doc_id=doc_id, ordinal=r[1], text=r[2], start=r[3], end=r[4], section=r[5]) for r in rows]
        corpus.append((document, chunks, np.stack([vectors_by_row[r[0]] for r in rows])))
    return corpus


def _build_replicated(target: Path, corpus: list[Any], copies: int, dim: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    store = ChunkStore(target)
    lexical = LexicalIndexWriter(target)
    dense = DenseIndexWriter(target, dim)
    row = 0
    n_docs = n_chunks = 0
    started = time.perf_counter()
    for copy in range(copies):
        for document, chunks, vectors in corpus:
            doc = document if copy == 0 else document.model_copy(update={"id": f"{document.id}_r{copy}"})
            moved = [c.model_copy(update={"doc_id": doc.id}) for c in chunks]
            store.add(doc, moved, row)
            rows = list(range(row, row + len(moved)))
            lexical.add(rows, [doc.id] * len(moved), [doc.kind.value] * len(moved),
                        [doc.metadata.source] * len(moved), [index_text(doc, c) for c in moved])
            if copy:
                vectors = vectors + rng.normal(0.0, 0.02, vectors.shape).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            dense.add(doc.kind, rows, np.ascontiguousarray(vectors, dtype=np.float32))
            row += len(moved)
            n_docs += 1
            n_chunks += len(moved)
    store.commit()
    lexical.commit()
    dense.commit()
    store.close()
    seconds = time.perf_counter() - started
    return {"documents": n_docs, "chunks": n_chunks, "seconds": seconds, "docs_per_s": n_docs / seconds}


def _latencies(retriever: Retriever, queries: list[str], k: int) -> dict[str, float]:
    samples = []
    for query in queries:
        t0 = time.perf_counter()
        retriever.search(query, [DocumentKind.DISEASE_KNOWLEDGE], k)
        samples.append(1000 * (time.perf_counter() - t0))
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[min(len(samples) - 1, int(0.95 * len(samples)))],
        "mean_ms": statistics.fmean(samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"), help="A built index (corpus-builder build).")
    parser.add_argument("--out", type=Path, default=Path("bench/results/retrieval.json"))
    parser.add_argument("--scale", type=int, default=10, help="Replication factor of the large corpus.")
    parser.add_argument("--queries", type=int, default=200, help="Queries per retriever and size.")
    parser.add_argument("--embed-sample", type=int, default=1000, help="Chunks embedded to time the encoder.")
    parser.add_argument("--k", type=int, default=50)
    args = parser.parse_args(argv)

    index = EmbeddedIndex(args.index)
    corpus = _load_corpus(index)
    rng = random.Random(7)
    findings_docs = [d for d, _, _ in corpus if d.kind is DocumentKind.PATIENT_RECORD] or [d for d, _, _ in corpus]
    queries = [d.text.split("\n")[0][:300] for d in rng.sample(findings_docs, min(args.queries, len(findings_docs)))]
    sample_chunks = [index_text(d, c) for d, cs, _ in corpus for c in cs]
    sample_chunks = rng.sample(sample_chunks, min(args.embed_sample, len(sample_chunks)))
    t0 = time.perf_counter()
    index.embedder.encode(sample_chunks)
    embed_rate = len(sample_chunks) / (time.perf_counter() - t0)

    results: dict[str, Any] = {"sizes": {}, "embedder": index.manifest.embedder.model_dump()}
    with tempfile.TemporaryDirectory(prefix="dxsearch-bench-") as tmp:
        for label, copies in (("1x", 1), (f"{args.scale}x", args.scale)):
            target = Path(tmp) / label
            target.mkdir()
            build = _build_replicated(target, corpus, copies, index.embedder.spec.dim, seed=copies)
            store = ChunkStore(target, readonly=True)
            lexical = LexicalRetriever(target, store)
            dense = DenseRetriever(target, store, index.embedder)
            hybrid = HybridRetriever(lexical, dense, k0=index.settings.rrf_k,
                                     lexical_weight=index.settings.rrf_lexical_weight,
                                     dense_weight=index.settings.rrf_dense_weight,
                                     candidates=index.settings.fusion_candidates)
            retrievers: dict[str, Retriever] = {"lexical": lexical, "dense": dense, "hybrid": hybrid}
            for retriever in retrievers.values():  # warm caches and lazy loads outside the timing
                retriever.search(queries[0], None, 5)
            results["sizes"][label] = {
                "build": build,
                "query": {name: _latencies(r, queries, args.k) for name, r in retrievers.items()},
            }
            store.close()

    base = results["sizes"]["1x"]
    for size in results["sizes"].values():
        size["build"]["throughput_ratio_vs_1x"] = size["build"]["docs_per_s"] / base["build"]["docs_per_s"]
        lexical_p50 = size["query"]["lexical"]["p50_ms"]
        for name, latency in size["query"].items():
            latency["p50_ratio_vs_lexical"] = latency["p50_ms"] / lexical_p50
            latency["p50_ratio_vs_1x"] = latency["p50_ms"] / base["query"][name]["p50_ms"]
    results["encoder"] = {
        "chunks_per_s": embed_rate,
        "sample": len(sample_chunks),
        "ratio_vs_1x_index_docs_per_s": embed_rate / base["build"]["docs_per_s"],
    }
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()}
    results["peak_rss_mb"] = peak_rss_mb()
    results["index_version"] = index.version

    table = Table(title="retrieval benchmark (embedded backend)")
    for column in ("size", "docs", "chunks", "index docs/s", "retriever", "p50 ms", "p95 ms", "p50 vs lexical",
                   "p50 vs 1x"):
        table.add_column(column, justify="right")
    for label, size in results["sizes"].items():
        for name, latency in size["query"].items():
            table.add_row(label, str(size["build"]["documents"]), str(size["build"]["chunks"]),
                          f"{size['build']['docs_per_s']:.0f}", name, f"{latency['p50_ms']:.1f}",
                          f"{latency['p95_ms']:.1f}", f"{latency['p50_ratio_vs_lexical']:.2f}x",
                          f"{latency['p50_ratio_vs_1x']:.2f}x")
    console.print(table)
    console.print(f"encoder: {embed_rate:.0f} chunks/s on {len(sample_chunks)} real chunks; peak RSS "
                  f"{results['peak_rss_mb']:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"written to {args.out}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
