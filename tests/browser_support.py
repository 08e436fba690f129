"""The real app served on 127.0.0.1 for browser tests, and Debian's chromium as Playwright launches it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

CHROMIUM = Path("/usr/bin/chromium")
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
