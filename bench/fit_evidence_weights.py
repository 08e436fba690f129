"""Fit the evidence policy's signal weights on index-side published cases, leave-publication-out.

Why a script of its own: the weights of similarity, enrichment, similar-patient votes, knowledge
retrieval and the likelihood-ratio posterior are the evidence policy's only free parameters, and
they must be chosen where the held-out benchmark cannot see. This plays the policy once per case
(abstention off, its own publication's records hidden, ranking with the index's disease knowledge),
keeps every candidate's signals, then grid-searches the weights offline on a *tune* half of the
publications and reports the chosen weights on the other half, beside today's weights, in one run.

Cases: index-side phenopackets whose publication no kept annotation row cites (on a leakage-controlled
index, like the held-out ones: the answer was not curated from their paper).

    python bench/fit_evidence_weights.py --index var/index --cases 400 --out bench/results/evidence-weights.json
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from corpus_builder.sources.phenopackets import index_phenopacket_cases
from dxsearch.agent import rollout
from dxsearch.env import DiagnosticEnv
from dxsearch.evaluation import GoldMatcher, RankedAnswer, publication_documents
from dxsearch.knowledge.disease_ontology import get_disease_ontology
from dxsearch.knowledge.hpo import normalise_publications, publication_id, read_publication_list
from dxsearch.knowledge.similarity import get_phenotype_similarity
from dxsearch.policies.catalog import index_knowledge, index_retriever
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.data import annotation_independent, spread

SIGNALS = ("phenotype", "enrichment", "votes", "retrieval", "likelihood")
GRID: dict[str, tuple[float, ...]] = {
    "phenotype": (0.0, 0.5, 1.0),
    "enrichment": (0.0, 0.35, 0.7, 1.0),
    "votes": (0.0, 0.2, 0.4, 0.8, 1.6, 3.2),
    "retrieval": (0.0, 0.15, 0.3),
    "likelihood": (0.0, 0.25, 0.5, 1.0, 2.0),
}


def play(index_dir: Path, count: int, played: Path, publications: Path | None = None) -> list[dict[str, Any]]:
    """Per case: its publication, and every candidate's signals with whether it is the gold.

    ``publications``: play the index side's cases of these publications (PMIDs, one per line), which the index
    at ``index_dir`` must leave out (``corpus-builder build --exclude-publications``): a validation split that
    meets the index as held-out cases do, their own papers' records *and* annotation rows gone. Without it,
    the cases whose publication no kept row cites."""
    rows = [json.loads(line) for line in played.read_text().splitlines() if line] if played.is_file() else []
    done = {r["case_id"] for r in rows}
    index = EmbeddedIndex(index_dir)
    knowledge = index_knowledge(index)
    if publications is not None:
        wanted = read_publication_list(publications)
        if not wanted <= normalise_publications(index.manifest.excluded_publications):
            raise SystemExit(f"{index_dir} does not leave out the publications of {publications}: build it with them")
        pool = [c for c in index_phenopacket_cases() if publication_id(c.pmid or "") in wanted]
    else:
        pool = annotation_independent(index_phenopacket_cases(), knowledge.cited_publications())
    chosen = sorted(spread(pool, count), key=lambda c: hashlib.sha256(c.case.case_id.encode()).hexdigest())
    config = EvidencePolicyConfig(
        abstain_below=0.0, min_specific_findings=0, min_information=0.0, max_finalist_lookups=0
    )
    policy = EvidencePolicy(config, similarity=get_phenotype_similarity(knowledge))
    policy.collect_likelihood = True
    env = DiagnosticEnv(index_retriever(index, "hybrid"))
    matcher = GoldMatcher(index, get_disease_ontology())
    hidden = publication_documents(index)
    with played.open("a", encoding="utf-8") as handle:
        for number, labelled in enumerate(chosen, start=1):
            if labelled.case.case_id in done:
                continue
            exclude = hidden.get(labelled.pmid or "", frozenset())
            history = rollout(labelled.case, policy, env, exclude_doc_ids=exclude).history
            candidates = policy.candidates(labelled.case, history)
            row = {
                "case_id": labelled.case.case_id,
                "pmid": labelled.pmid,
                "candidates": [
                    {
                        "gold": matcher.rank_of_gold(
                            RankedAnswer((c.code,), (c.name,)), labelled.gold.id, labelled.gold.label
                        )
                        == 1,
                        **{s: getattr(c, s) for s in SIGNALS},
                    }
                    for c in candidates
                ],
            }
            handle.write(json.dumps(row) + "\n")
            rows.append(row)
            if number % 25 == 0:
                print(f"played {number}/{len(chosen)}", file=sys.stderr)
    return rows


def metrics(rows: list[dict[str, Any]], weights: dict[str, float]) -> dict[str, float]:
    top1 = top5 = mrr = 0.0
    for row in rows:
        candidates = row["candidates"]
        if not candidates:
            continue
        features = np.array([[c[s] for s in SIGNALS] for c in candidates])
        scores = features @ np.array([weights[s] for s in SIGNALS])
        gold = [i for i, c in enumerate(candidates) if c["gold"]]
        if not gold:
            continue
        rank = 1 + int(np.sum(scores > scores[gold[0]]))
        top1 += rank == 1
        top5 += rank <= 5
        mrr += 1.0 / rank
    n = max(len(rows), 1)
    return {"top1": top1 / n, "top5": top5 / n, "mrr": mrr / n, "cases": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"))
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--played", type=Path, default=Path("var/evidence-weights-played.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/evidence-weights.json"))
    parser.add_argument(
        "--publications",
        type=Path,
        default=None,
        help="PMIDs (one per line) the index leaves out: play their index-side cases (a validation split)",
    )
    args = parser.parse_args()
    rows = play(args.index, args.cases, args.played, args.publications)
    tune = [r for r in rows if int(hashlib.sha256((r["pmid"] or r["case_id"]).encode()).hexdigest(), 16) % 2 == 0]
    report = [r for r in rows if r not in tune]
    today = EvidencePolicyConfig()
    current = {
        "phenotype": today.similarity_weight,
        "enrichment": today.enrichment_weight,
        "votes": today.vote_weight,
        "retrieval": today.retrieval_weight,
        "likelihood": today.likelihood_weight,
    }
    best: tuple[float, float, dict[str, float]] | None = None
    for values in itertools.product(*(GRID[s] for s in SIGNALS)):
        weights = dict(zip(SIGNALS, values, strict=True))
        if not any(values):
            continue
        m = metrics(tune, weights)
        key = (m["mrr"], m["top1"])
        if best is None or key > best[:2]:
            best = (m["mrr"], m["top1"], weights)
    assert best is not None
    chosen = best[2]
    lr_only = dict.fromkeys(SIGNALS, 0.0) | {"likelihood": 1.0}
    similarity_only = dict.fromkeys(SIGNALS, 0.0) | {"phenotype": 1.0}
    enrichment_only = dict.fromkeys(SIGNALS, 0.0) | {"enrichment": 1.0}
    result = {
        "cases": {"played": len(rows), "tune": len(tune), "report": len(report)},
        "split": "by publication (sha256 of the PMID, even: tune, odd: report)",
        "chosen_on_tune": chosen,
        "report": {
            "chosen": metrics(report, chosen),
            "today": metrics(report, current),
            "likelihood_only": metrics(report, lr_only),
            "similarity_only": metrics(report, similarity_only),
            "enrichment_only": metrics(report, enrichment_only),
        },
        "tune": {"chosen": metrics(tune, chosen), "today": metrics(tune, current)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
