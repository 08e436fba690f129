"""API load benchmark: ``POST /v1/diagnose`` on loopback with the evidence baseline, bounded and concurrent.

    python bench/bench_api.py --index var/index --requests 2000 --concurrency 16 --out bench/results/api.json

Starts the real server (``api.serve.serve``, uvicorn) as a subprocess on 127.0.0.1 with the rate limit off
and a fresh SQLite audit log in a temporary directory, warms it, then fires a fixed number of diagnosis
requests from a pool of threads (one httpx client each). Each request's findings are the observed labels
of one held-out phenopacket case (never indexed), cycled. Reported: throughput, latency p50/p95/p99 and the
error count (which must be 0).

Baselines measured in the same run: ``GET /healthz`` at the same concurrency (the cost of the HTTP stack
alone), the same cases sent one at a time over HTTP, and the same cases diagnosed in-process with
``dxsearch.agent.diagnose`` and no HTTP (the ratio of the two is the HTTP + audit overhead). At the end
the audit log is verified: one record per successful request (warm-up included), chain intact.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from audit import AuditQuery, CheckpointSigner, open_store, verify
from corpus_builder.sources.phenopackets import heldout_phenopacket_cases

console = Console(width=130)
REPO = Path(__file__).resolve().parents[1]
CLINICIAN_KEY = "bench-clinician-key-000000000001"
AUDITOR_KEY = "bench-auditor-key-0000000000002"
#: A second clinician, with a rate-limit bucket of its own (a second client of bench_bundle_latency).
OTHER_CLINICIAN_KEY = "bench-clinician-key-000000000003"
MAX_LABEL_CHARS = 200  # api.schemas.MAX_LABEL_CHARS
MAX_FINDINGS = 500


@dataclass
class Run:
    """Latencies (ms) and failures of one bounded loop."""

    name: str
    concurrency: int
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    audit_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        ok = len(lat)
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "requests": ok + len(self.errors),
            "ok": ok,
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "wall_s": round(self.wall_s, 3),
            "throughput_rps": round(ok / self.wall_s, 2) if self.wall_s > 0 else None,
            "latency_ms": {
                "mean": _round(statistics.fmean(lat)) if lat else None,
                "p50": _pct(lat, 50),
                "p95": _pct(lat, 95),
                "p99": _pct(lat, 99),
                "max": _round(lat[-1]) if lat else None,
            },
        }


def _round(value: float) -> float:
    return round(value, 2)


def _pct(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return _round(sorted_values[int(rank) - 1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def case_bodies(limit: int | None = None) -> list[list[str]]:
    """Observed finding labels of the held-out cases (no HPO ids, no exclusions, no gold), API-valid."""
    bodies: list[list[str]] = []
    for labelled in heldout_phenopacket_cases():
        labels = [
            " ".join(f.label.split())
            for f in labelled.case.observed
            if "<" not in f.label and ">" not in f.label and 0 < len(f.label.strip()) <= MAX_LABEL_CHARS
        ][:MAX_FINDINGS]
        if labels:
            bodies.append(labels)
        if limit is not None and len(bodies) >= limit:
            break
    return bodies


@contextmanager
def server(
    index: Path, workdir: Path, port: int, *, ready_timeout_s: float, rate_limit_per_minute: int = 0
) -> Iterator[subprocess.Popen[bytes]]:
    """The API in its own process on 127.0.0.1:port (audit log in ``workdir``), ready.

    The rate limit is off unless ``rate_limit_per_minute`` is given (per key, as ``DXSEARCH_RATE_LIMIT_PER_MINUTE``).
    """
    # The child inherits the environment (PATH, thread settings, DXSEARCH_* such as chunk size) with the
    # serving settings of the bench on top; nothing here is configuration of this process.
    env = dict(os.environ.items())  # noqa: TID251
    env.update(
        {
            "DXSEARCH_INDEX": str(index.resolve()),
            "DXSEARCH_AUDIT_URL": f"sqlite:///{(workdir / 'audit.db').resolve()}",
            "DXSEARCH_API_KEYS": f"{CLINICIAN_KEY}:clinician,{AUDITOR_KEY}:auditor,{OTHER_CLINICIAN_KEY}:clinician",
            "DXSEARCH_RATE_LIMIT_PER_MINUTE": str(rate_limit_per_minute),
            "DXSEARCH_POLICY_TIMEOUT_S": "300",
            "DXSEARCH_AUDIT_SIGNING_KEY": str((workdir / "audit-key.pem").resolve()),
            "DXSEARCH_AUDIT_CHECKPOINT_EVERY": "100",
            "DXSEARCH_DEVELOPMENT": "1",  # the default (public) pseudonym key is fine for a benchmark
        }
    )
    log_path = workdir / "server.log"
    code = f"from api.serve import serve; serve('127.0.0.1', {port})"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {ready_timeout_s} s:\n{log_path.read_text()[-3000:]}")
            try:
                probe = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0)
                if probe.status_code == 200:
                    break
                if probe.json().get("state") == "failed":
                    raise RuntimeError(f"server failed to warm up: {probe.json().get('reason')}")
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def load(
    name: str,
    base_url: str,
    count: int,
    concurrency: int,
    call: Callable[[httpx.Client, int], httpx.Response],
    *,
    audited: bool,
) -> Run:
    """``count`` calls from ``concurrency`` threads, each thread with its own client; latency per call."""
    run = Run(name=name, concurrency=concurrency)
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        client: httpx.Client | None = getattr(local, "client", None)
        if client is None:
            client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(600.0, connect=10.0))
            local.client = client
            with lock:
                clients.append(client)
        t0 = time.perf_counter()
        try:
            response = call(client, i)
        except httpx.HTTPError as exc:
            with lock:
                run.errors.append(f"{type(exc).__name__}: {exc}")
            return
        elapsed = 1000 * (time.perf_counter() - t0)
        with lock:
            if response.status_code == 200:
                run.latencies_ms.append(elapsed)
                if audited:
                    run.audit_ids.append(response.json()["audit_id"])
            else:
                run.errors.append(f"{response.status_code}: {response.text[:200]}")

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-client") as pool:
            for future in [pool.submit(one, i) for i in range(count)]:
                future.result()
    finally:
        run.wall_s = time.perf_counter() - started
        for client in clients:
            client.close()
    return run


def in_process(index: Path, bodies: Sequence[list[str]]) -> Run:
    """The same cases through ``diagnose`` with the served policy and index: no HTTP, no audit log."""
    from api.service import default_policy
    from dxsearch.agent import diagnose
    from dxsearch.env import DiagnosticEnv
    from dxsearch.intake import CaseInput, FindingInput, intake
    from dxsearch.policies.catalog import index_retriever
    from dxsearch.pseudonym import Pseudonymiser
    from dxsearch.retrieval.embedded import EmbeddedIndex
    from dxsearch.settings import get_settings

    settings = get_settings().model_copy(update={"index": index})
    opened = EmbeddedIndex(index, settings)
    pseudonymiser = Pseudonymiser(settings.pseudonym_key)
    try:
        policy, budget, retriever = default_policy(settings)
        run = Run(name="in-process intake() + diagnose()", concurrency=1)

        def once(i: int, labels: list[str]) -> float:
            payload = CaseInput(findings=tuple(FindingInput(label=label) for label in labels))
            env = DiagnosticEnv(index_retriever(opened, retriever), budget)
            t0 = time.perf_counter()
            case = intake(payload, pseudonymiser=pseudonymiser, fallback_id=f"bench-{i}").case
            diagnose(case, policy, env, index_version=opened.version, resolve_chunk=opened.store.chunk)
            return 1000 * (time.perf_counter() - t0)

        once(-1, bodies[0])  # warm-up, like the server's
        started = time.perf_counter()
        for i, labels in enumerate(bodies):
            run.latencies_ms.append(once(i, labels))
        run.wall_s = time.perf_counter() - started
        return run
    finally:
        opened.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"))
    parser.add_argument("--requests", type=int, default=2000, help="POST /v1/diagnose requests in the timed loop")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=16, help="untimed diagnosis requests first")
    parser.add_argument(
        "--baseline-cases", type=int, default=30, help="cases timed one at a time over HTTP and in-process"
    )
    parser.add_argument("--ready-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/api.json"))
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be positive")

    if not args.index.is_dir():
        parser.error(f"--index {args.index}: not a directory (build one with corpus-builder build --out DIR)")
    bodies = case_bodies()
    if not bodies:
        console.print("[red]no held-out cases with observed findings[/red]")
        return 2
    baseline_bodies = bodies[: max(1, min(args.baseline_cases, len(bodies)))]
    console.print(f"{len(bodies)} held-out cases; {args.requests} requests at concurrency {args.concurrency}")

    def post(bodies_: Sequence[list[str]]) -> Callable[[httpx.Client, int], httpx.Response]:
        def call(client: httpx.Client, i: int) -> httpx.Response:
            return client.post(
                "/v1/diagnose",
                json={"findings": bodies_[i % len(bodies_)]},
                headers={"Authorization": f"Bearer {CLINICIAN_KEY}"},
            )

        return call

    def health(client: httpx.Client, i: int) -> httpx.Response:
        return client.get("/healthz")

    total_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dxsearch-bench-api-") as tmp:
        workdir = Path(tmp)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        with server(args.index, workdir, port, ready_timeout_s=args.ready_timeout):
            startup_s = time.perf_counter() - t0
            console.print(f"server ready in {startup_s:.1f} s")
            warm = load("warm-up", base_url, args.warmup, args.concurrency, post(bodies), audited=True)
            health_run = load("GET /healthz", base_url, args.requests, args.concurrency, health, audited=False)
            diag = load("POST /v1/diagnose", base_url, args.requests, args.concurrency, post(bodies), audited=True)
            sequential = load(
                "POST /v1/diagnose (one at a time)",
                base_url,
                len(baseline_bodies),
                1,
                post(baseline_bodies),
                audited=True,
            )
            with httpx.Client(base_url=base_url, timeout=600.0) as client:
                served = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {AUDITOR_KEY}"}).json()
        # The server is stopped (SIGTERM): check the log it left, then time the in-process baseline alone.
        audit_url = f"sqlite:///{(workdir / 'audit.db').resolve()}"
        public_key = CheckpointSigner.from_pem(workdir / "audit-key.pem").public_key
        with open_store(audit_url, read_only=True) as store:
            report = verify(store, public_key)
            records = store.count(AuditQuery())
        expected_records = len(warm.audit_ids) + len(diag.audit_ids) + len(sequential.audit_ids)
        all_ids = warm.audit_ids + diag.audit_ids + sequential.audit_ids
        local = in_process(args.index, baseline_bodies)

    runs = [diag, health_run, sequential, local]
    summaries = {run.name: run.summary() for run in runs}
    d = summaries[diag.name]
    h = summaries[health_run.name]
    s = summaries[sequential.name]
    p = summaries[local.name]
    ratios = {
        "diagnose_vs_healthz_p50": _ratio(d["latency_ms"]["p50"], h["latency_ms"]["p50"]),
        "diagnose_vs_healthz_throughput": _ratio(d["throughput_rps"], h["throughput_rps"]),
        "http_one_at_a_time_vs_in_process_p50": _ratio(s["latency_ms"]["p50"], p["latency_ms"]["p50"]),
        "http_one_at_a_time_vs_in_process_mean": _ratio(s["latency_ms"]["mean"], p["latency_ms"]["mean"]),
        "concurrent_throughput_vs_in_process_sequential": _ratio(d["throughput_rps"], p["throughput_rps"]),
    }
    audit = {
        "records": records,
        "successful_requests": expected_records,
        "distinct_audit_ids": len(set(all_ids)),
        "records_match": records == expected_records == len(set(all_ids)),
        "verify_ok": report.ok,
        "verify_via_api_ok": bool(served.get("ok")),
        "checkpoints_checked": report.checkpoints_checked,
        "first_broken": report.first_broken,
        "reason": report.reason,
    }
    result: dict[str, Any] = {
        "benchmark": "api",
        "index": str(args.index),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "baseline_cases": len(baseline_bodies),
        "heldout_cases": len(bodies),
        "server": {
            "startup_s": round(startup_s, 2),
            "rate_limit": "off",
            "policy": "evidence baseline (default)",
            "policy_timeout_s": 300,
        },
        "runs": summaries,
        "ratios": ratios,
        "audit": audit,
        "warmup_errors": len(warm.errors),
        "total_runtime_s": round(time.perf_counter() - total_started, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }

    table = Table(title=f"API load: {args.requests} requests, concurrency {args.concurrency}, index {args.index}")
    for column in ("run", "conc.", "ok", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for summary in summaries.values():
        lat = summary["latency_ms"]
        table.add_row(
            summary["name"],
            str(summary["concurrency"]),
            str(summary["ok"]),
            str(summary["errors"]),
            str(summary["throughput_rps"]),
            *(str(lat[k]) for k in ("p50", "p95", "p99", "max")),
        )
    console.print(table)
    for key, value in ratios.items():
        console.print(f"  {key}: {value}")
    console.print(
        f"audit: {records} records for {expected_records} successful requests; "
        f"verify ok={report.ok} (API ok={audit['verify_via_api_ok']}), {report.checkpoints_checked} checkpoints"
    )
    console.print(f"total runtime {result['total_runtime_s']} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    failed = diag.errors or health_run.errors or sequential.errors or warm.errors
    if failed or not audit["records_match"] or not report.ok or not audit["verify_via_api_ok"]:
        console.print("[red]FAILED: errors, or the audit log does not match the answered requests[/red]")
        return 1
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


if __name__ == "__main__":
    raise SystemExit(main())
