"""Shared fixtures: indexes built with the real backends from small known documents.

The Elasticsearch fixtures use the real node `make es` started, never a fake. Without a node their tests
skip, naming `make es`; with ``DXSEARCH_REQUIRE_ES=1`` (``.ci/run`` sets it after starting the node) they
fail instead, so CI cannot pass without having run them. Each session uses its own index prefix and
deletes its indices at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ORPHA_MARFAN, ORPHA_PATIENTS, SMALL_DOCS, ListSource

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


@pytest.fixture(scope="session")
def two_marfan_cards_index(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Path:
    """The small corpus plus Marfan syndrome's Orphanet card and two patients recorded under ORPHA:558."""
    index_dir = tmp_path_factory.mktemp("two-marfan-cards")
    run_build(index_dir, [ListSource("test-docs", [*SMALL_DOCS, ORPHA_MARFAN, *ORPHA_PATIENTS])], test_settings)
    return index_dir


def _node_url(settings: Settings) -> str:
    url = settings.elasticsearch_url()
    reason = "no Elasticsearch URL (DXSEARCH_ES_URL or var/es.url): start the node with `make es`"
    if url:
        try:
            health = httpx.get(f"{url}/_cluster/health", params={"wait_for_status": "yellow", "timeout": "5s"})
            if health.status_code == 200:
                return url
            reason = f"Elasticsearch at {url} answered {health.status_code}"
        except httpx.HTTPError as exc:
            reason = f"Elasticsearch at {url} is not reachable ({type(exc).__name__}); start it with `make es`"
    if os.environ.get("DXSEARCH_REQUIRE_ES") == "1":  # noqa: TID251 (a test-run switch, not configuration)
        pytest.fail(f"DXSEARCH_REQUIRE_ES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def es_url(test_settings: Settings) -> str:
    return _node_url(test_settings)


@pytest.fixture(scope="session")
def es_prefix(es_url: str) -> Iterator[str]:
    """An index prefix of this session's own; every index under it is deleted afterwards."""
    prefix = f"dxsearch-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    httpx.delete(f"{es_url}/{prefix}*", params={"expand_wildcards": "all"})


@pytest.fixture(scope="session")
def es_settings(test_settings: Settings, es_url: str, es_prefix: str) -> Settings:
    return test_settings.model_copy(update={"es_url": es_url, "es_index_prefix": es_prefix, "backend": "elasticsearch"})


@pytest.fixture(scope="session")
def es_small_index(tmp_path_factory: pytest.TempPathFactory, es_settings: Settings) -> Path:
    """The small test corpus built into Elasticsearch (BM25) + FAISS, as `small_index` is into tantivy + FAISS."""
    index_dir = tmp_path_factory.mktemp("es-small-index")
    run_build(index_dir, [ListSource("test-docs", list(SMALL_DOCS))], es_settings)
    return index_dir
