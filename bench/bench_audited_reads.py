"""What an audited read costs: reading a record alone vs reading it and appending its access event.

    python bench/bench_audited_reads.py --records 500 --reads 300 --out bench/results/audited_reads.json

Since issue 16 part 4 every read of an audit record is appended to the log (an access event) before the
record goes out, so a read now costs a durable append. This measures both on one SQLite store
(``synchronous=FULL``, a Merkle checkpoint every 1,000 records), in alternating rounds so both see the
same machine load: ``get`` (look the record up by id) and ``get+access`` (look it up, then append the
access event the API writes). Median and 95th percentile per read, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from audit import AuditEntry, CheckpointSigner, Diagnosis, SqliteAuditStore
from audit.access import AccessEvent, access_entry


def entry(i: int) -> AuditEntry:
    """A decision with a trace of about 2 KB, like an evidence-baseline decision."""
    trace = {
        "trace_id": f"bench-{i}",
        "turns": [{"index": t, "action": "search", "text": "arachnodactyly ectopia lentis " * 8} for t in range(6)],
        "diagnoses": [{"rank": 1, "name": "Marfan syndrome", "code": "OMIM:154700", "confidence": 0.8}],
    }
    return AuditEntry(
        trace=trace,  # type: ignore[arg-type]
        request_id=f"req-{i}",
        actor_role="clinician",
        actor_id=f"actor-{i % 5}",
        model_version="evidence@2",
        index_version="bench-index",
        outcome="diagnosed",
        patient_pseudonym=f"pt-{i % 50}",
        diagnoses=[Diagnosis(name="Marfan syndrome", code="OMIM:154700")],
        evidence_ids=["omim:154700"],
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteAuditStore(Path(tmp) / "audit.db", signer=CheckpointSigner.generate(), checkpoint_every=1000)
        ids = [store.append(entry(i)).record_id for i in range(args.records)]
        timings: dict[str, list[float]] = {"get": [], "get+access": []}
        for i in range(args.reads):
            record_id = ids[(i * 7919) % len(ids)]
            for mode in ("get", "get+access") if i % 2 == 0 else ("get+access", "get"):
                started = time.perf_counter()
                record = store.get(record_id)
                assert record is not None
                if mode == "get+access":
                    event = AccessEvent(action="read", purpose="audit", records=[record.record_id])
                    store.append(
                        access_entry(
                            event,
                            request_id=f"bench-{i}",
                            actor_role="auditor",
                            actor_id="bench-auditor",
                            patient_pseudonym=record.patient_pseudonym,
                        )
                    )
                timings[mode].append(1000 * (time.perf_counter() - started))
        store.close()
    result = {
        "machine": platform.platform(),
        "records": args.records,
        "reads": args.reads,
        **{
            mode: {"median_ms": round(statistics.median(v), 2), "p95_ms": round(_percentile(v, 0.95), 2)}
            for mode, v in timings.items()
        },
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
