"""Reading the audit log (issue 16 part 4, issue 17 auditor): by relationship, break-glass, every read audited.

Two clinicians, an auditor and an admin share one app and one log. An auditor answers "why did the system
suggest X for patient P on date D, from which evidence, and is that evidence still the same?" through the
API alone.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from pydantic import SecretStr

from api.app import create_app
from audit import AuditEntry, AuditQuery, AuditRecord, Diagnosis, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import KEYS, MARFAN_FINDINGS, access_count, audit_count, auth, patient_bundle, running

OTHER_CLINICIAN_KEY = "second-clinician-test-key-05"
MRN = "MRN-2231-AUDITED"


def other() -> dict[str, str]:
    return {"Authorization": f"Bearer {OTHER_CLINICIAN_KEY}"}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteAuditStore]:
    opened = SqliteAuditStore(tmp_path_factory.mktemp("access") / "audit.db")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def app_client(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, log: SqliteAuditStore
) -> Iterator[TestClient]:
    spec = ",".join(f"{key}:{role}" for role, key in KEYS.items()) + f",{OTHER_CLINICIAN_KEY}:clinician"
    app = create_app(
        settings.model_copy(update={"api_keys": SecretStr(spec)}), index=index, policy=policy, audit_store=log
    )
    with running(app) as started:
        yield started


def _diagnose(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/diagnose", json=body or {"findings": [c for c, _ in MARFAN_FINDINGS]}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _access(log: SqliteAuditStore, response: Any) -> AuditRecord:
    """The access event a response says it wrote (X-Audit-Access-Id)."""
    record = log.get(response.headers["X-Audit-Access-Id"])
    assert record is not None and record.outcome == "access"
    return record


def test_a_clinician_reads_its_own_decisions_and_each_read_is_an_access_event(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    mine = _diagnose(app_client, auth("clinician"))
    decision = log.get(mine["audit_id"])
    assert decision is not None and KEYS["clinician"] not in json.dumps(decision.to_json())
    reads = access_count(log)
    response = app_client.get(f"/v1/traces/{mine['audit_id']}", headers=auth("clinician"))
    assert response.status_code == 200, response.text
    assert access_count(log) == reads + 1
    event = _access(log, response)
    assert event.actor_id == decision.actor_id and event.actor_role == "clinician"
    assert event.trace["action"] == "read" and event.trace["purpose"] == "treatment"
    assert event.trace["records"] == [mine["audit_id"]] and event.request_id == response.headers["X-Request-ID"]

    # Another clinician's key made a different actor id: its decision is not the first one's to read.
    theirs = _diagnose(app_client, other())
    assert log.get(theirs["audit_id"]).actor_id != decision.actor_id  # type: ignore[union-attr]
    reads = access_count(log)
    denied = app_client.get(f"/v1/traces/{theirs['audit_id']}", headers=auth("clinician"))
    assert denied.status_code == 403 and "break-glass" in denied.json()["detail"]
    assert "trace" not in denied.json()
    # The refused attempt is on record all the same (it was not: a denied read is what an auditor asks about).
    assert access_count(log) == reads + 1
    [attempt] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    assert attempt.trace["denied"] is True and attempt.trace["records"] == [theirs["audit_id"]]
    assert (
        attempt.actor_id == decision.actor_id
        and attempt.patient_pseudonym == log.get(theirs["audit_id"]).patient_pseudonym
    )  # type: ignore[union-attr]
    assert attempt.request_id == denied.headers["X-Request-ID"]
    # Its 403 names the access event it wrote, as every other recorded refusal does (a review found it did not).
    assert _access(log, denied).record_id == attempt.record_id

    # A clinician lists only its own decisions, newest first, and never the access events.
    listed = app_client.get("/v1/traces", headers=auth("clinician"))
    assert listed.status_code == 200
    ids = [r["record_id"] for r in listed.json()["records"]]
    assert mine["audit_id"] in ids and theirs["audit_id"] not in ids
    assert all(r["actor_id"] == decision.actor_id and r["outcome"] != "access" for r in listed.json()["records"])
    reads = access_count(log)
    assert app_client.get("/v1/traces", params={"kind": "access"}, headers=auth("clinician")).status_code == 403
    assert access_count(log) == reads + 1  # the refused search too


def test_break_glass_reads_another_clinicians_decision_with_a_reason_on_record(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    theirs = _diagnose(app_client, other())
    route = f"/v1/traces/{theirs['audit_id']}/break-glass"
    for reason in ("", "urgent", "needed \u202e now for care", "needed\tnow for care", "needed\nnow for care"):
        refused = app_client.post(route, json={"reason": reason}, headers=auth("clinician"))
        assert refused.status_code == 422 and "reason" in refused.json()["detail"], reason
    assert app_client.post(route, json={}, headers=auth("clinician")).status_code == 422
    assert app_client.post(route, json={"reason": "x" * 20}, headers=auth("auditor")).status_code == 403
    unknown = app_client.post(
        f"/v1/traces/{uuid.uuid4()}/break-glass", json={"reason": "x" * 20}, headers=auth("clinician")
    )
    assert unknown.status_code == 404
    not_an_id = app_client.post(
        "/v1/traces/no-such-record/break-glass", json={"reason": "x" * 20}, headers=auth("clinician")
    )
    assert not_an_id.status_code == 422 and "not an audit record id" in not_an_id.json()["detail"]

    reason = "patient transferred to my care overnight"
    response = app_client.post(route, json={"reason": reason}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    assert response.json()["record_id"] == theirs["audit_id"] and response.json()["trace"] == theirs["trace"]
    event = _access(log, response)
    assert event.trace["purpose"] == "break-glass" and event.trace["reason"] == reason
    assert event.trace["route"] == "/v1/traces/{audit_id}/break-glass"

    # Auditors find break-glass reads among the access events, newest first, and export them as FHIR reads.
    found = app_client.get("/v1/traces", params={"kind": "access", "include_trace": True}, headers=auth("auditor"))
    rows = found.json()["records"]
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    assert any(r["record_id"] == event.record_id and r["trace"]["reason"] == reason for r in rows)
    exported = app_client.get("/v1/audit/export", params={"kind": "access"}, headers=auth("auditor"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(exported.json())
    events = [e.resource for e in bundle.entry if isinstance(e.resource, AuditEvent)]
    btg = [e for e in events if e.id == event.record_id]
    assert len(btg) == 1 and btg[0].action == "R" and btg[0].purposeOfEvent[0].coding[0].code == "BTG"
    assert btg[0].purposeOfEvent[0].text == reason
    assert log.count(AuditQuery(kind="access")) >= 2


def test_auditors_read_everything_and_their_reads_are_audited_too(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    theirs = _diagnose(app_client, other())
    response = app_client.get(f"/v1/traces/{theirs['audit_id']}", headers=auth("auditor"))
    assert response.status_code == 200
    event = _access(log, response)
    assert event.actor_role == "auditor" and event.trace["purpose"] == "audit"
    # An access event is itself a record auditors can read (and that read is one more access event).
    again = app_client.get(f"/v1/traces/{event.record_id}", headers=auth("admin"))
    assert again.status_code == 200 and again.json()["outcome"] == "access"
    assert _access(log, again).trace["records"] == [event.record_id]
    page = app_client.get("/v1/traces", params={"limit": 2}, headers=auth("auditor"))
    searched = _access(log, page)
    assert searched.trace["action"] == "search" and searched.trace["records"] == [
        r["record_id"] for r in page.json()["records"]
    ]
    assert searched.trace["filters"]["limit"] == 2


class FailingAccessStore(SqliteAuditStore):
    """A store that records decisions but cannot record access events (a disk that just filled up)."""

    def append(self, entry: AuditEntry) -> AuditRecord:
        if entry.outcome == "access":
            raise sqlite3.OperationalError("disk I/O error")
        return super().append(entry)


def test_a_read_the_log_cannot_record_returns_nothing(
    tmp_path: Path, settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy
) -> None:
    failing = FailingAccessStore(tmp_path / "audit.db")
    try:
        with running(create_app(settings, index=index, policy=policy, audit_store=failing)) as client:
            made = _diagnose(client, auth("clinician"))
            for response in (
                client.get(f"/v1/traces/{made['audit_id']}", headers=auth("clinician")),
                client.get("/v1/traces", headers=auth("auditor")),
                client.get("/v1/audit/export", headers=auth("auditor")),
            ):
                assert response.status_code == 503 and "could not record this read" in response.json()["detail"]
                assert made["audit_id"] not in response.text
    finally:
        failing.close()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"outcome": "insufficient"}, "outcome"),
        ({"diagnosis": "Marfan"}, "OMIM:154700"),
        ({"since": "2026-11-26"}, "no zone"),
        ({"until": "2026-11-26T09:30:00"}, "no zone"),
        ({"since": "yesterday"}, "ISO 8601"),
        ({"order": "newest"}, "order"),
        ({"kind": "reads"}, "kind"),
        # an empty window: since is inclusive, until exclusive (a user test got an empty 200 for these)
        ({"since": "2026-11-27T00:00:00Z", "until": "2026-11-26T00:00:00Z"}, "must be before until"),
        ({"since": "2026-11-26T10:30+01:00", "until": "2026-11-26T09:30:00Z"}, "must be before until"),
    ],
)
def test_filter_values_that_can_never_match_are_a_422(
    app_client: TestClient, params: dict[str, str], says: str
) -> None:
    response = app_client.get("/v1/traces", params=params, headers=auth("auditor"))
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]
    exported = app_client.get("/v1/audit/export", params=params, headers=auth("auditor"))
    assert exported.status_code == 422 and says in exported.json()["detail"]


def test_a_diagnosis_filter_finds_equivalent_codes_and_names(app_client: TestClient, log: SqliteAuditStore) -> None:
    marfan = _diagnose(app_client, auth("clinician"))["audit_id"]
    assert log.get(marfan).diagnoses[0].code == "OMIM:154700"  # type: ignore[union-attr]
    unrelated = log.append(
        AuditEntry(
            trace={},
            request_id="req-cf",
            actor_role="clinician",
            actor_id="someone",
            model_version="test",
            index_version="test",
            outcome="diagnosed",
            diagnoses=[Diagnosis(name="Cystic fibrosis", code="OMIM:219700")],
        )
    ).record_id

    def found(diagnosis: str) -> set[str]:
        response = app_client.get("/v1/traces", params={"diagnosis": diagnosis, "limit": 1000}, headers=auth("auditor"))
        assert response.status_code == 200, response.text
        return {r["record_id"] for r in response.json()["records"]}

    for asked in ("OMIM:154700", "ORPHA:558", "orpha:558", "marfan syndrome", "Marfan's syndrome"):
        hits = found(asked)
        assert marfan in hits and unrelated not in hits, asked
    for asked in ("ORPHA:586", "cystic FIBROSIS"):
        hits = found(asked)
        assert unrelated in hits and marfan not in hits, asked
    # A disease HPO knows that no decision carries: an empty page, not a 422.
    assert found("Omphalocele") == set()


def test_times_with_a_zone_are_one_convention(app_client: TestClient) -> None:
    _diagnose(app_client, auth("clinician"))
    today = datetime.now(UTC).date().isoformat()
    for since in (f"{today}Z", f"{today}+00:00", f"{today}T00:00:00Z"):
        response = app_client.get("/v1/traces", params={"since": since}, headers=auth("auditor"))
        assert response.status_code == 200, (since, response.text)
        assert response.json()["records"]
    assert (
        app_client.get("/v1/traces", params={"since": "2999-01-01Z"}, headers=auth("auditor")).json()["records"] == []
    )


def test_rows_carry_the_input_type_and_findings(app_client: TestClient) -> None:
    by_findings = _diagnose(app_client, auth("clinician"))
    by_note = _diagnose(
        app_client, auth("clinician"), text="Tall girl with arachnodactyly and ectopia lentis. No seizures."
    )
    by_bundle = _diagnose(app_client, auth("clinician"), bundle=patient_bundle())
    rows = {r["record_id"]: r for r in app_client.get("/v1/traces", headers=auth("auditor")).json()["records"]}
    assert rows[by_findings["audit_id"]]["summary"]["input_type"] == "findings"
    assert rows[by_note["audit_id"]]["summary"]["input_type"] == "note"
    assert rows[by_bundle["audit_id"]]["summary"]["input_type"] == "fhir"
    summary = rows[by_findings["audit_id"]]["summary"]
    assert summary["findings_count"] == len(MARFAN_FINDINGS) == len(summary["finding_labels"])
    note = rows[by_note["audit_id"]]["summary"]
    assert note["excluded_count"] >= 1 and "seizure" in " ".join(note["excluded_labels"]).lower()
    assert "trace" not in rows[by_findings["audit_id"]]


def test_an_auditor_answers_why_x_for_patient_p_on_day_d_and_whether_the_evidence_changed(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    made = _diagnose(app_client, auth("clinician"), findings=[c for c, _ in MARFAN_FINDINGS], patient_id=MRN)
    day = made["trace"]["created_at"][:10]

    # 1. Patient P: the identifier maps to its pseudonym, on the server, and the lookup is audited.
    lookup = app_client.post("/v1/audit/pseudonym", json={"patient_id": MRN}, headers=auth("auditor"))
    assert lookup.status_code == 200, lookup.text
    pseudonym = lookup.json()["patient_pseudonym"]
    assert pseudonym == log.get(made["audit_id"]).patient_pseudonym and lookup.json()["decisions"] == 1  # type: ignore[union-attr]
    event = _access(log, lookup)
    assert event.trace["action"] == "pseudonym-lookup" and event.patient_pseudonym == pseudonym
    assert (
        app_client.post("/v1/audit/pseudonym", json={"patient_id": MRN}, headers=auth("clinician")).status_code == 403
    )

    # 2. Suggested X on day D: search by pseudonym, diagnosis code and the day (with its zone).
    found = app_client.get(
        "/v1/traces",
        params={"patient": pseudonym, "diagnosis": "OMIM:154700", "since": f"{day}Z", "include_trace": True},
        headers=auth("auditor"),
    ).json()["records"]
    assert [r["record_id"] for r in found] == [made["audit_id"]]
    trace = found[0]["trace"]

    # 3. From which evidence, and is it still the same: each cited passage against the hash the decision saw.
    top = next(d for d in trace["diagnoses"] if d["code"] == "OMIM:154700")
    assert top["evidence"]
    for link in top["evidence"]:
        seen = trace["passage_hashes"][link["evidence_id"]]
        passage = app_client.get(
            f"/v1/documents/{link['evidence_id'].replace('#', '%23')}",
            params={"expected_hash": seen},
            headers=auth("auditor"),
        ).json()
        assert passage["changed"] is False and passage["passage_hash"] == seen
        assert passage["index_version"] == found[0]["index_version"] and passage["document_hash"]
    changed = app_client.get(
        f"/v1/documents/{top['evidence'][0]['evidence_id'].replace('#', '%23')}",
        params={"expected_hash": "sha256:" + "0" * 64},
        headers=auth("auditor"),
    ).json()
    assert changed["changed"] is True

    # The identifier itself is nowhere in the log.
    exported = app_client.get("/v1/audit/export", params={"kind": "all", "limit": 1000}, headers=auth("auditor"))
    assert MRN not in exported.text and MRN not in json.dumps([r.to_json() for r in log.iter_query(AuditQuery())])
    assert audit_count(log) >= 1


def test_export_pages_through_the_log_as_fhir(app_client: TestClient) -> None:
    for _ in range(3):
        _diagnose(app_client, auth("clinician"))
    first = app_client.get("/v1/audit/export", params={"limit": 2}, headers=auth("auditor"))
    assert first.status_code == 200, first.text
    bundle = Bundle.model_validate(first.json())
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds == ["AuditEvent", "Provenance", "AuditEvent", "Provenance"]
    assert all(e.resource.action == "E" for e in bundle.entry if isinstance(e.resource, AuditEvent))
    link = first.json()["link"][0]
    assert link["relation"] == "next" and "cursor=s" in link["url"]
    nxt = app_client.get(link["url"].removeprefix("http://testserver"), headers=auth("admin"))
    assert nxt.status_code == 200 and Bundle.model_validate(nxt.json()).entry
    assert app_client.get("/v1/audit/export", headers=auth("clinician")).status_code == 403


PHI_REASON = "Emergency: patient Priscilla Vandermeer MRN 12345678 collapsed in ED"  # the user test's (ut-3)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (PHI_REASON, "number of 3 or more digits"),
        ("Emergency: patient Priscilla Vandermeer collapsed in ED", "capitalised word (word 3)"),
        ("please call the family on 06 12 34 56 78 tonight", "phone number"),
        ("family asked by mail to jo.v@example.org to review", "e-mail address"),
    ],
)
def test_a_break_glass_reason_that_identifies_a_patient_is_refused_and_nothing_is_appended(
    app_client: TestClient, log: SqliteAuditStore, reason: str, kind: str
) -> None:
    theirs = _diagnose(app_client, other())
    before = log.count(AuditQuery())
    refused = app_client.post(
        f"/v1/traces/{theirs['audit_id']}/break-glass", json={"reason": reason}, headers=auth("clinician")
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert kind in detail and "why" in detail and "not who" in detail
    assert not any(word in refused.text for word in ("Priscilla", "Vandermeer", "12345678", "jo.v", "56 78"))
    assert log.count(AuditQuery()) == before  # nothing appended: the reason never reached the log
    database = Path(log.path)
    stored = b"".join(f.read_bytes() for f in database.parent.glob(database.name + "*"))
    assert b"Vandermeer" not in stored and b"MRN 12345678" not in stored


def test_a_break_glass_reason_in_words_is_accepted(app_client: TestClient, log: SqliteAuditStore) -> None:
    theirs = _diagnose(app_client, other())
    reason = "Emergency admission overnight, covering clinician needs the prior decision"
    response = app_client.post(
        f"/v1/traces/{theirs['audit_id']}/break-glass", json={"reason": reason}, headers=auth("clinician")
    )
    assert response.status_code == 200, response.text
    assert _access(log, response).trace["reason"] == reason


def test_a_record_is_found_by_its_trace_id_and_by_the_servers_or_the_clients_request_id(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    response = app_client.post(
        "/v1/diagnose",
        json={"findings": [c for c, _ in MARFAN_FINDINGS]},
        headers={**auth("clinician"), "X-Request-ID": "ticket-4711-support"},
    )
    assert response.status_code == 200, response.text
    made = response.json()
    trace_id, audit_id = made["trace"]["trace_id"], made["audit_id"]
    assert trace_id != audit_id  # the user test's 404: the trace's id is not the record's

    by_trace = app_client.get(f"/v1/traces/{trace_id}", headers=auth("auditor"))
    assert by_trace.status_code == 200, by_trace.text
    assert by_trace.json()["record_id"] == audit_id and _access(log, by_trace).trace["records"] == [audit_id]
    assert app_client.get(f"/v1/traces/{trace_id}", headers=auth("clinician")).json()["record_id"] == audit_id
    assert app_client.get(f"/v1/traces/{uuid.uuid4()}", headers=auth("auditor")).status_code == 404

    server_id = response.headers["X-Request-ID"]
    for params in ({"request_id": server_id}, {"request_id": "ticket-4711-support"}, {"trace_id": trace_id}):
        found = app_client.get("/v1/traces", params=params, headers=auth("auditor"))
        assert found.status_code == 200, (params, found.text)
        assert [r["record_id"] for r in found.json()["records"]] == [audit_id], params
    # the client's own id is whatever the client sent: the search's access event keeps only its digest
    asked = _access(log, found)
    assert asked.trace["filters"]["trace_id"] == trace_id
    searched = app_client.get("/v1/traces", params={"request_id": "ticket-4711-support"}, headers=auth("auditor"))
    assert _access(log, searched).trace["filters"]["request_id"].startswith("sha256:")
    assert (
        app_client.get("/v1/traces", params={"request_id": "no-such-request"}, headers=auth("auditor")).json()[
            "records"
        ]
        == []
    )
    unknown = app_client.get("/v1/traces", params={"requestid": server_id}, headers=auth("auditor"))
    assert unknown.status_code == 422 and "request_id" in unknown.json()["detail"]  # still refused, named


def test_who_saw_this_patient_finds_the_searches_that_returned_several_patients_records(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    first = _diagnose(app_client, auth("clinician"), findings=[c for c, _ in MARFAN_FINDINGS], patient_id="MRN-A-1")
    second = _diagnose(app_client, auth("clinician"), findings=[c for c, _ in MARFAN_FINDINGS], patient_id="MRN-B-2")
    patient = log.get(first["audit_id"]).patient_pseudonym  # type: ignore[union-attr]
    assert patient is not None and patient != log.get(second["audit_id"]).patient_pseudonym  # type: ignore[union-attr]

    listing = app_client.get("/v1/traces", params={"limit": 2}, headers=auth("auditor"))
    assert listing.status_code == 200
    search = _access(log, listing)
    assert search.patient_pseudonym is None and first["audit_id"] in search.trace["records"]  # several patients

    who = app_client.get(
        "/v1/traces", params={"kind": "access", "patient": patient, "limit": 1000}, headers=auth("auditor")
    )
    assert who.status_code == 200, who.text
    assert search.record_id in [r["record_id"] for r in who.json()["records"]]
    other_patient = log.get(second["audit_id"]).patient_pseudonym  # type: ignore[union-attr]
    found_other = app_client.get(
        "/v1/traces", params={"kind": "access", "patient": other_patient, "limit": 1000}, headers=auth("auditor")
    )
    assert search.record_id in [r["record_id"] for r in found_other.json()["records"]]
    # a read of only the other patient's record is not a read of this one
    only_second = app_client.get(f"/v1/traces/{second['audit_id']}", headers=auth("auditor"))
    assert _access(log, only_second).record_id not in [r["record_id"] for r in who.json()["records"]]


#: Every kind of route a role can be refused, with what its access event must say was attempted. The query,
#: path and body hold a patient identifier where a caller could put one: none of it may reach the log.
ROLE_REFUSALS: list[tuple[str, str, str, str, dict[str, Any], str]] = [
    ("clinician", "GET", "/v1/audit/export", "/v1/audit/export", {"params": {"patient": MRN}}, "export"),
    (
        "clinician",
        "POST",
        "/v1/audit/pseudonym",
        "/v1/audit/pseudonym",
        {"json": {"patient_id": MRN}},
        "pseudonym-lookup",
    ),
    ("clinician", "GET", "/v1/audit/verify", "/v1/audit/verify", {}, "verify"),
    ("clinician", "GET", "/v1/audit/checkpoint", "/v1/audit/checkpoint", {}, "verify"),
    ("data_team", "GET", "/v1/audit/proof/inclusion", "/v1/audit/proof/inclusion", {"params": {"seq": 1}}, "verify"),
    ("data_team", "GET", "/v1/traces", "/v1/traces", {"params": {"patient": MRN, "kind": "access"}}, "search"),
    ("data_team", "GET", f"/v1/traces/{MRN}", "/v1/traces/{audit_id}", {}, "read"),
    (
        "auditor",
        "POST",
        f"/v1/traces/{uuid.uuid4()}/break-glass",
        "/v1/traces/{audit_id}/break-glass",
        {"json": {"reason": f"patient {MRN} collapsed in ED"}},
        "read",
    ),
    (
        "auditor",
        "POST",
        "/v1/diagnose",
        "/v1/diagnose",
        {"json": {"findings": ["Tall stature"], "patient_id": MRN}},
        "operation",
    ),
    (
        "data_team",
        "POST",
        "/cds-services/dxsearch-patient-view",
        "/cds-services/dxsearch-patient-view",
        {"json": {"hook": "patient-view", "context": {"patientId": MRN}}},
        "operation",
    ),
]


@pytest.mark.parametrize(
    ("role", "method", "path", "route", "kwargs", "attempt"),
    ROLE_REFUSALS,
    ids=[f"{r[0]} {r[1]} {r[3]}" for r in ROLE_REFUSALS],
)
def test_a_role_refused_a_route_is_an_access_event_naming_the_key_and_the_attempt_and_nothing_it_sent(
    app_client: TestClient,
    log: SqliteAuditStore,
    role: str,
    method: str,
    path: str,
    route: str,
    kwargs: dict[str, Any],
    attempt: str,
) -> None:
    """A clinician's key calling an auditor route (or any refused role) left no trace: the 403 was all there was,
    so an auditor could not see who tried to read the audit trail or another role's data."""
    before = access_count(log)
    refused = app_client.request(method, path, headers=auth(role), **kwargs)
    assert refused.status_code == 403, refused.text
    assert f"role '{role}' may not use this route" in refused.json()["detail"]
    assert access_count(log) == before + 1
    [event] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    principal = app_client.app.state.services.keyring.authenticate(KEYS[role])  # type: ignore[attr-defined]
    assert event.actor_role == role and event.actor_id == principal.actor_id  # the key's pseudonym, as decisions
    assert event.request_id == refused.headers["X-Request-ID"] and event.patient_pseudonym is None
    assert event.trace == {
        "event": "access",
        "action": attempt,
        "purpose": "treatment" if role == "clinician" else "audit",
        "records": [],
        "filters": {},
        "route": route,
        "denied": True,
    }
    stored = json.dumps(event.to_json())
    assert MRN not in stored and KEYS[role] not in stored and "collapsed" not in stored


def test_an_admitted_role_is_not_recorded_as_refused(app_client: TestClient, log: SqliteAuditStore) -> None:
    _diagnose(app_client, auth("clinician"))
    before = access_count(log)
    proof = app_client.get("/v1/audit/proof/inclusion", params={"seq": 1}, headers=auth("admin"))
    assert proof.status_code == 200
    # A proof reads hashes, no record's content, but it is a read of the audit surface: one access event (it was
    # none; changed on purpose, as GET /v1/audit/verify's run), named in the response, and not a refusal.
    assert access_count(log) == before + 1
    read = _access(log, proof)
    assert read.trace["action"] == "verify" and read.trace["filters"] == {"seq": 1, "size": proof.json()["tree_size"]}
    assert "denied" not in read.trace
    assert app_client.get("/v1/audit/verify", headers=auth("auditor")).status_code == 200
    assert access_count(log) == before + 2  # the run of a verification is one (see below), not a refusal
    [run] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    assert run.trace["action"] == "verify" and "denied" not in run.trace


def test_an_auditors_verification_is_an_access_event_and_the_next_one_verifies_it(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    """``GET /v1/audit/verify`` read the whole log and left no trace, while every other read of the audit log by an
    auditor is recorded and ``audit verify --key`` records its run. It is an access event now, as the command
    line's: action ``verify``, the head it verified up to, appended after verifying and before the report goes
    out; the next verification checks that event like any record."""
    _diagnose(app_client, auth("clinician"))
    first = app_client.get("/v1/audit/verify", headers=auth("auditor"))
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["ok"] is True
    run = _access(log, first)
    principal = app_client.app.state.services.keyring.authenticate(KEYS["auditor"])  # type: ignore[attr-defined]
    assert run.actor_role == "auditor" and run.actor_id == principal.actor_id
    assert run.request_id == first.headers["X-Request-ID"] and run.patient_pseudonym is None
    assert run.trace == {
        "event": "access",
        "action": "verify",
        "purpose": "audit",
        "records": [],
        "filters": {"head_seq": report["head_seq"]},
        "route": "/v1/audit/verify",
    }
    assert run.seq == report["head_seq"] + 1  # the report is of the log before its own event

    second = app_client.get("/v1/audit/verify", headers=auth("admin"))
    assert second.status_code == 200 and second.json()["ok"] is True, second.text
    assert second.json()["head_seq"] == run.seq  # the first run's event is verified by the next
    assert _access(log, second).trace["filters"] == {"head_seq": run.seq}


#: A role refused a route, with a query string that is a 422 for a caller holding the role (a parameter the route
#: does not read, one given twice, a value out of range). A patient identifier stands where a caller could put one.
REFUSED_WITH_A_BAD_QUERY: list[tuple[str, str, str, str, dict[str, Any], str]] = [
    ("clinician", "GET", "/v1/audit/verify", "/v1/audit/verify", {"params": {"mrn": MRN}}, "verify"),
    ("clinician", "GET", "/v1/audit/checkpoint", "/v1/audit/checkpoint", {"params": {"mrn": MRN}}, "verify"),
    (
        "data_team",
        "GET",
        "/v1/audit/proof/inclusion",
        "/v1/audit/proof/inclusion",
        {"params": {"seq": 0, "patient": MRN}},
        "verify",
    ),
    ("clinician", "GET", f"/v1/audit/export?patient={MRN}&patient={MRN}", "/v1/audit/export", {}, "export"),
    ("clinician", "GET", "/v1/audit/export", "/v1/audit/export", {"params": {"evidence_id": MRN}}, "export"),
    ("data_team", "GET", "/v1/traces", "/v1/traces", {"params": {"limit": 0, "mrn": MRN}}, "search"),
    (
        "clinician",
        "POST",
        "/v1/audit/pseudonym",
        "/v1/audit/pseudonym",
        {"params": {"patient_id": MRN}, "json": {"patient_id": MRN}},
        "pseudonym-lookup",
    ),
    (
        "auditor",
        "POST",
        f"/v1/diagnose?patient_id={MRN}&patient_id={MRN}",
        "/v1/diagnose",
        {"json": {"findings": ["Tall stature"]}},
        "operation",
    ),
    (
        "auditor",
        "POST",
        f"/cds-services/dxsearch-patient-view?patientId={MRN}&patientId={MRN}",
        "/cds-services/dxsearch-patient-view",
        {"json": {"hook": "patient-view", "context": {"patientId": MRN}}},
        "operation",
    ),
]


@pytest.mark.parametrize(
    ("role", "method", "path", "route", "kwargs", "attempt"),
    REFUSED_WITH_A_BAD_QUERY,
    ids=[f"{r[0]} {r[1]} {r[3]}" for r in REFUSED_WITH_A_BAD_QUERY],
)
def test_a_refused_role_is_a_recorded_403_whatever_its_query_and_the_role_holder_still_gets_the_422(
    app_client: TestClient,
    log: SqliteAuditStore,
    role: str,
    method: str,
    path: str,
    route: str,
    kwargs: dict[str, Any],
    attempt: str,
) -> None:
    """The query was checked before the role: a clinician's key calling an auditor route with a parameter it does
    not read got a 422 naming the parameters the route takes, and nothing was recorded. The role comes first now:
    the refused caller gets the 403, recorded like any role refusal and keeping nothing of the query; a caller
    holding the role still gets the 422, unrecorded as before."""
    before = access_count(log)
    refused = app_client.request(method, path, headers=auth(role), **kwargs)
    assert refused.status_code == 403, refused.text
    assert f"role '{role}' may not use this route" in refused.json()["detail"]
    assert "takes" not in refused.json()["detail"]  # nothing of the route's parameters
    assert access_count(log) == before + 1
    [event] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    assert event.request_id == refused.headers["X-Request-ID"] and event.actor_role == role
    assert event.trace["action"] == attempt and event.trace["route"] == route and event.trace["denied"] is True
    assert event.trace["filters"] == {} and MRN not in json.dumps(event.to_json())

    holder = "clinician" if role == "auditor" else "auditor"
    admitted = app_client.request(method, path, headers=auth(holder), **kwargs)
    assert admitted.status_code == 422, admitted.text
    assert access_count(log) == before + 1  # a malformed query reads nothing: no access event


#: A clinician's search for access events with a query that is a 422 for an auditor: a value out of range, a
#: malformed time, an unknown parameter, one given twice, an outcome that no access event has.
ACCESS_SEARCH_WITH_A_BAD_QUERY: list[str] = [
    "kind=access&limit=0",
    "kind=access&since=2024-01-01T00:00:00",
    f"kind=access&mrn={MRN}",
    "kind=access&order=asc&order=desc",
    "kind=access&outcome=diagnosed",
    f"outcome=access&patient={MRN}",
]


@pytest.mark.parametrize("query", ACCESS_SEARCH_WITH_A_BAD_QUERY)
def test_a_clinician_searching_access_events_is_the_recorded_403_with_a_bad_parameter_too(
    app_client: TestClient, log: SqliteAuditStore, query: str
) -> None:
    """A clinician's key asking ``GET /v1/traces`` for access events got the 403 with good parameters but a 422
    with a bad one, since the parameters were checked before the kind: the 422 told it which parameters the
    auditor's search takes, and left no trace. The kind is checked with the role now, before the parameters:
    the same 403, recorded as a refused search that keeps nothing of the query; an auditor still gets the 422."""
    good = app_client.get("/v1/traces", params={"kind": "access"}, headers=auth("clinician"))
    assert good.status_code == 403, good.text
    before = access_count(log)
    refused = app_client.get(f"/v1/traces?{query}", headers=auth("clinician"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == good.json()["detail"] == "access events are for auditors"
    assert access_count(log) == before + 1
    [event] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    principal = app_client.app.state.services.keyring.authenticate(KEYS["clinician"])  # type: ignore[attr-defined]
    assert event.request_id == refused.headers["X-Request-ID"] and event.actor_id == principal.actor_id
    assert event.trace == {
        "event": "access",
        "action": "search",
        "purpose": "treatment",
        "records": [],
        "filters": {},
        "route": "/v1/traces",
        "denied": True,
    }
    assert MRN not in json.dumps(event.to_json())

    admitted = app_client.get(f"/v1/traces?{query}", headers=auth("auditor"))
    assert admitted.status_code == 422, admitted.text
    assert access_count(log) == before + 1  # a malformed query reads nothing: no access event
    # A clinician's search of its own decisions with the same bad parameter is still the 422.
    own = query.replace("kind=access&", "").replace("outcome=access&", "")
    if own != "outcome=diagnosed":  # a good query of decisions
        assert app_client.get(f"/v1/traces?{own}", headers=auth("clinician")).status_code == 422, own


def test_the_query_of_a_route_without_a_role_check_is_checked_as_before_and_an_unknown_key_is_a_401_first(
    app_client: TestClient, log: SqliteAuditStore
) -> None:
    """The probes check no role: a repeated parameter is still their 422. A request without a known key is a 401
    whatever its query (the query is checked only for a caller who may use the route), and is never recorded."""
    assert app_client.get("/healthz?a=1&a=2").status_code == 422
    before = log.count(AuditQuery())
    for headers in ({}, {"Authorization": "Bearer not-a-configured-key-at-all"}):
        for path in ("/v1/audit/verify?foo=1", "/v1/traces?kind=a&kind=b", f"/v1/documents/x?mrn={MRN}"):
            assert app_client.get(path, headers=headers).status_code == 401, path
    assert log.count(AuditQuery()) == before


def test_role_refusals_export_as_failed_fhir_reads(app_client: TestClient, log: SqliteAuditStore) -> None:
    assert app_client.get("/v1/audit/verify", headers=auth("clinician")).status_code == 403
    [event] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    exported = app_client.get("/v1/audit/export", params={"kind": "access", "limit": 1000}, headers=auth("auditor"))
    assert exported.status_code == 200, exported.text
    bundle = Bundle.model_validate(exported.json())
    [fhir] = [
        e.resource
        for e in bundle.entry or []
        if isinstance(e.resource, AuditEvent) and e.resource.id == event.record_id
    ]
    assert fhir.action == "R" and fhir.outcome == "4" and fhir.outcomeDesc == "verify (treatment): denied"
    assert fhir.subtype is not None and fhir.subtype[0].code == "operation"
    assert fhir.purposeOfEvent is not None and fhir.purposeOfEvent[0].coding is not None
    assert fhir.purposeOfEvent[0].coding[0].code == "TREAT"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-configured-key-at-all"}, {"X-API-Key": KEYS["clinician"] + "x"}]
)
def test_requests_without_a_known_key_are_refused_and_never_recorded(
    app_client: TestClient, log: SqliteAuditStore, headers: dict[str, str]
) -> None:
    """A 401 leaves no audit record, as before: anyone can send one, so recording them would let anyone fill the
    log (they draw on the shared bucket of unknown keys instead)."""
    before = log.count(AuditQuery())
    for method, path in (("GET", "/v1/audit/export"), ("GET", "/v1/traces"), ("POST", "/v1/audit/pseudonym")):
        assert app_client.request(method, path, headers=headers).status_code == 401, (method, path)
    assert log.count(AuditQuery()) == before


class _FullStore(SqliteAuditStore):
    """A real store whose appends fail as a full or broken disk would make them fail."""

    def append(self, entry: AuditEntry) -> AuditRecord:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_role_refusal_the_log_cannot_record_is_a_503_as_any_unrecorded_read(
    tmp_path: Path, settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy
) -> None:
    full = _FullStore(tmp_path / "audit.db")
    try:
        with running(create_app(settings, index=index, policy=policy, audit_store=full)) as client:
            refused = client.get("/v1/audit/export", headers=auth("clinician"))
        assert refused.status_code == 503 and "could not record" in refused.json()["detail"]
        assert refused.headers["Retry-After"] == "5"
    finally:
        full.close()


#: Refused calls of a user test (h34g), each a clinician's on an auditor route: the 403 named no access event.
REFUSED_CLINICIAN_CALLS: list[str] = [
    "/v1/traces?kind=access&limit=abc",
    "/v1/audit/checkpoint",
    "/v1/audit/verify",
]


@pytest.mark.parametrize("path", REFUSED_CLINICIAN_CALLS)
def test_a_recorded_refusal_names_its_access_event_in_x_audit_access_id(
    app_client: TestClient, log: SqliteAuditStore, path: str
) -> None:
    """A user test: a clinician's refused call on an auditor route was recorded (``denied``) but its 403 carried
    no ``X-Audit-Access-Id``, which every other audited response carries (README). It names the event now."""
    before = access_count(log)
    refused = app_client.get(path, headers=auth("clinician"))
    assert refused.status_code == 403, refused.text
    assert access_count(log) == before + 1
    event = _access(log, refused)
    [latest] = log.query(AuditQuery(kind="access", order="desc", limit=1)).records
    assert event.record_id == latest.record_id
    assert event.trace["denied"] is True and event.actor_role == "clinician"
    assert event.request_id == refused.headers["X-Request-ID"]
