"""The HTTP backend against a real local OpenAI-compatible server.

The server is FastAPI on 127.0.0.1 serving the tiny model with vLLM's stop semantics, plus endpoints
that fail on purpose. Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from dxsearch.policies.backends.base import TextBackend
from dxsearch.policies.backends.openai_http import OpenAIChatBackend, stops_to_send
from dxsearch.policies.backends.transformers import TransformersBackend
from dxsearch.policies.base import PolicyError
from dxsearch.policies.llm import LlmPolicy
from dxsearch.policies.prompt import build_messages
from dxsearch.protocol import CLOSING_TAGS
from tests.dxsearch.policies.helpers import CASE, HISTORY, MAX_NEW, free_output, stop_inside

REPO = Path(__file__).resolve().parents[4]


@dataclass
class ServerState:
    """What the test server has seen; reset before each test."""

    hits: dict[str, int] = field(default_factory=dict)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def count(self, route: str) -> int:
        self.hits[route] = self.hits.get(route, 0) + 1
        return self.hits[route]


class ChatRequest(BaseModel):
    model: str
    messages: list[dict[str, str]]
    max_tokens: int = 16
    stop: list[str] = []
    temperature: float = 1.0


def _reply(content: str, finish_reason: str, **extra: Any) -> dict[str, Any]:
    """An OpenAI chat completion; ``extra`` goes into the choice (vLLM's ``stop_reason``)."""
    message = {"role": "assistant", "content": content}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, **extra}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
    }


def _make_app(backend: TransformersBackend, state: ServerState) -> FastAPI:
    app = FastAPI()

    @app.post("/tiny/v1/chat/completions")
    def tiny(body: ChatRequest, request: Request) -> dict[str, Any]:
        """The tiny model with vLLM's stop handling: the stop string is cut and named in stop_reason."""
        state.payloads.append(body.model_dump())
        state.headers.append(dict(request.headers))
        done = backend.generate(body.messages, body.stop, body.max_tokens)
        content = done.text[: -len(done.stop)] if done.stop else done.text
        state.contents.append(content)
        reply = _reply(content, "length" if done.finish_reason == "length" else "stop", stop_reason=done.stop)
        reply["usage"]["completion_tokens"] = done.completion_tokens
        return reply

    @app.post("/flaky/v1/chat/completions")
    def flaky() -> Response:
        if state.count("flaky") <= 2:
            return PlainTextResponse("overloaded", status_code=503)
        return JSONResponse(_reply("<reason>ok", "stop", stop_reason="</reason>"))

    @app.post("/broken/v1/chat/completions")
    def broken() -> Response:
        state.count("broken")
        return PlainTextResponse("internal error", status_code=500)

    @app.post("/rejecting/v1/chat/completions")
    def rejecting() -> Response:
        state.count("rejecting")
        return PlainTextResponse("maximum context length exceeded", status_code=400)

    @app.post("/garbage/v1/chat/completions")
    def garbage() -> Response:
        return PlainTextResponse("not json", status_code=200)

    @app.post("/hang/v1/chat/completions")
    async def hang() -> Response:
        state.count("hang")
        deadline = time.monotonic() + 5.0
        while not state.release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return JSONResponse(_reply("<reason>late", "stop", stop_reason="</reason>"))

    scripted = {
        "vllm": _reply("<reason>ok", "stop", stop_reason="</reason>"),
        "plain": _reply("<lookup>Marfan syndrome", "stop"),
        "eos": _reply("<reason>unfinished", "stop", stop_reason=None),
        "length": _reply("<reason>cut off", "length", stop_reason=None),
        "kept": _reply("<search>x</search>", "stop", stop_reason="</search>"),
        "aborted": _reply("<reason>x", "abort"),
    }

    @app.post("/scripted/{variant}/v1/chat/completions")
    def scripted_reply(variant: str) -> dict[str, Any]:
        return scripted[variant]

    return app


@dataclass
class Server:
    url: str
    state: ServerState


@pytest.fixture(scope="module")
def server_module(backend: TransformersBackend) -> Iterator[Server]:
    state = ServerState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(_make_app(backend, state), log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    yield Server(f"http://127.0.0.1:{port}", state)
    state.release.set()
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def server(server_module: Server) -> Server:
    state = server_module.state
    state.hits.clear()
    state.payloads.clear()
    state.headers.clear()
    state.contents.clear()
    state.release.clear()
    return server_module


def _client(url: str, **kwargs: Any) -> OpenAIChatBackend:
    options: dict[str, Any] = {"timeout_s": 30.0, "max_retries": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.05}
    options.update(kwargs)
    return OpenAIChatBackend(url, "tiny", **options)


def test_http_round_trip_matches_the_local_backend(server: Server, backend: TransformersBackend) -> None:
    messages = build_messages(CASE, HISTORY)
    with _client(f"{server.url}/tiny/v1", api_key="test-key") as client:
        assert isinstance(client, TextBackend)
        remote = client.generate(messages, CLOSING_TAGS, MAX_NEW)
        policy_turn = LlmPolicy(client, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY)
    local = backend.generate(messages, CLOSING_TAGS, MAX_NEW)
    assert remote == local
    assert policy_turn == LlmPolicy(backend, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY)
    sent = server.state.payloads[0]
    # Five closing tags are more stop strings than OpenAI or a stock vLLM take (4): their shared "</" is sent.
    assert sent["stop"] == ["</"] and sent["max_tokens"] == MAX_NEW and sent["temperature"] == 0.0
    assert sent["messages"] == messages
    assert server.state.headers[0]["authorization"] == "Bearer test-key"


def test_stop_strings_past_the_api_limit_are_sent_as_their_shared_prefix() -> None:
    assert stops_to_send(("</a>", "</b>")) == ["</a>", "</b>"]
    assert stops_to_send(CLOSING_TAGS) == ["</"]
    with pytest.raises(ValueError, match="no common prefix"):
        stops_to_send(("a", "b", "c", "d", "e"))


def test_http_backend_puts_back_the_stop_string_vllm_strips(server: Server, backend: TransformersBackend) -> None:
    messages = build_messages(CASE, ())
    stop = stop_inside(free_output(backend, messages))
    with _client(f"{server.url}/tiny") as client:
        remote = client.generate(messages, [stop], MAX_NEW)
    assert remote == backend.generate(messages, [stop], MAX_NEW)
    assert remote.finish_reason == "stop" and remote.text.endswith(stop)
    assert server.state.contents == [remote.text[: -len(stop)]]


@pytest.mark.parametrize(
    ("variant", "text", "finish_reason"),
    [
        ("vllm", "<reason>ok</reason>", "stop"),
        ("plain", "<lookup>Marfan syndrome</lookup>", "stop"),
        ("eos", "<reason>unfinished", "eos"),
        ("length", "<reason>cut off", "length"),
        ("kept", "<search>x</search>", "stop"),
    ],
)
def test_http_backend_reads_how_the_server_stopped(server: Server, variant: str, text: str, finish_reason: str) -> None:
    with _client(f"{server.url}/scripted/{variant}") as client:
        completion = client.generate([{"role": "user", "content": "hi"}], CLOSING_TAGS, 8)
    assert (completion.text, completion.finish_reason) == (text, finish_reason)
    assert completion.completion_tokens == 3


def test_http_backend_retries_503_then_succeeds(server: Server) -> None:
    with _client(f"{server.url}/flaky") as client:
        assert client.complete([{"role": "user", "content": "hi"}], CLOSING_TAGS, 8) == "<reason>ok</reason>"
    assert server.state.hits["flaky"] == 3


def _assert_one_line_without_phi(error: PolicyError) -> None:
    message = str(error)
    assert "\n" not in message
    assert not any(f.label in message for f in CASE.findings)
    assert CASE.case_id not in message


def test_http_backend_gives_up_after_max_retries(server: Server) -> None:
    started = time.monotonic()
    with _client(f"{server.url}/broken", max_retries=2) as client, pytest.raises(PolicyError, match="HTTP 500") as err:
        client.complete(build_messages(CASE, HISTORY), CLOSING_TAGS, 8)
    assert server.state.hits["broken"] == 3
    assert time.monotonic() - started < 2.0
    _assert_one_line_without_phi(err.value)


def test_http_backend_does_not_retry_a_client_error(server: Server) -> None:
    with _client(f"{server.url}/rejecting") as client, pytest.raises(PolicyError, match="HTTP 400") as err:
        client.complete(build_messages(CASE, HISTORY), CLOSING_TAGS, 8)
    assert server.state.hits["rejecting"] == 1
    _assert_one_line_without_phi(err.value)


def test_http_backend_times_out_on_a_hanging_server(server: Server) -> None:
    started = time.monotonic()
    with (
        _client(f"{server.url}/hang", timeout_s=0.3, max_retries=1) as client,
        pytest.raises(PolicyError, match="timed out") as err,
    ):
        client.complete(build_messages(CASE, HISTORY), CLOSING_TAGS, 8)
    assert server.state.hits["hang"] == 2
    assert time.monotonic() - started < 3.0
    _assert_one_line_without_phi(err.value)


def test_http_backend_reports_refused_connections_and_bad_answers(server: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with _client(f"http://127.0.0.1:{closed_port}") as client, pytest.raises(PolicyError, match="connection failed"):
        client.complete([{"role": "user", "content": "hi"}], CLOSING_TAGS, 8)
    with _client(f"{server.url}/garbage") as client, pytest.raises(PolicyError, match="malformed"):
        client.complete([{"role": "user", "content": "hi"}], CLOSING_TAGS, 8)
    with _client(f"{server.url}/scripted/aborted") as client, pytest.raises(PolicyError, match="abort"):
        client.complete([{"role": "user", "content": "hi"}], CLOSING_TAGS, 8)


def test_the_http_policy_loads_neither_torch_nor_transformers() -> None:
    """A fresh interpreter imports the policy and this backend and builds both (no request): no torch."""
    code = textwrap.dedent(
        """
        import sys
        from dxsearch.policies.backends.openai_http import OpenAIChatBackend
        from dxsearch.policies.llm import LlmPolicy
        with OpenAIChatBackend("http://127.0.0.1:9", "served") as backend:
            LlmPolicy(backend)
        print(sorted(name for name in ("torch", "transformers") if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
