"""Shared values and helpers of the API tests: keys, the test patient (with PHI to look for), app runners."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support import MARFAN_CORE, MARFAN_TERMS

from api.body_process import BodyParser
from audit import AuditQuery, AuditStore, SqliteAuditStore
from dxsearch.settings import Settings

KEYS: dict[str, str] = {
    "clinician": "clinician-test-key-0000000001",
    "auditor": "auditor-test-key-00000000002",
    "admin": "admin-test-key-0000000000003",
    "data_team": "data-team-test-key-000000004",
}

# The test patient of the FHIR bundles: none of these may reach a log, a trace or the audit log.
PATIENT_NAME_GIVEN = "Zebedee"
PATIENT_NAME_FAMILY = "Quixote-Testperson"
PATIENT_MRN = "MRN-7734-SECRET"
PATIENT_BIRTH_DATE = "2011-07-04"
PHI_STRINGS = (PATIENT_NAME_GIVEN, PATIENT_NAME_FAMILY, PATIENT_MRN, PATIENT_BIRTH_DATE)
HPO_SYSTEM = "http://purl.obolibrary.org/obo/hp.owl"
MARFAN_FINDINGS: list[tuple[str, str]] = [(term, MARFAN_TERMS[term]) for term in MARFAN_CORE]


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def patient_resource() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": PATIENT_MRN}],
        "name": [{"family": PATIENT_NAME_FAMILY, "given": [PATIENT_NAME_GIVEN]}],
        "gender": "female",
        "birthDate": PATIENT_BIRTH_DATE,
    }


def observation(code: str, display: str, *, present: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": HPO_SYSTEM, "code": code, "display": display}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-07-05",
        "valueBoolean": present,
    }


def patient_bundle(findings: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """An R4B collection Bundle for the test patient: name, MRN, birth date and HPO-coded findings."""
    resources = [patient_resource()] + [observation(c, d) for c, d in (findings or MARFAN_FINDINGS)]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2025-07-05T09:00:00Z",
        "entry": [{"resource": r} for r in resources],
    }


def audit_count(store: AuditStore) -> int:
    """Decisions in the log (reads of records are access events, counted by :func:`access_count`)."""
    return store.count(AuditQuery(kind="decision"))


def log_size(store: AuditStore) -> int:
    """Every record of the log: decisions and access events."""
    return store.count(AuditQuery())


def access_count(store: AuditStore) -> int:
    """Access events in the log: one per read of records, search, export or pseudonym lookup."""
    return store.count(AuditQuery(kind="access"))


def api_settings(base: Settings, **overrides: Any) -> Settings:
    spec = ",".join(f"{key}:{role}" for role, key in KEYS.items())
    values: dict[str, Any] = {
        "api_keys": SecretStr(spec),
        "rate_limit_per_minute": 10_000,
        "policy_timeout_s": 60.0,
        "max_request_bytes": 64 * 1024,
        "pseudonym_key": "api-test-pseudonym-key-0123456789",
        **overrides,
    }
    return base.model_copy(update=values)


def wait_ready(client: TestClient, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200:
            return
        assert response.json()["state"] != "failed", response.json()
        time.sleep(0.05)
    raise AssertionError("the app did not become ready")


@contextmanager
def running(app: FastAPI, *, ready: bool = True) -> Iterator[TestClient]:
    """A client with the app's lifespan running (warm-up started); waits for readiness unless told not to."""
    with TestClient(app) as client:
        if ready:
            wait_ready(client)
        yield client


def worker_up(parser: BodyParser, timeout_s: float = 120.0) -> int:
    """The pid of ``parser``'s body worker once it is up (a big body must have started it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = parser.worker_pid
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise AssertionError("the body worker did not start")


def stored_bytes(store: SqliteAuditStore) -> bytes:
    """Everything the SQLite audit log holds on disk (the database and its write-ahead log): where a test looks
    for words that must never be kept (names, record numbers), past any API that might filter them."""
    path = store.path
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def diagnosed_keeping_none_of(
    client: TestClient, store: SqliteAuditStore, body: dict[str, Any], words: Sequence[str]
) -> dict[str, Any]:
    """The answer to ``body`` (``POST /v1/diagnose`` as a clinician, asserted 200), asserting first that none of
    ``words`` is kept: not in its audit record, the response, nor the raw database (:func:`stored_bytes`)."""
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    record = store.get(data["audit_id"])
    assert record is not None
    for written in (json.dumps(record.to_json()), response.text, stored_bytes(store).decode("utf-8", "replace")):
        for word in words:
            assert word not in written, word
    return data
