"""Lexical retrieval in Elasticsearch: BM25 over the same chunks as the embedded backend, by the same rows.

The design's "Elasticsearch + FAISS": an index directory built with ``--backend elasticsearch`` keeps
its manifest, chunk store and FAISS side on disk, and its BM25 side in one Elasticsearch index per
generation. Each Elasticsearch document is one chunk, with the chunk's row in the chunk store as its
``_id``; a hit is read back from the chunk store exactly as a tantivy hit is, so evidence ids, traces,
citations, rewards and the audit log cannot tell the backends apart.

Terms are analysed once, in Python, by tantivy's own ``en_stem`` analyzer (runs of letters or digits,
lower-cased, Snowball English stems, no stop words), for chunks and queries alike, and Elasticsearch
indexes and matches those terms as they are (``whitespace`` analysis, ``term`` clauses). Analysing in
Elasticsearch instead gave other stems: Lucene's Snowball English makes "interval" "interv" and
"lateral" "later", where tantivy's keeps them, which cost 0.04 of lexical recall@1 on the simulated
held-out set. With the same terms, BM25 scores agree to float precision. Shards default to one, so
term statistics are global as in tantivy; with more, searches run ``dfs_query_then_fetch``.

Generations: a build writes a new index ``<prefix>-<generation>``; an incremental build clones the
live one first (``_clone``: ``_reindex`` is not in the free distribution's modules) and applies its
changes to the clone. Publishing refreshes the index, blocks writes to it and moves the alias
``<prefix>`` to it in one ``_aliases`` call, as the embedded backend switches ``CURRENT``. A reader
searches the concrete index its generation's manifest names, never the alias, so a query can never
pair one generation's chunk store with another's BM25 side; the alias is for operators and tools.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.retrieval.base import RetrievalUnavailableError, SearchFilters
from dxsearch.retrieval.lexical import query_terms
from dxsearch.retrieval.store import ChunkStore
from dxsearch.settings import Settings

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

#: Terms arrive analysed (by tantivy's own ``en_stem``, in Python), so Elasticsearch only splits on spaces.
ANALYZER = "whitespace"
#: What a generation directory records of its Elasticsearch index (written when the index is created,
#: so a build that dies before publishing can still be cleaned up).
RECORD_FILE = "elasticsearch.json"
#: The statement-vector index beside a generation's BM25 index (``es_dense_knn``).
STATEMENTS_SUFFIX = "-statements"
_BULK_CHUNK = 1000

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_source": {"excludes": ["body"]},  # passages live in the chunk store; the index keeps only terms
    "properties": {
        "row": {"type": "long"},
        "doc_id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "source": {"type": "keyword"},
        "body": {"type": "text", "analyzer": ANALYZER, "index_options": "freqs"},
    },
}


def index_name(prefix: str, generation_name: str) -> str:
    """The Elasticsearch index of one generation (index names must be lower case)."""
    return f"{prefix}-{generation_name.lower().removeprefix('.building-')}"


@lru_cache(maxsize=8)
def _client(url: str, timeout_s: float) -> Elasticsearch:
    from elasticsearch import Elasticsearch

    return Elasticsearch(url, request_timeout=timeout_s, max_retries=2, retry_on_timeout=True)


def client_for(settings: Settings) -> tuple[Elasticsearch, str]:
    """A client for the configured node (shared per URL; the client is thread-safe) and its URL."""
    url = settings.elasticsearch_url()
    if not url:
        raise RetrievalUnavailableError(
            f"no Elasticsearch URL: set DXSEARCH_ES_URL, or start the project's node with `make es` "
            f"(it writes {settings.es_url_file})"
        )
    if not url.startswith(("http://", "https://")):
        raise RetrievalUnavailableError(f"DXSEARCH_ES_URL {url!r} is not an http(s) URL")
    return _client(url, settings.es_timeout_s), url


def _reason(exc: BaseException) -> str:
    """The one-line reason of an Elasticsearch client error, without request bodies."""
    from elasticsearch import ApiError, TransportError

    if isinstance(exc, ApiError):
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        if isinstance(error, dict):
            root = (error.get("root_cause") or [error])[0]
            reason = f"{exc.meta.status} {root.get('type', 'error')}: {root.get('reason', '')}".strip()
            if root.get("type") == "index_not_found_exception":
                reason += " (deleted outside DxSearch? rebuild with `corpus-builder build --backend elasticsearch`)"
            return reason
        return f"{exc.meta.status} {exc.message}"
    if isinstance(exc, TransportError):
        return f"cannot connect ({type(exc).__name__}: {str(exc.message).splitlines()[0][:200]})"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


@contextlib.contextmanager
def unavailable_as(url: str, doing: str) -> Iterator[None]:
    """Turn any Elasticsearch client error into :class:`RetrievalUnavailableError` (one line)."""
    from elasticsearch import ApiError, TransportError
    from elasticsearch.helpers import BulkIndexError

    try:
        yield
    except BulkIndexError as exc:
        first: Any = next(iter(exc.errors[0].values()), {}) if exc.errors else {}
        error = first.get("error", {}) if isinstance(first, dict) else {}
        detail = f"{error.get('type', 'error')}: {error.get('reason', '')}" if isinstance(error, dict) else str(error)
        raise RetrievalUnavailableError(
            f"Elasticsearch at {url} refused {len(exc.errors)} chunk(s) while {doing} ({detail})"
        ) from None
    except (ApiError, TransportError) as exc:
        raise RetrievalUnavailableError(f"Elasticsearch at {url}, {doing}: {_reason(exc)}") from None


def write_record(generation: Path, record: dict[str, str]) -> None:
    (generation / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def read_record(generation: Path) -> dict[str, str] | None:
    try:
        record = json.loads((generation / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


class ElasticsearchLexicalWriter:
    """Fills one generation's Elasticsearch index: a new empty one, or a clone of the parent's."""

    def __init__(self, generation: Path, settings: Settings, parent_index: str | None = None) -> None:
        self._client, self._url = client_for(settings)
        self.alias = settings.es_index_prefix
        self.index = index_name(settings.es_index_prefix, generation.name)
        self.statements_index = f"{self.index}{STATEMENTS_SUFFIX}" if settings.es_dense_knn else None
        self._generation = generation
        self._shards = settings.es_shards
        self._replicas = settings.es_replicas
        with unavailable_as(self._url, f"creating index {self.index}"):
            self._refuse_alias_collision()
            if self._client.indices.exists(index=self.index):
                raise RetrievalUnavailableError(
                    f"Elasticsearch at {self._url} already has an index named {self.index}; "
                    "remove it or use another DXSEARCH_ES_INDEX_PREFIX"
                )
            record = {"index": self.index, "alias": self.alias, "url": self._url}
            if self.statements_index is not None:
                record["statements_index"] = self.statements_index
            write_record(generation, record)
            if parent_index is None:
                self._client.indices.create(
                    index=self.index,
                    settings={
                        "number_of_shards": settings.es_shards,
                        "number_of_replicas": settings.es_replicas,
                        "refresh_interval": "-1",
                    },
                    mappings=MAPPINGS,
                    wait_for_active_shards="1",
                )
            else:
                if not self._client.indices.exists(index=parent_index):
                    raise RetrievalUnavailableError(
                        f"Elasticsearch at {self._url} has no index {parent_index}, the live generation's; "
                        "rebuild with `corpus-builder build --backend elasticsearch`"
                    )
                self._client.indices.clone(
                    index=parent_index,
                    target=self.index,
                    settings={"index.blocks.write": False, "index.refresh_interval": "-1"},
                    wait_for_active_shards="1",
                )

    def _refuse_alias_collision(self) -> None:
        """The alias name must not be taken by a concrete index (e.g. one made by hand): that is a conflict
        Elasticsearch would report only at publish time, after the whole build."""
        if self._client.indices.exists(index=self.alias) and not self._client.indices.exists_alias(name=self.alias):
            raise RetrievalUnavailableError(
                f"Elasticsearch at {self._url} has an index named {self.alias!r}, which this build needs as its "
                "alias; remove it or set another DXSEARCH_ES_INDEX_PREFIX"
            )

    def add(
        self,
        rows: Sequence[int],
        doc_ids: Sequence[str],
        kinds: Sequence[str],
        sources: Sequence[str],
        texts: Sequence[str],
    ) -> None:
        from elasticsearch import helpers

        actions = (
            {
                "_index": self.index,
                "_id": str(row),
                "_source": {"row": row, "doc_id": doc_id, "kind": kind, "source": source, "body": indexed_terms(text)},
            }
            for row, doc_id, kind, source, text in zip(rows, doc_ids, kinds, sources, texts, strict=True)
        )
        with unavailable_as(self._url, f"indexing into {self.index}"):
            helpers.bulk(self._client, actions, chunk_size=_BULK_CHUNK, raise_on_error=True)

    def delete_document(self, doc_id: str, rows: Sequence[int]) -> None:
        """Delete a replaced document's chunks by their rows (``_delete_by_query`` is not in the distribution)."""
        from elasticsearch import helpers

        actions = ({"_op_type": "delete", "_index": self.index, "_id": str(row)} for row in rows)
        with unavailable_as(self._url, f"deleting {doc_id!r} from {self.index}"):
            helpers.bulk(self._client, actions, chunk_size=_BULK_CHUNK, raise_on_error=False)

    def commit(self) -> None:
        with unavailable_as(self._url, f"refreshing {self.index}"):
            self._client.indices.refresh(index=self.index)

    def close(self) -> None:
        """Nothing to release: the client is shared."""

    def publish(self) -> dict[str, Any]:
        """Freeze the index and move the alias to it in one atomic ``_aliases`` call; its manifest record.

        With ``es_dense_knn``, first index the generation's statement vectors (from its committed FAISS
        index) in ``<index>-statements``, whole, so it always matches the directory's statement ids.
        """
        record: dict[str, Any] = {
            "index": self.index,
            "alias": self.alias,
            "analyzer": ANALYZER,
            "shards": self._shards,
        }
        if self.statements_index is not None:
            self._index_statements(self.statements_index)
            record["statements_index"] = self.statements_index
        with unavailable_as(self._url, f"publishing {self.index}"):
            self._client.indices.put_settings(
                index=self.index, settings={"index.blocks.write": True, "index.refresh_interval": None}
            )
            previous = (
                list(self._client.indices.get_alias(name=self.alias))
                if self._client.indices.exists_alias(name=self.alias)
                else []
            )
            actions: list[dict[str, Any]] = [{"remove": {"index": old, "alias": self.alias}} for old in previous]
            actions.append({"add": {"index": self.index, "alias": self.alias}})
            self._client.indices.update_aliases(actions=actions)
        return record

    def _index_statements(self, name: str) -> None:
        from elasticsearch import helpers

        from dxsearch.retrieval.dense import statement_vectors

        dims, batches = statement_vectors(self._generation)
        actions = (
            {"_index": name, "_id": str(int(segment_id)), "_source": {"vector": vector.tolist()}}
            for ids, vectors in batches
            for segment_id, vector in zip(ids, vectors, strict=True)
        )
        with unavailable_as(self._url, f"indexing statement vectors into {name}"):
            self._client.indices.create(
                index=name,
                settings={"number_of_shards": self._shards, "number_of_replicas": self._replicas},
                mappings={
                    "dynamic": "strict",
                    "properties": {
                        "vector": {
                            "type": "dense_vector",
                            "dims": dims,
                            "index": True,
                            "similarity": "cosine",
                            "index_options": {"type": "hnsw"},
                        }
                    },
                },
                wait_for_active_shards="1",
            )
            helpers.bulk(self._client, actions, chunk_size=500, raise_on_error=True)
            self._client.indices.refresh(index=name)
            self._client.indices.put_settings(index=name, settings={"index.blocks.write": True})


def drop_generation_index(generation: Path, settings: Settings) -> str | None:
    """Delete the Elasticsearch index a removed generation recorded (never one the alias names)."""
    record = read_record(generation)
    if not record or "index" not in record:
        return None
    client, url = client_for(settings)
    index = record["index"]
    with unavailable_as(url, f"removing {index}"):
        if client.indices.exists_alias(name=record.get("alias", settings.es_index_prefix), index=index):
            return None
        client.indices.delete(index=index, ignore_unavailable=True)
        if record.get("statements_index"):
            client.indices.delete(index=record["statements_index"], ignore_unavailable=True)
    return index


def _en_stem() -> Any:
    """tantivy's ``en_stem`` analysis (the embedded backend's), as a Python-callable analyzer."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def indexed_terms(text: str) -> str:
    """A chunk's text as the terms tantivy indexes for it, space-separated: what the ``body`` field gets."""
    return " ".join(_en_stem().analyze(text))


def analysed_terms(query: str) -> list[str]:
    """The terms tantivy's query parser makes of ``query``: one clause per distinct word, analysed.

    tantivy's parser keeps each distinct word once and analyses it, so "Abnormal ...; Abnormal ...;
    Abnormality ..." gives the stem "abnorm" twice (once per distinct word); a ``match`` query would keep
    it three times. Sent as one ``term`` clause each.
    """
    analyzer = _en_stem()
    return [term for word in dict.fromkeys(query_terms(query)) for term in analyzer.analyze(word)]


class ElasticsearchLexicalRetriever:
    """BM25 retriever over one generation's Elasticsearch index; passages come from the chunk store."""

    name = "lexical"

    def __init__(self, index: str, store: ChunkStore, settings: Settings, shards: int = 1) -> None:
        """``shards``: the index's primary shards, as its manifest recorded them (not this process's settings)."""
        self._client, self._url = client_for(settings)
        self._index = index
        self._store = store
        # With several shards, term statistics are gathered across them first, so BM25 stays tantivy's.
        self._search_type = "dfs_query_then_fetch" if shards > 1 else "query_then_fetch"

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        terms = analysed_terms(query)
        if not terms or k <= 0 or (kinds is not None and not kinds):
            return []
        must_not: list[dict[str, Any]] = []
        conditions: list[dict[str, Any]] = []
        if kinds is not None:
            conditions.append({"terms": {"kind": sorted(k_.value for k_ in kinds)}})
        if filters and filters.sources is not None:
            conditions.append({"terms": {"source": sorted(filters.sources)}})
        if filters and filters.exclude_doc_ids:
            must_not.append({"terms": {"doc_id": sorted(filters.exclude_doc_ids)}})
        # The restrictions are scoring clauses, not filters: tantivy's term-set clauses add a constant 1 to
        # every hit's score, and a `terms` query does the same, so the two backends' scores stay equal.
        matches = {"bool": {"should": [{"term": {"body": term}} for term in terms], "minimum_should_match": 1}}
        body = {"bool": {"must": [matches, *conditions], "must_not": must_not}}
        with unavailable_as(self._url, f"searching {self._index}"):
            response = self._client.search(
                index=self._index,
                query=body,
                size=k,
                source=False,
                track_total_hits=False,
                search_type=self._search_type,
            )
        scored = [(float(hit["_score"]), int(hit["_id"])) for hit in response["hits"]["hits"]]
        return self._store.ranked_evidence(scored, self.name)


class ElasticsearchStatementSearch:
    """The nearest corpus statements of query vectors, by Elasticsearch's HNSW ``knn`` (``es_dense_knn``).

    Replaces only FAISS's search in :class:`~dxsearch.retrieval.dense.DenseRetriever`; the postings, IDF
    and MaxSim scoring stay the same. One ``_msearch`` carries every query statement.
    """

    def __init__(self, index: str, settings: Settings) -> None:
        self._client, self._url = client_for(settings)
        self._index = index

    def search(self, vectors: Any, k: int) -> tuple[Any, Any]:
        import numpy as np

        searches: list[dict[str, Any]] = []
        for vector in vectors:
            searches.append({"index": self._index})
            searches.append(
                {
                    "knn": {
                        "field": "vector",
                        "query_vector": vector.tolist(),
                        "k": k,
                        "num_candidates": max(100, 2 * k),
                    },
                    "size": k,
                    "_source": False,
                }
            )
        with unavailable_as(self._url, f"searching statements in {self._index}"):
            response = self._client.msearch(searches=searches)
        similarities = np.full((len(vectors), k), -1.0, dtype=np.float32)
        ids = np.full((len(vectors), k), -1, dtype=np.int64)
        for number, answer in enumerate(response["responses"]):
            if "error" in answer:
                reason = answer["error"].get("type", "error")
                raise RetrievalUnavailableError(f"Elasticsearch at {self._url}, searching {self._index}: {reason}")
            for position, hit in enumerate(answer["hits"]["hits"][:k]):
                ids[number, position] = int(hit["_id"])
                similarities[number, position] = 2.0 * float(hit["_score"]) - 1.0  # cosine: _score = (1 + cos) / 2
        return similarities, ids
