"""An insufficient-evidence answer shows what it weighed: the leading candidates, each with its probability
and evidence, labelled as not a diagnosis, in the response, the audited trace, the next steps and the CDS card
(real index, real evidence and learned policies, real audit log)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cds import support_text
from audit import CheckpointSigner, SqliteAuditStore
from audit.cli import app as audit_cli
from dxsearch.agent import EvidenceLink, TracedDiagnosis
from dxsearch.corpus import DocumentKind
from dxsearch.knowledge.explanation import Explanation, FindingRole
from dxsearch.policies.base import Policy
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.policies.learned import LearnedPolicy, default_weights, load_params
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, auth, observation, patient_resource, running

MARFAN_FOUR = ["HP:0001166", "HP:0001083", "HP:0000098", "HP:0002616"]
#: No probability reaches it: every answer with a ranking abstains on the bar, and names what it weighed.
UNREACHABLE = 0.999


def _evidence() -> Policy:
    return EvidencePolicy(EvidencePolicyConfig(abstain_below=UNREACHABLE))


def _learned() -> Policy:
    weights = default_weights()
    assert weights is not None, "the shipped learned weights"
    return LearnedPolicy(load_params(weights), evidence=EvidencePolicy(EvidencePolicyConfig(abstain_below=UNREACHABLE)))


@pytest.fixture(scope="module", params=[_evidence, _learned], ids=["evidence", "learned"])
def client(
    request: pytest.FixtureRequest,
    two_marfan_cards_index: Path,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    index = EmbeddedIndex(two_marfan_cards_index, test_settings)
    store = SqliteAuditStore(tmp_path_factory.mktemp("audit") / "audit.db", signer=CheckpointSigner.generate())
    app = create_app(api_settings(test_settings), index=index, policy=request.param(), audit_store=store)
    with running(app) as started:
        yield started
    store.close()
    index.close()


def test_an_abstention_lists_its_leading_candidates_as_not_a_diagnosis(client: TestClient) -> None:
    response = client.post("/v1/diagnose", json={"findings": MARFAN_FOUR, "age": 14}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["outcome"] == "insufficient_evidence" and data["diagnoses"] == []
    considered = data["considered"]
    assert 2 <= len(considered) <= 5
    assert considered[0]["code"] in {"OMIM:154700", "ORPHA:558"}  # Marfan syndrome leads what was weighed
    assert "Marfan syndrome" in data["reason"] and considered[0]["name"] in data["reason"]
    # the reason prints the probability the list gives (it printed 0.18 beside a listed 0.175)
    assert f"has probability {considered[0]['confidence']:.2f}," in data["reason"]
    assert [c["rank"] for c in considered] == list(range(1, len(considered) + 1))
    probabilities = [c["confidence"] for c in considered]
    assert all(isinstance(p, float) and 0.0 <= p < UNREACHABLE for p in probabilities)
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-6
    assert considered[0]["evidence"], "each candidate keeps the passages it rests on"
    codes = [c["code"] for c in considered]
    assert len(set(codes)) == len(codes), "each disease once"

    trace = data["trace"]
    assert [c["code"] for c in trace["considered"]] == codes and trace["diagnoses"] == []
    assert trace["considered"][0]["explanation"]["supports"], "what the leading candidate explains"
    steps = data["next_steps"]
    assert steps["basis"] == "considered"
    assert [c["code"] for c in steps["candidates"]] == codes
    assert steps["gene_panel"] is None and steps["guidelines"] == []
    assert steps["probabilities"][0] == max(steps["probabilities"]) > 1 / len(codes)

    audited = client.get(f"/v1/traces/{data['audit_id']}", headers=auth("auditor"))
    assert audited.status_code == 200, audited.text
    assert [c["code"] for c in audited.json()["trace"]["considered"]] == codes


def test_the_cds_card_says_insufficient_and_names_what_was_considered(client: TestClient) -> None:
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": observation(code, label)}
            for code, label in zip(
                MARFAN_FOUR, ["Arachnodactyly", "Ectopia lentis", "Tall stature", "Aortic root aneurysm"], strict=True
            )
        ],
    }
    request = {
        "hook": "patient-view",
        "hookInstance": "4b1c2a4e-6a0e-4a43-9a55-0d3c7e1f2b11",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        "prefetch": {"patient": patient_resource(), "observations": searchset, "conditions": None},
    }
    (service,) = client.get("/cds-services").json()["services"]
    response = client.post(f"/cds-services/{service['id']}", json=request, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    card = response.json()["cards"][0]
    assert card["summary"].startswith("Insufficient evidence")
    detail = card["detail"]
    assert "Considered, each too improbable to name (not a diagnosis):" in detail
    assert "1\\. Marfan syndrome" in detail and "probability 0." in detail
    # every probability as the reason and the command line print it: never "0.00" for one under 0.005
    printed = re.findall(r": probability (under 0\.01|over 0\.99|\d\.\d\d);", detail)
    assert "under 0.01" in printed and "probability 0.00" not in detail


def test_a_diagnosis_filter_finds_the_abstentions_that_considered_it_and_says_so(client: TestClient) -> None:
    """ "Every answer where disease Y was considered": an abstention names its candidates to the clinician, and the
    diagnosis filter of the API and of ``audit export`` found none of them (user test ut-3)."""
    response = client.post("/v1/diagnose", json={"findings": MARFAN_FOUR, "age": 15}, headers=auth("clinician"))
    data = response.json()
    assert data["outcome"] == "insufficient_evidence" and data["diagnoses"] == []
    audit_id, considered = data["audit_id"], data["considered"]
    equivalent = {"OMIM:154700": "ORPHA:558", "ORPHA:558": "OMIM:154700"}[considered[0]["code"]]

    for asked in (considered[0]["code"], equivalent, considered[0]["name"], considered[-1]["code"]):
        found = client.get("/v1/traces", params={"diagnosis": asked, "limit": 1000}, headers=auth("auditor"))
        assert found.status_code == 200, (asked, found.text)
        rows = {r["record_id"]: r for r in found.json()["records"]}
        assert audit_id in rows, asked
        assert rows[audit_id]["diagnosis_match"] == "considered" and rows[audit_id]["diagnoses"] == []
    row = rows[audit_id]
    assert [c["code"] for c in row["summary"]["considered"]] == [c["code"] for c in considered]

    # An answer naming the disease says "answered" (the same filter, the real app with a reachable bar).
    answered = client.get(
        "/v1/traces", params={"diagnosis": considered[0]["code"], "outcome": "diagnosed"}, headers=auth("auditor")
    )
    assert all(r["diagnosis_match"] == "answered" for r in answered.json()["records"])

    # The command line finds it too, and says so in each line.
    store_path = client.app.state.services.diagnosis.audit_store.path  # type: ignore[attr-defined]
    result = CliRunner().invoke(
        audit_cli, ["export", "--url", f"sqlite:///{store_path}", "--diagnosis", equivalent, "--kind", "decision"]
    )
    assert result.exit_code == 0, result.output
    lines = {line["record_id"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert lines[audit_id]["diagnosis_match"] == "considered"


def test_a_card_line_says_when_a_diagnosis_rests_on_similar_patients_alone() -> None:
    """A candidate that explains none of the findings, cited only by similar published patients, says so on the card
    (it read "probability 0.02" alone); one that explains some says how many; one with no annotation says that."""
    patient = EvidenceLink(
        evidence_id="pt:1#0",
        doc_id="pt:1",
        kind=DocumentKind.PATIENT_RECORD,
        title="Patient record",
        score=1.0,
        rank=1,
        retriever="phenotype",
    )

    def diagnosis(supports: int, annotated: bool = True) -> TracedDiagnosis:
        explained = tuple(FindingRole(label=f"finding {k}", hpo_id=None) for k in range(supports))
        explanation = Explanation(annotated=annotated, entered=8, supports=explained, not_explained=(), contradicts=())
        return TracedDiagnosis(
            rank=2, name="A disease", code="OMIM:1", confidence=0.024, evidence=(patient,), explanation=explanation
        )

    assert support_text(diagnosis(0)) == (
        "probability 0.02; explains none of the 8 findings; rests on similar published patients alone"
    )
    assert support_text(diagnosis(3)) == "probability 0.02; explains 3 of 8 findings"
    assert support_text(diagnosis(0, annotated=False)).startswith(
        "probability 0.02; no phenotype annotation to explain the findings with; rests on similar"
    )
