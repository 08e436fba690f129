"""Where to put the dense-only similarity floor of hybrid search (Settings.dense_only_min_similarity).

    python bench/bench_dense_floor.py --index var/index --out bench/results/dense_floor.json

A dense index always returns nearest neighbours, so a nonsense query ("zanzibarquokka")
gets passages whose RRF scores look as confident as a real query's. For each query this
measures the *peak similarity* the hybrid retriever sees: the best cosine between a query
statement and any statement of the dense candidates. Nonsense queries (made-up words,
keyboard noise, everyday non-medical phrases) are compared with real ones (disease names
and single findings taken from held-out cases, which are never indexed). The floor should
sit above nearly every nonsense peak and below nearly every real one; the report gives both
distributions, the share of each on either side of candidate floors, and the hybrid
recall@10 of held-out cases with and without the floor (it must not cost recall).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

from corpus_builder.evaluate import _CHUNK_CANDIDATES, _first_hit_rank, default_case_sets
from dxsearch.corpus import DocumentKind
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.fusion import best_per_document, reciprocal_rank_fusion

NONSENSE = [
    "zanzibarquokka",
    "blorptastic frobnication",
    "qwxzyv plortnik",
    "asdf jkl qwerty",
    "flumberwick grozzle",
    "snargleblast",
    "xylophone carburetor",
    "purple elephant umbrella",
    "the quick brown fox jumps over the lazy dog",
    "tax return deadline",
    "best pizza in naples",
    "football match tonight",
    "how to fix a flat bicycle tyre",
    "stock market prices",
    "wireless router password",
    "vrrzzt mmphlk",
    "glorbnax",
    "quantum chromodynamics lattice",
    "medieval castle architecture",
    "jazz saxophone solo",
]
DISEASES = [
    "marfan",
    "marfan syndrome",
    "huntington disease",
    "cystic fibrosis",
    "ehlers-danlos",
    "noonan syndrome",
    "spastic paraplegia",
    "duchenne muscular dystrophy",
    "neurofibromatosis",
    "tuberous sclerosis",
    "fragile x",
    "rett syndrome",
]


def peak_of(index: EmbeddedIndex, query: str, candidates: int) -> float:
    hits = index.dense.search_with_peaks(query, None, candidates)
    return max((peak for _, peak in hits), default=0.0)


def share_at_or_above(values: list[float], floor: float) -> float:
    return sum(v >= floor for v in values) / len(values) if values else 0.0


def hybrid_recall(index: EmbeddedIndex, floors: list[float], cases_per_set: int) -> dict[str, dict[str, float]]:
    """Hybrid recall@10 of the gold disease card on held-out cases, as `eval-retrieval` counts it, per floor.

    Each case is searched once per side; the fusion is then redone for every floor."""
    settings = index.settings
    n = max(_CHUNK_CANDIDATES, settings.fusion_candidates)
    kinds = [DocumentKind.DISEASE_KNOWLEDGE]
    found: dict[float, dict[str, int]] = {floor: {} for floor in floors}
    sizes: dict[str, int] = {}
    for name, cases in default_case_sets().items():
        chosen = list(cases)[:cases_per_set]
        sizes[name] = len(chosen)
        for labelled in chosen:
            targets = {d for d in index.store.doc_ids_by_code(labelled.gold.id) if d.startswith(("omim:", "orpha:"))}
            query = labelled.case.findings_query()
            lexical = index.lexical.search(query, kinds, n)
            lexical_ids = {e.evidence_id for e in lexical}
            dense = index.dense.search_with_peaks(query, kinds, n)
            for floor in floors:
                kept = [e for e, peak in dense if peak >= floor or e.evidence_id in lexical_ids]
                fused = reciprocal_rank_fusion(
                    [("lexical", settings.rrf_lexical_weight, lexical), ("dense", settings.rrf_dense_weight, kept)],
                    k0=settings.rrf_k,
                    limit=_CHUNK_CANDIDATES,
                )
                ranked = [e.doc_id for e in best_per_document(fused)][:10]
                found[floor][name] = found[floor].get(name, 0) + (_first_hit_rank(ranked, targets) is not None)
    return {
        str(floor): {name: round(hits / sizes[name], 4) for name, hits in per_set.items()}
        for floor, per_set in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"))
    parser.add_argument("--findings", type=int, default=60, help="single held-out findings used as real queries")
    parser.add_argument("--recall-cases", type=int, default=150, help="held-out cases per set for recall@10")
    parser.add_argument("--floors", default="0.5,0.55,0.6,0.65,0.7")
    parser.add_argument("--seed", type=int, default=13, help="which held-out findings serve as real queries")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    index = EmbeddedIndex(args.index)
    candidates = index.settings.fusion_candidates
    labels = sorted(
        {f.label for cases in default_case_sets().values() for c in cases for f in c.case.findings if not f.excluded}
    )
    findings = random.Random(args.seed).sample(labels, min(args.findings, len(labels)))
    peaks: dict[str, dict[str, float]] = {
        "nonsense": {q: round(peak_of(index, q, candidates), 4) for q in NONSENSE},
        "diseases": {q: round(peak_of(index, q, candidates), 4) for q in DISEASES},
        "findings": {q: round(peak_of(index, q, candidates), 4) for q in findings},
    }
    floors = [float(f) for f in args.floors.split(",")]
    report: dict[str, Any] = {"index_version": index.version, "peaks": peaks, "groups": {}, "floors": {}}
    for group, values in peaks.items():
        ordered = sorted(values.values())
        report["groups"][group] = {
            "n": len(ordered),
            "min": ordered[0],
            "median": statistics.median(ordered),
            "max": ordered[-1],
        }
        print(
            f"{group:9} n={len(ordered):3} min {ordered[0]:.3f} median {statistics.median(ordered):.3f} "
            f"max {ordered[-1]:.3f}"
        )
    for floor in floors:
        row = {group: round(share_at_or_above(list(v.values()), floor), 3) for group, v in peaks.items()}
        report["floors"][str(floor)] = {"share_kept": row}
        print(
            f"floor {floor:.2f}: kept nonsense {row['nonsense']:.2f}, diseases {row['diseases']:.2f}, "
            f"findings {row['findings']:.2f}"
        )
    if args.recall_cases:
        for name, recall in hybrid_recall(index, [0.0, *floors], args.recall_cases).items():
            report["floors"].setdefault(name, {})["hybrid_recall@10"] = recall
            print(f"floor {float(name):.2f}: hybrid recall@10 {recall}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
