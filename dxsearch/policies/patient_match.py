"""Similar patients found by the meaning of their findings: the ``<match>`` action's retrieval.

Why: ``<match>findings</match>`` asks for published patients like this one, and text retrieval ranks patient
records by shared words. Records and queries name findings at different levels of the ontology ("Long
fingers" and "Arachnodactyly"), so :class:`~dxsearch.knowledge.patient_similarity.PatientSimilarity` ranks
them by shared meaning instead: the query's findings as the dictionary reads them (present ones only), against
each record's observed HPO ids. Every other search, and a query naming no finding the dictionary knows, goes to
the wrapped text retriever unchanged. Here, at the policies' layer, because it joins the index's records
(retrieval) with the ontology and its information content (knowledge), which do not import each other.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.knowledge.patient_similarity import PatientFindings, PatientSimilarity
from dxsearch.knowledge.term_lookup import TermLookup, get_term_lookup
from dxsearch.retrieval.base import Retriever, SearchFilters
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.store import ChunkStore

__all__ = ["MEANING", "PatientMatchRetriever", "patient_similarity"]

#: The retriever name the trace records for records ranked by meaning.
MEANING = "phenotype"
_PATIENT_RECORDS = frozenset({DocumentKind.PATIENT_RECORD})
_LOCK = threading.Lock()
_BUILT: dict[tuple[str, str, int], tuple[PatientSimilarity, dict[str, int]]] = {}


def patient_similarity(index: EmbeddedIndex, knowledge: HpoKnowledge) -> tuple[PatientSimilarity, dict[str, int]]:
    """The similarity over ``index``'s patient records (and each record's first chunk row), built once per
    index generation and knowledge: ~2 s for 3,700 records."""
    key = (str(index.generation), index.version, id(knowledge))
    with _LOCK:
        built = _BUILT.get(key)
        if built is None:
            records = list(index.store.record_findings())
            patients = [PatientFindings(doc_id, observed) for doc_id, _, observed in records]
            built = (PatientSimilarity(knowledge, patients), {doc_id: row for doc_id, row, _ in records})
            if len(_BUILT) >= 4:
                _BUILT.pop(next(iter(_BUILT)))
            _BUILT[key] = built
        return built


class PatientMatchRetriever:
    """``inner``, except that a search of patient records alone ranks them by the meaning of their findings."""

    def __init__(
        self,
        inner: Retriever,
        store: ChunkStore,
        similarity: PatientSimilarity,
        first_rows: dict[str, int],
        lookup: TermLookup | None = None,
    ) -> None:
        self._inner = inner
        self._store = store
        self._similarity = similarity
        self._first_rows = first_rows
        self._lookup = lookup or get_term_lookup()
        self.name = inner.name

    @classmethod
    def over(cls, index: EmbeddedIndex, inner: Retriever, knowledge: HpoKnowledge) -> PatientMatchRetriever:
        similarity, first_rows = patient_similarity(index, knowledge)
        return cls(inner, index.store, similarity, first_rows)

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        if kinds is None or frozenset(kinds) != _PATIENT_RECORDS or (filters is not None and filters.sources):
            return self._inner.search(query, kinds, k, filters)
        observed = [m.term_id for m in self._lookup.mentions(query) if m.assertion == "present"]
        if not observed:
            return self._inner.search(query, kinds, k, filters)
        exclude = (filters.exclude_doc_ids if filters is not None else None) or frozenset()
        ranked = self._similarity.rank(observed, k, exclude)
        found = self._store.ranked_evidence([(score, self._first_rows[doc_id]) for doc_id, score in ranked], MEANING)
        if len(found) < k:  # records whose findings carry no HPO id (a corpus of plain text) are found by their words
            listed = {e.doc_id for e in found}
            more = [e for e in self._inner.search(query, kinds, k, filters) if e.doc_id not in listed]
            found += [e.model_copy(update={"rank": len(found) + n}) for n, e in enumerate(more[: k - len(found)], 1)]
        return found
