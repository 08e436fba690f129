"""Audit log benchmark: append throughput with signed Merkle checkpoints vs the plain chain, and verify time.

    python bench/bench_audit.py --appends 2000 --verify-records 100000 --out bench/results/audit.json
    python bench/bench_audit.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres   # PostgreSQL too

Append: the same entries (a trace of ~2 KB, like an evidence-baseline decision) appended one at a time to
fresh stores, durably (SQLite ``synchronous=FULL``; PostgreSQL ``synchronous_commit=on``), in alternating
rounds so both modes see the same machine load: ``chain`` (no signer: the hash chain alone) and
``merkle`` (Ed25519 signer, a Merkle checkpoint every ``--every`` records). The ratio merkle/chain is the
headline (issue 16 asks for >= 0.5). Durable appends are bound by fsync, so a third pair of runs on SQLite
with ``synchronous=OFF`` shows the CPU cost of the Merkle tree and signatures alone.

Verify: a log of ``--verify-records`` records with a checkpoint every ``--every`` (built with
``synchronous=OFF`` to save time; durability does not change what is verified), then ``verify`` with the
trusted key and the interval required, and again against a kept checkpoint at the head (every leaf hash
kept for the consistency proof). Goal: under 10 s for 100,000 records.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit import AuditEntry, AuditStore, CheckpointSigner, Diagnosis, SqliteAuditStore, open_store, verify
from audit.canonical import JsonValue
from audit.witness import append_checkpoint, read_checkpoints


def entry(i: int) -> AuditEntry:
    turns: list[JsonValue] = [
        {
            "index": t,
            "action": "search",
            "text": f"arachnodactyly tall stature lens dislocation {t}",
            "results": [{"id": f"orpha:{558 + k}#{k}", "score": 0.5 + k / 100, "hash": "ab" * 16} for k in range(3)],
        }
        for t in range(4)
    ]
    return AuditEntry(
        trace={"trace_id": f"trace-{i}", "turns": turns, "case": {"pseudonym": f"pt-{i % 97}"}},
        request_id=f"req-{i}",
        actor_role="clinician",
        actor_id=f"actor-{i % 5}",
        model_version="evidence-baseline@1",
        index_version="idx-bench",
        outcome="ok",
        patient_pseudonym=f"pt-{i % 97}",
        diagnoses=[Diagnosis(name="Marfan syndrome", code="ORPHA:558")],
        evidence_ids=[f"orpha:{558 + k}#{k}" for k in range(3)],
    )


def _append_rate(open_fresh: Callable[[bool], AuditStore], count: int, merkle: bool) -> float:
    entries = [entry(i) for i in range(count)]
    with open_fresh(merkle) as store:
        start = time.perf_counter()
        for e in entries:
            store.append(e)
        elapsed = time.perf_counter() - start
    return count / elapsed


def bench_appends(name: str, open_fresh: Callable[[bool], AuditStore], count: int, rounds: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"chain": [], "merkle": []}
    for _ in range(rounds):
        for mode in ("chain", "merkle"):
            rates[mode].append(_append_rate(open_fresh, count, mode == "merkle"))
    best = {mode: max(values) for mode, values in rates.items()}
    result = {
        "backend": name,
        "appends_per_round": count,
        "rounds": rounds,
        "chain_per_s": [round(r, 1) for r in rates["chain"]],
        "merkle_per_s": [round(r, 1) for r in rates["merkle"]],
        "ratio_best": round(best["merkle"] / best["chain"], 3),
        "ratio_mean": round(
            (sum(rates["merkle"]) / rounds) / (sum(rates["chain"]) / rounds),
            3,
        ),
    }
    print(json.dumps(result), file=sys.stderr)
    return result


def bench_verify(workdir: Path, records: int, every: int, signer: CheckpointSigner) -> dict[str, Any]:
    path = workdir / "verify.db"
    build_start = time.perf_counter()
    with SqliteAuditStore(path, signer=signer, checkpoint_every=every) as store:
        store._connection().execute("PRAGMA synchronous = OFF")  # building only: see the module docstring
        for i in range(records):
            store.append(entry(i))
        kept = workdir / "kept.jsonl"
        append_checkpoint(kept, store.checkpoint())
    build_s = time.perf_counter() - build_start
    with SqliteAuditStore(path, read_only=True) as reader:
        start = time.perf_counter()
        report = verify(reader, signer.public_key, checkpoint_every=every)
        verify_s = time.perf_counter() - start
        start = time.perf_counter()
        against = verify(
            reader, signer.public_key, checkpoint_every=every, kept=read_checkpoints(kept, signer.public_key)
        )
        against_s = time.perf_counter() - start
    assert report.ok and against.ok and against.kept_checked == 1, (report.reason, against.reason)
    result = {
        "records": records,
        "checkpoint_every": every,
        "build_s": round(build_s, 1),
        "verify_s": round(verify_s, 2),
        "verify_against_kept_s": round(against_s, 2),
        "records_per_s": round(records / verify_s),
        "db_mb": round(path.stat().st_size / 1e6, 1),
    }
    print(json.dumps(result), file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2000, help="records appended per mode and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating chain/merkle rounds")
    parser.add_argument("--every", type=int, default=1000, help="checkpoint interval N")
    parser.add_argument("--verify-records", type=int, default=100_000)
    parser.add_argument("--pg-url", help="PostgreSQL URL to benchmark appends on too (a scratch schema is used)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    signer = CheckpointSigner.generate()
    results: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "appends": []}
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        workdir = Path(tmp)
        counter = iter(range(10**6))

        def fresh_sqlite(merkle: bool) -> AuditStore:
            path = workdir / f"append-{next(counter)}.db"
            return SqliteAuditStore(
                path, signer=signer if merkle else None, checkpoint_every=args.every if merkle else None
            )

        def fresh_sqlite_nosync(merkle: bool) -> AuditStore:
            store = fresh_sqlite(merkle)
            assert isinstance(store, SqliteAuditStore)
            store._connection().execute("PRAGMA synchronous = OFF")  # CPU cost alone, without the fsync
            return store

        results["appends"].append(bench_appends("sqlite", fresh_sqlite, args.appends, args.rounds))
        results["appends"].append(
            bench_appends("sqlite-cpu (synchronous=OFF)", fresh_sqlite_nosync, args.appends, args.rounds)
        )
        if args.pg_url:
            import psycopg

            def fresh_pg(merkle: bool) -> AuditStore:
                schema = f"bench_audit_{next(counter)}"
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                    conn.execute(f"CREATE SCHEMA {schema}")
                sep = "&" if "?" in args.pg_url else "?"
                return open_store(
                    f"{args.pg_url}{sep}options=-csearch_path%3D{schema}",
                    signer=signer if merkle else None,
                    checkpoint_every=args.every if merkle else None,
                )

            results["appends"].append(bench_appends("postgres", fresh_pg, args.appends, args.rounds))
        if args.verify_records:
            results["verify"] = bench_verify(workdir, args.verify_records, args.every, signer)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
