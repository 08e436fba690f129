"""The Elasticsearch backend against the real node: same evidence as the embedded backend, generations by
alias, and every failure a one-line error that leaves the previous generation live."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support import SMALL_DOCS, ListSource, make_doc
from typer.testing import CliRunner

from corpus_builder.build import run_build
from corpus_builder.sources.base import SourceInfo
from dxsearch.agent import diagnose
from dxsearch.corpus import Document, DocumentKind
from dxsearch.env import DiagnosticEnv
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.base import RetrievalUnavailableError
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import current_generation, read_manifest
from dxsearch.settings import Settings, get_settings
from tests.support import marfan_case

pytestmark = pytest.mark.es

QUERIES = [
    "arachnodactyly; ectopia lentis; tall stature",
    "Recurrent respiratory infections, elevated sweat chloride",
    "chorea dementia",
    "lens dislocation",
    "sweat chloride test interpretation",
    "zanzibarquokka",
]


def _aliased(es_url: str, alias: str) -> list[str]:
    response = httpx.get(f"{es_url}/_alias/{alias}")
    return sorted(response.json()) if response.status_code == 200 else []


def _indices(es_url: str, prefix: str) -> list[str]:
    response = httpx.get(f"{es_url}/_cat/indices/{prefix}-*", params={"h": "index", "format": "json"})
    return sorted(row["index"] for row in response.json()) if response.status_code == 200 else []


@pytest.fixture()
def es_index(es_small_index: Path, es_settings: Settings) -> Iterator[EmbeddedIndex]:
    opened = EmbeddedIndex(es_small_index, es_settings)
    yield opened
    opened.close()


def test_the_manifest_names_the_backend_its_index_and_the_alias(es_small_index: Path, es_settings: Settings) -> None:
    manifest = read_manifest(current_generation(es_small_index))
    assert manifest.backend == "elasticsearch"
    assert manifest.elasticsearch is not None
    live = manifest.elasticsearch["index"]
    assert live.startswith(f"{es_settings.es_index_prefix}-") and manifest.elasticsearch["analyzer"] == "whitespace"
    assert _aliased(str(es_settings.es_url), es_settings.es_index_prefix) == [live]
    assert not (current_generation(es_small_index) / "lexical").exists(), "BM25 must live in Elasticsearch only"


#: Words whose stems differ between tantivy's Snowball English and Lucene's ("interval" -> "interv",
#: "lateral" -> "later" in Lucene): the backends agree only because both index tantivy's terms.
STEM_DOCS = [
    make_doc(
        "omim:192500",
        DocumentKind.DISEASE_KNOWLEDGE,
        "Long QT syndrome 1",
        "Long QT syndrome 1 (OMIM:192500)\nClinical features:\n- Prolonged QT interval\n- Syncope\n"
        "- Intervals of torsade",
        ("OMIM:192500",),
    ),
    make_doc(
        "omim:105400",
        DocumentKind.DISEASE_KNOWLEDGE,
        "Amyotrophic lateral sclerosis 1",
        "Amyotrophic lateral sclerosis 1 (OMIM:105400)\nClinical features:\n- Lateral sclerosis\n- Laterally "
        "spreading weakness\n- Abnormality of the nervous system; Abnormal reflexes",
        ("OMIM:105400",),
    ),
]


def test_bm25_gives_the_same_evidence_and_scores_as_tantivy(
    tmp_path: Path, test_settings: Settings, es_settings: Settings
) -> None:
    documents = [*SMALL_DOCS, *STEM_DOCS]
    settings = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-parity"})
    run_build(tmp_path / "es", [ListSource("test-docs", documents)], settings)
    run_build(tmp_path / "embedded", [ListSource("test-docs", documents)], test_settings)
    ours, theirs = EmbeddedIndex(tmp_path / "es", settings), EmbeddedIndex(tmp_path / "embedded", test_settings)
    queries = [*QUERIES, "prolonged QT interval; syncope", "lateral sclerosis, abnormal reflexes; abnormality"]
    try:
        for query in queries:
            for kinds in (None, [DocumentKind.DISEASE_KNOWLEDGE]):
                found = ours.lexical.search(query, kinds, k=10)
                expected = theirs.lexical.search(query, kinds, k=10)
                assert [e.evidence_id for e in found] == [e.evidence_id for e in expected], query
                assert [e.score for e in found] == pytest.approx([e.score for e in expected], rel=1e-5), query
                assert [e.text for e in found] == [e.text for e in expected]
            hybrid = [e.evidence_id for e in ours.hybrid.search(query, k=10)]
            assert hybrid == [e.evidence_id for e in theirs.hybrid.search(query, k=10)], query
        assert [e.doc_id for e in ours.lexical.search("interval", k=3)] == ["omim:192500"]
    finally:
        ours.close()
        theirs.close()


def test_several_shards_score_with_the_whole_index_statistics(
    tmp_path: Path, small_index: Path, test_settings: Settings, es_settings: Settings
) -> None:
    """Shards each hold part of the corpus; the manifest records how many, and searches then gather term
    statistics first (dfs_query_then_fetch), so scores stay those of one index, whatever the reader's settings."""
    built = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-shards", "es_shards": 3})
    run_build(tmp_path, [ListSource("test-docs", list(SMALL_DOCS))], built)
    assert (read_manifest(current_generation(tmp_path)).elasticsearch or {})["shards"] == 3
    ours, theirs = EmbeddedIndex(tmp_path, es_settings), EmbeddedIndex(small_index, test_settings)
    try:
        for query in QUERIES:
            found, expected = ours.lexical.search(query, k=10), theirs.lexical.search(query, k=10)
            assert [e.evidence_id for e in found] == [e.evidence_id for e in expected], query
            assert [e.score for e in found] == pytest.approx([e.score for e in expected], rel=1e-5), query
    finally:
        ours.close()
        theirs.close()


def test_filters_behave_as_in_the_embedded_backend(es_index: EmbeddedIndex) -> None:
    from dxsearch.retrieval.base import SearchFilters

    query = "arachnodactyly tall stature lens"
    everything = {e.doc_id for e in es_index.lexical.search(query, k=10)}
    assert {"omim:154700", "pt:aaaa1111"} <= everything
    without = es_index.lexical.search(query, k=10, filters=SearchFilters(exclude_doc_ids=frozenset({"omim:154700"})))
    assert "omim:154700" not in {e.doc_id for e in without} and without
    patients = es_index.lexical.search(query, [DocumentKind.PATIENT_RECORD], k=10)
    assert {e.doc_id for e in patients} == {"pt:aaaa1111"}
    assert es_index.lexical.search(query, k=10, filters=SearchFilters(sources=frozenset({"elsewhere"}))) == []


def test_a_diagnosis_through_elasticsearch_matches_the_embedded_one(
    es_index: EmbeddedIndex, small_index: Path, test_settings: Settings
) -> None:
    embedded = EmbeddedIndex(small_index, test_settings)
    try:
        traces = [
            diagnose(marfan_case(), EvidencePolicy(), DiagnosticEnv(index.retriever("hybrid")), index_version="v")
            for index in (es_index, embedded)
        ]
    finally:
        embedded.close()
    ours, theirs = traces
    assert ours.diagnoses and ours.diagnoses[0].code == "OMIM:154700"
    assert [d.code for d in ours.diagnoses] == [d.code for d in theirs.diagnoses]
    assert ours.retrievals and [r.evidence_id for r in ours.retrievals] == [r.evidence_id for r in theirs.retrievals]


def _changed_doc(text: str) -> Document:
    return make_doc("omim:143100", DocumentKind.DISEASE_KNOWLEDGE, "Huntington disease", text, ("OMIM:143100",))


def test_incremental_add_clones_moves_the_alias_and_sweeps_old_indices(
    tmp_path: Path, es_settings: Settings, es_url: str
) -> None:
    settings = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-add"})
    prefix = settings.es_index_prefix
    run_build(tmp_path, [ListSource("test-docs", list(SMALL_DOCS))], settings)
    first = read_manifest(current_generation(tmp_path)).elasticsearch or {}
    replacement = _changed_doc("Huntington disease (OMIM:143100)\nClinical features:\n- Opisthotonus\n- Xanthelasma")
    run_build(tmp_path, [ListSource("update", [replacement])], settings, incremental=True)
    second = read_manifest(current_generation(tmp_path))
    assert second.backend == "elasticsearch" and second.elasticsearch is not None
    assert second.elasticsearch["index"] != first["index"]
    assert _aliased(es_url, prefix) == [second.elasticsearch["index"]]
    index = EmbeddedIndex(tmp_path, settings)
    try:
        assert [e.doc_id for e in index.lexical.search("opisthotonus", k=5)] == ["omim:143100"]
        assert index.lexical.search("chorea caudate", k=5) == [], "the replaced passage must leave BM25"
        assert {e.doc_id for e in index.lexical.search("arachnodactyly", k=5)} == {"omim:154700", "pt:aaaa1111"}
    finally:
        index.close()
    assert first["index"] in _indices(es_url, prefix), "the previous generation is kept (two are kept)"
    run_build(
        tmp_path,
        [ListSource("update", [_changed_doc("Huntington disease\n- Chorea again")])],
        settings,
        incremental=True,
    )
    third = read_manifest(current_generation(tmp_path)).elasticsearch or {}
    assert first["index"] not in _indices(es_url, prefix), "a swept generation's index is deleted"
    assert _indices(es_url, prefix) == sorted([second.elasticsearch["index"], third["index"]])


class _FailingSource:
    """Yields a few documents, then fails, as a source whose file turns out unreadable half-way would."""

    info = SourceInfo(name="failing", description="fails after two documents", licence="CC0-1.0")

    def iter_items(self) -> Iterator[Document]:
        yield from SMALL_DOCS[:2]
        raise OSError("the source broke half-way")


def test_a_failed_build_deletes_its_index_and_leaves_the_alias(
    tmp_path: Path, es_settings: Settings, es_url: str
) -> None:
    settings = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-fail"})
    prefix = settings.es_index_prefix
    run_build(tmp_path, [ListSource("test-docs", list(SMALL_DOCS))], settings)
    live = (read_manifest(current_generation(tmp_path)).elasticsearch or {})["index"]
    with pytest.raises(OSError, match="broke half-way"):
        run_build(tmp_path, [_FailingSource()], settings)
    assert _aliased(es_url, prefix) == [live]
    assert _indices(es_url, prefix) == [live], "the failed build's index is deleted"
    assert [p.name for p in (tmp_path / "generations").iterdir()] == [current_generation(tmp_path).name]


def test_an_alias_taken_by_an_index_is_refused_before_anything_is_built(
    tmp_path: Path, es_settings: Settings, es_url: str
) -> None:
    taken = f"{es_settings.es_index_prefix}-taken"
    assert httpx.put(f"{es_url}/{taken}").status_code == 200
    settings = es_settings.model_copy(update={"es_index_prefix": taken})
    with pytest.raises(RetrievalUnavailableError, match=f"has an index named '{taken}'"):
        run_build(tmp_path / "index", [ListSource("test-docs", list(SMALL_DOCS))], settings)
    assert not (tmp_path / "index" / "CURRENT").exists()
    assert not list((tmp_path / "index" / "generations").iterdir())
    assert _indices(es_url, taken) == []


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture()
def es_url_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set DXSEARCH_ES_URL for the command lines run in this test (the process settings are re-read)."""

    def set_url(url: str) -> None:
        monkeypatch.setenv("DXSEARCH_ES_URL", url)
        get_settings.cache_clear()

    yield set_url
    monkeypatch.delenv("DXSEARCH_ES_URL", raising=False)
    get_settings.cache_clear()


def test_cli_build_against_a_node_that_is_down_is_one_line_and_builds_nothing(
    tmp_path: Path, es_url_env: Callable[[str], None]
) -> None:
    from corpus_builder.cli import app

    es_url_env("http://127.0.0.1:9")
    result = CliRunner().invoke(
        app, ["build", "--out", str(tmp_path), "--backend", "elasticsearch", "--source", "hpo-diseases"]
    )
    assert result.exit_code == 2
    assert "cannot connect" in _one_line_error(result.output)
    assert not (tmp_path / "CURRENT").exists() and not list((tmp_path / "generations").iterdir())


def test_searching_with_the_node_down_or_the_index_gone_is_one_line_exit_2(
    es_small_index: Path, tmp_path: Path, es_settings: Settings, es_url: str, es_url_env: Callable[[str], None]
) -> None:
    from corpus_builder.cli import app as corpus_app
    from dxsearch.cli import app as dxsearch_app

    es_url_env("http://127.0.0.1:9")
    down = CliRunner()
    result = down.invoke(corpus_app, ["search", "--index", str(es_small_index), "--retriever", "lexical", "tall"])
    assert result.exit_code == 2 and "cannot connect" in _one_line_error(result.output)
    case = tmp_path / "case.jsonl"
    case.write_text('{"phenotypes": [{"label": "Arachnodactyly"}, {"label": "Ectopia lentis"}]}\n', encoding="utf-8")
    result = down.invoke(
        dxsearch_app, ["diagnose", "--index", str(es_small_index), "--case", str(case), "--policy", "evidence"]
    )
    assert result.exit_code == 2 and "cannot connect" in _one_line_error(result.output)

    settings = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-gone"})
    run_build(tmp_path / "gone", [ListSource("test-docs", list(SMALL_DOCS))], settings)
    live = (read_manifest(current_generation(tmp_path / "gone")).elasticsearch or {})["index"]
    assert httpx.delete(f"{es_url}/{live}").status_code == 200
    es_url_env(es_url)
    result = CliRunner().invoke(
        corpus_app, ["search", "--index", str(tmp_path / "gone"), "--retriever", "lexical", "tall"]
    )
    assert result.exit_code == 2 and "index_not_found_exception" in _one_line_error(result.output)


def test_the_dense_side_can_search_statements_with_elasticsearch_knn(
    tmp_path: Path, small_index: Path, test_settings: Settings, es_settings: Settings, es_url: str
) -> None:
    """``es_dense_knn``: statement vectors in Elasticsearch's HNSW, found by knn; the same evidence as FAISS."""
    settings = es_settings.model_copy(
        update={"es_index_prefix": f"{es_settings.es_index_prefix}-knn", "es_dense_knn": True}
    )
    run_build(tmp_path, [ListSource("test-docs", list(SMALL_DOCS))], settings)
    record = read_manifest(current_generation(tmp_path)).elasticsearch or {}
    statements = record["statements_index"]
    assert statements == f"{record['index']}-statements"
    ours, theirs = EmbeddedIndex(tmp_path, settings), EmbeddedIndex(small_index, test_settings)
    try:
        held = httpx.get(f"{es_url}/{statements}/_count").json()["count"]
        assert held == theirs.dense._index.ntotal > 0  # every distinct statement, once
        for query in [*QUERIES[:-1], "lens dislocation; long fingers"]:
            found, expected = ours.dense.search_with_peaks(query, k=10), theirs.dense.search_with_peaks(query, k=10)
            assert [e.evidence_id for e, _ in found] == [e.evidence_id for e, _ in expected], query
            assert [e.score for e, _ in found] == pytest.approx([e.score for e, _ in expected], abs=1e-4), query
            assert [p for _, p in found] == pytest.approx([p for _, p in expected], abs=1e-4), query
    finally:
        ours.close()
        theirs.close()
    assert httpx.delete(f"{es_url}/{statements}").status_code == 200
    with pytest.raises(RetrievalUnavailableError, match="index_not_found_exception"):
        EmbeddedIndex(tmp_path, settings).dense.search("tall stature", k=3)
