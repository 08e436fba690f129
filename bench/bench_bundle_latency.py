"""Does one client's 10,000-Observation bundle slow everyone else down? (issue 16, part 3, "what must be shown")

    python bench/bench_bundle_latency.py --index var/index --window-s 10 --rounds 3 \
        --out bench/results/bundle_latency.json

Starts the real server (``api.serve.serve``, uvicorn, through :func:`bench_api.server`: a subprocess on
127.0.0.1, development keys, rate limit off unless ``--rate-limit`` is given, a fresh SQLite audit log in a
temporary directory) with the serving caps left at their defaults (1,000 bundle entries, 500 findings,
1 MiB bodies), then times ordinary small ``POST /v1/diagnose`` requests (three findings each, one at a time
from one client) in alternating windows:

* ``baseline``: the small requests alone;
* ``loaded``: the same, while a second client POSTs a bundle of one Patient and 10,000 distinct HPO-coded
  Observations (:func:`bench_bundle_intake.bundle`, compact: ~1.03 MB, just under the 1 MiB body limit, so
  the server reads and parses it; the issue's was 849 KB) back to back, each big request's status and wall
  time recorded (goal: refused or answered in under 2 s; 413 from the entry cap expected by default).
  ``--form full`` sends the 2.3 MB form instead, refused from its ``Content-Length`` without being read:
  a control for what a flood of refusals costs by itself.

The two clients hold different keys, so with ``--rate-limit N`` (requests per minute per key, burst one
minute's worth) the big client is throttled on its own: 429s once it has spent N requests. N must stay
above the small client's own rate (a few requests a second here), or its 429s count as failures.

Windows alternate (baseline, loaded, baseline, ...) so that drift in the load of a shared machine falls on
both sides alike; a window lasts ``--window-s`` and holds at least ``--min-requests`` small requests (at
most 60 s). Reported: p50/p95 of the small requests in each condition and their ratio (goal: near 1),
and the big requests' statuses and times. Exit 1 when a small request failed or a big one got a 5xx or no
answer; the latency goals are reported, not enforced (they depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from bench_api import CLINICIAN_KEY, OTHER_CLINICIAN_KEY, Run, _free_port, _pct, _ratio, server
from bench_bundle_intake import bundle

from dxsearch.settings import Settings

console = Console(width=130, stderr=True)
#: Ordinary small cases: three findings each, cycled.
SMALL_CASES: tuple[list[str], ...] = (
    ["Arachnodactyly", "Ectopia lentis", "Tall stature"],
    ["Seizure", "Global developmental delay", "Microcephaly"],
    ["Hepatosplenomegaly", "Thrombocytopenia", "Bone pain"],
    ["Short stature", "Webbed neck", "Pulmonic stenosis"],
    ["Cafe-au-lait spot", "Neurofibromas", "Axillary freckling"],
)
BIG_GOAL_S = 2.0


def small_requests(base_url: str, run: Run, offset: int, *, seconds: float = 0.0, count: int = 0) -> int:
    """Small diagnoses one at a time, for ``seconds`` and at least ``count`` of them; latencies (ms) into ``run``.

    Stops sending after ``max(60, 6 * seconds)`` s whatever the count. Returns how many were sent (the next
    offset into :data:`SMALL_CASES`).
    """
    limit_s = max(60.0, 6 * seconds)
    headers = {"Authorization": f"Bearer {CLINICIAN_KEY}"}
    sent = 0
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(120.0, connect=10.0)) as client:
        started = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - started
            if elapsed >= limit_s or (elapsed >= seconds and sent >= count):
                break
            findings = SMALL_CASES[(offset + sent) % len(SMALL_CASES)]
            t0 = time.perf_counter()
            try:
                response = client.post("/v1/diagnose", json={"findings": findings}, headers=headers)
            except httpx.HTTPError as exc:
                run.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                latency_ms = 1000 * (time.perf_counter() - t0)
                if response.status_code == 200:
                    run.latencies_ms.append(latency_ms)
                else:
                    run.errors.append(f"{response.status_code}: {response.text[:200]}")
            sent += 1
        run.wall_s += time.perf_counter() - started
    return sent


class BigClient:
    """POSTs the big bundle back to back on its own thread until stopped; each status and wall time kept.

    It sends with its own key (:data:`bench_api.OTHER_CLINICIAN_KEY`): another client, another rate-limit bucket.
    """

    def __init__(self, base_url: str, body: bytes) -> None:
        self.base_url = base_url
        self.body = body
        self.statuses: list[str] = []
        self.seconds: list[float] = []
        self.samples: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BigClient:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="bench-big-client", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=300)

    def _loop(self) -> None:
        headers = {"Authorization": f"Bearer {OTHER_CLINICIAN_KEY}", "Content-Type": "application/json"}
        payload = b'{"bundle": ' + self.body + b"}"
        with httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(120.0, connect=10.0)) as client:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    response = client.post("/v1/diagnose", content=payload, headers=headers)
                    status = str(response.status_code)
                    self.samples.setdefault(status, response.text[:300])
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                    self.samples.setdefault(status, str(exc)[:300])
                self.seconds.append(time.perf_counter() - t0)
                self.statuses.append(status)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.seconds)
        return {
            "requests": len(ordered),
            "statuses": dict(Counter(self.statuses)),
            "answer_samples": self.samples,
            "seconds": {
                "p50": _round_s(_pct(ordered, 50)),
                "p95": _round_s(_pct(ordered, 95)),
                "max": _round_s(ordered[-1]) if ordered else None,
                "mean": _round_s(statistics.fmean(ordered)) if ordered else None,
            },
            "under_goal": sum(1 for s in ordered if s < BIG_GOAL_S),
        }


def _round_s(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _latency(run: Run) -> dict[str, Any]:
    return dict(run.summary()["latency_ms"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"))
    parser.add_argument("--observations", type=int, default=10_000, help="Observations in the big bundle")
    parser.add_argument(
        "--form",
        choices=("compact", "full"),
        default="compact",
        help="compact: ~1.03 MB, under the body limit, parsed then refused by the entry cap; "
        "full: ~2.5 MB, refused from its Content-Length",
    )
    parser.add_argument("--window-s", type=float, default=10.0, help="seconds of small requests per window")
    parser.add_argument("--rounds", type=int, default=3, help="baseline + loaded window pairs")
    parser.add_argument("--min-requests", type=int, default=5, help="small requests per window at least")
    parser.add_argument("--warmup", type=int, default=10, help="untimed small requests first")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        metavar="PER_MINUTE",
        help="server rate limit per key (0: off); must exceed the small client's rate",
    )
    parser.add_argument("--ready-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/bundle_latency.json"))
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.window_s <= 0:
        parser.error("--rounds and --window-s must be positive")
    if args.rate_limit < 0:
        parser.error("--rate-limit must be 0 (off) or positive")
    if not args.index.is_dir():
        parser.error(f"--index {args.index}: not a directory (build one with corpus-builder build --out DIR)")

    caps = Settings()  # the server inherits this environment: these are the caps it serves with
    big_body = json.dumps(bundle(args.observations, compact=args.form == "compact"), separators=(",", ":")).encode()
    load_before = os.getloadavg()
    total_started = time.perf_counter()
    baseline = Run(name="small requests alone", concurrency=1)
    loaded = Run(name="small requests, big bundles running", concurrency=1)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dxsearch-bench-bundle-latency-") as tmp:
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        big = BigClient(base_url, big_body)
        t0 = time.perf_counter()
        with server(
            args.index, Path(tmp), port, ready_timeout_s=args.ready_timeout, rate_limit_per_minute=args.rate_limit
        ):
            startup_s = time.perf_counter() - t0
            console.print(f"server ready in {startup_s:.1f} s; big bundle {len(big_body):,} bytes")
            warm = Run(name="warm-up", concurrency=1)
            sent = small_requests(base_url, warm, 0, count=args.warmup)
            for number in range(args.rounds):
                alone = Run(name="alone", concurrency=1)
                sent += small_requests(base_url, alone, sent, seconds=args.window_s, count=args.min_requests)
                with_big = Run(name="with big", concurrency=1)
                before = len(big.seconds)
                with big:
                    sent += small_requests(base_url, with_big, sent, seconds=args.window_s, count=args.min_requests)
                baseline.latencies_ms += alone.latencies_ms
                baseline.errors += alone.errors
                baseline.wall_s += alone.wall_s
                loaded.latencies_ms += with_big.latencies_ms
                loaded.errors += with_big.errors
                loaded.wall_s += with_big.wall_s
                rounds.append(
                    {
                        "round": number + 1,
                        "baseline_ms": _latency(alone),
                        "baseline_window_s": round(alone.wall_s, 2),
                        "loaded_ms": _latency(with_big),
                        "loaded_window_s": round(with_big.wall_s, 2),
                        "big_requests": len(big.seconds) - before,
                    }
                )
                console.print(
                    f"round {number + 1}: alone p50 {rounds[-1]['baseline_ms']['p50']} ms, "
                    f"with big p50 {rounds[-1]['loaded_ms']['p50']} ms, {rounds[-1]['big_requests']} big requests"
                )
    load_after = os.getloadavg()

    b = baseline.summary()
    lo = loaded.summary()
    big_summary = big.summary()
    ratios = {
        "p50_loaded_vs_baseline": _ratio(lo["latency_ms"]["p50"], b["latency_ms"]["p50"]),
        "p95_loaded_vs_baseline": _ratio(lo["latency_ms"]["p95"], b["latency_ms"]["p95"]),
        "mean_loaded_vs_baseline": _ratio(lo["latency_ms"]["mean"], b["latency_ms"]["mean"]),
    }
    result: dict[str, Any] = {
        "benchmark": "bundle_latency",
        "index": str(args.index),
        "big_bundle": {"observations": args.observations, "form": args.form, "json_bytes": len(big_body)},
        "caps": {
            "max_request_bytes": caps.max_request_bytes,
            "max_bundle_entries": caps.max_bundle_entries,
            "max_case_findings": caps.max_case_findings,
        },
        "small_case_findings": len(SMALL_CASES[0]),
        "window_s": args.window_s,
        "rounds": args.rounds,
        "server": {
            "startup_s": round(startup_s, 2),
            "rate_limit": f"{args.rate_limit} per minute per key" if args.rate_limit else "off",
            "policy": "evidence baseline (default)",
        },
        "baseline": b,
        "loaded": lo,
        "ratios": ratios,
        "big_requests": big_summary,
        "per_round": rounds,
        "warmup_errors": len(warm.errors),
        "goals": {
            "big_requests_all_under_2s": 0 < big_summary["requests"] == big_summary["under_goal"],
            "latency_ratio_note": "goal: p50/p95 ratios near 1 (unchanged); not enforced",
        },
        "total_runtime_s": round(time.perf_counter() - total_started, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
    }

    table = Table(title=f"Small diagnoses with and without the {args.observations:,}-Observation bundle")
    for column in ("condition", "ok", "errors", "p50 ms", "p95 ms", "max ms"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for summary in (b, lo):
        lat = summary["latency_ms"]
        cells = [str(summary["ok"]), str(summary["errors"]), *(str(lat[k]) for k in ("p50", "p95", "max"))]
        table.add_row(summary["name"], *cells)
    Console(width=130).print(table)
    print(f"ratios (loaded / baseline): p50 {ratios['p50_loaded_vs_baseline']}, p95 {ratios['p95_loaded_vs_baseline']}")
    seconds = big_summary["seconds"]
    print(
        f"big bundle ({len(big_body):,} bytes): {big_summary['requests']} requests, "
        f"statuses {big_summary['statuses']}, wall p50 {seconds['p50']} s, max {seconds['max']} s "
        f"({big_summary['under_goal']} under {BIG_GOAL_S} s)"
    )
    machine = result["machine"]
    print(f"load average before {machine['load_average_before']}, after {machine['load_average_after']}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    big_failed = any(not s.isdigit() or s.startswith("5") for s in big.statuses)
    if baseline.errors or loaded.errors or warm.errors or big_failed or not big.statuses:
        console.print("[red]FAILED: a small request failed, or a big one got a 5xx or no answer[/red]")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
