"""The API shows each disease once: Marfan syndrome's OMIM and Orphanet entries are one diagnosis, in the
response, in the audited trace, and to an auditor asking for either code (real index, policy and audit log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cds_text import markdown_text
from audit import CheckpointSigner, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, auth, observation, patient_resource, running

MARFAN_FOUR = [
    ("HP:0001166", "Arachnodactyly"),
    ("HP:0001083", "Ectopia lentis"),
    ("HP:0000098", "Tall stature"),
    ("HP:0002616", "Aortic root aneurysm"),
]


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
    body = {"findings": [code for code, _ in MARFAN_FOUR], "sex": "female", "age": 14}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    diagnoses = data["diagnoses"]
    marfan = [d for d in diagnoses if {d["code"], *d["alternate_codes"]} & {"OMIM:154700", "ORPHA:558"}]
    assert len(marfan) == 1 and len(diagnoses) == 5
    # first, under the code of its better-ranked entry (the two Orphanet-coded patients' votes lead), the other beside
    first = marfan[0]
    assert first["rank"] == 1 and [first["code"], *first["alternate_codes"]] in (
        ["OMIM:154700", "ORPHA:558"],
        ["ORPHA:558", "OMIM:154700"],
    )
    assert {"omim:154700#0", "orpha:558#0"} <= {e["evidence_id"] for e in first["evidence"]}
    assert data["trace"]["diagnoses"][0]["alternate_codes"] == first["alternate_codes"]

    for asked in ("ORPHA:558", "OMIM:154700"):
        found = client.get("/v1/traces", params={"diagnosis": asked}, headers=auth("auditor"))
        assert found.status_code == 200, found.text
        assert data["audit_id"] in {r["record_id"] for r in found.json()["records"]}


def test_the_cds_card_lists_marfan_once_with_both_codes(client: TestClient) -> None:
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": observation(code, label)} for code, label in MARFAN_FOUR],
    }
    request = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        "prefetch": {"patient": patient_resource(), "observations": searchset, "conditions": None},
    }
    (service,) = client.get("/cds-services").json()["services"]
    response = client.post(f"/cds-services/{service['id']}", json=request, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    detail = response.json()["cards"][0]["detail"]
    assert detail.count("**Marfan syndrome**") == 1
    assert any(
        f"**Marfan syndrome** ({markdown_text(codes)})" in detail
        for codes in ("OMIM:154700, ORPHA:558", "ORPHA:558, OMIM:154700")
    )
