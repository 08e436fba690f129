"""LLM policy tests on a tiny model built here and a real local OpenAI-compatible HTTP server.

Nothing is downloaded: the model comes from ``build_tiny_model``; the server is FastAPI on
127.0.0.1 serving that model with vLLM's stop semantics, plus endpoints that fail on purpose.
The untrained model writes noise, so tests assert structure, never content.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from dxsearch.cases import Case, Finding
from dxsearch.policies.backends.base import Completion, TextBackend, cut_at_first_stop
from dxsearch.policies.backends.openai_http import OpenAIChatBackend
from dxsearch.policies.backends.transformers import TransformersBackend, checkpoint_fingerprint
from dxsearch.policies.base import Exchange, Policy, PolicyError
from dxsearch.policies.llm import LlmPolicy
from dxsearch.policies.prompt import SYSTEM_PROMPT, age_in_words, build_messages, render_case
from dxsearch.protocol import CLOSING_TAGS, INSUFFICIENT_EVIDENCE, Action, Passage, ProtocolError, Result, parse_turn
from dxsearch.train.tiny_model import build_tiny_model

CASE = Case(
    case_id="PMID_31234567_proband-7",
    sex="female",
    age="P4Y6M",
    findings=(
        Finding(label="Seizure", hpo_id="HP:0001250"),
        Finding(label="Global developmental delay", hpo_id="HP:0001263"),
        Finding(label="Unusual gait"),
        Finding(label="Microcephaly", hpo_id="HP:0000252", excluded=True),
    ),
    text="Referred at 4 years; <b>regression</b> after febrile illness & fever.",
)
LOOKUP_RESULT = Result(
    passages=(
        Passage(
            evidence_id="omim:607208#0",
            title="Dravet syndrome",
            text="Dravet syndrome: seizures in infancy, developmental delay",
            score=0.9,
            codes=("OMIM:607208",),
        ),
    ),
    note="3 retrievals left",
)
HISTORY = (
    Exchange("<reason>Early seizures with delay.</reason>", None),
    Exchange("<lookup>Dravet syndrome</lookup>", LOOKUP_RESULT),
)
MAX_NEW = 40


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-a"), seed=0)


@pytest.fixture(scope="module")
def backend(tiny_dir: Path) -> Iterator[TransformersBackend]:
    threads = torch.get_num_threads()
    yield TransformersBackend(tiny_dir, num_threads=1)
    torch.set_num_threads(threads)


def _free_output(backend: TransformersBackend, messages: list[dict[str, str]]) -> str:
    """Greedy output with no stop strings at all: the reference the stop tests cut."""
    completion = backend.generate(messages, [], MAX_NEW)
    assert completion.finish_reason in ("length", "eos")
    return completion.text


def _stop_inside(text: str) -> str:
    """A short ASCII piece from the middle of ``text``, to use as a stop string the model will hit."""
    for start in range(len(text) // 3, len(text) - 3):
        piece = text[start : start + 3]
        if piece.isascii() and piece.strip() and piece.isprintable():
            return piece
    pytest.fail(f"no usable stop string in the generated text {text!r}")


# -- (a) the tiny model, the local backend, the policy -----------------------------------------------


def test_backend_loads_the_local_checkpoint(backend: TransformersBackend, tiny_dir: Path) -> None:
    assert isinstance(backend, TextBackend)
    assert backend.version == checkpoint_fingerprint(tiny_dir)
    assert backend.model_id == tiny_dir.name
    prompt = backend.tokenizer.apply_chat_template(
        build_messages(CASE, HISTORY), add_generation_prompt=True, tokenize=False
    )
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    with pytest.raises(FileNotFoundError):
        TransformersBackend(tiny_dir / "missing")


def test_policy_returns_one_structurally_sound_turn(backend: TransformersBackend) -> None:
    policy = LlmPolicy(backend, max_new_tokens=MAX_NEW)
    assert isinstance(policy, Policy)
    assert policy.thread_safe  # the API runs its turns unserialised
    assert policy.version.startswith(f"{backend.model_id}@{backend.version}+prompt.")
    text = policy.next_turn(CASE, HISTORY)
    completion = backend.generate(build_messages(CASE, HISTORY), CLOSING_TAGS, MAX_NEW)
    assert text == completion.text
    if completion.finish_reason == "stop":
        assert completion.stop in CLOSING_TAGS
        assert text.endswith(completion.stop)
        assert cut_at_first_stop(text, CLOSING_TAGS) == (text, completion.stop)
    else:
        assert cut_at_first_stop(text, CLOSING_TAGS)[1] is None
        if completion.finish_reason == "length":
            assert completion.completion_tokens == MAX_NEW
    # Malformed output is the environment's to judge; any other exception fails the test.
    with contextlib.suppress(ProtocolError):
        parse_turn(text)


def test_same_seed_same_output(backend: TransformersBackend, tmp_path: Path) -> None:
    twin = TransformersBackend(build_tiny_model(tmp_path / "twin", seed=0), num_threads=1)
    first = LlmPolicy(backend, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY)
    assert LlmPolicy(backend, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY) == first
    assert LlmPolicy(twin, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY) == first


def test_generation_stops_at_the_first_stop_string_and_keeps_it(backend: TransformersBackend) -> None:
    messages = build_messages(CASE, ())
    free = _free_output(backend, messages)
    stop = _stop_inside(free)
    completion = backend.generate(messages, [stop], MAX_NEW)
    assert completion == Completion(
        text=free[: free.index(stop) + len(stop)],
        finish_reason="stop",
        stop=stop,
        completion_tokens=completion.completion_tokens,
    )
    assert completion.completion_tokens is not None and completion.completion_tokens < MAX_NEW


def test_cut_at_first_stop() -> None:
    assert cut_at_first_stop("<reason>a</reason><match>b</match>", CLOSING_TAGS) == ("<reason>a</reason>", "</reason>")
    assert cut_at_first_stop("abc", CLOSING_TAGS) == ("abc", None)
    assert cut_at_first_stop("xab", ["a", "ab"]) == ("xab", "ab")


# -- (b) the HTTP backend against a real local server ------------------------------------------------


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
    assert sent["stop"] == list(CLOSING_TAGS) and sent["max_tokens"] == MAX_NEW and sent["temperature"] == 0.0
    assert sent["messages"] == messages
    assert server.state.headers[0]["authorization"] == "Bearer test-key"


def test_http_backend_puts_back_the_stop_string_vllm_strips(server: Server, backend: TransformersBackend) -> None:
    messages = build_messages(CASE, ())
    stop = _stop_inside(_free_output(backend, messages))
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


# -- (c) the prompt and the transcript ---------------------------------------------------------------


def test_build_messages_lays_out_the_episode() -> None:
    messages = build_messages(CASE, HISTORY)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "assistant", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    case_text = messages[1]["content"]
    assert case_text == render_case(CASE)
    for finding in CASE.observed:
        assert f"- {finding.label}" in case_text
    assert "(HP:0001250)" in case_text and "(HP:0001263)" in case_text
    assert "excluded" in case_text.lower() and "Microcephaly (HP:0000252)" in case_text
    assert case_text.index("Microcephaly") > case_text.lower().index("excluded")
    assert "4 years 6 months" in case_text and "female" in case_text
    assert CASE.case_id not in case_text and "31234567" not in case_text
    assert "<b>" not in case_text and "&lt;b&gt;regression" in case_text
    assert [m["content"] for m in messages[2:4]] == [h.turn for h in HISTORY]
    assert messages[4]["content"].startswith("<result>")
    assert 'id="omim:607208#0"' in messages[4]["content"] and "3 retrievals left" in messages[4]["content"]


def test_render_case_without_findings_or_age() -> None:
    text = render_case(Case(case_id="c-1"))
    assert "Age: unknown" in text and "Observed findings: none recorded" in text
    assert "Excluded findings: none recorded" in text and "c-1" not in text


@pytest.mark.parametrize(
    ("age", "words"),
    [("P4Y6M", "4 years 6 months"), ("P1Y", "1 year"), ("P3W2D", "3 weeks 2 days"), (None, "unknown"), ("P", "P")],
)
def test_age_in_words(age: str | None, words: str) -> None:
    assert age_in_words(age) == words


def test_system_prompt_teaches_every_action() -> None:
    for action in Action:
        assert f"<{action.value}>" in SYSTEM_PROMPT and f"</{action.value}>" in SYSTEM_PROMPT
    assert f"<diagnose>{INSUFFICIENT_EVIDENCE}</diagnose>" in SYSTEM_PROMPT
    assert "N. name | code | evidence ids | confidence" in SYSTEM_PROMPT


def test_sampling_is_reproducible_for_a_seed(tiny_dir: Path) -> None:
    def sample_twice(seed: int) -> list[str]:
        sampler = TransformersBackend(tiny_dir, temperature=1.0, seed=seed)
        messages = build_messages(CASE, ())
        return [sampler.complete(messages, CLOSING_TAGS, 16) for _ in range(2)]

    first = sample_twice(7)
    assert sample_twice(7) == first
    assert first[0] != first[1]  # each call draws from its own seed, not the same sample again
    assert TransformersBackend(tiny_dir, temperature=1.0, seed=7).version.endswith("+T1p1s7")


def test_unseeded_sampling_varies_and_bad_dtype_is_refused(tiny_dir: Path) -> None:
    sampler = TransformersBackend(tiny_dir, temperature=1.0)
    messages = build_messages(CASE, ())
    assert len({sampler.complete(messages, CLOSING_TAGS, 16) for _ in range(3)}) > 1
    with pytest.raises(ValueError, match="dtype"):
        TransformersBackend(tiny_dir, dtype="float33")
