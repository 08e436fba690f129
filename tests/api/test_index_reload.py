"""A running API follows the index directory's ``CURRENT``: a newly published generation is served without a
restart, a generation that fails to load is not, and no request mixes two generations.

Everything is real: indexes built by ``run_build`` (a full build, then ``incremental=True`` adding a document,
as `corpus-builder add` does), the service opening them itself from ``settings.index``, the default policy
built by the one factory, a SQLite audit log. The watcher's tick is called directly (``reload_if_changed``),
so no test waits for a timer except the one that checks the thread does it by itself.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support import SMALL_DOCS, ListSource, make_doc

from api.app import create_app
from api.service import DiagnosisService
from audit import SqliteAuditStore
from corpus_builder.build import run_build
from dxsearch.cases import Case
from dxsearch.corpus import DocumentKind
from dxsearch.episode import Exchange
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import CURRENT, GENERATIONS, write_atomically
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, auth, running

#: What an incremental build adds: a document the first generation does not have.
NEW_DOC = make_doc(
    "omim:999901",
    DocumentKind.DISEASE_KNOWLEDGE,
    "Test reload syndrome",
    "Test reload syndrome (OMIM:999901)\nClinical features:\n- Arachnodactyly\n- Tall stature",
    ("OMIM:999901",),
)
MARFAN = {"findings": ["HP:0001166", "HP:0001083", "Tall stature"], "sex": "female", "age": 14}


@pytest.fixture
def index_dir(tmp_path: Path, test_settings: Settings) -> Path:
    """An index of its own per test (tests publish generations into it)."""
    directory = tmp_path / "index"
    run_build(directory, [ListSource("test-docs", list(SMALL_DOCS))], test_settings)
    return directory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteAuditStore]:
    with SqliteAuditStore(tmp_path / "audit.db") as opened:
        yield opened


def _app(test_settings: Settings, index_dir: Path, store: SqliteAuditStore, **overrides: Any) -> FastAPI:
    """The app opening ``index_dir`` itself (no index injected: only then does it follow CURRENT)."""
    values: dict[str, Any] = {"index_reload_interval_s": 3600.0, **overrides}
    return create_app(api_settings(test_settings, index=index_dir, **values), audit_store=store)


def _service(app: FastAPI) -> DiagnosisService:
    service: DiagnosisService = app.state.services.diagnosis
    return service


def _publish_new_generation(index_dir: Path, test_settings: Settings) -> str:
    """`corpus-builder add`: the live generation plus NEW_DOC, published as a new generation."""
    manifest = run_build(index_dir, [ListSource("more-docs", [NEW_DOC])], test_settings, incremental=True)
    return manifest.index_version


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def _diagnose(client: TestClient, store: SqliteAuditStore) -> tuple[str, str]:
    """The index version a diagnosis answered with, and the one its audit record holds."""
    response = client.post("/v1/diagnose", json=MARFAN, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["trace"]["error"] is None, data["trace"]["error"]  # the policy ran to its answer
    assert data["trace"]["index_version"] == data["index_version"]
    record = store.get(data["audit_id"])
    assert record is not None
    return data["index_version"], record.index_version


def test_a_published_generation_is_served_after_one_watcher_tick(
    test_settings: Settings, index_dir: Path, store: SqliteAuditStore
) -> None:
    app = _app(test_settings, index_dir, store)
    with running(app) as client:
        service = _service(app)
        old = service.live()
        version_a = old.index.version
        assert _diagnose(client, store) == (version_a, version_a)
        assert client.get("/v1/documents/omim:999901%230", headers=auth("clinician")).status_code == 404
        assert service.reload_if_changed() is False  # nothing new yet

        version_b = _publish_new_generation(index_dir, test_settings)
        assert version_b != version_a
        assert client.get("/readyz").json()["index_version"] == version_a  # no tick yet: the old one serves

        assert service.reload_if_changed() is True
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["index_version"] == version_b
        assert ready.json()["index_generation"] == (index_dir / CURRENT).read_text().strip()
        assert ready.json()["index_reload_error"] is None
        assert _diagnose(client, store) == (version_b, version_b)
        assert client.get("/v1/corpus", headers=auth("clinician")).json()["index_version"] == version_b
        passage = client.get("/v1/documents/omim:999901%230", headers=auth("clinician"))
        assert passage.status_code == 200 and passage.json()["index_version"] == version_b
        # The old set was rebuilt whole, not patched, and its index closed once nothing held it.
        new = service.live()
        assert new is not old and new.policy is not old.policy and new.next_steps is not old.next_steps
        assert old.retired and old.closed and not new.closed
        assert service.reload_if_changed() is False  # the same generation again: nothing to do


def test_a_generation_that_fails_to_load_leaves_the_old_one_serving(
    log_stream: io.StringIO, test_settings: Settings, index_dir: Path, store: SqliteAuditStore
) -> None:
    app = _app(test_settings, index_dir, store)
    with running(app) as client:
        service = _service(app)
        live = service.live()
        version_a, generation_a = live.index.version, live.index.generation.name
        generations = index_dir / GENERATIONS

        # CURRENT names a generation that is not there.
        write_atomically(index_dir / CURRENT, b"20990101T000000000000Z\n")
        assert service.reload_if_changed() is False
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["index_version"] == version_a
        assert "IndexNotFoundError" in ready.json()["index_reload_error"]
        assert _diagnose(client, store) == (version_a, version_a)

        # A generation whose manifest opens but whose dense side is gone: only the warm-up case finds out.
        broken = generations / "20990101T000000000001Z"
        shutil.copytree(generations / generation_a, broken)
        shutil.rmtree(broken / "dense")
        write_atomically(index_dir / CURRENT, f"{broken.name}\n".encode())
        assert service.reload_if_changed() is False
        assert service.live() is live and not live.closed
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["index_version"] == version_a
        assert broken.name in ready.json()["index_reload_error"]
        assert _diagnose(client, store) == (version_a, version_a)
        assert service.reload_if_changed() is False  # retried on the next tick, failing the same way
        failures = [e for e in _events(log_stream) if e.get("event") == "index_reload_failed"]
        assert [e["generation"] for e in failures[-3:]] == ["20990101T000000000000Z", broken.name, broken.name]
        assert all(e["serving_index_version"] == version_a and e["level"] == "error" for e in failures[-3:])

        # Once CURRENT names a good generation again, the next tick clears the error.
        write_atomically(index_dir / CURRENT, f"{generation_a}\n".encode())
        assert service.reload_if_changed() is False
        assert client.get("/readyz").json()["index_reload_error"] is None


class GatedPolicy:
    """The evidence policy; once armed, its next turn waits until the test opens the gate.

    It serialises the evidence policy's turns itself and says it is ``thread_safe``, so the service does
    not wrap it in its one-turn-at-a-time lock: an injected policy serves every generation, and under that
    lock the new generation's warm-up would wait for the gated turn (until the gate timed out) instead of
    running beside it as a real policy's one short turn lets it.
    """

    name = "evidence"
    version = "gated"
    thread_safe = True

    def __init__(self) -> None:
        self.inner = EvidencePolicy()
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self._turns = threading.Lock()

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        if self.armed.is_set():
            self.entered.set()
            assert self.gate.wait(60)
        with self._turns:
            return self.inner.next_turn(case, history)


def test_a_request_in_flight_during_a_reload_finishes_on_its_own_generation(
    test_settings: Settings, index_dir: Path, store: SqliteAuditStore
) -> None:
    """A diagnosis stopped inside its policy while the reload swaps: its answer, its audit record and its
    passage hashes are all the old generation's, and the old index stays open until it is done."""
    gated = GatedPolicy()
    app = create_app(
        api_settings(test_settings, index=index_dir, index_reload_interval_s=3600.0), policy=gated, audit_store=store
    )
    with running(app) as client:
        service = _service(app)
        old = service.live()
        version_a = old.index.version
        gated.armed.set()
        answers: list[tuple[str, str]] = []
        request = threading.Thread(target=lambda: answers.append(_diagnose(client, store)))
        request.start()
        assert gated.entered.wait(60)
        gated.armed.clear()  # the warm-up case of the new generation must not wait

        version_b = _publish_new_generation(index_dir, test_settings)
        assert service.reload_if_changed() is True
        assert service.live().index.version == version_b
        assert old.retired and not old.closed  # the request in flight still holds it

        gated.gate.set()
        request.join(60)
        assert answers == [(version_a, version_a)]
        assert old.closed  # closed by the last request that held it
        assert _diagnose(client, store) == (version_b, version_b)


def test_the_watcher_thread_reloads_by_itself(
    test_settings: Settings, index_dir: Path, store: SqliteAuditStore
) -> None:
    app = _app(test_settings, index_dir, store, index_reload_interval_s=0.05)
    with running(app) as client:
        version_b = _publish_new_generation(index_dir, test_settings)
        deadline = time.monotonic() + 120
        while client.get("/readyz").json()["index_version"] != version_b:
            assert time.monotonic() < deadline, "the watcher did not pick up the new generation"
            time.sleep(0.05)
        assert _diagnose(client, store) == (version_b, version_b)
    watcher = _service(app)._watcher
    assert watcher is not None and not watcher.is_alive()  # close() stopped it


def test_an_injected_index_or_a_zero_interval_is_never_replaced(
    test_settings: Settings, index_dir: Path, store: SqliteAuditStore
) -> None:
    app = _app(test_settings, index_dir, store, index_reload_interval_s=0)
    with running(app):
        assert _service(app)._watcher is None
    injected = EmbeddedIndex(index_dir, test_settings)  # the caller's: pinned to its generation
    try:
        app = create_app(api_settings(test_settings, index=index_dir), index=injected, audit_store=store)
        with running(app):
            service = _service(app)
            assert service._watcher is None
            _publish_new_generation(index_dir, test_settings)
            assert service.reload_if_changed() is False
            assert service.live().index is injected
    finally:
        injected.close()


@pytest.mark.es
def test_over_elasticsearch_a_reload_outlives_the_sweep_that_deletes_the_old_index(
    tmp_path: Path, es_settings: Settings, store: SqliteAuditStore
) -> None:
    """The defect as reported: builds sweep old generations, deleting their Elasticsearch indices.

    With a tick after each build the API is always on a kept generation; two builds within one interval
    sweep the one it serves (503, nothing audited), and the next tick brings it back.
    """
    settings = es_settings.model_copy(update={"es_index_prefix": f"{es_settings.es_index_prefix}-reload"})
    index_dir = tmp_path / "index"
    run_build(index_dir, [ListSource("test-docs", list(SMALL_DOCS))], settings)
    app = _app(settings, index_dir, store)
    with running(app) as client:
        service = _service(app)
        version_a = service.live().index.version
        assert _diagnose(client, store) == (version_a, version_a)

        version_b = _publish_new_generation(index_dir, settings)
        assert service.reload_if_changed() is True
        assert _diagnose(client, store) == (version_b, version_b)

        extra = make_doc("omim:999902", DocumentKind.DISEASE_KNOWLEDGE, "Second test syndrome", "Chorea\n- Ataxia")
        run_build(index_dir, [ListSource("even-more", [extra])], settings, incremental=True)  # sweeps A
        assert _diagnose(client, store) == (version_b, version_b)  # B is kept: no restart needed

        last = make_doc("omim:999903", DocumentKind.DISEASE_KNOWLEDGE, "Third test syndrome", "Seizures")
        version_d = run_build(index_dir, [ListSource("last", [last])], settings, incremental=True).index_version
        swept = client.post("/v1/diagnose", json=MARFAN, headers=auth("clinician"))  # B's index is gone
        assert swept.status_code == 503 and "index_not_found_exception" in swept.json()["detail"]
        assert service.reload_if_changed() is True
        assert _diagnose(client, store) == (version_d, version_d)


def _failed_warm_up(client: TestClient) -> Any:
    """``/readyz`` once the start-up warm-up has failed (it runs in the background)."""
    deadline = time.monotonic() + 60
    while (status := client.get("/readyz")).json().get("state") != "failed":
        assert time.monotonic() < deadline, status.text
        time.sleep(0.02)
    return status


def test_an_api_started_before_its_index_exists_becomes_ready_once_it_is_built(
    test_settings: Settings, tmp_path: Path, store: SqliteAuditStore
) -> None:
    """Warm-up fails (no index yet) and is retried: the first build makes the running API ready, no restart."""
    index_dir = tmp_path / "not-built-yet"
    app = _app(test_settings, index_dir, store, warm_up_retry_s=0.05)
    with running(app, ready=False) as client:
        status = _failed_warm_up(client)
        assert status.status_code == 503 and "holds no index" in status.json()["reason"]
        manifest = run_build(index_dir, [ListSource("test-docs", list(SMALL_DOCS))], test_settings)
        deadline = time.monotonic() + 120  # not wait_ready: the state stays "failed" until a retry succeeds
        while (status := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, f"warm-up was not retried: {status.text}"
            time.sleep(0.05)
        assert status.json()["index_version"] == manifest.index_version
        assert _diagnose(client, store) == (manifest.index_version, manifest.index_version)


def test_a_failed_warm_up_with_retry_off_stays_failed(
    test_settings: Settings, tmp_path: Path, store: SqliteAuditStore
) -> None:
    index_dir = tmp_path / "not-built-yet"
    app = _app(test_settings, index_dir, store, warm_up_retry_s=0)
    with running(app, ready=False) as client:
        _failed_warm_up(client)
        assert not [t for t in threading.enumerate() if t.name == "dxsearch-warm-up-retry"]  # none scheduled
        run_build(index_dir, [ListSource("test-docs", list(SMALL_DOCS))], test_settings)
        time.sleep(0.5)  # ten times the retry interval the other test uses
        status = client.get("/readyz")
        assert status.status_code == 503 and status.json()["state"] == "failed"
