"""What a user of `corpus-builder search` waits for: wall time, CPU time and peak memory per retriever.

    python bench/bench_cli_search.py --index var/index --out bench/results/cli_search.json

Each run is a fresh process, exactly as from a shell (``corpus-builder search QUERY
--retriever R --index I > out.txt``), so the figures include interpreter start-up,
imports, opening the index and, for dense and hybrid, loading the embedding model.
Peak RSS and CPU time come from ``wait4``'s resource usage of the child. On a shared
machine wall time depends on the load; CPU time does not, so both are reported, with
the load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = "from corpus_builder.cli import app; app()"


def run_once(query: str, retriever: str, index: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # noqa: TID251 - the child must run this checkout
        command = [sys.executable, "-c", PROGRAM, "search", query, "--retriever", retriever, "--index", str(index)]
        started = time.perf_counter()
        with out.open("wb") as sink:
            child = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, env=env)
            _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        assert child.stderr is not None
        child.stderr.close()
        return {
            "exit_code": os.waitstatus_to_exitcode(status),
            "wall_s": round(wall, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "stdout_bytes": out.stat().st_size,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "var" / "index")
    parser.add_argument("--query", default="marfan")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--retriever", action="append", help="repeatable; default: lexical, hybrid")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "query": args.query,
        "index": str(args.index),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(),
        "retrievers": {},
    }
    for retriever in args.retriever or ["lexical", "hybrid"]:
        runs = [run_once(args.query, retriever, args.index) for _ in range(args.repeat)]
        report["retrievers"][retriever] = {
            "runs": runs,
            "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "max_rss_mb": max(r["max_rss_mb"] for r in runs),
            "all_exit_0_with_output": all(r["exit_code"] == 0 and r["stdout_bytes"] > 0 for r in runs),
        }
        summary = report["retrievers"][retriever]
        print(
            f"{retriever:8} wall {summary['median_wall_s']:.2f} s (median of {len(runs)}), "
            f"cpu {summary['median_cpu_s']:.2f} s, peak RSS {summary['max_rss_mb']:.0f} MB, "
            f"output ok: {summary['all_exit_0_with_output']}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
