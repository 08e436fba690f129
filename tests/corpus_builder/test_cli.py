"""The corpus-builder command line: help that teaches, docs kept true, bad input -> exit 2 + one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpus_builder.cli import app

runner = CliRunner()


def test_missing_index_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["stats", "--index", str(tmp_path)], ["search", "x", "--index", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "holds no index" in result.output
        assert "Traceback" not in result.output


def test_unknown_source_and_unknown_retriever_exit_2(tmp_path: Path, small_index: Path) -> None:
    result = runner.invoke(app, ["build", "--out", str(tmp_path / "i"), "--source", "no-such-source"])
    assert result.exit_code == 2
    assert "neither a registered source" in result.output
    assert not (tmp_path / "i" / "CURRENT").exists()
    result = runner.invoke(app, ["search", "marfan", "--index", str(small_index), "--retriever", "bm99"])
    assert result.exit_code == 2
    assert "unknown retriever 'bm99'" in result.output


def test_search_and_stats_on_a_real_index(small_index: Path) -> None:
    result = runner.invoke(
        app,
        [
            "search",
            "chorea and dementia",
            "--index",
            str(small_index),
            "--kind",
            "disease_knowledge",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.splitlines()[0])
    assert first["doc_id"] == "omim:143100" and first["evidence_id"].startswith("omim:143100#")
    stats = runner.invoke(app, ["stats", "--index", str(small_index), "--json"])
    manifest = json.loads(stats.output)
    assert manifest["counts"]["documents"]["guideline"] == 1


@pytest.mark.parametrize("content", [b"", b'{"resourceType": "Bundle", "entry": [', b"\x00\x01binary\x00"])
def test_eval_retrieval_rejects_bad_case_files(tmp_path: Path, small_index: Path, content: bytes) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(content)
    result = runner.invoke(
        app,
        [
            "eval-retrieval",
            "--index",
            str(small_index),
            "--cases",
            str(cases),
            "--json",
            str(tmp_path / "o.json"),
        ],
    )
    if content:
        assert result.exit_code == 2
        assert "cases.jsonl:1:" in result.output
    else:  # an empty case file is no error, just nothing to evaluate
        assert result.exit_code == 0


def _bundle_json(case_id: str) -> str:
    from corpus_builder.fhir_bundles import case_to_bundle
    from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase

    labelled = LabelledCase(
        case=Case(case_id=case_id, sex="female", findings=(Finding(label="Chorea", hpo_id="HP:0002072"),)),
        gold=GoldDiagnosis(id="OMIM:143100", label="Huntington disease"),
    )
    return json.dumps(case_to_bundle(labelled))


def test_build_from_a_directory_with_bad_files_indexes_the_good_and_reports_the_bad(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "good.json").write_text(_bundle_json("good-1"), encoding="utf-8")
    (inputs / "truncated.json").write_text(_bundle_json("t")[:-40], encoding="utf-8")
    (inputs / "observation.json").write_text('{"resourceType": "Observation", "status": "final"}', encoding="utf-8")
    (inputs / "empty.json").write_bytes(b"")
    (inputs / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (inputs / "latin1.md").write_bytes("# Hinweise\nGrö\xdfe".encode("latin-1"))
    (inputs / "guide.md").write_text("# Test guide\nWritten by the test suite.\n", encoding="utf-8")
    index = tmp_path / "index"

    result = runner.invoke(app, ["build", "--out", str(index), "--source", str(inputs)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(runner.invoke(app, ["stats", "--index", str(index), "--json"]).output)
    assert manifest["counts"]["documents"] == {"patient_record": 1, "guideline": 1}
    reasons = {Path(r["location"].split(":")[0].split("#")[0]).name: r["reason"] for r in manifest["rejects"]["first"]}
    assert set(reasons) == {"truncated.json", "observation.json", "empty.json", "binary.json", "latin1.md"}
    assert "Bundle" in reasons["observation.json"]

    # A bad file added later is rejected and loses nothing already indexed.
    bad = tmp_path / "later.json"
    bad.write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["add", "--index", str(index), "--source", str(bad)])
    assert result.exit_code == 0, result.output
    after = json.loads(runner.invoke(app, ["stats", "--index", str(index), "--json"]).output)
    assert after["counts"]["documents"] == manifest["counts"]["documents"]
    assert after["rejects"]["total"] == 1

    validate = runner.invoke(app, ["validate", str(bad)])
    assert validate.exit_code == 2
    assert "later.json" in validate.output


def test_a_build_that_indexes_nothing_keeps_the_live_index(tmp_path: Path, small_index: Path) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    before = (index / "CURRENT").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["build", "--out", str(index), "--source", str(bad)])
    assert result.exit_code == 2
    assert "nothing was indexed" in result.output and "bad.json" in result.output
    assert (index / "CURRENT").read_text() == before


def test_add_to_a_mistyped_directory_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "indx"
    result = runner.invoke(app, ["add", "--index", str(typo), "--source", "hpo-diseases"])
    assert result.exit_code == 2
    assert "holds no index" in result.output
    assert not typo.exists()
