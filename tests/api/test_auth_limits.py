"""Key ring parsing and lookup, the token bucket, CDS markdown escaping: the parts with no app around them."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cds_text import markdown_text, plain_summary
from api.keys import KeyConfigError, KeyRing, Role
from api.limits import RateLimiter, body_cost
from api.logging import get_logger
from audit import SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import KEYS, PATIENT_NAME_FAMILY, PATIENT_NAME_GIVEN, access_count, auth, running

PSEUDONYMISER = Pseudonymiser("auth-test-pseudonym-key-0123")
KEY = "a-clinician-key-long-enough"


def test_keys_are_kept_as_digests_and_map_to_roles() -> None:
    digest = hashlib.sha256(b"an-auditor-key-given-as-digest").hexdigest()
    ring = KeyRing.parse(f" {KEY}:clinician , sha256={digest}:auditor ,", PSEUDONYMISER)
    assert len(ring) == 2
    clinician = ring.authenticate(KEY)
    auditor = ring.authenticate("an-auditor-key-given-as-digest")
    assert clinician is not None and clinician.role is Role.CLINICIAN
    assert auditor is not None and auditor.role is Role.AUDITOR
    assert ring.authenticate(KEY + "x") is None and ring.authenticate("") is None
    # The actor id is a keyed pseudonym: stable, distinct per key, and neither the key nor its digest.
    again = KeyRing.parse(f"{KEY}:clinician", PSEUDONYMISER).authenticate(KEY)
    assert again is not None and again.actor_id == clinician.actor_id
    assert clinician.actor_id != auditor.actor_id
    assert KEY not in repr(ring.__dict__) and KEY not in repr(clinician)
    assert clinician.actor_id not in clinician.key_digest


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("short:clinician", "shorter than"),
        (f"{KEY}:surgeon", "unknown role"),
        (f"{KEY}", "not 'key:role'"),
        (f"{KEY}:clinician,{KEY}:admin", "twice"),
    ],
)
def test_bad_key_settings_are_refused_without_echoing_the_key(spec: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message) as caught:
        KeyRing.parse(spec, PSEUDONYMISER)
    assert KEY not in str(caught.value)


def test_an_empty_ring_admits_nobody() -> None:
    assert len(KeyRing.parse(None, PSEUDONYMISER)) == 0
    assert KeyRing.parse("", PSEUDONYMISER).authenticate("anything") is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_steady_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock)  # one token per second, burst of 60
    assert all(limiter.acquire("k") == 0.0 for _ in range(60))
    wait = limiter.acquire("k")
    assert wait == pytest.approx(1.0)
    assert limiter.acquire("other") == 0.0  # buckets are per key
    clock.now += 1.0
    assert limiter.acquire("k") == 0.0 and limiter.acquire("k") > 0
    clock.now += 3600
    assert sum(limiter.acquire("k") == 0.0 for _ in range(100)) == 60  # refill is capped at the burst
    assert RateLimiter(0).acquire("k") == 0.0  # 0 turns limiting off


def test_a_request_costs_a_token_per_started_unit_of_its_declared_body() -> None:
    def scope(method: str, length: bytes | None) -> dict[str, Any]:
        headers = [] if length is None else [(b"content-length", length)]
        return {"type": "http", "method": method, "headers": headers}

    assert body_cost(scope("GET", None), 1024, 65536) == 1
    assert body_cost(scope("POST", b"0"), 1024, 65536) == 1
    assert body_cost(scope("POST", b"1024"), 1024, 65536) == 1
    assert body_cost(scope("POST", b"1025"), 1024, 65536) == 2
    assert body_cost(scope("POST", None), 1024, 65536) == 64  # chunked: charged as the largest allowed
    assert body_cost(scope("POST", b"99999999"), 1024, 65536) == 64  # (refused by size anyway)
    assert body_cost(scope("POST", b"5000"), 0, 65536) == 1  # 0: one token per request
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock)
    assert limiter.acquire("k", 4) == 0.0 and limiter.acquire("k", 4) == 0.0
    assert limiter.acquire("k", 4) == pytest.approx(2 / (10 / 60))  # 2 tokens left, 2 more to wait for
    assert limiter.acquire("other", 1000) == 0.0  # a cost is capped at the burst: it can always pass once


def _body_limit_app(settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore) -> Any:
    update = {"rate_limit_per_minute": 10, "rate_limit_body_unit_bytes": 1024, "max_request_bytes": 64 * 1024}
    return create_app(settings.model_copy(update=update), index=index, policy=policy, audit_store=store)


def test_big_bodies_cost_more_of_the_rate_limit_charged_before_they_are_read(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    malformed = b'{"findings": [' + b" " * 4500  # 4,514 bytes: 5 tokens of 1 KiB; a 400 once read
    json_header = {"Content-Type": "application/json"}
    with running(_body_limit_app(settings, index, policy, store)) as client:
        clinician = {**auth("clinician"), **json_header}
        assert client.post("/v1/diagnose", content=malformed, headers=clinician).status_code == 400
        assert client.post("/v1/diagnose", content=malformed, headers=clinician).status_code == 400
        limited = client.post("/v1/diagnose", content=malformed, headers=clinician)  # refused unread: not a 400
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        detail = limited.json()["detail"]
        assert "this key" in detail and "counts as 5: one per 1,024 bytes of body" in detail
        assert client.get("/v1/corpus", headers=auth("clinician")).status_code == 429  # the bucket is spent
        # A body without Content-Length is charged as the largest allowed (64 tokens, capped at the burst).
        auditor = {**auth("auditor"), **json_header}
        chunked = client.post("/v1/audit/pseudonym", content=iter([b"{}"]), headers=auditor)
        assert chunked.status_code != 429
        assert client.get("/v1/traces", headers=auth("auditor")).status_code == 429
        # Unknown keys share one bucket, charged the same way.
        guess = {"X-API-Key": "guess-0000000000000000000", **json_header}
        assert client.post("/v1/diagnose", content=malformed, headers=guess).status_code == 401
        assert client.post("/v1/diagnose", content=malformed, headers=guess).status_code == 401
        assert client.post("/v1/diagnose", content=malformed, headers=guess).status_code == 429


def test_a_refused_callers_body_is_not_read(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    streamed = iter([b'{"text": "', *([b"tall " * 1000] * 20), b'"}'])  # ~100 kB, no Content-Length
    with running(_small_limit_app(settings, index, policy, store)) as client:
        refused = client.post("/v1/diagnose", content=streamed, headers={"Content-Type": "application/json"})
        assert refused.status_code == 401  # not 413: the body was never read


def test_cds_text_is_inert_markdown_and_summaries_fit() -> None:
    escaped = markdown_text("[click](javascript:alert(1)) <img src=x> **bold**")
    assert "<img" not in escaped and "](" not in escaped and "\\*\\*" in escaped
    assert len(plain_summary("x" * 500)) == 140 and "\n" not in plain_summary("a\nb")


def test_the_api_key_header_works_like_a_bearer_token(client: TestClient) -> None:
    assert client.get("/v1/corpus", headers={"X-API-Key": KEYS["data_team"]}).status_code == 200
    assert client.get("/v1/corpus", headers={"Authorization": f"Basic {KEYS['data_team']}"}).status_code == 401


def test_exceptions_reach_the_log_as_their_type_only(log_stream: io.StringIO) -> None:
    start = log_stream.tell()
    try:
        raise KeyError(f"{PATIENT_NAME_GIVEN} {PATIENT_NAME_FAMILY}")
    except KeyError:
        logging.getLogger("dxsearch.test").exception("Exception in ASGI application")
        get_logger().error("failed", exc_info=True)
    lines = [json.loads(line) for line in log_stream.getvalue()[start:].splitlines() if line.strip()]
    assert [line["error_type"] for line in lines] == ["KeyError", "KeyError"]
    assert PATIENT_NAME_GIVEN not in log_stream.getvalue()[start:]


def _small_limit_app(settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore) -> Any:
    return create_app(
        settings.model_copy(update={"rate_limit_per_minute": 2}), index=index, policy=policy, audit_store=store
    )


def test_the_role_is_checked_before_a_token_is_spent(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    """A refusal costs the key nothing of its budget; since each is appended to the audit log, refusals draw on a
    bucket of their own, so a key cannot fill the log by calling routes it may not use (past it: 429, unrecorded)."""
    with running(_small_limit_app(settings, index, policy, store)) as client:
        before = access_count(store)
        for _ in range(2):  # refused for its role, and recorded
            assert client.get("/v1/audit/verify", headers=auth("clinician")).status_code == 403
        assert access_count(store) == before + 2
        throttled = client.get("/v1/audit/export", headers=auth("clinician"))
        assert throttled.status_code == 429 and "refused for its role" in throttled.json()["detail"]
        assert int(throttled.headers["Retry-After"]) >= 1
        assert access_count(store) == before + 2  # not recorded, as no throttled request is
        assert client.get("/v1/corpus", headers=auth("clinician")).status_code == 200  # its own budget is whole
        assert client.get("/v1/corpus", headers=auth("clinician")).status_code == 200
        limited = client.get("/v1/corpus", headers=auth("clinician"))
        assert limited.status_code == 429 and "this key" in limited.json()["detail"]
        assert int(limited.headers["Retry-After"]) >= 1
        assert client.get("/v1/corpus", headers=auth("auditor")).status_code == 200  # its own bucket


def test_unknown_and_missing_keys_are_throttled_together(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, store: SqliteAuditStore
) -> None:
    with running(_small_limit_app(settings, index, policy, store)) as client:
        guesses = [client.get("/v1/corpus", headers={"X-API-Key": f"guess-{i:020d}"}) for i in range(2)]
        assert [r.status_code for r in guesses] == [401, 401]
        guessed = client.get("/v1/corpus", headers={"X-API-Key": "guess-another-one-0000000"})
        assert guessed.status_code == 429 and "unauthenticated" in guessed.json()["detail"]
        assert client.get("/v1/corpus").status_code == 429
        assert client.get("/v1/corpus", headers=auth("data_team")).status_code == 200  # known keys unaffected


def test_request_ids_are_the_servers_and_the_clients_is_kept_beside(
    client: TestClient, store: SqliteAuditStore
) -> None:
    chosen = "client-chosen-id-0001"
    first = client.post(
        "/v1/diagnose", json={"findings": ["Tall stature"]}, headers={**auth("clinician"), "X-Request-ID": chosen}
    )
    second = client.post(
        "/v1/diagnose", json={"findings": ["Tall stature"]}, headers={**auth("clinician"), "X-Request-ID": chosen}
    )
    assert first.status_code == second.status_code == 200
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2 and chosen not in ids
    assert first.headers["X-Client-Request-ID"] == chosen
    # The same client id gave two cases two pseudonyms (it once named the case when no patient id was given).
    assert first.json()["trace"]["case"]["pseudonym"] != second.json()["trace"]["case"]["pseudonym"]
    record = store.get(first.json()["audit_id"])
    assert record is not None and record.request_id == first.headers["X-Request-ID"]
    assert record.trace["client_request_id"] == chosen
    odd = client.get("/healthz", headers={"X-Request-ID": "not an id; <script>"})
    assert "X-Client-Request-ID" not in odd.headers and len(odd.headers["X-Request-ID"]) == 32
    assert "not an id" in odd.headers["X-Client-Request-ID-Refused"]


def test_a_client_request_id_that_may_be_a_record_number_is_neither_kept_nor_logged(
    client: TestClient, store: SqliteAuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A user test (2026-11-28): "MRN12345678" was well-formed, so it went to the log line and the audit log."""
    with caplog.at_level(logging.INFO, logger="dxsearch.api"):
        response = client.post(
            "/v1/diagnose",
            json={"findings": ["Tall stature", "Arachnodactyly"]},
            headers={**auth("clinician"), "X-Request-ID": "MRN12345678"},
        )
    assert response.status_code == 200
    assert "X-Client-Request-ID" not in response.headers
    assert "UUID" in response.headers["X-Client-Request-ID-Refused"]
    record = store.get(response.json()["audit_id"])
    assert record is not None and "client_request_id" not in record.trace
    assert "12345678" not in json.dumps(record.trace) and "12345678" not in caplog.text
    uuid_id = "0f8fad5b-d9cb-469f-a165-70867728950e"  # random digits may run on in a UUID: kept
    kept = client.get("/healthz", headers={"X-Request-ID": uuid_id})
    assert kept.headers["X-Client-Request-ID"] == uuid_id and "X-Client-Request-ID-Refused" not in kept.headers
    assert "/v1/diagnose" in caplog.text  # the log line was written, without the id
    for number in ("12345678901234567890123456", "12345678123412341234123456789012"):  # a ULID's, a UUID's length
        assert "X-Client-Request-ID" not in client.get("/healthz", headers={"X-Request-ID": number}).headers
