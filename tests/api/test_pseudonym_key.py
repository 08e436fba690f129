"""The pseudonym key (issue 16, part 2): its fingerprint, never the key, in the startup log and in every record."""

from __future__ import annotations

import io
import json

from api.app import create_app
from audit import AuditQuery, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import auth, patient_bundle, running


def test_the_key_fingerprint_is_logged_at_startup_and_recorded_in_each_trace(
    log_stream: io.StringIO,
    settings: Settings,
    index: EmbeddedIndex,
    policy: EvidencePolicy,
    store: SqliteAuditStore,
) -> None:
    fingerprint = Pseudonymiser(settings.pseudonym_key).key_fingerprint()
    assert len(fingerprint) == 16 and settings.pseudonym_key not in fingerprint
    start = log_stream.tell()
    with running(create_app(settings, index=index, policy=policy, audit_store=store)) as client:
        response = client.post("/v1/diagnose", json={"bundle": patient_bundle()}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    written = log_stream.getvalue()[start:]
    started = [json.loads(line) for line in written.splitlines() if '"started"' in line]
    assert [line["pseudonym_key_fingerprint"] for line in started] == [fingerprint]
    assert settings.pseudonym_key not in written
    assert response.json()["trace"]["case"]["pseudonym_key"] == fingerprint
    (record,) = [r for r in store.query(AuditQuery(limit=1000)).records if r.record_id == response.json()["audit_id"]]
    assert record.trace["case"]["pseudonym_key"] == fingerprint


def test_another_key_has_another_fingerprint() -> None:
    one = Pseudonymiser("a" * 32).key_fingerprint()
    assert one != Pseudonymiser("a" * 31 + "b").key_fingerprint()
    assert one == Pseudonymiser("a" * 32).key_fingerprint()
