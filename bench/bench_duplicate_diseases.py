"""How often a disease stands twice in the evidence policy's top five, and what folding equivalents changes.

    PYTHONPATH=. python bench/bench_duplicate_diseases.py --index var/index-lpo --out bench/results/duplicates.json

One run gives both sides: per held-out case (the built-in real and simulated sets, leakage-controlled as
``dxsearch eval`` plays them: probability bar off, the case's own publication hidden), *before* is the top
five of the policy's unmerged ranking after the episode's retrievals (what it diagnosed before
:mod:`dxsearch.policies.differential`), *after* is its differential as the trace shows it. A duplicate is
two entries that :func:`~dxsearch.policies.differential.same_disease` calls one disease (one-to-one
OMIM/ORPHA equivalence).
Top-1/top-5 are scored by :class:`~dxsearch.evaluation.GoldMatcher` on both, as ``dxsearch eval`` scores.
``--limit N`` takes the first N cases of each set after a fixed shuffle (seed 20261127).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from corpus_builder.evaluate import default_case_sets
from dxsearch.agent import rollout
from dxsearch.env import DiagnosticEnv
from dxsearch.evaluation import GoldMatcher, RankedAnswer, publication_documents
from dxsearch.knowledge.disease_ontology import get_disease_ontology
from dxsearch.policies.catalog import index_knowledge, index_retriever, make_policy, retriever_for
from dxsearch.policies.differential import merge_candidates, same_disease
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.protocol import MAX_DIAGNOSES
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import get_settings

SEED = 20261127


def duplicated(codes: list[str | None]) -> bool:
    """Whether two entries of one list are one disease."""
    present = [c for c in codes if c]
    return any(same_disease(a, b) for i, a in enumerate(present) for b in present[i + 1 :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    settings = get_settings().model_copy(update={"abstain_below": 0.0})  # as `dxsearch eval` plays policies
    index = EmbeddedIndex(args.index, settings)
    knowledge = index_knowledge(index)
    policy, budget = make_policy("evidence", settings, None, knowledge)
    assert isinstance(policy, EvidencePolicy)
    env = DiagnosticEnv(index_retriever(index, retriever_for("evidence")), budget)
    hidden = publication_documents(index)
    matcher = GoldMatcher(index, get_disease_ontology())
    report: dict[str, Any] = {"index_version": index.version, "seed": SEED, "sets": {}}
    for name, cases in default_case_sets(knowledge.excluded_publications).items():
        chosen = list(cases)
        random.Random(SEED).shuffle(chosen)
        chosen = chosen[: args.limit] if args.limit else chosen
        tally = {"cases": len(chosen), "differentials": 0, "duplicated_before": 0, "duplicated_after": 0}
        hits = {"top1_before": 0, "top5_before": 0, "top1_after": 0, "top5_after": 0}
        for labelled in chosen:
            exclude = hidden.get(labelled.pmid or "", frozenset())
            played = rollout(labelled.case, policy, env, exclude_doc_ids=exclude)
            final = env.final
            if final is None or final.insufficient:
                before = after = RankedAnswer(codes=(), names=())
            else:
                unmerged = policy.ranking_after(labelled.case, played.history[:-1]).candidates[:MAX_DIAGNOSES]
                before = RankedAnswer(codes=tuple(c.code for c in unmerged), names=tuple(c.name for c in unmerged))
                merged = merge_candidates(final.candidates)  # what the trace shows (dxsearch.agent)
                after = RankedAnswer(codes=tuple(c.code for c in merged), names=tuple(c.name for c in merged))
            tally["differentials"] += bool(after.codes)
            tally["duplicated_before"] += duplicated(list(before.codes))
            tally["duplicated_after"] += duplicated(list(after.codes))
            for side, answer in (("before", before), ("after", after)):
                rank = matcher.rank_of_gold(answer, labelled.gold.id, labelled.gold.label)
                hits[f"top1_{side}"] += rank == 1
                hits[f"top5_{side}"] += rank is not None and rank <= 5
        report["sets"][name] = {**tally, **{k: v / len(chosen) for k, v in hits.items()}}
        print(name, json.dumps(report["sets"][name]), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
