"""What one large FHIR Bundle costs the intake, with and without the caps (issue 16, part 3).

    python bench/bench_bundle_intake.py --observations 10000 --out bench/results/bundle_intake.json

Builds a collection Bundle of one Patient and N distinct HPO-coded Observations in full (10,000 of them are
~2.5 MB of JSON; :func:`bundle` with ``compact=True`` gives ~1.03 MB, under the API's 1 MiB body limit like
the issue's 849 KB bundle) and times, in this process:

* ``refused``: :func:`dxsearch.intake.case_from_bundle` under the serving defaults (1,000 entries,
  500 findings): the 413 the API answers, before any validation;
* ``parsed``: :func:`dxsearch.intake.fhir.parse_bundle` without a cap (validation + extraction, with the
  linear de-duplication of findings);
* ``dedup_list`` / ``dedup_dict``: the de-duplication alone over the N parsed findings, as it was
  (``finding in findings`` over pydantic models: quadratic) and as it is (a dict: linear).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from dxsearch.cases import Finding
from dxsearch.intake import IntakeError, IntakeLimits, case_from_bundle
from dxsearch.intake.fhir import parse_bundle
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.settings import Settings

HPO_SYSTEM = "http://purl.obolibrary.org/obo/hp.owl"


def bundle(observations: int, *, compact: bool = False) -> dict[str, Any]:
    """One Patient and ``observations`` distinct HPO-coded Observations (HP:9000000 on).

    In full (system, display, status, subject, value) 10,000 of them are ~2.5 MB of JSON, over the API's
    1 MiB body limit, so the API refuses them from ``Content-Length`` alone. ``compact``: each Observation
    only its required ``status`` and a bare ``HP:`` code (read as HPO, still 10,000 findings), ~1.03 MB
    without spaces (``json.dumps(..., separators=(",", ":"))``): under the body limit, like the issue's
    849 KB bundle, so the server must read and parse it before its entry cap can refuse it.
    """
    entries: list[dict[str, Any]] = [{"resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}}]
    for number in range(observations):
        code = f"HP:{9_000_000 + number:07d}"
        resource: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
        if compact:
            resource["code"] = {"coding": [{"code": code}]}
        else:
            resource["code"] = {"coding": [{"system": HPO_SYSTEM, "code": code, "display": f"Finding {number}"}]}
            resource["subject"] = {"reference": "Patient/p1"}
            resource["valueBoolean"] = True
        entries.append({"resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def timed(function: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    payload = bundle(args.observations)
    defaults = Settings()
    limits = IntakeLimits(max_bundle_entries=defaults.max_bundle_entries, max_findings=defaults.max_case_findings)
    pseudonymiser = Pseudonymiser("bench-pseudonym-key-0123456789abcdef")

    def refuse() -> str:
        try:
            case_from_bundle(payload, pseudonymiser=pseudonymiser, limits=limits)
        except IntakeError as exc:
            return f"{exc.status}: {exc.message}"
        return "answered"

    refused_s, refusal = timed(refuse)
    parsed_s, parsed = timed(lambda: parse_bundle(payload))
    findings: list[Finding] = list(parsed.patients[0].findings)

    def dedup_list() -> int:
        kept: list[Finding] = []
        for finding in findings:
            if finding not in kept:
                kept.append(finding)
        return len(kept)

    def dedup_dict() -> int:
        return len(dict.fromkeys(findings))

    list_s, _ = timed(dedup_list)
    dict_s, _ = timed(dedup_dict)
    result = {
        "observations": args.observations,
        "json_bytes": len(json.dumps(payload)),
        "refused": {"seconds": round(refused_s, 4), "answer": refusal},
        "parsed_uncapped_seconds": round(parsed_s, 3),
        "findings": len(findings),
        "dedup_list_seconds": round(list_s, 3),
        "dedup_dict_seconds": round(dict_s, 5),
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
