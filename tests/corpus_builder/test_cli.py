"""The corpus-builder command line: help that teaches, docs kept true, bad input -> exit 2 + one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from corpus_builder.cli import app

runner = CliRunner()
README = Path(__file__).parents[2] / "README.md"
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    assert COMMANDS == ["add", "build", "eval-retrieval", "search", "simulate-cases", "stats", "validate"]
    for name in COMMANDS:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert len(result.output.split()) > 25, f"{name} --help says too little"
        assert f"corpus-builder {name}" in readme, f"README does not show `corpus-builder {name}`"


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
