"""Big bodies parsed in the low-priority worker process (api.body_process) get the answers of the thread path.

Why compared app with app: the worker only moves where a body is parsed, validated and screened; every
answer (413 entry cap, 422, 400, an accepted bundle read by the intake) must be the one an app that parses
every body in a thread gives, byte for byte but the request id. And the worker may die or stop answering:
the request is then parsed in a thread, with the same answer, and a fresh worker takes over.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

import api
from api.app import create_app
from api.body import Refused, parse_screened
from api.body_process import BodyParser
from api.schemas import DiagnoseRequest, diagnose_refusal
from audit import SqliteAuditStore
from dxsearch.intake import IntakeError, IntakeLimits
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import api_settings, auth, observation, patient_bundle, running, worker_up

#: Big enough for the worker (the default threshold is 64 KiB), within the raised body limit.
MAX_BYTES = 4 * 1024 * 1024
JSON = {**auth("clinician"), "Content-Type": "application/json"}


def _bundle(observations: int, **changes: Any) -> dict[str, Any]:
    bundle = patient_bundle()
    bundle["entry"] += [
        {"resource": observation(f"HP:{9_000_000 + number:07d}", f"Finding {number}")} for number in range(observations)
    ]
    return {**bundle, **changes}


#: Big bodies and what answers them: the entry cap, validation, FHIR, the intake's findings cap, JSON.
BIG_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("over the entry cap", {"json": {"bundle": _bundle(10_000)}}),
    ("over the cap, with sex", {"json": {"bundle": _bundle(10_000), "sex": "female"}}),
    ("over the cap, not a Bundle", {"json": {"bundle": _bundle(10_000, resourceType="Patient")}}),
    ("under the cap, over the findings cap", {"json": {"bundle": _bundle(600)}}),
    ("malformed JSON", {"content": b'{"bundle": {"entry": [' + b'{"a": 1},' * 20_000 + b"]"}),
    ("an integer past 64 bits", {"content": b'{"bundle": {"n": 18446744073709551616, "x": "' + b"a" * 70_000 + b'"}}'}),
]


@pytest.fixture(scope="module")
def clients(
    log_stream: io.StringIO,
    test_settings: Settings,
    index: EmbeddedIndex,
    policy: EvidencePolicy,
    store: SqliteAuditStore,
) -> Iterator[tuple[TestClient, TestClient]]:
    """An app parsing big bodies in the worker (up, and restarting at once), and one parsing all in a thread."""
    in_worker = create_app(
        api_settings(test_settings, max_request_bytes=MAX_BYTES), index=index, policy=policy, audit_store=store
    )
    in_thread = create_app(
        api_settings(test_settings, max_request_bytes=MAX_BYTES, body_process_min_bytes=0),
        index=index,
        policy=policy,
        audit_store=store,
    )
    with running(in_worker) as worker_client, running(in_thread) as thread_client:
        parser = _parser(worker_client)
        parser.restart_after_s = 0.0
        first = worker_client.post("/v1/diagnose", json={"bundle": _bundle(10_000)}, headers=auth("clinician"))
        assert first.status_code == 413  # parsed in a thread: the first big body starts the worker
        worker_up(parser)
        yield worker_client, thread_client


def _parser(client: TestClient) -> BodyParser:
    parser: BodyParser = client.app.state.services.body_parser  # type: ignore[attr-defined]
    return parser


def _answer(client: TestClient, kwargs: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/diagnose", headers=JSON, **kwargs)
    body = response.json()
    assert body.pop("request_id")
    return response.status_code, body


@pytest.mark.parametrize("kwargs", [b[1] for b in BIG_BODIES], ids=[b[0] for b in BIG_BODIES])
def test_a_big_body_gets_the_same_answer_from_the_worker_as_from_a_thread(
    clients: tuple[TestClient, TestClient], kwargs: dict[str, Any]
) -> None:
    worker_client, thread_client = clients
    parser = _parser(worker_client)
    answered = parser.worker_answers
    assert _answer(worker_client, kwargs) == _answer(thread_client, kwargs)
    assert parser.worker_answers == answered + 1


def test_the_entry_cap_is_a_413_naming_it_from_the_worker(clients: tuple[TestClient, TestClient]) -> None:
    worker_client, _ = clients
    status, body = _answer(worker_client, {"json": {"bundle": _bundle(10_000)}})
    assert status == 413
    assert body == {
        "detail": "the bundle has 10004 entries; this server reads at most 1000 (DXSEARCH_MAX_BUNDLE_ENTRIES)",
        "path": "entry",
        "reason": "more than 1000 entries",
    }


def test_a_killed_worker_costs_no_answer_and_is_replaced(
    clients: tuple[TestClient, TestClient], log_stream: io.StringIO
) -> None:
    worker_client, thread_client = clients
    parser = _parser(worker_client)
    over_cap = {"json": {"bundle": _bundle(10_000)}}
    expected = _answer(thread_client, over_cap)
    killed = worker_up(parser)
    os.kill(killed, signal.SIGKILL)
    assert _answer(worker_client, over_cap) == expected  # parsed in a thread, or by a worker found dead
    assert _answer(worker_client, over_cap) == expected  # the dead worker is dropped, another started
    assert worker_up(parser) != killed
    answered = parser.worker_answers
    assert _answer(worker_client, over_cap) == expected
    assert parser.worker_answers == answered + 1
    assert "body_worker_lost" in log_stream.getvalue()


def _in_thread(raw: bytes, limits: IntakeLimits) -> Any:
    try:
        return parse_screened(raw, "application/json", DiagnoseRequest, _screen(limits))
    except (RequestValidationError, HTTPException) as exc:
        return exc


def _screen(limits: IntakeLimits) -> Any:
    return partial(diagnose_refusal, limits=limits)


def _same(got: Any, expected: Any) -> None:
    assert type(got) is type(expected)
    if isinstance(expected, Refused):
        assert isinstance(expected.error, IntakeError) and isinstance(got.error, IntakeError)
        assert vars(got.error) == vars(expected.error)
    elif isinstance(expected, RequestValidationError):
        assert got.errors() == expected.errors()
    elif isinstance(expected, HTTPException):
        assert (got.status_code, got.detail) == (expected.status_code, expected.detail)
    else:
        assert got == expected


def test_a_stuck_worker_is_killed_and_the_body_parsed_in_a_thread() -> None:
    limits = IntakeLimits(max_bundle_entries=1000)
    parser = BodyParser(min_bytes=1, timeout_s=2.0, restart_after_s=0.0)
    raw = DiagnoseRequest(bundle=_bundle(1_200)).model_dump_json(exclude_none=True).encode()

    async def parse() -> Any:
        try:
            return await parser.parse(raw, "application/json", DiagnoseRequest, _screen(limits))
        except (RequestValidationError, HTTPException) as exc:
            return exc

    try:
        asyncio.run(parse())  # starts the worker
        stuck = worker_up(parser)
        in_worker = asyncio.run(parse())
        assert parser.worker_answers == 1
        os.kill(stuck, signal.SIGSTOP)
        _same(asyncio.run(parse()), _in_thread(raw, limits))  # after 2 s without an answer
        _same(in_worker, _in_thread(raw, limits))
        assert parser.worker_answers == 1
        assert parser.worker_pid is None  # dropped; the next big body starts another
        with pytest.raises(ProcessLookupError):
            for _ in range(200):  # killed: gone once its pool has reaped it
                os.kill(stuck, 0)
                asyncio.run(asyncio.sleep(0.05))
    finally:
        parser.close()


def test_the_worker_runs_at_the_configured_lower_priority(clients: tuple[TestClient, TestClient]) -> None:
    worker_client, _ = clients
    parser = _parser(worker_client)
    pid = worker_up(parser)
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + Settings().body_process_niceness)
    assert parser.niceness == Settings().body_process_niceness
    assert os.getpriority(os.PRIO_PROCESS, pid) == expected


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return not stat.parent.parent.is_dir()  # no /proc: trust os.kill


def test_the_worker_ends_when_its_server_is_killed_without_shutting_it_down(tmp_path: Path) -> None:
    script = (
        "import os, signal, time\n"
        "from api.body_process import BodyParser\n"
        "parser = BodyParser(min_bytes=1, timeout_s=60.0)\n"
        "parser.start()\n"
        "deadline = time.monotonic() + 120\n"
        "while parser.worker_pid is None and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(parser.worker_pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(api.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}  # noqa: TID251 (the child needs the repository on its path)
    output = tmp_path / "server.out"  # a file, not a pipe: the worker inherits it, and may outlive the server
    with output.open("w") as out:
        server = subprocess.run(
            [sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=180
        )
    assert server.returncode == -signal.SIGKILL, output.read_text()
    worker = int(output.read_text().split()[-1])  # after the log lines
    for _ in range(600):  # its watchdog checks every second
        if not _alive(worker):
            return
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived its server")
