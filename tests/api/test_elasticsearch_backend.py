"""The API over an Elasticsearch-backed index: the same answers, and a 503 (nothing audited) when the
index cannot be searched."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support import SMALL_DOCS, ListSource

from api.app import create_app
from audit import CheckpointSigner, SqliteAuditStore
from corpus_builder.build import run_build
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import current_generation, read_manifest
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, audit_count, auth, running

pytestmark = pytest.mark.es

MARFAN = {"findings": ["Arachnodactyly", "Ectopia lentis", "Tall stature"], "sex": "female", "age": 14}


def test_diagnose_over_elasticsearch_then_503_when_its_index_is_gone(
    tmp_path: Path, es_settings: Settings, es_url: str
) -> None:
    settings = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-api"})
    run_build(tmp_path / "index", [ListSource("test-docs", list(SMALL_DOCS))], settings)
    index = EmbeddedIndex(tmp_path / "index", settings)
    store = SqliteAuditStore(tmp_path / "audit.db", signer=CheckpointSigner.generate(), checkpoint_every=2)
    app = create_app(api_settings(settings), index=index, policy=EvidencePolicy(), audit_store=store)
    try:
        with running(app) as client:
            response = client.post("/v1/diagnose", json=MARFAN, headers=auth("clinician"))
            assert response.status_code == 200, response.text
            data = response.json()
            assert data["diagnoses"][0]["code"] == "OMIM:154700" and data["diagnoses"][0]["evidence"]
            recorded = audit_count(store)

            live = (read_manifest(current_generation(tmp_path / "index")).elasticsearch or {})["index"]
            assert httpx.delete(f"{es_url}/{live}").status_code == 200
            response = client.post("/v1/diagnose", json=MARFAN, headers=auth("clinician"))
            assert response.status_code == 503, response.text
            message = response.json()["detail"]
            assert "the index cannot be searched" in message and "index_not_found_exception" in message
            assert response.headers["Retry-After"] == "5"
            assert audit_count(store) == recorded, "no decision may be audited without a search"
    finally:
        index.close()
        store.close()
