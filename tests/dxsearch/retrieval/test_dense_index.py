"""The dense side's FAISS index kind: exact flat by default, IVF when asked or above the size threshold."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest
from support import SMALL_DOCS, ListSource, make_doc

from corpus_builder.build import INDEX_FORMAT, run_build
from dxsearch.corpus import DocumentKind
from dxsearch.retrieval.dense import (
    FLAT,
    FLOAT16,
    FLOAT32,
    IVF,
    MIN_SIMILARITY,
    SHARPNESS,
    DenseRetriever,
    IndexPlan,
    _best_first,
    plan_index,
)
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.embedder import Embedder
from dxsearch.retrieval.layout import current_generation
from dxsearch.retrieval.segments import query_segments
from dxsearch.settings import Settings

#: IVF over the 30 statements of SMALL_DOCS: 4 lists, and every list searched unless a test says otherwise.
IVF_SETTINGS = Settings(chunk_max_chars=300, dense_index="ivf", dense_ivf_lists=4, dense_ivf_nprobe=4)


def _faiss(index_dir: Path) -> faiss.Index:
    return faiss.read_index(str(current_generation(index_dir) / "dense" / "segments.faiss"))


def _statements(index_dir: Path) -> set[str]:
    db = sqlite3.connect(current_generation(index_dir) / "dense" / "segments.sqlite")
    try:
        return {row[0] for row in db.execute("SELECT text FROM segments")}
    finally:
        db.close()


def test_auto_is_flat_at_todays_size_and_ivf_past_the_threshold() -> None:
    settings = Settings()
    assert plan_index(settings, 36_048) == IndexPlan(FLAT)  # the default index's statements
    assert plan_index(settings, settings.dense_ivf_min_statements - 1) == IndexPlan(FLAT)
    assert plan_index(settings, 2_000_000) == IndexPlan(IVF, 2048, FLOAT16)
    assert plan_index(Settings(dense_ivf_storage="float32"), 2_000_000) == IndexPlan(IVF, 2048, FLOAT32)
    assert plan_index(settings, settings.dense_ivf_min_statements).kind == IVF


def test_too_few_statements_for_two_lists_stay_flat_whatever_was_asked() -> None:
    assert plan_index(Settings(dense_index="ivf"), 77) == IndexPlan(FLAT)  # 77 // 39 == 1 list
    assert plan_index(Settings(dense_index="ivf"), 78) == IndexPlan(IVF, 2, FLOAT16)
    assert plan_index(Settings(dense_index="ivf", dense_ivf_lists=4), 3) == IndexPlan(IVF, 3, FLOAT16)
    assert plan_index(Settings(dense_index="ivf", dense_ivf_lists=4), 1) == IndexPlan(FLAT)
    assert plan_index(Settings(dense_index="flat"), 10_000_000) == IndexPlan(FLAT)


def test_a_default_build_is_flat_and_keeps_the_index_version_formula(tmp_path: Path, test_settings: Settings) -> None:
    manifest = run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], test_settings)
    assert (manifest.dense_index, manifest.dense_ivf_lists) == ("flat", None)
    assert isinstance(_faiss(tmp_path), faiss.IndexIDMap2)
    exclusions = manifest.knowledge["excluded_publications_sha256"]
    unchanged = hashlib.sha256(
        f"{INDEX_FORMAT}|{manifest.corpus_hash}|{manifest.embedder.name}|{manifest.embedder.dim}|"
        f"{manifest.chunk_max_chars}|{exclusions}".encode()
    ).hexdigest()[:16]
    assert manifest.index_version == unchanged  # the learned policy weights were trained against this


def test_a_forced_ivf_build_is_ivf_recorded_and_versioned(tmp_path: Path, test_settings: Settings) -> None:
    flat = run_build(tmp_path / "flat", [ListSource("t", list(SMALL_DOCS))], test_settings)
    ivf = run_build(tmp_path / "ivf", [ListSource("t", list(SMALL_DOCS))], IVF_SETTINGS)
    wide = IVF_SETTINGS.model_copy(update={"dense_ivf_storage": "float32"})
    ivf32 = run_build(tmp_path / "ivf32", [ListSource("t", list(SMALL_DOCS))], wide)
    assert (ivf.dense_index, ivf.dense_ivf_lists, ivf.dense_ivf_storage) == ("ivf", 4, "float16")
    assert (ivf32.dense_index, ivf32.dense_ivf_lists, ivf32.dense_ivf_storage) == ("ivf", 4, "float32")
    assert ivf.corpus_hash == flat.corpus_hash == ivf32.corpus_hash
    assert len({flat.index_version, ivf.index_version, ivf32.index_version}) == 3  # another index answers each
    stored = _faiss(tmp_path / "ivf")
    assert isinstance(stored, faiss.IndexIVFScalarQuantizer) and stored.nlist == 4
    assert stored.code_size == 2 * stored.d  # two bytes a dimension: the vector itself in float16, no residual
    assert stored.ntotal == len(_statements(tmp_path / "ivf"))
    assert isinstance(_faiss(tmp_path / "ivf32"), faiss.IndexIVFFlat)


@pytest.mark.parametrize("name", ["dense", "hybrid"])
def test_ivf_searching_every_list_ranks_as_flat_does(tmp_path: Path, test_settings: Settings, name: str) -> None:
    run_build(tmp_path / "flat", [ListSource("t", list(SMALL_DOCS))], test_settings)
    run_build(tmp_path / "ivf", [ListSource("t", list(SMALL_DOCS))], IVF_SETTINGS)
    flat, ivf = EmbeddedIndex(tmp_path / "flat", test_settings), EmbeddedIndex(tmp_path / "ivf", IVF_SETTINGS)
    assert ivf.dense.plan == IndexPlan(IVF, 4, FLOAT16)
    for query in ("arachnodactyly, ectopia lentis, tall stature", "cognitive decline; odd gait", "sweat chloride"):
        expected = [(e.evidence_id, round(e.score, 3)) for e in flat.retriever(name).search(query, None, 10)]
        # float16 vectors: the same hits in the same order, scores within 1e-3
        assert [(e.evidence_id, round(e.score, 3)) for e in ivf.retriever(name).search(query, None, 10)] == expected


def test_ivf_searching_one_list_sees_fewer_statements(tmp_path: Path) -> None:
    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], IVF_SETTINGS)
    narrow = EmbeddedIndex(tmp_path, IVF_SETTINGS.model_copy(update={"dense_ivf_nprobe": 1}))
    every = EmbeddedIndex(tmp_path, IVF_SETTINGS)
    vectors = every.embedder.encode(["arachnodactyly", "chorea", "bronchiectasis"])
    _, narrow_ids = narrow.dense.nearest_statements(vectors, 30)
    _, every_ids = every.dense.nearest_statements(vectors, 30)
    assert (every_ids >= 0).all()  # all 30 statements reached
    assert (narrow_ids >= 0).sum() < every_ids.size  # one list of four holds fewer
    assert (narrow_ids[:, 0] == every_ids[:, 0]).all()  # each statement's own list holds its nearest


def test_incremental_add_into_ivf_removes_a_replaced_documents_statements(tmp_path: Path) -> None:
    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], IVF_SETTINGS)
    before = _statements(tmp_path)
    assert {"Caudate atrophy", "Dementia"} <= before
    changed = make_doc(
        "omim:143100", DocumentKind.DISEASE_KNOWLEDGE, "Huntington disease", "Huntington disease\n- Dystonia"
    )
    manifest = run_build(tmp_path, [ListSource("t2", [changed])], IVF_SETTINGS, incremental=True)
    assert (manifest.dense_index, manifest.dense_ivf_lists) == ("ivf", 4)  # kept as trained
    after = _statements(tmp_path)
    assert "Dystonia" in after and not {"Caudate atrophy", "Dementia"} & after
    stored = _faiss(tmp_path)
    assert isinstance(stored, faiss.IndexIVFScalarQuantizer)
    assert stored.ntotal == len(after)  # the orphans left FAISS, not only SQLite
    index = EmbeddedIndex(tmp_path, IVF_SETTINGS)
    hits = index.dense.search("dementia; caudate atrophy", None, 20)
    assert all(h.doc_id != "omim:143100" for h in hits if "Dementia" in h.text or "Caudate" in h.text)
    assert [h.doc_id for h in index.dense.search("dystonia", [DocumentKind.DISEASE_KNOWLEDGE], 1)] == ["omim:143100"]


def test_a_flat_index_grown_past_the_threshold_becomes_ivf(tmp_path: Path, test_settings: Settings) -> None:
    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS[:2]))], test_settings)
    grown = Settings(chunk_max_chars=300, dense_ivf_min_statements=20, dense_ivf_lists=2, dense_ivf_nprobe=2)
    manifest = run_build(tmp_path, [ListSource("t2", list(SMALL_DOCS[2:]))], grown, incremental=True)
    assert manifest.dense_index == "ivf"
    stored = _faiss(tmp_path)
    assert isinstance(stored, faiss.IndexIVFScalarQuantizer) and stored.ntotal == len(_statements(tmp_path))
    index = EmbeddedIndex(tmp_path, grown)
    found = index.dense.search("arachnodactyly, ectopia lentis, tall stature", [DocumentKind.DISEASE_KNOWLEDGE], 1)
    assert [h.doc_id for h in found] == ["omim:154700"]


def test_an_ivf_float32_index_asked_for_float16_is_rebuilt_with_the_same_statements(tmp_path: Path) -> None:
    run_build(
        tmp_path,
        [ListSource("t", list(SMALL_DOCS[:3]))],
        IVF_SETTINGS.model_copy(update={"dense_ivf_storage": "float32"}),
    )
    before = faiss.read_index(str(current_generation(tmp_path) / "dense" / "segments.faiss"))
    assert isinstance(before, faiss.IndexIVFFlat)
    manifest = run_build(tmp_path, [ListSource("t2", list(SMALL_DOCS[3:]))], IVF_SETTINGS, incremental=True)
    assert (manifest.dense_index, manifest.dense_ivf_storage) == ("ivf", "float16")
    stored = _faiss(tmp_path)
    assert isinstance(stored, faiss.IndexIVFScalarQuantizer) and stored.ntotal == len(_statements(tmp_path))
    index = EmbeddedIndex(tmp_path, IVF_SETTINGS)
    found = index.dense.search("arachnodactyly, ectopia lentis, tall stature", [DocumentKind.DISEASE_KNOWLEDGE], 1)
    assert [h.doc_id for h in found] == ["omim:154700"]  # a statement of the first build, read back from float32


@pytest.mark.parametrize("step", [1, 3, 10, 64])
def test_best_first_reads_as_one_full_sort_with_ties_broken_by_row(step: int) -> None:
    rng = np.random.default_rng(5)
    scores = rng.choice(np.asarray([0.0, 0.1, 0.25, 0.25, 0.5, 0.9], dtype=np.float32), size=200)
    candidates = np.flatnonzero(scores > 0)
    expected = [int(r) for r in candidates[np.lexsort((candidates, -scores[candidates]))]]
    windows = list(_best_first(scores, candidates, step))
    assert [row for window in windows for row in window] == expected
    assert all(len(window) <= step for window in windows)
    assert list(_best_first(scores, candidates[:0], step)) == []


def _reference_scores(dense: DenseRetriever, embedder: Embedder, query: str) -> tuple[np.ndarray, np.ndarray]:
    """MaxSim as first written: a pass over every row per query statement (independent of the array code)."""
    statements = query_segments(query)
    n_rows = len(dense._row_kind)
    total = np.zeros(n_rows, dtype=np.float32)
    peak = np.zeros(n_rows, dtype=np.float32)
    similarities, neighbours = dense.nearest_statements(embedder.encode(statements))
    for sims, ids in zip(similarities, neighbours, strict=True):
        best = np.zeros(n_rows, dtype=np.float32)
        for similarity, segment_id in zip(sims, ids, strict=True):
            if segment_id < 0 or segment_id >= len(dense._idf) or similarity < MIN_SIMILARITY:
                continue
            rows = dense._postings(int(segment_id))
            if len(rows):
                closeness = (float(similarity) - MIN_SIMILARITY) / (1.0 - MIN_SIMILARITY)
                weight = closeness**SHARPNESS * float(dense._idf[segment_id]) / dense._idf_max
                best[rows] = np.maximum(best[rows], weight)
                peak[rows] = np.maximum(peak[rows], float(similarity))
        total += best
    return (total / np.float32(len(statements))).astype(np.float32), peak


@pytest.mark.parametrize(
    "query",
    [
        "arachnodactyly, ectopia lentis, tall stature",
        "Arachnodactyly; Ectopia lentis; Chorea; Dementia; Bronchiectasis; sweat chloride",
        "cognitive decline; odd gait",
        "zanzibarquokka",
    ],
)
def test_array_scoring_equals_the_row_by_row_reference(small_index: Path, test_settings: Settings, query: str) -> None:
    index = EmbeddedIndex(small_index, test_settings)
    scores, peaks = index.dense._score_rows(query)
    expected_scores, expected_peaks = _reference_scores(index.dense, index.embedder, query)
    assert np.array_equal(scores, expected_scores)  # bit for bit: rankings and ties stay as they were
    assert np.array_equal(peaks, expected_peaks)
