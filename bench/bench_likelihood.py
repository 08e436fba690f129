"""The likelihood-ratio scorer against phenotype similarity and enrichment, on index-side published cases.

    PYTHONPATH=. python bench/bench_likelihood.py --out bench/results/likelihood.json

Cases: the *index* side of the by-publication split of the shipped phenopackets (the held-out side is never
read here), and of those only cases whose publication is not among the PMIDs of their gold disease's
``phenotype.hpoa`` rows (the annotations were not curated from that very report; every method reads those
rows only, hpo3 lending the ontology). Those cases are split again by publication
(a salted hash of the PMID) into a *tune* half, on which the scorer's few constants are chosen by coordinate
descent on MRR, and a disjoint *report* half, on which all three methods are measured once, in the same run.

Each method ranks the ~8.5k OMIM diseases from the case's HPO terms (the LR scorer also reads excluded
findings, sex and age; similarity reads excluded findings with its default weight 0; enrichment reads observed
terms only). A gold disease a method
does not rank counts as a miss. Ties count against the gold (pessimistic rank).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from corpus_builder.sources.phenopackets import CASES_PATH, index_phenopacket_cases
from dxsearch.baselines.enrichment import rank_diseases
from dxsearch.cases import LabelledCase
from dxsearch.knowledge.hpo import HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.likelihood import LikelihoodRatioScorer
from dxsearch.knowledge.similarity import PhenotypeSimilarity

TUNE_SALT = "dxsearch-lr-tune-v1"
_DURATION = re.compile(r"^P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?")

#: Coordinate-descent grid: each constant is tried at these values, the others held, best MRR on tune kept.
GRID: dict[str, Sequence[Any]] = {
    "unknown_frequency": (0.3, 0.5, 0.8),
    "count_prior": (0.0, 2.0, 5.0),
    "related_discount": (0.02, 0.05, 0.1, 0.25, 0.5),
    "false_positive_lr": (0.01, 0.05, 0.2),
    "contradiction_lr": (0.01, 0.05, 0.2),
    # Kept below 1 so that an excluded feature a disease nearly always shows still weighs against it (see VARIANTS).
    "excluded_floor": (0.1, 0.3, 0.6, 0.8),
    "not_reported_weight": (0.0, 0.1, 0.3),
    "use_sex": (False, True),
    "use_age": (False, True),
}
SCORER_KEYS = {k for k in GRID if not k.startswith("use_")} | {"excluded_relevance"}
#: Measured beside the tuned scorer, never chosen: what excluded findings cost or gain on these cases.
VARIANTS: dict[str, dict[str, Any]] = {
    # Excluded findings ignored (LR 1/(1 - bg) for every disease alike).
    "excluded_off": {"excluded_floor": 1.0, "excluded_relevance": 1.0},
    # Excluded findings read as "mentioned, so relevant": any annotated feature reported absent *raises* the disease.
    # Case reports list as absent the features of the disease they discuss, so this wins on published cases; it
    # would tell a clinician that "no ectopia lentis" supports Marfan syndrome, so it is never a default.
    "excluded_as_mention": {"excluded_floor": 1.0, "excluded_relevance": 4.0},
}


@dataclass(frozen=True, slots=True)
class Item:
    case: LabelledCase
    observed: tuple[str, ...]
    excluded: tuple[str, ...]
    age_years: float | None


def age_years(age: str | None) -> float | None:
    if not age:
        return None
    found = _DURATION.match(age)
    if found is None or not any(found.groupdict().values()):
        return None
    parts = {k: float(v) for k, v in found.groupdict().items() if v}
    return parts.get("Y", 0) + parts.get("M", 0) / 12 + parts.get("W", 0) * 7 / 365.25 + parts.get("D", 0) / 365.25


def in_tune_half(pmid: str | None, case_id: str) -> bool:
    key = pmid or case_id
    digest = hashlib.sha256(f"{TUNE_SALT}\x1f{key}".encode()).digest()
    return digest[0] < 128


def select_cases(knowledge: HpoKnowledge, path: Path) -> tuple[list[Item], dict[str, int]]:
    """Index-side cases whose PMID is not a reference of their gold disease's annotation rows."""
    counts = {"index_side": 0, "leaked": 0, "kept": 0}
    items: list[Item] = []
    for labelled in index_phenopacket_cases(path):
        counts["index_side"] += 1
        pmid = (labelled.pmid or "").strip()
        pmid = pmid if pmid.upper().startswith("PMID:") else f"PMID:{pmid}" if pmid else ""
        try:
            references = set(knowledge.disease(labelled.gold.id).pmids)
        except KeyError:
            references = set()
        if pmid and pmid in references:
            counts["leaked"] += 1
            continue
        counts["kept"] += 1
        case = labelled.case
        items.append(
            Item(
                case=labelled,
                observed=tuple(f.hpo_id for f in case.observed if f.hpo_id),
                excluded=tuple(f.hpo_id for f in case.excluded if f.hpo_id),
                age_years=age_years(case.age),
            )
        )
    return items, counts


def pessimistic_rank(scores: npt.NDArray[np.float64], row: int | None) -> int | None:
    if row is None:
        return None
    gold = scores[row]
    return int(np.sum(scores > gold) + np.sum(scores == gold))


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    if n == 0:
        return {"n": 0, "gold_ranked": 0, "top1": 0.0, "top5": 0.0, "top10": 0.0, "mrr": 0.0}
    hit = [r for r in ranks if r is not None]
    return {
        "n": n,
        "gold_ranked": len(hit),
        "top1": round(sum(r <= 1 for r in hit) / n, 4),
        "top5": round(sum(r <= 5 for r in hit) / n, 4),
        "top10": round(sum(r <= 10 for r in hit) / n, 4),
        "mrr": round(sum(1.0 / r for r in hit) / n, 4),
    }


def lr_ranks(scorer: LikelihoodRatioScorer, items: Sequence[Item], config: dict[str, Any]) -> list[int | None]:
    ranks: list[int | None] = []
    for item in items:
        scores = scorer.score_all(
            item.observed,
            item.excluded,
            sex=item.case.case.sex if config.get("use_sex") else None,
            age_years=item.age_years if config.get("use_age") else None,
        )
        ranks.append(pessimistic_rank(scores, scorer.row(item.case.gold.id)))
    return ranks


def similarity_ranks(similarity: PhenotypeSimilarity, items: Sequence[Item]) -> list[int | None]:
    return [
        pessimistic_rank(similarity.score_all(i.observed, i.excluded), similarity.row(i.case.gold.id)) for i in items
    ]


def enrichment_ranks(knowledge: HpoKnowledge, items: Sequence[Item]) -> list[int | None]:
    ranks: list[int | None] = []
    for item in items:
        ranked = rank_diseases(item.case.case, k=100_000, namespace="omim", knowledge=knowledge)
        ranks.append(next((r.rank for r in ranked if r.disease_id == item.case.gold.id), None))
    return ranks


def speed(scorer: LikelihoodRatioScorer, items: Sequence[Item], findings: int = 10) -> dict[str, float]:
    """Median and 95th-percentile ms of one ``score_all`` call with ``findings`` observed terms."""
    queries = [i.observed[:findings] for i in items if len(i.observed) >= findings][:200]
    times: list[float] = []
    for query in queries:
        start = time.perf_counter()
        scorer.score_all(query)
        times.append(1000 * (time.perf_counter() - start))
    return {
        "queries": len(times),
        "findings": findings,
        "median_ms": round(float(np.median(times)), 2) if times else 0.0,
        "p95_ms": round(float(np.percentile(times, 95)), 2) if times else 0.0,
    }


def timed(label: str, run: Callable[[], list[int | None]], n: int) -> tuple[list[int | None], float]:
    start = time.perf_counter()
    ranks = run()
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed:.1f} s ({1000 * elapsed / max(n, 1):.1f} ms/case)", file=sys.stderr)
    return ranks, round(1000 * elapsed / max(n, 1), 2)


def tune(knowledge: HpoKnowledge, items: Sequence[Item], rounds: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config: dict[str, Any] = {
        "unknown_frequency": 0.5,
        "count_prior": 2.0,
        "related_discount": 0.5,
        "false_positive_lr": 0.05,
        "contradiction_lr": 0.01,
        "excluded_floor": 0.3,
        "excluded_relevance": 1.0,
        "not_reported_weight": 0.0,
        "use_sex": False,
        "use_age": False,
    }
    trials: list[dict[str, Any]] = []
    cache: dict[str, float] = {}

    def score(candidate: dict[str, Any]) -> float:
        key = json.dumps(candidate, sort_keys=True)
        if key not in cache:
            scorer = LikelihoodRatioScorer(knowledge, **{k: v for k, v in candidate.items() if k in SCORER_KEYS})
            result = metrics(lr_ranks(scorer, items, candidate))
            cache[key] = result["mrr"]
            trials.append({"config": dict(candidate), **result})
            print(f"  tune {candidate} -> {result}", file=sys.stderr)
        return cache[key]

    best = score(config)
    for _ in range(rounds):
        changed = False
        for name, values in GRID.items():
            for value in values:
                candidate = {**config, name: value}
                value_score = score(candidate)
                if value_score > best + 1e-9:
                    best, config, changed = value_score, candidate, True
        if not changed:
            break
    return config, trials


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=CASES_PATH)
    parser.add_argument("--out", type=Path, default=Path("bench/results/likelihood.json"))
    parser.add_argument("--rounds", type=int, default=2, help="coordinate-descent passes over the grid")
    parser.add_argument("--tune-limit", type=int, default=None, help="tune on at most this many (annotated) cases")
    args = parser.parse_args(argv)

    knowledge = get_hpo_knowledge()
    items, counts = select_cases(knowledge, args.cases)
    annotated = {d.id for d in knowledge.diseases("OMIM") if d.phenotypes}
    # A gold disease without annotations is a miss under every setting: tune on the others only.
    tune_items = [i for i in items if in_tune_half(i.case.pmid, i.case.case.case_id) and i.case.gold.id in annotated]
    report_items = [i for i in items if not in_tune_half(i.case.pmid, i.case.case.case_id)]
    if args.tune_limit is not None:  # a fixed pseudo-random sample, not the file's first (clustered) rows
        tune_items.sort(key=lambda i: hashlib.sha256(i.case.case.case_id.encode()).hexdigest())
        tune_items = tune_items[: args.tune_limit]
    print(f"cases: {counts}; tune {len(tune_items)}, report {len(report_items)}", file=sys.stderr)

    config, trials = tune(knowledge, tune_items, args.rounds)
    default_scorer = LikelihoodRatioScorer(knowledge)
    start = time.perf_counter()
    scorer = LikelihoodRatioScorer(knowledge, **{k: v for k, v in config.items() if k in SCORER_KEYS})
    build_seconds = time.perf_counter() - start
    similarity = PhenotypeSimilarity(knowledge, prefixes=("OMIM",))

    n = len(report_items)
    results: dict[str, Any] = {}
    ranks, ms = timed("lr (tuned)", lambda: lr_ranks(scorer, report_items, config), n)
    results["likelihood_ratio_tuned"] = {**metrics(ranks), "ms_per_case": ms, "config": config}
    for name, change in VARIANTS.items():
        variant = {**config, **change}
        variant_scorer = LikelihoodRatioScorer(knowledge, **{k: v for k, v in variant.items() if k in SCORER_KEYS})
        ranks, ms = timed(f"lr ({name})", partial(lr_ranks, variant_scorer, report_items, variant), n)
        results[f"likelihood_ratio_{name}"] = {**metrics(ranks), "ms_per_case": ms, "change": change}
    defaults = {"use_sex": True, "use_age": True}
    ranks, ms = timed("lr (defaults)", lambda: lr_ranks(default_scorer, report_items, defaults), n)
    results["likelihood_ratio_defaults"] = {**metrics(ranks), "ms_per_case": ms}
    ranks, ms = timed("similarity", lambda: similarity_ranks(similarity, report_items), n)
    results["phenotype_similarity"] = {**metrics(ranks), "ms_per_case": ms}
    ranks, ms = timed("enrichment", lambda: enrichment_ranks(knowledge, report_items), n)
    results["enrichment"] = {**metrics(ranks), "ms_per_case": ms}

    reachable = sum(scorer.has_disease(i.case.gold.id) for i in report_items)
    report = {
        "what": "top-1/5/10 and MRR of the gold OMIM disease among ~8.5k OMIM diseases",
        "cases": str(args.cases),
        "held_out": (
            "the held-out side of the by-publication split is never read; of the index side, cases whose PMID "
            "is a reference of their gold disease's phenotype.hpoa rows are dropped; the rest are split by "
            f"publication (salt {TUNE_SALT!r}) into a tune half (constants chosen there) and a report half "
            "(the numbers below)"
        ),
        "selection": counts,
        "tune_cases": len(tune_items),
        "report_cases": n,
        "ceiling_gold_annotated": round(reachable / max(n, 1), 4),
        "lr_build_seconds": round(build_seconds, 2),
        "lr_score_all_speed": speed(scorer, report_items),
        "results": results,
        "tuning_trials": trials,
        "versions": knowledge.versions,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, row in results.items():
        print(f"{name:28s} n={row['n']} top1={row['top1']} top5={row['top5']} mrr={row['mrr']}")
    print(f"ceiling (gold annotated) {report['ceiling_gold_annotated']}; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
