"""Shared fixtures: indexes built with the real embedded backend from small known documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import SMALL_DOCS, ListSource

from corpus_builder.build import run_build
from dxsearch.settings import Settings


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    return Settings(chunk_max_chars=300)


@pytest.fixture(scope="session")
def default_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default corpus built from scratch through the CLI, once per session (slow tests only).

    ``DXSEARCH_TEST_DEFAULT_INDEX`` names an index already built by ``corpus-builder build`` from this
    tree, to skip the build on a developer's machine; CI leaves it unset and builds from scratch.
    """
    prebuilt = os.environ.get("DXSEARCH_TEST_DEFAULT_INDEX")  # noqa: TID251 (a test-run switch, not configuration)
    if prebuilt:
        return Path(prebuilt)
    from typer.testing import CliRunner

    from corpus_builder.cli import app

    out = tmp_path_factory.mktemp("default") / "index"
    result = CliRunner().invoke(app, ["build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Path:
    index_dir = tmp_path_factory.mktemp("small-index")
    run_build(index_dir, [ListSource("test-docs", list(SMALL_DOCS))], test_settings)
    return index_dir
