"""Slow clients are cut off (issue 16 part 3): the request head and body each have a deadline, and the
number of requests in flight is capped. Against a real uvicorn server on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from api.limits import BodySizeLimitMiddleware
from api.serve import ServerLimits, UnsafeSettingsError, server_limits, uvicorn_options

LIMITS = ServerLimits(header_timeout_s=0.5, body_timeout_s=0.5, max_concurrency=2, keep_alive_s=5)


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the size of the body it read (through the body limit)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = str(len(body)).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(text)).encode())]}
    )
    await send({"type": "http.response.body", "body": text})


@contextmanager
def server(limits: ServerLimits = LIMITS) -> Iterator[int]:
    app = BodySizeLimitMiddleware(echo_size, max_bytes=10_000, body_timeout_s=limits.body_timeout_s)
    options = uvicorn_options(limits)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", **options)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = running.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(10)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed the connection within ``seconds``, and what it sent before."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
        return True, received
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received


def test_a_request_head_that_trickles_in_is_cut_off() -> None:
    with server() as port:
        sock = _connect(port)
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(20):  # one header byte every 0.1 s: each byte once reset the only timer there was
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            closed, _ = _closed_within(sock, 2)
        assert closed and time.monotonic() - started < 2.5
        sock.close()

        ok = _connect(port)  # a prompt client is served
        ok.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        closed, answer = _closed_within(ok, 3)
        assert closed and answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n3")
        ok.close()


def test_a_body_that_trickles_in_is_a_408() -> None:
    with server() as port:
        sock = _connect(port)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        _, answer = _closed_within(sock, 3)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"request body not received within 0.5 s" in answer
        sock.close()


def test_requests_past_the_concurrency_limit_are_a_503() -> None:
    limits = LIMITS.model_copy(update={"body_timeout_s": 30.0, "max_concurrency": 3})
    with server(limits) as port:
        # uvicorn counts the arriving connection too: a limit of N serves N - 1 others at once.
        held = [_connect(port) for _ in range(limits.max_concurrency - 1)]
        for sock in held:  # each holds a request open (its body never completes within the test)
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0")
        time.sleep(0.2)
        extra = _connect(port)
        extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _, answer = _closed_within(extra, 3)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        for sock in held:
            sock.close()
        extra.close()


def test_the_server_runs_on_httptools_and_uvloop() -> None:
    """uvicorn[standard]: the HTTP parser in C (h11 parsed every body byte in Python, issue 16) and uvloop."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = uvicorn.Config(echo_size, lifespan="off", **uvicorn_options(LIMITS))
    config.load()
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)
    loop = config.get_loop_factory()
    assert loop is not None and type(loop()).__module__.startswith("uvloop")


def test_a_kept_alive_connection_waits_for_its_next_request_head() -> None:
    with server() as port:
        sock = _connect(port)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        time.sleep(0.3)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # the next head, never completed
        closed, answer = _closed_within(sock, 2)
        assert closed and answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1") == 1
        sock.close()


def test_a_bad_limit_in_the_environment_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DXSEARCH_HEADER_TIMEOUT_S", "-1")
    with pytest.raises(UnsafeSettingsError, match="DXSEARCH_HEADER_TIMEOUT_S"):
        server_limits()
