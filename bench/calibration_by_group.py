"""Is the confidence calibrated *within* each knowledge group of the tuning folds, or only over their mix?

    python bench/calibration_by_group.py --played var/calibration-folds-learned.jsonl \\
        --played-evidence var/calibration-folds-evidence.jsonl --folds var/folds --index-prefix var/index-fold-

Why: the shipped maps are fitted on the tuning folds' played cases and are calibrated there as a whole
(out-of-fold ECE about 0.02), yet on the held-out benchmark they are underconfident (ECE about 0.09).
``dxsearch eval`` splits cases by what the index knows of their gold disease (patients and annotations,
annotations only, patients only, nothing; :func:`dxsearch.evaluation.knowledge_group`). This script puts
each fold case in its group *on its own fold index* and reports, per group, the mean out-of-fold
probability against the share right, plus the mix of groups. A map that reads only the scores cannot
tell a case whose gold has published patients from one whose gold is unknown to the index when the two
look alike; if it is calibrated over the mix but not within the groups, its error on another set of
papers follows that set's mix. The held-out set is never read here.

Probabilities are out of fold by publication (:data:`dxsearch.train.learned_calibration.FOLDS` folds), each
from a map fitted the way ``dxsearch calibrate --no-play`` fits it, without the fold's publications.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from corpus_builder.sources.phenopackets import index_phenopacket_cases
from dxsearch.evaluation import (
    KNOWN_BY_ANNOTATIONS_ONLY,
    KNOWN_BY_PATIENTS_AND_ANNOTATIONS,
    KNOWN_BY_PATIENTS_ONLY,
    UNKNOWN_TO_THE_INDEX,
    knowledge_group,
    publication_documents,
)
from dxsearch.knowledge.hpo import publication_id, read_publication_list
from dxsearch.policies.calibration import expected_calibration_error
from dxsearch.policies.catalog import index_knowledge
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.calibrate import CalibrationCase, fit, fold_of
from dxsearch.train.learned_calibration import FOLDS, LearnedCalibrationRow, first_probability, fit_rows

Scored = tuple[str, float, bool]  # case id, out-of-fold probability of the first choice, right or not


def learned_out_of_fold(path: Path) -> list[Scored]:
    """The learned map's out-of-fold first-choice probabilities over the played rows of ``path``."""
    rows = [LearnedCalibrationRow.from_json(json.loads(line)) for line in path.open() if line.strip()]
    scored: list[Scored] = []
    for fold in range(FOLDS):
        fitted = fit_rows([r for r in rows if fold_of(r, FOLDS) != fold])
        scored += [(r.case_id, first_probability(fitted, r), r.hit) for r in rows if fold_of(r, FOLDS) == fold]
    return scored


def evidence_out_of_fold(path: Path) -> list[Scored]:
    """The evidence calibrator's out-of-fold first-choice probabilities over the played cases of ``path``."""
    cases = [CalibrationCase.from_json(json.loads(line)) for line in path.open() if line.strip()]
    usable = [c for c in cases if c.signals.scores]
    scored: list[Scored] = []
    for fold in range(FOLDS):
        fitted = fit([c for c in usable if fold_of(c, FOLDS) != fold])
        for case in (c for c in usable if fold_of(c, FOLDS) == fold):
            scored.append((case.case_id, float(fitted.probabilities(case.signals)[0]), case.gold_rank == 1))
    return scored


def fold_groups(folds_dir: Path, index_prefix: str) -> dict[str, str]:
    """Case id -> knowledge group of every fold case, on the index that leaves its fold out."""
    groups: dict[str, str] = {}
    cases = list(index_phenopacket_cases())
    for fold_file in sorted(folds_dir.glob("fold-*.txt")):
        number = fold_file.stem.removeprefix("fold-")
        index = EmbeddedIndex(Path(f"{index_prefix}{number}"))
        knowledge = index_knowledge(index)
        counts: collections.Counter[str] = collections.Counter()
        for doc_id, _, _ in index.store.record_findings():
            document = index.store.document(doc_id)
            codes = document.metadata.codes if document else ()
            code = next((c for c in codes if c.startswith(("OMIM:", "ORPHA:"))), None)
            if code:
                counts[code] += 1
        group = knowledge_group(counts, knowledge)
        wanted = read_publication_list(fold_file)
        for labelled in cases:
            if publication_id(labelled.pmid or "") in wanted and (name := group(labelled)):
                groups[labelled.case.case_id] = name
        print(f"fold {number}: {len(wanted)} publications", file=sys.stderr)
    return groups


def index_side_mix(index_dir: Path) -> dict[str, float]:
    """The group mix of every index-side published case on the real index, each with its own publication left out.

    What a fold is a sample of: a case counts its gold's patient records from *other* publications and its
    gold's kept annotation rows that do not cite its own publication (a row citing it would be dropped by
    a build that left the case's paper out).
    """
    index = EmbeddedIndex(index_dir)
    knowledge = index_knowledge(index)
    by_disease: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for publication, doc_ids in publication_documents(index).items():
        for doc_id in doc_ids:
            document = index.store.document(doc_id)
            codes = document.metadata.codes if document else ()
            if code := next((c for c in codes if c.startswith(("OMIM:", "ORPHA:"))), None):
                by_disease[code][publication_id(publication) or publication] += 1
    mix: collections.Counter[str] = collections.Counter()
    for labelled in index_phenopacket_cases():
        own = publication_id(labelled.pmid or "")
        patients = any(n for p, n in by_disease.get(labelled.gold.id, {}).items() if p != own)
        annotated = any(
            row.aspect == "P" and not row.negated and own not in {publication_id(r) for r in row.references}
            for row in knowledge.annotations(labelled.gold.id)
        )
        mix[_GROUP_OF[(patients, annotated)]] += 1
    total = sum(mix.values())
    shares = {group: round(n / total, 3) for group, n in sorted(mix.items())}
    print(f"index side, own publication left out: {total} cases {shares}", file=sys.stderr)
    return shares


_GROUP_OF = {
    (True, True): KNOWN_BY_PATIENTS_AND_ANNOTATIONS,
    (False, True): KNOWN_BY_ANNOTATIONS_ONLY,
    (True, False): KNOWN_BY_PATIENTS_ONLY,
    (False, False): UNKNOWN_TO_THE_INDEX,
}


def report(name: str, scored: Sequence[Scored], groups: dict[str, str]) -> dict[str, object]:
    """Per group: cases, share of the mix, mean probability, share right, ECE; and the whole."""
    table: dict[str, object] = {}
    parts: dict[str, list[Scored]] = collections.defaultdict(list)
    for row in scored:
        parts[groups.get(row[0], "not in a fold")].append(row)
    parts["all"] = list(scored)
    for group, rows in sorted(parts.items()):
        probabilities, hits = [p for _, p, _ in rows], [h for _, _, h in rows]
        table[group] = {
            "cases": len(rows),
            "share": round(len(rows) / len(scored), 3),
            "mean_probability": round(sum(probabilities) / len(rows), 3),
            "right": round(sum(hits) / len(rows), 3),
            "ece": round(expected_calibration_error(probabilities, hits), 3),
        }
        print(f"{name:9} {group:42} {len(rows):5} {table[group]}", file=sys.stderr)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--played", type=Path, required=True, help="learned rows (dxsearch calibrate --policy learned)")
    parser.add_argument("--played-evidence", type=Path, help="evidence rows (dxsearch calibrate)")
    parser.add_argument("--folds", type=Path, default=Path("var/folds"), help="fold-K.txt publication lists")
    parser.add_argument("--index-prefix", default="var/index-fold-", help="fold K's index is PREFIX + K")
    parser.add_argument("--index", type=Path, help="also the index side's mix on this (real) index, own paper left out")
    parser.add_argument("--out", type=Path, help="write the table as JSON here (stdout otherwise)")
    args = parser.parse_args()
    groups = fold_groups(args.folds, args.index_prefix)
    result: dict[str, object] = {"learned": report("learned", learned_out_of_fold(args.played), groups)}
    if args.played_evidence:
        result["evidence"] = report("evidence", evidence_out_of_fold(args.played_evidence), groups)
    if args.index:
        result["index_side_mix"] = index_side_mix(args.index)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
