"""Where an index keeps its BM25 side: the backends ``corpus-builder build --backend`` can choose.

Both keep the manifest, the chunk store and the FAISS side in the index directory; they differ only
in the lexical side, which the manifest names (``backend``), so every later reader (``--index DIR``,
the environment, ``dxsearch eval``, ``dxsearch serve``) opens the right one without being told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dxsearch.registry import Registry
from dxsearch.settings import Settings

if TYPE_CHECKING:
    from dxsearch.retrieval.base import Retriever
    from dxsearch.retrieval.layout import IndexManifest
    from dxsearch.retrieval.store import ChunkStore


class LexicalWriter(Protocol):
    """Adds and deletes chunks in one generation's BM25 side."""

    def add(
        self,
        rows: Sequence[int],
        doc_ids: Sequence[str],
        kinds: Sequence[str],
        sources: Sequence[str],
        texts: Sequence[str],
    ) -> None: ...

    def delete_document(self, doc_id: str, rows: Sequence[int]) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...

    def publish(self) -> dict[str, Any]:
        """Make this generation's lexical side the live one where the backend has its own pointer (an
        Elasticsearch alias); returns what the manifest records of it."""
        ...


@dataclass(frozen=True)
class LexicalBackend:
    """How one backend writes a generation, opens it for search, and removes a discarded one."""

    #: (new generation dir, settings, parent generation dir of an incremental build or None) -> writer
    writer: Callable[[Path, Settings, Path | None], LexicalWriter]
    #: (generation dir, its manifest, its chunk store, settings) -> the BM25 retriever
    reader: Callable[[Path, IndexManifest, ChunkStore, Settings], Retriever]
    #: (a generation dir about to be deleted, settings) -> None
    discard: Callable[[Path, Settings], None]


BACKENDS: Registry[LexicalBackend] = Registry("backend")


def _tantivy_writer(generation: Path, settings: Settings, parent: Path | None) -> LexicalWriter:
    from dxsearch.retrieval.lexical import LexicalIndexWriter

    return LexicalIndexWriter(generation)  # an incremental build's generation already holds the parent's copy


def _tantivy_reader(generation: Path, manifest: IndexManifest, store: ChunkStore, settings: Settings) -> Retriever:
    from dxsearch.retrieval.lexical import LexicalRetriever

    return LexicalRetriever(generation, store)


BACKENDS.register("embedded")(
    LexicalBackend(
        writer=_tantivy_writer,
        reader=_tantivy_reader,
        discard=lambda generation, settings: None,  # its files go with the generation directory
    )
)


def _es_writer(generation: Path, settings: Settings, parent: Path | None) -> LexicalWriter:
    from dxsearch.retrieval.base import RetrievalUnavailableError
    from dxsearch.retrieval.elasticsearch import ElasticsearchLexicalWriter, read_record

    parent_index = None
    if parent is not None:
        record = read_record(parent)
        if record is None:
            raise RetrievalUnavailableError(f"{parent} records no Elasticsearch index; rebuild the index")
        parent_index = record["index"]
    return ElasticsearchLexicalWriter(generation, settings, parent_index)


def _es_reader(generation: Path, manifest: IndexManifest, store: ChunkStore, settings: Settings) -> Retriever:
    from dxsearch.retrieval.base import RetrievalUnavailableError
    from dxsearch.retrieval.elasticsearch import ElasticsearchLexicalRetriever

    record = manifest.elasticsearch or {}
    if "index" not in record:
        raise RetrievalUnavailableError(f"{generation} names the elasticsearch backend but no index")
    return ElasticsearchLexicalRetriever(record["index"], store, settings, int(record.get("shards", 1)))


def _es_discard(generation: Path, settings: Settings) -> None:
    from dxsearch.retrieval.elasticsearch import drop_generation_index

    drop_generation_index(generation, settings)


BACKENDS.register("elasticsearch")(LexicalBackend(writer=_es_writer, reader=_es_reader, discard=_es_discard))
