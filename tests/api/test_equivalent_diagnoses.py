"""The API shows each disease once: Marfan syndrome's OMIM and Orphanet entries are one diagnosis, in the
response, in the audited trace, and to an auditor asking for either code (real index, policy and audit log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from audit import CheckpointSigner, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, auth, running


@pytest.fixture(scope="module")
def client(
    two_marfan_cards_index: Path, test_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    index = EmbeddedIndex(two_marfan_cards_index, test_settings)
    store = SqliteAuditStore(tmp_path_factory.mktemp("audit") / "audit.db", signer=CheckpointSigner.generate())
    # Orphanet phenotype scores unshrunk and no probability bar: the ORPHA:558 entry reaches the top five.
    policy = EvidencePolicy(EvidencePolicyConfig(orpha_factor=1.0, abstain_below=0.0))
    app = create_app(api_settings(test_settings), index=index, policy=policy, audit_store=store)
    with running(app) as started:
        yield started
    store.close()
    index.close()


def test_marfan_is_one_diagnosis_with_both_codes(client: TestClient) -> None:
    body = {"findings": ["HP:0001166", "HP:0001083", "HP:0000098", "HP:0002616"], "sex": "female", "age": 14}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    diagnoses = data["diagnoses"]
    marfan = [d for d in diagnoses if {d["code"], *d["alternate_codes"]} & {"OMIM:154700", "ORPHA:558"}]
    assert len(marfan) == 1 and len(diagnoses) == 5
    assert (marfan[0]["rank"], marfan[0]["code"], marfan[0]["alternate_codes"]) == (1, "OMIM:154700", ["ORPHA:558"])
    assert {"omim:154700#0", "orpha:558#0"} <= {e["evidence_id"] for e in marfan[0]["evidence"]}
    assert data["trace"]["diagnoses"][0]["alternate_codes"] == ["ORPHA:558"]

    for asked in ("ORPHA:558", "OMIM:154700"):
        found = client.get("/v1/traces", params={"diagnosis": asked}, headers=auth("auditor"))
        assert found.status_code == 200, found.text
        assert data["audit_id"] in {r["record_id"] for r in found.json()["records"]}
