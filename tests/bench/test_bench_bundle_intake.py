"""The large-bundle builder the intake and latency benches share makes what they say they send.

The latency bench relies on the compact form reaching the server's parser (under the body limit) and the
entry cap answering (over it); both forms must read as the same distinct HPO findings.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from dxsearch.intake.fhir import parse_bundle
from dxsearch.settings import Settings

BENCH = Path(__file__).parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_compact_10000_observation_bundle_passes_the_body_limit_and_not_the_entry_cap() -> None:
    bench = _load("bench_bundle_intake")
    payload = bench.bundle(10_000, compact=True)
    observations = [e["resource"] for e in payload["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == 10_000
    assert len({o["code"]["coding"][0]["code"] for o in observations}) == 10_000
    body = json.dumps({"bundle": payload}, separators=(",", ":")).encode()
    assert len(body) < Settings.model_fields["max_request_bytes"].default
    assert len(payload["entry"]) > Settings.model_fields["max_bundle_entries"].default


def test_both_forms_read_as_the_same_distinct_hpo_findings() -> None:
    bench = _load("bench_bundle_intake")
    compact = parse_bundle(bench.bundle(20, compact=True)).patients[0].findings
    full = parse_bundle(bench.bundle(20)).patients[0].findings
    assert [f.hpo_id for f in compact] == [f.hpo_id for f in full]
    assert len({f.hpo_id for f in compact}) == 20
    assert all(not f.excluded for f in compact)
