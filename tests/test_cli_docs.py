"""Docs kept true: every command of every command line has help that teaches and is shown in README."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from audit.cli import app as audit_app
from corpus_builder.cli import app as corpus_builder_app
from dxsearch.cli import app as dxsearch_app

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAMS = {"dxsearch": dxsearch_app, "corpus-builder": corpus_builder_app, "audit": audit_app}


def _commands(app: typer.Typer) -> list[str]:
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_command_has_help_and_is_in_the_readme(program: str) -> None:
    app = PROGRAMS[program]
    readme = README.read_text(encoding="utf-8")
    commands = _commands(app)
    assert commands, f"{program} has no commands"
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0, top.output
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert len(result.output.split()) > 25, f"{program} {name} --help says too little"
        assert f"{program} {name}" in readme, f"README does not show `{program} {name}`"
        assert name in top.output, f"`{program} --help` does not list {name}"


def test_the_command_sets_are_the_documented_ones() -> None:
    assert _commands(corpus_builder_app) == [
        "add", "build", "eval-retrieval", "search", "simulate-cases", "stats", "tuning-folds", "validate",
    ]  # fmt: skip
    assert _commands(dxsearch_app) == ["calibrate", "diagnose", "eval", "read", "serve", "tiny-model", "train"]
