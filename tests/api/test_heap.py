"""The serving process freezes what warm-up loaded, before it says it is ready (api.heap, issue 16).

Why it matters: without it, full garbage collections walk the index's millions of objects while holding
the GIL, and a stream of big request bodies brings one round every few requests.
"""

from __future__ import annotations

import gc

import pytest
import uvicorn

import api.serve
import api.service
from api.app import create_app
from api.heap import freeze_warm_heap
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, running


def test_freezing_moves_every_live_object_out_of_the_collectors_way() -> None:
    try:
        frozen = freeze_warm_heap()
        # Frozen objects leave the permanent generation only by being freed, which other threads of the
        # test process (e.g. a body worker's pool manager) may do between the two counts.
        assert 0 < gc.get_freeze_count() <= frozen
        assert gc.collect() >= 0  # a collection still runs, over what was made since
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("asked", [True, False])
def test_the_heap_is_frozen_once_warm_and_before_ready_when_asked(
    asked: bool, settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[str] = []
    app = create_app(api_settings(settings), index=index, policy=policy, freeze_heap=asked)
    service = app.state.services.diagnosis

    def freeze() -> int:
        states.append(service.state)
        return 1

    monkeypatch.setattr(api.service, "freeze_warm_heap", freeze)
    with running(app):
        assert service.state == "ready"
    assert states == (["starting"] if asked else [])


def test_the_serving_process_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[bool] = []
    monkeypatch.setattr(api.serve, "create_app", lambda *a, **kw: made.append(kw.get("freeze_heap", False)))
    monkeypatch.setattr(api.serve, "get_settings", lambda: Settings(development=True))
    monkeypatch.setattr(api.serve, "configure_logging", lambda **kw: None)  # the tests' logging stays
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    api.serve.app_factory()
    api.serve.serve()
    assert made == [True, True]
