"""Bounded work per request (issue 16, part 3): caps on bundle entries and findings, one deadline for it all."""

from __future__ import annotations

import time
from typing import Any

import pytest

import api.routes
from api.app import create_app
from audit import SqliteAuditStore
from dxsearch.intake import intake
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import MARFAN_FINDINGS, api_settings, audit_count, auth, observation, patient_bundle, running

#: Six distinct HPO-coded findings (three of the Marfan set and three more).
SIX_FINDINGS = [
    *MARFAN_FINDINGS,
    ("HP:0000768", "Pectus carinatum"),
    ("HP:0002616", "Aortic root aneurysm"),
    ("HP:0000545", "Myopia"),
]


def _big_bundle(observations: int) -> dict[str, Any]:
    bundle = patient_bundle()
    bundle["entry"] += [
        {"resource": observation(f"HP:{9_000_000 + number:07d}", f"Finding {number}")} for number in range(observations)
    ]
    return bundle


def test_a_bundle_of_10000_observations_is_refused_with_the_cap_named(
    test_settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    # The body limit is raised so that it is the entry cap, not the byte limit, that answers.
    settings = api_settings(test_settings, max_request_bytes=4 * 1024 * 1024)
    with running(create_app(settings, index=index, policy=policy, audit_store=store)) as client:
        before = audit_count(store)
        response = client.post("/v1/diagnose", json={"bundle": _big_bundle(10_000)}, headers=auth("clinician"))
        assert response.status_code == 413, response.text
        assert f"{len(MARFAN_FINDINGS) + 1 + 10_000} entries" in response.json()["detail"]
        assert "DXSEARCH_MAX_BUNDLE_ENTRIES" in response.json()["detail"]
        assert response.json()["path"] == "entry"
        assert audit_count(store) == before


def test_a_note_over_the_text_cap_is_a_422_counting_characters(
    test_settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    # It said "at most 100000 items": the length bound sat on the optional field, not on the string.
    settings = api_settings(test_settings, max_request_bytes=1024 * 1024)
    with running(create_app(settings, index=index, policy=policy, audit_store=store)) as client:
        before = audit_count(store)
        response = client.post("/v1/diagnose", json={"text": "a" * 100_001}, headers=auth("clinician"))
        assert response.status_code == 422, response.text
        assert "body.text: String should have at most 100000 characters" in response.json()["detail"]
        assert audit_count(store) == before


@pytest.mark.parametrize("how", ["bundle", "findings"])
def test_a_case_over_the_findings_cap_is_a_422_naming_it(
    test_settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore, how: str
) -> None:
    settings = api_settings(test_settings, max_case_findings=5)
    body: dict[str, Any] = (
        {"bundle": patient_bundle(SIX_FINDINGS)} if how == "bundle" else {"findings": [d for _, d in SIX_FINDINGS]}
    )
    with running(create_app(settings, index=index, policy=policy, audit_store=store)) as client:
        before = audit_count(store)
        response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
        assert response.status_code == 422, response.text
        assert "6 findings" in response.json()["detail"] and "DXSEARCH_MAX_CASE_FINDINGS" in response.json()["detail"]
        assert audit_count(store) == before
        five = client.post("/v1/diagnose", json={"bundle": patient_bundle(SIX_FINDINGS[:5])}, headers=auth("clinician"))
        assert five.status_code == 200, five.text


def test_reading_the_case_counts_against_the_one_deadline(
    test_settings: Settings,
    index: EmbeddedIndex,
    policy: EvidencePolicy,
    store: SqliteAuditStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def slow_intake(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.5)
        return intake(*args, **kwargs)

    monkeypatch.setattr(api.routes, "intake", slow_intake)
    settings = api_settings(test_settings, policy_timeout_s=0.5)
    with running(create_app(settings, index=index, policy=policy, audit_store=store)) as client:
        before = audit_count(store)
        response = client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
        assert response.status_code == 504, response.text
        assert "0.5 s" in response.json()["detail"]
        assert audit_count(store) == before
