"""kill -9 the real server while 8 clients post diagnoses; after a restart every 200 has its audit record.

The server runs as a separate process (``api.serve.serve``, uvicorn, the real SQLite audit store in WAL
mode with ``synchronous=FULL``), so SIGKILL is a real crash: no lifespan shutdown, no flush, no
checkpoint of the WAL. What must hold afterwards:

- every request that was answered 200 has its record (the record is committed before the response),
- the chain verifies (through the API and directly), and
- flipping one byte of one stored record's trace makes ``verify`` name exactly that record.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from audit import CheckpointSigner, open_store, verify
from tests.api.helpers import KEYS, MARFAN_FINDINGS

pytestmark = pytest.mark.slow

CLIENTS = 8
KILL_AFTER_OKS = 20
READY_TIMEOUT_S = 120.0  # as tests.api.helpers.wait_ready: warm-up loads HPO, the second reader, equivalences
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def _server_env(index: Path, audit_url: str, signing_key: Path) -> dict[str, str]:
    # Not configuration read here: the child inherits the environment minus any DXSEARCH_* of the caller.
    inherited = os.environ.items()  # noqa: TID251
    env = {k: v for k, v in inherited if not k.startswith("DXSEARCH_")}
    env.update(
        {
            "DXSEARCH_INDEX": str(index),
            "DXSEARCH_CHUNK_MAX_CHARS": "300",  # as the small index was built (test_settings)
            "DXSEARCH_AUDIT_URL": audit_url,
            "DXSEARCH_API_KEYS": ",".join(f"{key}:{role}" for role, key in KEYS.items()),
            "DXSEARCH_RATE_LIMIT_PER_MINUTE": "0",
            "DXSEARCH_POLICY_TIMEOUT_S": "60",
            "DXSEARCH_AUDIT_SIGNING_KEY": str(signing_key),
            "DXSEARCH_AUDIT_CHECKPOINT_EVERY": "5",
            "DXSEARCH_PSEUDONYM_KEY": "crash-test-pseudonym-key-0123456789",
        }
    )
    return env


@contextmanager
def _server(env: dict[str, str], port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The API in its own process on 127.0.0.1:port, ready; killed (if still alive) on exit."""
    code = f"from api.serve import serve; serve('127.0.0.1', {port})"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"server not ready:\n{log_path.read_text()[-3000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _flip_one_byte_of_trace(db: Path, seq: int) -> None:
    """Change one digit of record ``seq``'s stored trace (JSON stays valid), past the update trigger."""
    conn = sqlite3.connect(db)
    try:
        (trace,) = conn.execute("SELECT trace FROM audit_records WHERE seq = ?", (seq,)).fetchone()
        pos = next(i for i, ch in enumerate(trace) if ch.isdigit())
        new = "8" if trace[pos] == "9" else str(int(trace[pos]) + 1)  # never a new leading zero
        tampered = trace[:pos] + new + trace[pos + 1 :]
        assert len(tampered) == len(trace) and tampered != trace
        conn.execute("DROP TRIGGER IF EXISTS audit_records_no_update")
        conn.execute("UPDATE audit_records SET trace = ? WHERE seq = ?", (tampered, seq))
        conn.commit()
    finally:
        conn.close()


def test_kill_9_under_load_loses_no_answered_record_and_tampering_is_named(small_index: Path, tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    audit_url = f"sqlite:///{db}"  # db is absolute: sqlite:////tmp/...
    signing_key = tmp_path / "audit-key.pem"
    env = _server_env(small_index, audit_url, signing_key)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    body = {"findings": [label for _, label in MARFAN_FINDINGS]}

    answered: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=base, headers=_auth("clinician"), timeout=30.0) as http:
            while not stop.is_set():
                try:
                    response = http.post("/v1/diagnose", json=body)
                except httpx.TransportError:
                    return  # the server is gone (killed mid-request): that request was never answered
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                    return
                with lock:
                    answered.append(response.json()["audit_id"])
                    if len(answered) >= KILL_AFTER_OKS:
                        enough.set()

    # -- load, then SIGKILL in the middle of it ---------------------------------------------------------
    with _server(env, port, log_path) as proc:
        threads = [threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=60.0), f"too few answers before the kill: {len(answered)}; {failures}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30.0)
        assert not any(t.is_alive() for t in threads)
    assert proc.returncode == -signal.SIGKILL
    assert not failures, failures
    with lock:
        recorded = list(answered)
    assert len(recorded) >= KILL_AFTER_OKS
    assert len(set(recorded)) == len(recorded)

    # -- restart on the same log: every answered request has its record, the chain verifies ------------
    with _server(env, port, log_path) as proc:
        with httpx.Client(base_url=base, headers=_auth("auditor"), timeout=30.0) as http:
            for audit_id in recorded:
                response = http.get(f"/v1/traces/{audit_id}")
                assert response.status_code == 200, (audit_id, response.text)
                assert response.json()["record_id"] == audit_id
            report = http.get("/v1/audit/verify")
            assert report.status_code == 200
            assert report.json()["ok"] is True, report.json()
            assert report.json()["records_checked"] >= len(recorded)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    public_key = CheckpointSigner.from_pem(signing_key).public_key
    with open_store(audit_url, read_only=True) as store:
        direct = verify(store, public_key)
    assert direct.ok, direct
    assert direct.head_seq >= len(recorded)
    assert direct.checkpoints_checked >= 1

    # -- flip one byte of one stored record: verify names that record ----------------------------------
    target = 3
    _flip_one_byte_of_trace(db, target)
    with open_store(audit_url, read_only=True) as store:
        broken = verify(store, public_key)
    assert not broken.ok
    assert broken.first_broken == target, broken

    cli = subprocess.run(
        [sys.executable, "-m", "audit", "verify", "--url", audit_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 1, (cli.stdout, cli.stderr)
    assert f"first broken record: {target}" in cli.stdout, cli.stdout  # the verdict is the result: stdout
