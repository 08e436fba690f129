"""The embedded backend end to end: build a real tantivy + FAISS index and query it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from dxsearch.corpus import DocumentKind, split_evidence_id
from dxsearch.retrieval import RETRIEVERS
from dxsearch.retrieval.base import Retriever, SearchFilters
from dxsearch.retrieval.embedded import EmbeddedIndex


@pytest.fixture(scope="module")
def index(small_index: Path) -> EmbeddedIndex:
    return EmbeddedIndex(small_index)


def test_every_registered_retriever_resolves_and_satisfies_the_protocol(index: EmbeddedIndex) -> None:
    assert RETRIEVERS.names() == ["dense", "hybrid", "lexical"]
    for name in RETRIEVERS:
        retriever = index.retriever(name)
        assert isinstance(retriever, Retriever)
        assert retriever.name == name


@pytest.mark.parametrize("name", ["lexical", "dense", "hybrid"])
def test_findings_find_their_disease_first(index: EmbeddedIndex, name: str) -> None:
    found = index.retriever(name).search(
        "arachnodactyly, ectopia lentis, tall stature", [DocumentKind.DISEASE_KNOWLEDGE], 3
    )
    assert found[0].doc_id == "omim:154700"
    assert [e.rank for e in found] == list(range(1, len(found) + 1))
    assert all(e.kind is DocumentKind.DISEASE_KNOWLEDGE for e in found)
    assert all(e.retriever == name for e in found)


def test_dense_matches_paraphrase_that_shares_no_word(index: EmbeddedIndex) -> None:
    found = index.dense.search("cognitive decline; odd gait", [DocumentKind.DISEASE_KNOWLEDGE], 1)
    assert found[0].doc_id == "omim:143100"
    assert index.lexical.search("cognitive decline", [DocumentKind.DISEASE_KNOWLEDGE], 5) == []


def test_kind_filter_restricts_every_retriever(index: EmbeddedIndex) -> None:
    for name in ("lexical", "dense", "hybrid"):
        found = index.retriever(name).search("Marfan arachnodactyly", [DocumentKind.PATIENT_RECORD], 10)
        assert {e.doc_id for e in found} == {"pt:aaaa1111"}


def test_exclude_filter_drops_documents(index: EmbeddedIndex) -> None:
    filters = SearchFilters(exclude_doc_ids=frozenset({"omim:154700"}))
    for name in ("lexical", "dense", "hybrid"):
        found = index.retriever(name).search("arachnodactyly ectopia lentis", None, 10, filters)
        assert "omim:154700" not in {e.doc_id for e in found}
        assert found


def test_hybrid_records_component_ranks(index: EmbeddedIndex) -> None:
    found = index.hybrid.search("sweat chloride bronchiectasis", None, 5)
    top = found[0]
    assert top.doc_id in {"omim:219700", "gl:0123456789abcdef"}
    assert set(top.component_ranks) <= {"lexical", "dense"} and top.component_ranks
    assert all(a.score >= b.score for a, b in itertools.pairwise(found))


def test_evidence_ids_resolve_to_their_passage(index: EmbeddedIndex) -> None:
    for item in index.hybrid.search("chorea dementia", None, 5):
        doc_id, ordinal = split_evidence_id(item.evidence_id)
        chunk = index.store.chunk(item.evidence_id)
        document = index.store.document(doc_id)
        assert chunk is not None and document is not None
        assert chunk.ordinal == ordinal
        assert document.text[chunk.start : chunk.end] == chunk.text == item.text


@pytest.mark.parametrize("query", ["", "   ", "AND OR NOT ((", 'title:"x', "*?~^", "\x00\x01", "ü" * 5000])
def test_hostile_queries_never_raise(index: EmbeddedIndex, query: str) -> None:
    for name in ("lexical", "dense", "hybrid"):
        assert isinstance(index.retriever(name).search(query, None, 5), list)


def test_manifest_records_versions_and_counts(index: EmbeddedIndex) -> None:
    manifest = index.manifest
    assert manifest.embedder.dim == 384
    assert manifest.counts["documents"] == {"disease_knowledge": 3, "patient_record": 1, "guideline": 1}
    assert manifest.counts["phenotype_terms"]["disease_knowledge"] == 2
    assert len(manifest.index_version) == 16
    assert manifest.versions["tantivy"] != "not installed"


def test_empty_kind_list_and_non_positive_k_return_nothing(index: EmbeddedIndex) -> None:
    for name in ("lexical", "dense", "hybrid"):
        retriever = index.retriever(name)
        assert retriever.search("marfan", [], 5) == []
        assert retriever.search("marfan", None, 0) == []
        assert retriever.search("marfan", None, -1) == []


def test_opening_an_index_loads_no_retriever_and_lexical_never_loads_the_dense_side(small_index: Path) -> None:
    opened = EmbeddedIndex(small_index)
    assert (opened._lexical, opened._dense, opened._embedder) == (None, None, None)
    assert opened.retriever("lexical").search("marfan", None, 3)
    assert opened._lexical is not None
    assert (opened._dense, opened._embedder, opened._hybrid) == (None, None, None)
    assert opened.retriever("hybrid") is opened.hybrid  # opened once, then reused
    assert opened._dense is not None and opened._embedder is not None


def test_an_index_from_another_embedder_is_refused_before_any_model_loads(small_index: Path, tmp_path: Path) -> None:
    import shutil

    from dxsearch.retrieval.layout import current_generation

    copy = tmp_path / "index"
    shutil.copytree(small_index, copy)
    manifest = current_generation(copy) / "manifest.json"
    manifest.write_text(manifest.read_text().replace("all-MiniLM-L6-v2", "other-model"), encoding="utf-8")
    with pytest.raises(ValueError, match="other-model"):
        EmbeddedIndex(copy)
