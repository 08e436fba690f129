"""Fixtures for the API tests: the real embedded index, the real evidence policy, a real SQLite audit log.

One app (and client) per module serves most tests; tests that need another configuration (a failing
audit store, a tiny rate limit, a slow or gated policy) build their own app around the same index and
policy objects, whose warm-up is then fast.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.logging import configure_logging
from audit import CheckpointSigner, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, running


@pytest.fixture(scope="session")
def log_stream() -> io.StringIO:
    """Every structlog line the API writes during the session, as JSON text."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    return stream


@pytest.fixture(scope="module")
def index(small_index: Path, test_settings: Settings) -> Iterator[EmbeddedIndex]:
    opened = EmbeddedIndex(small_index, test_settings)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def policy() -> EvidencePolicy:
    return EvidencePolicy()


@pytest.fixture(scope="module")
def settings(test_settings: Settings) -> Settings:
    return api_settings(test_settings)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteAuditStore]:
    opened = SqliteAuditStore(
        tmp_path_factory.mktemp("audit") / "audit.db", signer=CheckpointSigner.generate(), checkpoint_every=2
    )
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(
    log_stream: io.StringIO,
    settings: Settings,
    index: EmbeddedIndex,
    policy: EvidencePolicy,
    store: SqliteAuditStore,
) -> Iterator[TestClient]:
    app = create_app(settings, index=index, policy=policy, audit_store=store)
    with running(app) as started:
        yield started
