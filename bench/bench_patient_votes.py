"""Similar-patient votes alone: how often the diseases of the most similar indexed records rank the gold first.

Why a script of its own: it measures what ``<match>`` by meaning (``dxsearch.knowledge.patient_similarity``)
can give before any policy weighs it, on the built-in held-out cases against a leakage-controlled index (their
publications' records and annotation rows left out). Each held-out case's observed findings rank the index's
patient records by simGIC; the diseases of the ``--neighbours`` most similar records vote, each record 1/rank
times its similarity; the diseases are ranked by their votes. ``--by-words`` ranks the same records with the
index's hybrid text retriever instead (the query as the evidence policy writes it), in the same run.

    python bench/bench_patient_votes.py --index var/index [--neighbours 10] [--limit N] [--by-words]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from corpus_builder.sources.phenopackets import heldout_phenopacket_cases
from dxsearch.corpus import DocumentKind
from dxsearch.policies.catalog import index_knowledge
from dxsearch.policies.patient_match import patient_similarity
from dxsearch.retrieval.embedded import EmbeddedIndex


def ranked_by_votes(neighbours: Sequence[tuple[str, float]], diagnosis: dict[str, str]) -> list[str]:
    """Diseases by the votes of ``neighbours`` (doc id, similarity), best first: 1/rank times similarity each."""
    votes: dict[str, float] = defaultdict(float)
    for rank, (doc_id, similarity) in enumerate(neighbours, start=1):
        if doc_id in diagnosis:
            votes[diagnosis[doc_id]] += similarity / rank
    return sorted(votes, key=lambda code: -votes[code])


def _diagnosis(index: EmbeddedIndex, doc_id: str) -> str | None:
    document = index.store.document(doc_id)
    codes = document.metadata.codes if document is not None else ()
    return next((c for c in codes if c.startswith(("OMIM:", "ORPHA:"))), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("var/index"))
    parser.add_argument("--neighbours", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N held-out cases.")
    parser.add_argument("--by-words", action="store_true", help="Also rank the records with the text retriever.")
    args = parser.parse_args()
    index = EmbeddedIndex(args.index)
    if not index.manifest.excluded_publications:
        raise SystemExit(f"{args.index} leaves out no publication: the held-out cases would meet themselves")
    similarity, _ = patient_similarity(index, index_knowledge(index))
    diagnosis = {doc_id: code for doc_id, _, _ in index.store.record_findings() if (code := _diagnosis(index, doc_id))}
    cases = heldout_phenopacket_cases()[: args.limit]
    ways = ["meaning", *(["words"] if args.by_words else [])]
    hits = {way: [0, 0] for way in ways}
    for labelled in cases:
        observed = [f.hpo_id for f in labelled.case.observed if f.hpo_id]
        for way in ways:
            if way == "meaning":
                neighbours = similarity.rank(observed, args.neighbours)
            else:
                query = "; ".join(f.label for f in labelled.case.observed)
                found = index.hybrid.search(query, [DocumentKind.PATIENT_RECORD], args.neighbours)
                neighbours = [(e.doc_id, e.score) for e in found]
            ranked = ranked_by_votes(neighbours, diagnosis)
            hits[way][0] += ranked[:1] == [labelled.gold.id]
            hits[way][1] += labelled.gold.id in ranked[:5]
    report = {
        "index": index.version,
        "cases": len(cases),
        "neighbours": args.neighbours,
        **{way: {"top1": top1 / len(cases), "top5": top5 / len(cases)} for way, (top1, top5) in hits.items()},
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
