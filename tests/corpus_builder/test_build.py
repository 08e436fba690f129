"""Build pipeline: atomic publication, incremental updates, rejects, reproducible ids."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import SMALL_DOCS, ListSource, make_doc

from corpus_builder.build import run_build
from corpus_builder.sources.base import Reject
from dxsearch.corpus import DocumentKind
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import CURRENT, GENERATIONS, current_generation
from dxsearch.settings import Settings


def test_rebuild_gives_same_ids_and_version(tmp_path: Path, test_settings: Settings) -> None:
    first = run_build(tmp_path / "a", [ListSource("t", list(SMALL_DOCS))], test_settings)
    second = run_build(tmp_path / "b", [ListSource("t", list(reversed(SMALL_DOCS)))], test_settings)
    assert first.corpus_hash == second.corpus_hash
    assert first.index_version == second.index_version
    a, b = EmbeddedIndex(tmp_path / "a"), EmbeddedIndex(tmp_path / "b")
    ids_a = {e.evidence_id for e in a.hybrid.search("marfan", None, 10)}
    ids_b = {e.evidence_id for e in b.hybrid.search("marfan", None, 10)}
    assert ids_a == ids_b


def test_rejects_and_duplicates_are_recorded_not_indexed(tmp_path: Path, test_settings: Settings) -> None:
    duplicate = make_doc("omim:154700", DocumentKind.DISEASE_KNOWLEDGE, "Impostor", "A second document, same id")
    items = [*SMALL_DOCS, duplicate, Reject(source="t", location="bad.json:3", reason="invalid JSON")]
    manifest = run_build(tmp_path, [ListSource("t", items)], test_settings)
    assert manifest.rejects["total"] == 2
    reasons = {r["location"]: r["reason"] for r in manifest.rejects["first"]}
    assert reasons["bad.json:3"] == "invalid JSON"
    assert reasons["omim:154700"].startswith("duplicate document id")
    index = EmbeddedIndex(tmp_path)
    document = index.store.document("omim:154700")
    assert document is not None and document.title == "Marfan syndrome"
    rejects_file = current_generation(tmp_path) / "rejects.jsonl"
    assert len(rejects_file.read_text().splitlines()) == 2


def test_incremental_add_replaces_changed_and_keeps_the_rest(tmp_path: Path, test_settings: Settings) -> None:
    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], test_settings)
    old_generation = current_generation(tmp_path)
    changed = make_doc(
        "omim:143100",
        DocumentKind.DISEASE_KNOWLEDGE,
        "Huntington disease",
        "Huntington disease\n- Chorea\n- Dystonia",
    )
    new = make_doc(
        "orpha:558", DocumentKind.DISEASE_KNOWLEDGE, "Marfan (Orphanet)", "Marfan syndrome Orphanet\n- Myopia"
    )
    manifest = run_build(tmp_path, [ListSource("t2", [changed, new, SMALL_DOCS[0]])], test_settings, incremental=True)
    report = manifest.sources[-1]
    assert (report["added"], report["replaced"], report["unchanged"]) == (1, 1, 1)
    assert manifest.counts["documents"]["disease_knowledge"] == 4
    index = EmbeddedIndex(tmp_path)
    assert index.generation != old_generation
    hits = index.lexical.search("dystonia", None, 5)
    assert [h.doc_id for h in hits] == ["omim:143100"]
    assert index.lexical.search("dementia caudate", None, 5) == []  # the old text is gone everywhere
    assert all(
        h.doc_id != "omim:143100"
        for h in index.dense.search("dementia caudate atrophy", None, 20)
        if "Dementia" in h.text
    )


def test_killed_build_leaves_previous_index_live(tmp_path: Path, test_settings: Settings) -> None:
    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], test_settings)
    live = (tmp_path / CURRENT).read_text()
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from support import make_doc
        from corpus_builder.build import run_build
        from dxsearch.corpus import DocumentKind
        from dxsearch.settings import Settings

        class Slow:
            from corpus_builder.sources.base import SourceInfo
            info = SourceInfo(name="slow", description="", licence="CC0-1.0")
            def iter_items(self):
                for i in range(100000):
                    yield make_doc(f"omim:{{i}}", DocumentKind.DISEASE_KNOWLEDGE, f"D{{i}}", f"Disease {{i}} text")
                    if i == 600:
                        print("midway", flush=True)
                        time.sleep(60)

        run_build(__import__("pathlib").Path({str(tmp_path)!r}), [Slow()], Settings(chunk_max_chars=300))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.stdout.readline().strip() != "midway":
        pass
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (tmp_path / CURRENT).read_text() == live
    building = [p.name for p in (tmp_path / GENERATIONS).iterdir() if p.name.startswith(".building-")]
    assert building, "the killed build should have left its (invisible) work directory"
    index = EmbeddedIndex(tmp_path)
    assert index.hybrid.search("marfan arachnodactyly", [DocumentKind.DISEASE_KNOWLEDGE], 1)[0].doc_id == "omim:154700"
    # The next build sweeps the abandoned directory.
    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], test_settings)
    assert not [p for p in (tmp_path / GENERATIONS).iterdir() if p.name.startswith(".building-")]


def test_second_concurrent_writer_is_refused(tmp_path: Path, test_settings: Settings) -> None:
    from dxsearch.retrieval.layout import writer_lock

    with writer_lock(tmp_path), pytest.raises(RuntimeError, match="another build holds the lock"):
        run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], test_settings)


def test_replaced_statements_leave_the_dense_index(tmp_path: Path, test_settings: Settings) -> None:
    import sqlite3

    run_build(tmp_path, [ListSource("t", list(SMALL_DOCS))], test_settings)
    changed = make_doc(
        "omim:143100", DocumentKind.DISEASE_KNOWLEDGE, "Huntington disease", "Huntington disease\n- Dystonia"
    )
    run_build(tmp_path, [ListSource("t2", [changed])], test_settings, incremental=True)
    db = sqlite3.connect(current_generation(tmp_path) / "dense" / "segments.sqlite")
    statements = {row[0] for row in db.execute("SELECT text FROM segments")}
    assert "Dystonia" in statements
    assert "Caudate atrophy" not in statements  # only Huntington's old card had it
    assert "Dementia" not in statements


def test_excluded_publications_leave_their_records_out_and_are_recorded(
    tmp_path: Path, test_settings: Settings
) -> None:
    from dxsearch.corpus import Document, DocumentMetadata

    def record(doc_id: str, publication: str) -> Document:
        metadata = DocumentMetadata(
            source="test", licence="CC0-1.0", codes=("OMIM:154700",), extra={"publication": publication}
        )
        text = "Observed findings: Arachnodactyly; Ectopia lentis\nDiagnosis: Marfan syndrome (OMIM:154700)"
        return Document(
            id=doc_id, kind=DocumentKind.PATIENT_RECORD, title="Patient record", text=text, metadata=metadata
        )

    from dxsearch.knowledge.hpo import get_hpo_knowledge

    cited = next(p for r in get_hpo_knowledge().annotations("OMIM:154700") for p in r.pmids)  # a Marfan paper
    items = [*SMALL_DOCS, record("pt:kept", "PMID:111"), record("pt:left-out", cited)]
    excluded = frozenset({cited})
    manifest = run_build(tmp_path, [ListSource("t", items)], test_settings, excluded_publications=excluded)
    index = EmbeddedIndex(tmp_path)
    assert index.store.document("pt:kept") is not None
    assert index.store.document("pt:left-out") is None
    assert manifest.sources[0]["excluded_by_publication"] == 1
    assert manifest.rejects["total"] == 0  # left out on purpose, not a bad record
    assert manifest.excluded_publications == [cited]
    assert manifest.knowledge["excluded_publications"] == 1
    assert manifest.knowledge["annotation_rows_dropped"] > 0
    unfiltered = run_build(tmp_path / "all", [ListSource("t", items)], test_settings)
    assert unfiltered.excluded_publications == [] and unfiltered.index_version != manifest.index_version
    # An add keeps the index's list: one index, one annotation table.
    with pytest.raises(ValueError, match="keeps the index's excluded publications"):
        run_build(
            tmp_path,
            [ListSource("t", [])],
            test_settings,
            incremental=True,
            excluded_publications=frozenset({"PMID:1"}),
        )
    more = [record("pt:again", cited), record("pt:new", "PMID:222")]
    added = run_build(tmp_path, [ListSource("t", more)], test_settings, incremental=True)
    assert added.excluded_publications == [cited]
    assert EmbeddedIndex(tmp_path).store.document("pt:again") is None
    assert EmbeddedIndex(tmp_path).store.document("pt:new") is not None
