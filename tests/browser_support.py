"""The real app served on 127.0.0.1 for browser tests, and Debian's chromium as Playwright launches it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from support import ListSource

from api.app import create_app
from audit import SqliteAuditStore
from corpus_builder.build import run_build
from dxsearch.corpus import Document
from dxsearch.policies.base import Policy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
#: Browser tests run only where Debian's chromium is; CI installs it.
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason="Debian's chromium is missing at /usr/bin/chromium (.ci/run installs it: apt-get install chromium)",
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@contextmanager
def serving(app: FastAPI, name: str, ready_within_s: float = 90.0) -> Iterator[str]:
    """``app`` on a free port of 127.0.0.1 in a background thread; yields its base URL once ``/readyz`` is 200.

    The socket is bound before the server starts, so no other process can take the port in between.
    A warm-up that fails (``/readyz`` says ``failed``) fails the test at once with the app's reason.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within_s
        while True:
            try:
                response = httpx.get(base_url + "/readyz", timeout=5)
                if response.status_code == 200:
                    break
                assert response.json().get("state") != "failed", response.text
            except httpx.TransportError:
                pass
            assert thread.is_alive(), "uvicorn stopped during start-up"
            assert time.monotonic() < deadline, f"the app did not become ready in {ready_within_s:g} s"
            time.sleep(0.1)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def serving_documents(
    root: Path,
    documents: Sequence[Document],
    settings: Settings,
    policy: Policy,
    *,
    clinician_key: str,
    name: str,
    **updates: Any,
) -> Iterator[str]:
    """The real app over an index built from ``documents`` under ``root`` (an audit log beside it), one clinician
    key, ``policy``, and ``settings`` with ``updates``; yields its base URL (:func:`serving`)."""
    run_build(root / "index", [ListSource("viewer-docs", list(documents))], settings)
    values: dict[str, Any] = {
        "api_keys": SecretStr(f"{clinician_key}:clinician"),
        "rate_limit_per_minute": 10_000,
        "policy_timeout_s": 60.0,
        "pseudonym_key": f"{name}-test-pseudonym-key-0123",
        **updates,
    }
    served = settings.model_copy(update=values)
    index = EmbeddedIndex(root / "index", served)
    store = SqliteAuditStore(root / "audit.db")
    try:
        with serving(create_app(served, index=index, policy=policy, audit_store=store), f"{name}-uvicorn") as url:
            yield url
    finally:
        index.close()
        store.close()
