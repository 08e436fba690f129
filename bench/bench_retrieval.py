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
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from corpus_builder.build import peak_rss_mb
from corpus_builder.chunking import chunk_document
from dxsearch.corpus import Chunk, Document, DocumentKind
from dxsearch.retrieval.base import Retriever
from dxsearch.retrieval.dense import DenseRetriever
from dxsearch.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter, index_text
from dxsearch.retrieval.embedder import Embedder
from dxsearch.retrieval.fusion import HybridRetriever
from dxsearch.retrieval.lexical import LexicalRetriever
from dxsearch.retrieval.segments import segments
from dxsearch.retrieval.store import ChunkStore

_COPY_MARK = " ~copy"

console = Console()


class _ReplicaEmbedder:
    """Serves statement vectors of the built index; statements of copy ``i`` get the original's vector
    plus small Gaussian noise (re-normalised), so copies are distinct without re-running the encoder."""

    def __init__(self, generation: Path, real: Embedder, seed: int) -> None:
        import faiss

        self.spec = real.spec
        index = faiss.read_index(str(generation / "dense" / "segments.faiss"))
        db = sqlite3.connect(generation / "dense" / "segments.sqlite")
        self._vectors: dict[str, np.ndarray] = {
            text: np.asarray(index.reconstruct(int(i)), dtype=np.float32)
            for i, text in db.execute("SELECT id, text FROM segments")
        }
        db.close()
        self._real = real
        self._rng = np.random.default_rng(seed)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.spec.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            base = re.sub(re.escape(_COPY_MARK) + r"\d+", "", text).strip()
            found: np.ndarray | None = self._vectors.get(base)
            if found is None:
                pieces = segments(base)
                found = self._vectors.get(pieces[0]) if pieces else None
            if found is None:  # a statement the built index never saw: really embed it
                found = np.asarray(self._real.encode([base])[0], dtype=np.float32)
            noisy = found + self._rng.normal(0.0, 0.02, found.shape).astype(np.float32) if _COPY_MARK in text else found
            out[i] = noisy / np.linalg.norm(noisy)
        return out


def _load_corpus(index: EmbeddedIndex) -> list[Document]:
    return [d for d in (index.store.document(i) for i, _ in index.store.document_hashes()) if d is not None]


def _replica(document: Document, copy: int) -> Document:
    """A copy whose every statement (each line, each ';' item, the title) is distinct from the original's."""
    if copy == 0:
        return document
    mark = f"{_COPY_MARK}{copy}"
    lines = [line.replace(";", f"{mark};") + mark if line.strip() else line for line in document.text.splitlines()]
    return document.model_copy(
        update={"id": f"{document.id}_r{copy}", "title": f"{document.title}{mark}", "text": "\n".join(lines)}
    )


def _build_replicated(
    target: Path, corpus: list[Document], copies: int, embedder: Any, max_chars: int
) -> dict[str, float]:
    writer = EmbeddedIndexWriter(target, embedder)
    started = time.perf_counter()
    n_docs = n_chunks = 0
    batch: list[tuple[Document, list[Chunk]]] = []
    for copy in range(copies):
        for document in corpus:
            replica = _replica(document, copy)
            chunks = chunk_document(replica, max_chars)
            batch.append((replica, chunks))
            n_docs += 1
            n_chunks += len(chunks)
            if len(batch) >= 256:
                writer.add(batch)
                batch = []
    if batch:
        writer.add(batch)
    writer.commit()
    writer.close()
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
    patients = [d for d in corpus if d.kind is DocumentKind.PATIENT_RECORD] or corpus
    queries = [_findings(d) for d in rng.sample(patients, min(args.queries, len(patients)))]
    statements = sorted(
        {
            s
            for d in corpus
            for c in chunk_document(d, index.manifest.chunk_max_chars)
            for s in segments(index_text(d, c))
        }
    )
    sample = rng.sample(statements, min(args.embed_sample, len(statements)))
    t0 = time.perf_counter()
    index.embedder.encode(sample)
    embed_rate = len(sample) / (time.perf_counter() - t0)
    replica_embedder = _ReplicaEmbedder(index.generation, index.embedder, seed=1)

    results: dict[str, Any] = {"sizes": {}, "embedder": index.manifest.embedder.model_dump()}
    with tempfile.TemporaryDirectory(prefix="dxsearch-bench-") as tmp:
        for label, copies in (("1x", 1), (f"{args.scale}x", args.scale)):
            target = Path(tmp) / label
            target.mkdir()
            build = _build_replicated(target, corpus, copies, replica_embedder, index.manifest.chunk_max_chars)
            store = ChunkStore(target, readonly=True)
            lexical = LexicalRetriever(target, store)
            dense = DenseRetriever(target, store, index.embedder)
            hybrid = HybridRetriever.from_settings(lexical, dense, index.settings)  # as the index's own hybrid
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
        "statements_per_s": embed_rate,
        "distinct_statements": len(statements),
        "sample": len(sample),
        "ratio_vs_1x_index_docs_per_s": embed_rate / base["build"]["docs_per_s"],
    }
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()}
    results["peak_rss_mb"] = peak_rss_mb()
    results["index_version"] = index.version

    table = Table(title="retrieval benchmark (embedded backend)")
    for column in (
        "size",
        "docs",
        "chunks",
        "index docs/s",
        "retriever",
        "p50 ms",
        "p95 ms",
        "p50 vs lexical",
        "p50 vs 1x",
    ):
        table.add_column(column, justify="right")
    for label, size in results["sizes"].items():
        for name, latency in size["query"].items():
            table.add_row(
                label,
                str(size["build"]["documents"]),
                str(size["build"]["chunks"]),
                f"{size['build']['docs_per_s']:.0f}",
                name,
                f"{latency['p50_ms']:.1f}",
                f"{latency['p95_ms']:.1f}",
                f"{latency['p50_ratio_vs_lexical']:.2f}x",
                f"{latency['p50_ratio_vs_1x']:.2f}x",
            )
    console.print(table)
    console.print(
        f"encoder: {embed_rate:.0f} statements/s on {len(sample)} of {len(statements)} distinct statements; "
        f"a full re-embedding would take {len(statements) / embed_rate:.0f} s; peak RSS "
        f"{results['peak_rss_mb']:.0f} MB"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"written to {args.out}")
    return 0


def _findings(document: Document) -> str:
    """The observed findings of a patient record, as a query (the way the agent's <match> asks)."""
    for line in document.text.splitlines():
        if line.startswith("Observed findings:"):
            return line.removeprefix("Observed findings:").strip()
    return document.title


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
