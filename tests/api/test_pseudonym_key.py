"""The pseudonym key (issue 16, part 2): its fingerprint, never the key, in the startup log and in every record."""

from __future__ import annotations

import io
import json

import pytest

from api.app import create_app
from api.serve import UnsafeSettingsError, require_safe
from audit import AuditQuery, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import DEFAULT_PSEUDONYM_KEY, Settings
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


def test_serving_names_every_required_secret_missing_at_once() -> None:
    """A user test: `dxsearch serve` named the pseudonym key, then (set, tried again) the signing key; the API's own
    check (``uvicorn --factory api.serve:app_factory`` too) names both, in :meth:`Settings.serving_refusal`, the
    development hint once."""
    neither = Settings(development=False, pseudonym_key=DEFAULT_PSEUDONYM_KEY, audit_signing_key=None)
    reason = neither.serving_refusal()
    assert reason is not None and "\n" not in reason
    assert reason.startswith("DXSEARCH_PSEUDONYM_KEY is the public default key: ")
    assert "; DXSEARCH_AUDIT_SIGNING_KEY is not set: " in reason
    assert reason.count("DXSEARCH_DEVELOPMENT=1") == 1 and reason.endswith("for development only")
    with pytest.raises(UnsafeSettingsError, match="AUDIT_SIGNING_KEY"):
        require_safe(neither)
    secret = "0123456789abcdef0123456789abcdef-api-test"
    one = Settings(development=False, pseudonym_key=secret, audit_signing_key=None)
    assert one.serving_refusal() == (  # one missing: its reason as it always was
        "DXSEARCH_AUDIT_SIGNING_KEY is not set: without a signing key the audit log cannot be verified against signed "
        "checkpoints; set it to an Ed25519 key file, or set DXSEARCH_DEVELOPMENT=1 (or `dxsearch serve --dev`) for "
        "development only"
    )
    assert neither.model_copy(update={"development": True}).serving_refusal() is None
