"""What the patient's age adds to the likelihood-ratio scorer, on the held-out real cases, before and after in one run.

    PYTHONPATH=. python bench/bench_likelihood_age.py --index var/index-lpo [--out bench/results/likelihood_age.json]

Two runners over the same cases, in the same process: ``dxsearch eval``'s ``likelihood`` ranker as shipped
(the age bounds onset from above, :mod:`dxsearch.knowledge.likelihood`), and the same ranker with each case's
age withheld (what it did before the age reached it). Both rank with the index's own disease knowledge (the
rows of its excluded publications dropped), and are scored by ``dxsearch eval``'s harness (top-k of the five
answers, gold matched by code, shared code or name), so the numbers are the ones ``dxsearch eval --policy
likelihood`` prints. Beside them, the gold's rank among all scored OMIM diseases (ties against the gold), by
age band, shows changes below the top five. The index is opened read-only; nothing is rebuilt.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpus_builder.sources.phenopackets import heldout_phenopacket_cases
from dxsearch.cases import LabelledCase
from dxsearch.evaluation import GoldMatcher, evaluate, knowledge_ceiling, likelihood_runner
from dxsearch.knowledge.disease_ontology import get_disease_ontology
from dxsearch.knowledge.likelihood import get_likelihood_scorer
from dxsearch.policies.catalog import index_knowledge
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import get_settings

BANDS: tuple[tuple[str, float, float], ...] = (
    ("under 1 y", 0.0, 1.0),
    ("1-5 y", 1.0, 5.0),
    ("5-16 y", 5.0, 16.0),
    ("16 y and over", 16.0, 1000.0),
)


def without_age(labelled: LabelledCase) -> LabelledCase:
    return labelled.model_copy(update={"case": labelled.case.model_copy(update={"age": None})})


def full_ranks(cases: Sequence[LabelledCase], with_age: bool, knowledge: Any) -> list[int | None]:
    """The gold's rank among all scored OMIM diseases (ties count against it); ``None`` when not scored."""
    scorer = get_likelihood_scorer(knowledge)
    ranks: list[int | None] = []
    for labelled in cases:
        row = scorer.row(labelled.gold.id)
        if row is None or not any(f.hpo_id for f in labelled.case.observed):
            ranks.append(None)
            continue
        scores = scorer.score_case(labelled.case if with_age else without_age(labelled).case)
        ranks.append(int(np.sum(scores >= scores[row])))
    return ranks


def summary(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    hit = [r for r in ranks if r is not None]
    return {
        "n": n,
        "top1": round(sum(r <= 1 for r in hit) / n, 4) if n else 0.0,
        "top5": round(sum(r <= 5 for r in hit) / n, 4) if n else 0.0,
        "top10": round(sum(r <= 10 for r in hit) / n, 4) if n else 0.0,
        "mrr_full": round(sum(1.0 / r for r in hit) / n, 4) if n else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="a leakage-controlled index (read only)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/likelihood_age.json"))
    parser.add_argument("--limit", type=int, default=None, help="the first N held-out cases only")
    args = parser.parse_args(argv)

    opened = EmbeddedIndex(args.index, get_settings())
    knowledge = index_knowledge(opened)
    cases = heldout_phenopacket_cases()[: args.limit] if args.limit else heldout_phenopacket_cases()
    with_age = [c for c in cases if c.case.age_years is not None]
    shipped = likelihood_runner(knowledge)
    runners = {"likelihood, age withheld": lambda c: shipped(without_age(c)), "likelihood": shipped}
    report = evaluate(runners, {"real": cases}, GoldMatcher(opened, get_disease_ontology()))
    eval_metrics = {
        name: {key: round(float(metrics[key]), 4) for key in ("cases", "top1", "top3", "top5", "mrr", "ece")}
        for name, metrics in report.items()
    }
    before, after = full_ranks(with_age, False, knowledge), full_ranks(with_age, True, knowledge)
    bands: dict[str, Any] = {}
    for label, low, high in BANDS:
        keep = [i for i, c in enumerate(with_age) if low <= (c.case.age_years or 0.0) < high]
        bands[label] = {
            "before": summary([before[i] for i in keep]),
            "after": summary([after[i] for i in keep]),
        }
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b is not None and a is not None and a != b]
    result: dict[str, Any] = {
        "index": str(args.index),
        "index_version": opened.version,
        "excluded_publications": len(knowledge.excluded_publications),
        "cases": len(cases),
        "cases_with_age": len(with_age),
        "ceiling": knowledge_ceiling(cases, knowledge),
        "eval": eval_metrics,
        "full_rank_cases_with_age": {"before": summary(before), "after": summary(after)},
        "full_rank_by_age": bands,
        "gold_rank_moved": {"up": sum(a < b for b, a in moved), "down": sum(a > b for b, a in moved)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, metrics in eval_metrics.items():
        print(f"{name:26s} {metrics}")
    print(f"full ranks, {len(with_age)} cases with an age: {result['full_rank_cases_with_age']}")
    for label, row in bands.items():
        print(f"  {label:14s} before {row['before']}\n  {'':14s} after  {row['after']}")
    print(f"gold moved up in {result['gold_rank_moved']['up']}, down in {result['gold_rank_moved']['down']}")
    print(f"written {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
