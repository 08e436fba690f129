"""The API end to end on real components: diagnoses with evidence, the audit record behind each, and refusals."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cds_text import SUMMARY_MAX_CHARS, markdown_text
from audit import AuditEntry, AuditRecord, SqliteAuditStore
from audit.merkle import verify_consistency, verify_inclusion
from audit.note import open_note
from audit.signing import raw_public_bytes
from dxsearch.cases import Case
from dxsearch.episode import Exchange
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import (
    KEYS,
    MARFAN_FINDINGS,
    PHI_STRINGS,
    api_settings,
    audit_count,
    auth,
    diagnosed_keeping_none_of,
    log_size,
    observation,
    patient_bundle,
    patient_resource,
    running,
    stored_bytes,
)

NOTE = "Fourteen-year-old girl, very tall, with arachnodactyly, ectopia lentis and aortic root dilatation. No seizures."


def test_diagnose_by_findings_returns_evidence_and_an_audit_record(client: TestClient, store: SqliteAuditStore) -> None:
    before = audit_count(store)
    body = {
        "findings": ["HP:0001166", {"label": "Ectopia lentis", "hpo_id": "HP:0001083"}, "Tall stature"],
        "sex": "female",
        "age": 14,
    }
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["outcome"] == "diagnosed" and data["model_version"] == "evidence@2"
    top = data["diagnoses"][0]
    assert top["code"] == "OMIM:154700" and top["name"]
    assert top["evidence"], "a diagnosis without evidence"
    cited = {e["evidence_id"]: e for e in top["evidence"]}
    assert "omim:154700#0" in cited
    link = cited["omim:154700#0"]
    assert link["doc_id"] == "omim:154700" and link["kind"] == "disease_knowledge" and link["mentions_diagnosis"]
    assert "Arachnodactyly" in link["supports"]
    assert audit_count(store) == before + 1

    record = client.get(f"/v1/traces/{data['audit_id']}", headers=auth("clinician"))
    assert record.status_code == 200
    stored = record.json()
    assert stored["trace"] == data["trace"]
    assert stored["request_id"] == response.headers["X-Request-ID"] == data["request_id"]
    assert stored["actor_role"] == "clinician" and KEYS["clinician"] not in json.dumps(stored)
    assert stored["patient_pseudonym"] is None  # no patient identifier was given
    assert {"code": "OMIM:154700", "name": top["name"]} in stored["diagnoses"]
    assert "omim:154700" in stored["evidence_ids"]
    assert stored["index_version"] == data["index_version"]


def test_diagnose_by_text_extracts_findings_and_keeps_the_note_out_of_the_record(
    client: TestClient, store: SqliteAuditStore
) -> None:
    response = client.post("/v1/diagnose", json={"text": NOTE}, headers=auth("admin"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["diagnoses"] and data["diagnoses"][0]["code"] == "OMIM:154700"
    findings = {f["hpo_id"]: f for f in data["trace"]["case"]["findings"]}
    assert "HP:0001166" in findings and findings.get("HP:0001250", {}).get("excluded") is True
    record = store.get(data["audit_id"])
    assert record is not None
    assert NOTE not in json.dumps(record.to_json()) and "Fourteen-year-old girl" not in json.dumps(data)


def test_diagnose_by_bundle_pseudonymises_the_patient(client: TestClient, store: SqliteAuditStore) -> None:
    response = client.post("/v1/diagnose", json={"bundle": patient_bundle()}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["diagnoses"][0]["code"] == "OMIM:154700"
    assert data["trace"]["case"]["age"] == "P14Y"  # from the birth date, which itself is not kept
    record = store.get(data["audit_id"])
    assert record is not None and record.patient_pseudonym == data["trace"]["case"]["pseudonym"]
    written = json.dumps(record.to_json()) + response.text
    for phi in PHI_STRINGS:
        assert phi not in written
    # The same patient again: the same pseudonym, so an auditor finds both decisions.
    again = client.post("/v1/diagnose", json={"bundle": patient_bundle()}, headers=auth("clinician")).json()
    assert again["trace"]["case"]["pseudonym"] == record.patient_pseudonym
    found = client.get("/v1/traces", params={"patient": record.patient_pseudonym}, headers=auth("auditor"))
    assert found.status_code == 200
    assert {r["record_id"] for r in found.json()["records"]} >= {data["audit_id"], again["audit_id"]}


def _streamed(body: bytes, chunk: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(body), chunk):
        yield body[start : start + chunk]


def _bundle_with_script() -> dict[str, Any]:
    return patient_bundle([("HP:0001166", "<script>alert(1)</script>")])


def _malformed_bundle() -> dict[str, Any]:
    bundle = patient_bundle()
    bundle["entry"][1]["resource"]["valueBoolean"] = "maybe"
    return bundle


# (name, role or None, request kwargs, expected status, words the message must contain)
REJECTIONS: list[tuple[str, str | None, dict[str, Any], int, Sequence[str]]] = [
    ("no key", None, {"json": {"findings": ["Tall stature"]}}, 401, ["missing API key"]),
    ("unknown key", "bogus", {"json": {"findings": ["Tall stature"]}}, 401, ["unknown API key"]),
    ("auditor may not diagnose", "auditor", {"json": {"findings": ["Tall stature"]}}, 403, ["auditor", "clinician"]),
    ("data team may not diagnose", "data_team", {"json": {"findings": ["Tall stature"]}}, 403, ["data_team"]),
    (
        "oversized by Content-Length",
        "clinician",
        {"json": {"text": "tall " * 20_000}},
        413,
        ["larger than the limit"],
    ),
    (
        "oversized while streaming",
        "clinician",
        {"content": _streamed(json.dumps({"text": "tall " * 20_000}).encode())},
        413,
        ["larger than the limit"],
    ),
    ("malformed JSON", "clinician", {"content": b'{"findings": ["Tall stature",]', "json_header": True}, 400, ["JSON"]),
    ("not a JSON object", "clinician", {"json": ["Tall stature"]}, 422, ["invalid request"]),
    ("two inputs", "clinician", {"json": {"text": NOTE, "findings": ["Tall stature"]}}, 422, ["exactly one"]),
    ("no input", "clinician", {"json": {"sex": "female"}}, 422, ["exactly one"]),
    ("unknown field", "clinician", {"json": {"finding": ["Tall stature"]}}, 422, ["finding"]),
    ("script tag in findings", "clinician", {"json": {"findings": ["<script>alert(1)</script>"]}}, 422, ["'<'"]),
    (
        "script tag in a finding object",
        "clinician",
        {"json": {"findings": [{"label": "Tall <b>stature</b>"}]}},
        422,
        ["findings[0].label"],
    ),
    ("script tag in a bundle", "clinician", {"json": {"bundle": _bundle_with_script()}}, 422, ["'<'"]),
    ("malformed bundle", "clinician", {"json": {"bundle": _malformed_bundle()}}, 422, ["entry[1]", "valueBoolean"]),
    (
        "not a bundle",
        "clinician",
        {"json": {"bundle": {"resourceType": "Patient"}}},
        422,
        ["resourceType"],
    ),
    # A note in which nothing was understood is an audited "insufficient evidence" (test_diagnose_input.py); one that
    # names findings only as absent was understood, and is refused saying so.
    (
        "only absent findings in the text",
        "clinician",
        {"json": {"text": "No seizures. No microcephaly."}},
        422,
        ["only as absent"],
    ),
    (
        "only excluded findings",
        "clinician",
        {"json": {"findings": [{"label": "Seizure", "excluded": True}]}},
        422,
        ["no observed finding"],
    ),
    # dxsearch diagnose --case refuses the same body in a .json file with the same words (tests/dxsearch/test_cli.py)
    ("empty findings", "clinician", {"json": {"findings": []}}, 422, ["the case has no observed finding"]),
    ("unknown HPO term", "clinician", {"json": {"findings": ["HP:9999999"]}}, 422, ["unknown HPO term"]),
    ("bad age", "clinician", {"json": {"findings": ["Tall stature"], "age": "fourteen"}}, 422, ["ISO 8601"]),
]


@pytest.mark.parametrize(
    ("role", "kwargs", "status", "words"),
    [r[1:] for r in REJECTIONS],
    ids=[r[0] for r in REJECTIONS],
)
def test_rejected_requests_get_the_right_4xx_and_write_nothing(
    client: TestClient,
    store: SqliteAuditStore,
    role: str | None,
    kwargs: dict[str, Any],
    status: int,
    words: Sequence[str],
) -> None:
    kwargs = dict(kwargs)
    headers: dict[str, str] = {}
    if role == "bogus":
        headers["X-API-Key"] = "not-a-configured-key-at-all"
    elif role is not None:
        headers.update(auth(role))
    if kwargs.pop("json_header", False):
        headers["Content-Type"] = "application/json"
    before = audit_count(store)
    response = client.post("/v1/diagnose", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
    assert audit_count(store) == before
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_malformed_bundle_names_the_path(client: TestClient) -> None:
    response = client.post("/v1/diagnose", json={"bundle": _malformed_bundle()}, headers=auth("clinician"))
    assert response.status_code == 422
    assert response.json()["path"] == "entry[1].resource.valueBoolean"
    assert response.json()["reason"]


class FailingStore(SqliteAuditStore):
    """A real store whose appends fail as a full or broken disk would make them fail."""

    def append(self, entry: AuditEntry) -> AuditRecord:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_failed_audit_append_returns_503_and_no_diagnosis(
    tmp_path: Any, settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy
) -> None:
    failing = FailingStore(tmp_path / "audit.db")
    try:
        app = create_app(settings, index=index, policy=policy, audit_store=failing)
        with running(app) as client:
            response = client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
        assert response.status_code == 503
        assert "audit log" in response.json()["detail"] and "diagnoses" not in response.json()
        assert audit_count(failing) == 0
    finally:
        failing.close()


def test_verify_walks_the_chain(client: TestClient, store: SqliteAuditStore) -> None:
    client.post("/v1/diagnose", json={"findings": ["Arachnodactyly", "Tall stature"]}, headers=auth("clinician"))
    response = client.get("/v1/audit/verify", headers=auth("auditor"))
    assert response.status_code == 200
    report = response.json()
    # the run then records itself (action verify): the next run verifies that event
    assert report["ok"] is True and report["records_checked"] == log_size(store) - 1 > 0
    assert report["checkpoints_checked"] >= 1 and report["trusted_key_fingerprint"]
    assert client.get("/v1/audit/verify", headers=auth("clinician")).status_code == 403


def test_auditors_poll_checkpoints_and_proofs(client: TestClient, store: SqliteAuditStore) -> None:
    for _ in range(2):
        client.post("/v1/diagnose", json={"findings": ["Arachnodactyly"]}, headers=auth("clinician"))
    assert client.get("/v1/audit/checkpoint", headers=auth("clinician")).status_code == 403
    kept = client.get("/v1/audit/checkpoint", headers=auth("auditor")).json()
    size = kept["tree_size"]
    assert size >= 2 and kept["note"].startswith(f"dxsearch/audit\n{size}\n")
    assert open_note(kept["note"], store.signer.public_key, raw_public_bytes(store.signer.public_key)).size == size  # type: ignore[union-attr]

    client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
    proof = client.get(f"/v1/audit/proof/consistency?from={size}", headers=auth("auditor")).json()
    # the proof's read is an access event appended after the proof was made: the log is one record longer
    assert proof["old_root"] == kept["root_hash"] and proof["new_size"] == log_size(store) - 1
    path = [bytes.fromhex(h) for h in proof["path"]]
    new_root = bytes.fromhex(proof["new_root"])
    assert verify_consistency(size, proof["new_size"], bytes.fromhex(kept["root_hash"]), new_root, path)

    inclusion = client.get("/v1/audit/proof/inclusion?seq=1", headers=auth("auditor")).json()
    path = [bytes.fromhex(h) for h in inclusion["path"]]
    leaf = bytes.fromhex(inclusion["leaf_hash"])
    assert verify_inclusion(leaf, 0, inclusion["tree_size"], path, bytes.fromhex(inclusion["root_hash"]))

    for query in ("consistency?from=999999", "consistency?from=0", "inclusion?seq=999999", "inclusion?seq=1&size=0"):
        assert client.get(f"/v1/audit/proof/{query}", headers=auth("auditor")).status_code == 422, query


def test_every_read_of_a_checkpoint_or_a_proof_is_an_access_event_named_in_the_response(
    client: TestClient, store: SqliteAuditStore
) -> None:
    """``GET /v1/audit/verify`` recorded its run, while an auditor's reads of the latest checkpoint and of the
    consistency and inclusion proofs left no trace: each is an access event now, in the same way (action
    ``verify``, what was asked for in ``filters``, the event named in ``X-Audit-Access-Id``)."""
    client.post("/v1/diagnose", json={"findings": ["Arachnodactyly", "Tall stature"]}, headers=auth("clinician"))
    checkpoint = client.get("/v1/audit/checkpoint", headers=auth("auditor"))
    assert checkpoint.status_code == 200, checkpoint.text
    size = checkpoint.json()["tree_size"]
    reads = [
        (checkpoint, "/v1/audit/checkpoint", {"tree_size": size}),
        (
            client.get("/v1/audit/proof/consistency", params={"from": size, "to": size}, headers=auth("auditor")),
            "/v1/audit/proof/consistency",
            {"from": size, "to": size},
        ),
        (
            client.get("/v1/audit/proof/inclusion", params={"seq": 1, "size": size}, headers=auth("admin")),
            "/v1/audit/proof/inclusion",
            {"seq": 1, "size": size},
        ),
    ]
    for response, route, filters in reads:
        assert response.status_code == 200, response.text
        event = store.get(response.headers["X-Audit-Access-Id"])
        assert event is not None and event.outcome == "access"
        assert event.request_id == response.headers["X-Request-ID"] and event.patient_pseudonym is None
        assert event.actor_role == ("admin" if route.endswith("inclusion") else "auditor")
        assert event.trace == {
            "event": "access",
            "action": "verify",
            "purpose": "audit",
            "records": [],
            "filters": filters,
            "route": route,
        }
    # A proof asked of a tree the log does not have reads nothing: a 422, and no event.
    before = log_size(store)
    refused = client.get("/v1/audit/proof/inclusion", params={"seq": 999999}, headers=auth("auditor"))
    assert refused.status_code == 422 and "X-Audit-Access-Id" not in refused.headers
    assert log_size(store) == before


def test_auditors_query_by_diagnosis_and_evidence_with_pagination(client: TestClient) -> None:
    for _ in range(2):
        client.post("/v1/diagnose", json={"findings": [c for c, _ in MARFAN_FINDINGS]}, headers=auth("clinician"))
    params: dict[str, Any] = {"diagnosis": "omim:154700", "evidence": "omim:154700#0", "limit": 1}
    first = client.get("/v1/traces", params=params, headers=auth("auditor"))
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["records"]) == 1 and page["next_cursor"] and "trace" not in page["records"][0]
    second = client.get("/v1/traces", params={**params, "cursor": page["next_cursor"]}, headers=auth("admin"))
    assert second.json()["records"][0]["seq"] < page["records"][0]["seq"]  # newest first by default
    oldest = client.get("/v1/traces", params={**params, "order": "asc"}, headers=auth("auditor")).json()
    after = client.get(
        "/v1/traces", params={**params, "order": "asc", "cursor": oldest["next_cursor"]}, headers=auth("auditor")
    ).json()
    assert oldest["records"][0]["seq"] < after["records"][0]["seq"]
    since = client.get(
        "/v1/traces", params={"since": "2999-01-01T00:00:00Z", "include_trace": True}, headers=auth("auditor")
    )
    assert since.json() == {"records": [], "next_cursor": None}
    assert client.get(f"/v1/traces/{uuid.uuid4()}", headers=auth("auditor")).status_code == 404
    assert client.get("/v1/traces/nope", headers=auth("auditor")).status_code == 422  # not a record id at all


def test_corpus_and_documents_for_any_role(client: TestClient, index: EmbeddedIndex) -> None:
    corpus = client.get("/v1/corpus", headers=auth("data_team"))
    assert corpus.status_code == 200
    assert corpus.json()["index_version"] == index.version
    assert corpus.json()["counts"]["documents"]["disease_knowledge"] == 3

    response = client.get("/v1/documents/gl:0123456789abcdef%231", headers=auth("auditor"))
    assert response.status_code == 200, response.text
    passage = response.json()
    document = passage["document"]
    assert document["text"][passage["start"] : passage["end"]] == passage["passage"]
    assert passage["start"] > 0 and passage["section"] and document["licence"] == "CC0-1.0"
    assert document["kind"] == "guideline" and document["title"] == "Test guideline on sweat testing"

    assert client.get("/v1/documents/omim:000000%230", headers=auth("clinician")).status_code == 404
    malformed = client.get("/v1/documents/not-an-evidence-id", headers=auth("clinician"))
    assert malformed.status_code == 400 and "doc_id#n" in malformed.json()["detail"]
    assert client.get("/v1/documents/omim:154700%230").status_code == 401


def test_probes_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["policy"] == "evidence"
    schema = client.get("/openapi.json").json()
    assert {"/v1/diagnose", "/v1/traces/{audit_id}", "/cds-services"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 404  # no Swagger UI from a CDN
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code[0] == "4":
                    assert response["content"]["application/json"]["schema"] == error, (path, method, code)
    diagnose = schema["paths"]["/v1/diagnose"]["post"]["responses"]
    assert {"400", "401", "403", "413", "422", "429", "503", "504"} <= set(diagnose)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


class GatedPolicy:
    """The evidence policy, held back until the test opens the gate (a slow warm-up made deterministic)."""

    name = "evidence"
    version = "1"

    def __init__(self, inner: EvidencePolicy) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        assert self.gate.wait(30)
        return self.inner.next_turn(case, history)


def test_readyz_is_503_until_the_policy_is_warm(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    gated = GatedPolicy(policy)
    app = create_app(settings, index=index, policy=gated, audit_store=store)
    with running(app, ready=False) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["ready"] is False
        before = audit_count(store)
        early = client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
        assert early.status_code == 503 and audit_count(store) == before
        gated.gate.set()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


class SlowPolicy:
    name = "slow"
    version = "test"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        time.sleep(1.0)
        return "<diagnose>insufficient evidence</diagnose>"


def test_a_slow_policy_times_out_with_504_and_no_record(
    test_settings: Settings, index: EmbeddedIndex, store: SqliteAuditStore
) -> None:
    slow = api_settings(test_settings, policy_timeout_s=0.2)
    app = create_app(slow, index=index, policy=SlowPolicy(), audit_store=store)
    with running(app) as client:
        before = audit_count(store)
        response = client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
        assert response.status_code == 504 and "0.2 s" in response.json()["detail"]
        assert audit_count(store) == before


def test_rate_limit_per_key(
    test_settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    limited = api_settings(test_settings, rate_limit_per_minute=3)
    app = create_app(limited, index=index, policy=policy, audit_store=store)
    with running(app) as client:
        statuses = [client.get("/v1/corpus", headers=auth("clinician")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/v1/corpus", headers=auth("clinician"))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "rate limit" in limited.json()["detail"]
        assert client.get("/v1/corpus", headers=auth("auditor")).status_code == 200  # another key, another bucket


def _cds_request(prefetch: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        "prefetch": prefetch,
    }


def test_cds_hooks_discovery_and_patient_view_cards(client: TestClient, store: SqliteAuditStore) -> None:
    discovery = client.get("/cds-services")
    assert discovery.status_code == 200
    (service,) = discovery.json()["services"]
    assert service["hook"] == "patient-view" and "patient" in service["prefetch"]

    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": observation(c, d)} for c, d in MARFAN_FINDINGS],
    }
    prefetch = {"patient": patient_resource(), "observations": searchset, "conditions": None}
    before = audit_count(store)
    response = client.post(f"/cds-services/{service['id']}", json=_cds_request(prefetch), headers=auth("clinician"))
    assert response.status_code == 200, response.text
    card, steps = response.json()["cards"]
    assert len(card["summary"]) <= SUMMARY_MAX_CHARS and "Marfan" in card["summary"]
    assert card["indicator"] == "info" and card["source"]["label"] == "DxSearch"
    assert "Marfan" in card["detail"]
    # each line says what the diagnosis weighs: its probability and how many of the findings it explains
    marfan_line = next(line for line in card["detail"].splitlines() if "**Marfan syndrome**" in line)
    said = r": probability (\d\.\d\d|under 0\.01|over 0\.99); explains \d+ of (\d+) findings; evidence: "
    weighed = re.search(said, marfan_line)
    assert weighed is not None and int(weighed.group(2)) == len(MARFAN_FINDINGS)
    (link,) = card["links"]
    assert link["type"] == "absolute" and "/viewer/?trace=" in link["url"]
    audit_id = link["url"].rpartition("=")[2]
    # The second card: the decision's next steps, as its trace holds them (questions, gene panel).
    planned = client.get(f"/v1/traces/{audit_id}", headers=auth("clinician")).json()["trace"]["next_steps"]
    asked = [q["label"] for q in planned["questions"][:3]]
    # questions first when any would move the candidates (a near-certain differential leaves none to ask)
    opening = f"Next steps: ask about {asked[0]}" if asked else "Next steps: test "
    assert len(steps["summary"]) <= SUMMARY_MAX_CHARS and steps["summary"].startswith(opening)
    assert "FBN1" in steps["summary"]
    assert steps["indicator"] == "info" and steps["source"]["label"] == "DxSearch" and steps["uuid"] != card["uuid"]
    assert all(f"**{markdown_text(label)}**" in steps["detail"] for label in asked)
    assert "- **FBN1**: Marfan syndrome (\\#1)" in steps["detail"]
    assert [(x["url"], x["type"]) for x in steps["links"]] == [(link["url"], "absolute")]
    assert audit_count(store) == before + 1
    assert client.get(f"/v1/traces/{audit_id}", headers=auth("clinician")).status_code == 200
    for phi in PHI_STRINGS:
        assert phi not in response.text

    # No findings: no card and no record; no prefetch: 412; wrong role: 403.
    empty = client.post(
        f"/cds-services/{service['id']}", json=_cds_request({"patient": patient_resource()}), headers=auth("clinician")
    )
    assert empty.status_code == 200 and empty.json() == {"cards": []}
    missing = client.post(f"/cds-services/{service['id']}", json=_cds_request(None), headers=auth("clinician"))
    assert missing.status_code == 412 and "prefetch" in missing.json()["detail"]
    forbidden = client.post(f"/cds-services/{service['id']}", json=_cds_request(prefetch), headers=auth("auditor"))
    assert forbidden.status_code == 403
    assert audit_count(store) == before + 1
    feedback = client.post(
        f"/cds-services/{service['id']}/feedback",
        json={"feedback": [{"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2025-07-05T09:00:00Z"}]},
        headers=auth("clinician"),
    )
    assert feedback.status_code == 200
    # A body that is not JSON is told to send JSON, as /v1/diagnose tells it (not "a valid dictionary").
    plain = client.post(
        f"/cds-services/{service['id']}",
        content=b"hook=patient-view",
        headers={**auth("clinician"), "Content-Type": "text/plain"},
    )
    assert plain.status_code == 422 and "must be JSON" in plain.text and "dictionary" not in plain.text


def test_logs_carry_request_ids_and_no_phi(client: TestClient, log_stream: io.StringIO) -> None:
    start = log_stream.tell()
    ok = client.post("/v1/diagnose", json={"bundle": patient_bundle()}, headers=auth("clinician"))
    bad = client.post("/v1/diagnose", json={"bundle": _malformed_bundle()}, headers=auth("clinician"))
    note = client.post("/v1/diagnose", json={"text": NOTE, "patient_id": "MRN-7734-SECRET"}, headers=auth("clinician"))
    assert (ok.status_code, bad.status_code, note.status_code) == (200, 422, 200)
    written = log_stream.getvalue()[start:]
    lines = [json.loads(line) for line in written.splitlines() if line.strip()]
    requests = [line for line in lines if line.get("event") == "request"]
    assert {r["request_id"] for r in requests} >= {ok.headers["X-Request-ID"], bad.headers["X-Request-ID"]}
    first = next(r for r in requests if r["request_id"] == ok.headers["X-Request-ID"])
    assert first["route"] == "/v1/diagnose" and first["status"] == 200 and first["role"] == "clinician"
    assert first["actor_id"] and first["audit_id"] == ok.json()["audit_id"] and first["duration_ms"] > 0
    for phi in (*PHI_STRINGS, NOTE, "arachnodactyly", "Arachnodactyly", KEYS["clinician"]):
        assert phi not in written, phi


def test_a_missing_index_leaves_the_app_unready_with_a_reason(
    tmp_path: Any, test_settings: Settings, store: SqliteAuditStore
) -> None:
    app = create_app(api_settings(test_settings, index=tmp_path / "no-index"), audit_store=store)
    with running(app, ready=False) as client:
        deadline = time.monotonic() + 30
        while (state := client.get("/readyz").json())["state"] == "starting":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert state["state"] == "failed" and "warm-up failed" in state["reason"]
        assert client.get("/readyz").status_code == 503
        assert client.get("/v1/corpus", headers=auth("clinician")).status_code == 503


def test_the_account_of_the_input_is_returned_and_recorded(client: TestClient, store: SqliteAuditStore) -> None:
    body = {"findings": ["Arachnodactyly", "Ectopia lentis", "Tall stature", "wobbly florp"], "sex": "female"}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    account = data["account"]
    assert account == data["trace"]["input_account"]
    assert [m["hpo_id"] for m in account["mapped"]] == ["HP:0001166", "HP:0001083", "HP:0000098"]
    assert account["not_understood"] == [
        {
            "path": "findings[3]",
            "span": [0, 12],
            "given": None,  # by position only, as a note's words: free text in a list may be PHI
            "reason": "no HPO term matches these words",
            "category": "not_understood",  # what kind of entry: consumers sort by it, not by the reason's words
            "words_searched": True,  # kept in the case by its words: retrieval searches them
        }
    ]
    assert "wobbly florp" not in json.dumps(data)
    # Coverage counts over everything entered: the finding not understood is one the diagnosis does not explain.
    reasoning = "\n".join(turn["text"] for turn in data["trace"]["turns"])
    assert "/4 findings" in reasoning and "/3 findings" not in reasoning
    record = store.get(data["audit_id"])
    assert record is not None and record.to_json()["trace"]["input_account"] == account


PHI_ITEM = "Patient Zebedee Quixotic NHS 9434765919"
PHI_WORDS = ("Zebedee", "Quixotic", "9434765919", "zebedee", "ZEBEDEE")


def test_words_beside_a_term_in_a_findings_item_are_kept_out_of_the_record(
    client: TestClient, store: SqliteAuditStore
) -> None:
    # A second user test: "Arachnodactyly John Smith" read Arachnodactyly and kept the whole item (the case's
    # finding label, the account's given) in the append-only log; "Patient Amelia ..." read Amelia (absent limbs).
    body = {"findings": ["Arachnodactyly John Smith", "Ectopia lentis", "Tall stature", "Patient Amelia Quixotic"]}
    data = diagnosed_keeping_none_of(client, store, body, ("John", "Amelia", "Quixotic"))
    account = data["account"]
    first = next(m for m in account["mapped"] if m["path"] == "findings[0]")
    assert (first["hpo_id"], first["given"], first["span"]) == ("HP:0001166", None, [0, 14])
    assert "HP:0009827" not in {m["hpo_id"] for m in account["mapped"]}  # Amelia, a name here: no finding
    assert [n["path"] for n in account["not_understood"]] == ["findings[3]"]


def test_a_findings_list_item_not_understood_is_kept_out_of_the_record_as_a_notes_words_are(
    client: TestClient, store: SqliteAuditStore, log_stream: io.StringIO
) -> None:
    # A user test typed a patient's name and NHS number into the findings list: it was stored word for word in
    # the append-only log (the case, the turns that searched it, the account) while the same words in a note
    # were not. An item not understood is free text, so it is kept as a note's words are: by position only.
    start = log_stream.tell()
    body = {"findings": ["Arachnodactyly", "Ectopia lentis", "Tall stature", PHI_ITEM, "Zebedee Quixotic, Scoliosis"]}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["diagnoses"][0]["code"] == "OMIM:154700"  # the understood findings still diagnose
    record = store.get(data["audit_id"])
    assert record is not None
    stored = json.dumps(record.to_json())
    for written in (stored, response.text, log_stream.getvalue()[start:]):
        for word in PHI_WORDS:
            assert word not in written, word
    store_bytes = stored_bytes(store)
    for word in PHI_WORDS:
        assert word.encode() not in store_bytes, word
    # The understood findings keep their labels; the item not understood is named by its path only.
    trace = record.trace
    labels = [f["label"] for f in trace["case"]["findings"]]  # type: ignore[index]
    assert labels[:3] == ["Arachnodactyly", "Ectopia lentis", "Tall stature"] and "Scoliosis" in labels
    assert "[words of findings[3] removed]" in labels and "[words of findings[4] removed]" in labels
    account = data["account"]
    assert {m["given"] for m in account["mapped"] if m["path"] != "findings[4]"} == {
        "Arachnodactyly",
        "Ectopia lentis",
        "Tall stature",
    }
    # Its understood part keeps its term, not the item's words (its ``given`` was the whole item).
    scoliosis = next(m for m in account["mapped"] if m["path"] == "findings[4]")
    assert scoliosis["label"] == "Scoliosis" and scoliosis["given"] is None and scoliosis["span"] == [18, 27]
    missed = {n["path"]: n for n in account["not_understood"]}
    assert missed["findings[3]"] == {
        "path": "findings[3]",
        "span": [0, len(PHI_ITEM)],
        "given": None,
        "reason": "no HPO term matches these words",
        "category": "not_understood",
        "words_searched": True,  # still searched within the request, never kept
    }
    assert missed["findings[4]"]["given"] is None and missed["findings[4]"]["span"] == [0, 16]
    # Searched within the request: the turns that searched it say so by the placeholder, and coverage counts it.
    reasoning = "\n".join(turn["text"] for turn in trace["turns"])  # type: ignore[index]
    assert "[words of findings[3] removed]" in reasoning and "/6 findings" in reasoning
    # The auditor's list row and a search by words find nothing of it.
    rows = client.get("/v1/traces", params={"limit": 5}, headers=auth("auditor")).json()["records"]
    row = next(r for r in rows if r["record_id"] == data["audit_id"])
    assert not any(word in json.dumps(row) for word in PHI_WORDS)
    # The same name in a note was already kept out: both inputs now leave the same nothing behind.
    note = client.post("/v1/diagnose", json={"text": f"{PHI_ITEM}. Arachnodactyly."}, headers=auth("clinician"))
    assert note.status_code == 200 and not any(word in note.text for word in PHI_WORDS)


def test_removing_an_item_not_understood_leaves_the_understood_labels_it_is_part_of(
    client: TestClient, store: SqliteAuditStore
) -> None:
    body = {"findings": ["Arachnodactyly", "Ectopia lentis", "Tall stature", "stature"]}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    trace = response.json()["trace"]
    labels = [f["label"] for f in trace["case"]["findings"]]
    assert labels == ["Arachnodactyly", "Ectopia lentis", "Tall stature", "[words of findings[3] removed]"]
    reasoning = "\n".join(turn["text"] for turn in trace["turns"])
    assert "Tall stature; [words of findings[3] removed]" in reasoning  # the term kept, the lone word removed
    record = store.get(response.json()["audit_id"])
    assert record is not None and record.trace == trace


@pytest.mark.parametrize(
    ("note", "findings", "within"),
    [
        ("14-year-old boy, tall stature, arachnodactyly, lens dislocation, aortic root dilatation", 4, 1),
        ("14 yo M. Marfanoid habitus, dislocated lenses bilaterally, dilated aortic root on echo", 3, 3),
    ],
)
def test_marfan_notes_through_the_api(client: TestClient, note: str, findings: int, within: int) -> None:
    response = client.post("/v1/diagnose", json={"text": note}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    case = data["trace"]["case"]
    assert (case["sex"], case["age"]) == ("male", "P14Y")
    assert len(case["findings"]) == findings
    assert data["account"]["not_understood"] == [] and data["account"]["age_from"] == "text"
    assert "OMIM:154700" in [d["code"] for d in data["diagnoses"][:within]]
    assert note not in json.dumps(data["account"])


@pytest.mark.parametrize(
    ("findings", "why"),
    [
        (["xyzzy plugh"], "no finding was understood"),
        (["Fever", "Cough"], "nonspecific"),
        (["Headache"], "nonspecific"),
    ],
)
def test_unsupported_findings_answer_insufficient_evidence_with_a_reason(
    client: TestClient, store: SqliteAuditStore, findings: list[str], why: str
) -> None:
    response = client.post("/v1/diagnose", json={"findings": findings}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["outcome"] == "insufficient_evidence" and data["diagnoses"] == []
    assert data["reason"] and why in data["reason"]
    assert data["trace"]["reason"] == data["reason"]
    assert data["stop_reason"] == "insufficient_evidence"
    record = store.get(data["audit_id"])
    assert record is not None and record.to_json()["trace"]["reason"] == data["reason"]


def test_confidence_is_a_probability_described_in_the_schema(client: TestClient) -> None:
    findings = ["Arachnodactyly", "Ectopia lentis", "Tall stature", "Aortic root aneurysm"]
    data = client.post("/v1/diagnose", json={"findings": findings}, headers=auth("clinician")).json()
    assert data["outcome"] == "diagnosed" and data["reason"] is None
    top = data["diagnoses"][0]
    assert top["code"] == "OMIM:154700"
    probabilities = [d["confidence"] for d in data["diagnoses"]]
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) <= 1.0 + 1e-6 and probabilities == sorted(probabilities, reverse=True)
    assert top["score"] == top["confidence"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "Probability" in schema["DiagnosisOut"]["properties"]["confidence"]["description"]
    assert "reason" in schema["DiagnoseResponse"]["properties"]


def test_a_server_plays_the_shipped_learned_policy_unless_told_otherwise(
    settings: Settings, index: EmbeddedIndex, store: SqliteAuditStore
) -> None:
    """No policy handed in: the app builds `Settings.policy`, by default the learned policy's shipped weights."""
    assert settings.policy == "learned"
    with running(create_app(settings, index=index, audit_store=store)) as served:
        assert served.get("/readyz").json()["policy"] == "learned"
        findings = ["Arachnodactyly", "Ectopia lentis", "Tall stature", "Aortic root aneurysm"]
        data = served.post("/v1/diagnose", json={"findings": findings}, headers=auth("clinician")).json()
        assert data["trace"]["policy"]["name"] == "learned"
        assert data["diagnoses"][0]["code"] == "OMIM:154700"
        confidences = [d["confidence"] for d in data["diagnoses"]]
        assert 0.2 <= confidences[0] < 1.0 and confidences == sorted(confidences, reverse=True)
        reasoning = "\n".join(turn["text"] for turn in data["trace"]["turns"])
        assert "p = calibrated probability" in reasoning and "integrated gradients" in reasoning
        nonsense = served.post("/v1/diagnose", json={"findings": ["xyzzy plugh"]}, headers=auth("clinician")).json()
        assert nonsense["outcome"] == "insufficient_evidence" and "no finding was understood" in nonsense["reason"]
