"""Lexical retrieval: BM25 over chunks in an on-disk tantivy index.

tantivy gives a real inverted index with English stemming, on disk, with
segment merges and deletes, in-process: the embedded counterpart of the
Elasticsearch backend. Each indexed chunk stores only its row in the chunk
store; passages are read back from there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import tantivy

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import SearchFilters
from dxsearch.retrieval.store import ChunkStore

_NOT_A_WORD = re.compile(r"[^\w]+", re.UNICODE)
_MAX_QUERY_TERMS = 256


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("row", stored=True, indexed=True, fast=True)
    builder.add_text_field("doc_id", stored=False, tokenizer_name="raw")
    builder.add_text_field("kind", stored=False, tokenizer_name="raw")
    builder.add_text_field("source", stored=False, tokenizer_name="raw")
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem", index_option="freq")
    return builder.build()


def query_terms(query: str) -> list[str]:
    """Words of a free-text query, stripped of query-language syntax so any input is safe."""
    return [w for w in _NOT_A_WORD.sub(" ", query.lower()).split() if w][:_MAX_QUERY_TERMS]


class LexicalIndexWriter:
    """Adds and deletes chunks in the tantivy index of one generation."""

    DIR_NAME = "lexical"

    def __init__(self, generation: Path) -> None:
        path = generation / self.DIR_NAME
        path.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(_schema(), path=str(path), reuse=True)
        self._writer = self._index.writer(heap_size=256_000_000, num_threads=1)

    def add(
        self,
        rows: Sequence[int],
        doc_ids: Sequence[str],
        kinds: Sequence[str],
        sources: Sequence[str],
        texts: Sequence[str],
    ) -> None:
        for row, doc_id, kind, source, text in zip(rows, doc_ids, kinds, sources, texts, strict=True):
            self._writer.add_document(tantivy.Document(row=row, doc_id=doc_id, kind=kind, source=source, body=text))

    def delete_document(self, doc_id: str, rows: Sequence[int] = ()) -> None:
        """Delete a document's chunks by its id (tantivy deletes by term; ``rows`` are not needed)."""
        self._writer.delete_documents_by_term("doc_id", doc_id)

    def commit(self) -> None:
        self._writer.commit()

    def close(self) -> None:
        """Finish background merges; the writer cannot be used afterwards."""
        self._writer.wait_merging_threads()

    def publish(self) -> dict[str, Any]:
        """Nothing to record: ``CURRENT``, switched by the layout, is the embedded backend's only pointer."""
        return {}


class LexicalRetriever:
    """BM25 retriever over one generation's tantivy index."""

    name = "lexical"

    def __init__(self, generation: Path, store: ChunkStore) -> None:
        self._index = tantivy.Index.open(str(generation / LexicalIndexWriter.DIR_NAME))
        self._schema = self._index.schema
        self._store = store

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        terms = query_terms(query)
        if not terms or k <= 0 or (kinds is not None and not kinds):
            return []
        text_query, _errors = self._index.parse_query_lenient(" ".join(terms), ["body"])
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, text_query)]
        if kinds is not None:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.term_set_query(self._schema, "kind", [k_.value for k_ in kinds]),
                )
            )
        if filters and filters.sources is not None:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.term_set_query(self._schema, "source", sorted(filters.sources)),
                )
            )
        if filters and filters.exclude_doc_ids:
            clauses.append(
                (
                    tantivy.Occur.MustNot,
                    tantivy.Query.term_set_query(self._schema, "doc_id", sorted(filters.exclude_doc_ids)),
                )
            )
        searcher = self._index.searcher()
        hits = searcher.search(tantivy.Query.boolean_query(clauses), k).hits
        scored = [(float(score), int(searcher.doc(address)["row"][0])) for score, address in hits]
        return self._store.ranked_evidence(scored, self.name)
