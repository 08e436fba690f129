"""The embedded backend: chunk store + tantivy + FAISS in one generation directory.

``EmbeddedIndexWriter`` fills a generation; ``EmbeddedIndex`` opens the live one
and hands out retrievers by name. The reader takes its embedder configuration
from the manifest, not from the environment, so queries are always embedded in
the same space as the index.

Opening an index reads only its manifest and chunk store; each retriever (and
the embedding model, ~1 GB and seconds to load) is opened the first time it is
asked for, so a lexical search never pays for the dense side.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dxsearch.corpus import Chunk, Document, DocumentKind
from dxsearch.retrieval.base import Retriever
from dxsearch.retrieval.layout import IndexManifest, current_generation, read_manifest
from dxsearch.retrieval.segments import positive_text
from dxsearch.retrieval.store import ChunkStore
from dxsearch.settings import Settings, get_settings

if TYPE_CHECKING:
    from dxsearch.retrieval.backends import LexicalWriter
    from dxsearch.retrieval.dense import DenseRetriever, IndexPlan
    from dxsearch.retrieval.embedder import Embedder, TextEmbedder
    from dxsearch.retrieval.fusion import HybridRetriever


def index_text(document: Document, chunk: Chunk) -> str:
    """The text both retrievers index for a chunk: prefixed with its document's title when the
    chunk lacks it, so the tail of a long disease description still says which disease it is,
    and without negated lines ("Excluded findings: ..."), which must never match as findings."""
    prefix = "" if document.title in chunk.text else document.title
    if chunk.section and chunk.section not in chunk.text:
        prefix = f"{prefix} — {chunk.section}" if prefix else chunk.section
    body = positive_text(chunk.text)
    return f"{prefix}\n{body}" if prefix else body


class EmbeddedIndexWriter:
    """Adds documents to one generation: rows in SQLite, vectors in FAISS, terms in the lexical backend
    (tantivy in the generation by default, or Elasticsearch)."""

    def __init__(
        self,
        generation: Path,
        embedder: TextEmbedder,
        lexical: LexicalWriter | None = None,
        settings: Settings | None = None,
    ) -> None:
        """``settings`` (default: the environment's) choose the lexical writer when none is given, and
        the dense index kind (``dense_index``)."""
        from dxsearch.retrieval.backends import BACKENDS
        from dxsearch.retrieval.dense import DenseIndexWriter

        settings = settings or get_settings()
        self.generation = generation
        self.embedder = embedder
        self.store = ChunkStore(generation)
        self._lexical = lexical if lexical is not None else BACKENDS.get("embedded").writer(generation, settings, None)
        self._dense = DenseIndexWriter(generation, embedder, settings)
        self._next_row = self.store.next_row()

    def add(self, batch: Sequence[tuple[Document, Sequence[Chunk]]]) -> dict[str, int]:
        """Index a batch; returns counts of ``added``, ``replaced`` and ``unchanged`` documents.

        A document whose id exists with the same content is left alone; with other content
        it is replaced everywhere, so an incremental update never leaves stale passages.
        """
        counts = {"added": 0, "replaced": 0, "unchanged": 0}
        rows: list[int] = []
        texts: list[str] = []
        kinds: list[DocumentKind] = []
        doc_ids: list[str] = []
        sources: list[str] = []
        for document, chunks in batch:
            previous = self.store.content_hash(document.id)
            if previous == document.content_hash():
                counts["unchanged"] += 1
                continue
            if previous is not None:
                freed = self.store.remove_document(document.id)
                self._lexical.delete_document(document.id, freed)
                self._dense.delete_rows(freed)
                counts["replaced"] += 1
            else:
                counts["added"] += 1
            self.store.add(document, chunks, self._next_row)
            for offset, chunk in enumerate(chunks):
                rows.append(self._next_row + offset)
                texts.append(index_text(document, chunk))
                kinds.append(document.kind)
                doc_ids.append(document.id)
                sources.append(document.metadata.source)
            self._next_row += len(chunks)
        if rows:
            self._lexical.add(rows, doc_ids, [k.value for k in kinds], sources, texts)
            self._dense.add(rows, texts)
        return counts

    def commit(self) -> None:
        """Make everything added so far durable in this generation (not yet visible to readers)."""
        self.store.commit()
        self._lexical.commit()
        self._dense.commit()

    def close(self) -> None:
        self.store.close()
        self._lexical.close()
        self._dense.close()

    @property
    def dense_plan(self) -> IndexPlan:
        """The dense side's FAISS index kind (final once committed): what the manifest records."""
        return self._dense.plan

    def publish_lexical(self) -> dict[str, Any]:
        """Switch the lexical backend's own live pointer, if it has one; what the manifest records."""
        return self._lexical.publish()


class EmbeddedIndex:
    """The live generation of an index directory, opened read-only; retrievers open on first use."""

    def __init__(self, index_dir: Path, settings: Settings | None = None) -> None:
        from dxsearch.retrieval.embedder import MODEL_NAME, EmbedderSpec

        self.settings = settings or get_settings()
        self.index_dir = index_dir
        self.generation = current_generation(index_dir)
        self.manifest: IndexManifest = read_manifest(self.generation)
        recorded = self.manifest.embedder
        expected = EmbedderSpec(model=MODEL_NAME, dim=recorded.dim, quantized=recorded.quantized).name
        if expected != recorded.name:  # checked from names alone: a mismatch fails before any model loads
            raise ValueError(f"index was embedded with {recorded.name}, this process has {expected}")
        self.store = ChunkStore(self.generation, readonly=True)
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._lexical: Retriever | None = None
        self._dense: DenseRetriever | None = None
        self._hybrid: HybridRetriever | None = None

    @property
    def version(self) -> str:
        return self.manifest.index_version

    @property
    def embedder(self) -> Embedder:
        """The query embedder, in the index's embedding space (loaded on first use)."""
        with self._lock:
            if self._embedder is None:
                from dxsearch.retrieval.embedder import get_embedder

                embedder = get_embedder(
                    quantize=self.manifest.embedder.quantized,
                    batch_size=self.settings.embed_batch_size,
                    threads=self.settings.embed_threads,
                )
                if embedder.spec.name != self.manifest.embedder.name:
                    raise ValueError(
                        f"index was embedded with {self.manifest.embedder.name}, this process has {embedder.spec.name}"
                    )
                self._embedder = embedder
            return self._embedder

    @property
    def lexical(self) -> Retriever:
        """BM25 in the manifest's backend (opened on first use; no model is loaded)."""
        with self._lock:
            if self._lexical is None:
                from dxsearch.retrieval.backends import BACKENDS

                self._lexical = BACKENDS.get(self.manifest.backend).reader(
                    self.generation, self.manifest, self.store, self.settings
                )
            return self._lexical

    @property
    def dense(self) -> DenseRetriever:
        """Late-interaction dense retrieval (opens FAISS and loads the embedder on first use)."""
        with self._lock:
            if self._dense is None:
                from dxsearch.retrieval.dense import DenseRetriever

                statements = (self.manifest.elasticsearch or {}).get("statements_index")
                search = None
                if statements:
                    from dxsearch.retrieval.elasticsearch import ElasticsearchStatementSearch

                    search = ElasticsearchStatementSearch(statements, self.settings)
                self._dense = DenseRetriever(
                    self.generation,
                    self.store,
                    self.embedder,
                    nprobe=self.settings.dense_ivf_nprobe,
                    statement_search=search,
                )
            return self._dense

    @property
    def hybrid(self) -> HybridRetriever:
        """Lexical + dense fused by weighted RRF, with the settings' weights."""
        with self._lock:
            if self._hybrid is None:
                from dxsearch.retrieval.fusion import HybridRetriever

                self._hybrid = HybridRetriever.from_settings(self.lexical, self.dense, self.settings)
            return self._hybrid

    def retriever(self, name: str) -> Retriever:
        """A retriever by registered name (``lexical``, ``dense`` or ``hybrid``), opened on first use."""
        from dxsearch.retrieval import RETRIEVERS

        return RETRIEVERS.get(name)(self)

    def close(self) -> None:
        self.store.close()
