"""Shared fixtures: indexes built with the real embedded backend from small known documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import SMALL_DOCS, ListSource

from corpus_builder.build import run_build
from dxsearch.settings import Settings


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    return Settings(chunk_max_chars=300)


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Path:
    index_dir = tmp_path_factory.mktemp("small-index")
    run_build(index_dir, [ListSource("test-docs", list(SMALL_DOCS))], test_settings)
    return index_dir
