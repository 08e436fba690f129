"""Retrieval evaluation: do a case's findings retrieve its disease's knowledge document?

Cases are held out (never indexed). For each retriever the findings query is
run against disease-knowledge chunks, chunks are collapsed to documents, and a
hit at k means a document coded with the gold diagnosis is in the top k.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.progress import track

from dxsearch.cases import CaseFileError, LabelledCase, iter_phenopacket_rows
from dxsearch.corpus import DocumentKind
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.fusion import best_per_document

CUTOFFS = (1, 5, 10)
RETRIEVER_NAMES = ("lexical", "dense", "hybrid")
_CHUNK_CANDIDATES = 100

REAL_SET = "real"
SIMULATED_SET = "simulated"


def load_case_set(path: Path) -> tuple[list[LabelledCase], list[CaseFileError]]:
    """Readable cases and the errors of unreadable lines: one bad line never loses the rest."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such case file")
    cases: list[LabelledCase] = []
    errors: list[CaseFileError] = []
    for item in iter_phenopacket_rows(path):
        if isinstance(item, CaseFileError):
            errors.append(item)
        else:
            cases.append(item.to_labelled_case())
    return cases, errors


def default_case_sets(excluded_publications: frozenset[str] = frozenset()) -> dict[str, list[LabelledCase]]:
    """The built-in held-out sets: real cases from held-out publications, and held-out simulated patients."""
    from corpus_builder.sources.phenopackets import heldout_phenopacket_cases
    from corpus_builder.sources.simulated import default_simulation

    return {REAL_SET: heldout_phenopacket_cases(), SIMULATED_SET: default_simulation(excluded_publications).heldout}


def _first_hit_rank(ranked_doc_ids: Sequence[str], targets: set[str]) -> int | None:
    for rank, doc_id in enumerate(ranked_doc_ids, start=1):
        if doc_id in targets:
            return rank
    return None


def _summarise(ranks: Sequence[int | None], covered: Sequence[bool], latencies: Sequence[float]) -> dict[str, Any]:
    n = len(ranks)
    n_covered = sum(covered)
    metrics: dict[str, Any] = {"cases": n, "covered": n_covered}
    for cutoff in CUTOFFS:
        hits = sum(1 for r in ranks if r is not None and r <= cutoff)
        metrics[f"recall@{cutoff}"] = hits / n if n else 0.0
        metrics[f"covered_recall@{cutoff}"] = hits / n_covered if n_covered else 0.0
    metrics["mrr@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n if n else 0.0
    ordered = sorted(latencies)
    if ordered:
        metrics["latency_p50_ms"] = 1000 * ordered[len(ordered) // 2]
        metrics["latency_p95_ms"] = 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return metrics


def evaluate_retrieval(
    index: EmbeddedIndex, case_sets: Mapping[str, Sequence[LabelledCase]], *, limit: int | None = None
) -> dict[str, Any]:
    """Per-set and pooled recall@1/5/10 for each retriever."""
    pooled: dict[str, tuple[list[int | None], list[bool], list[float]]] = {
        name: ([], [], []) for name in RETRIEVER_NAMES
    }
    per_set: dict[str, dict[str, Any]] = {}
    targets_cache: dict[str, set[str]] = {}
    for set_name, all_cases in case_sets.items():
        cases = list(all_cases)[:limit] if limit else list(all_cases)
        results: dict[str, tuple[list[int | None], list[bool], list[float]]] = {
            name: ([], [], []) for name in RETRIEVER_NAMES
        }
        for labelled in track(cases, description=f"evaluating {set_name}", transient=True):
            gold = labelled.gold.id
            if gold not in targets_cache:
                targets_cache[gold] = {
                    d for d in index.store.doc_ids_by_code(gold) if d.startswith(("omim:", "orpha:"))
                }
            targets = targets_cache[gold]
            query = labelled.case.findings_query()
            for name in RETRIEVER_NAMES:
                t0 = time.perf_counter()
                found = index.retriever(name).search(query, [DocumentKind.DISEASE_KNOWLEDGE], _CHUNK_CANDIDATES)
                elapsed = time.perf_counter() - t0
                ranked = [e.doc_id for e in best_per_document(found)][: max(CUTOFFS)]
                rank = _first_hit_rank(ranked, targets)
                for bucket in (results[name], pooled[name]):
                    bucket[0].append(rank)
                    bucket[1].append(bool(targets))
                    bucket[2].append(elapsed)
        per_set[set_name] = {name: _summarise(*results[name]) for name in RETRIEVER_NAMES}
    report: dict[str, Any] = {name: _summarise(*pooled[name]) for name in RETRIEVER_NAMES}
    report["sets"] = per_set
    report["index_version"] = index.version
    report["chunk_candidates"] = _CHUNK_CANDIDATES
    return report
