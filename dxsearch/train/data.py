"""Training and validation cases, their gold for the rewards, and the teacher's episodes for SFT.

Cases come from the index side of the publication split only; the held-out side
(the benchmark) is never read here. Validation takes whole publications that no
training case shares (a second salted split, so the choice is stable across runs and
machines), and every episode hides the indexed records of its case's own
publication, so no case can retrieve itself or its siblings. Cases whose publication the
index's disease annotations cite are left out too (:func:`annotation_independent`): their
gold's phenotype rows were curated from the very paper, so training and validating on them
would teach and measure the same leak the benchmark removes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dxsearch.cases import LabelledCase
from dxsearch.evaluation import GoldMatcher, disease_names
from dxsearch.intake.splits import publication_split
from dxsearch.knowledge.hpo import publication_id
from dxsearch.train.checkpoints import write_json
from dxsearch.train.config import DataConfig
from rewards.gold import Gold

#: Salt of the train/validation split inside the index side (independent of the index/held-out one).
VALIDATION_SALT = "dxsearch-train-validation-v1"


@dataclass(frozen=True, slots=True)
class TrainingCase:
    """A case with its gold (codes and names the reward accepts) and the documents its episodes hide."""

    labelled: LabelledCase
    gold: Gold
    hidden_doc_ids: tuple[str, ...]


def split_train_validation(
    cases: Iterable[LabelledCase], validation_fraction: float, max_findings: int
) -> tuple[list[LabelledCase], list[LabelledCase]]:
    """Index-side cases split by publication into (train, validation), in file order.

    Cases without observed findings are dropped (nothing to reason from), and so are
    cases with more than ``max_findings`` observed findings (prompt length on a CPU).
    """
    train: list[LabelledCase] = []
    validation: list[LabelledCase] = []
    for labelled in cases:
        observed = len(labelled.case.observed)
        if observed == 0 or observed > max_findings:
            continue
        side = publication_split(
            labelled.pmid, labelled.case.case_id, heldout_fraction=validation_fraction, salt=VALIDATION_SALT
        )
        (validation if side == "heldout" else train).append(labelled)
    return train, validation


def annotation_independent(cases: Iterable[LabelledCase], cited: frozenset[str]) -> list[LabelledCase]:
    """Cases with findings whose publication no kept annotation row cites (``cited``: the index knowledge's).

    On a leakage-controlled index these are like the held-out cases: the gold disease's annotations
    were not curated from the case's own paper. Training, validation and calibration all draw from here.
    """
    return [c for c in cases if c.case.observed and (publication_id(c.pmid or "") or c.pmid or "") not in cited]


def spread(cases: Sequence[LabelledCase], count: int) -> list[LabelledCase]:
    """``count`` cases taken evenly across the list (file order groups publications and diseases)."""
    if count >= len(cases):
        return list(cases)
    step = len(cases) / count
    return [cases[int(i * step)] for i in range(count)]


def spread_over_publications(cases: Sequence[LabelledCase], count: int) -> list[LabelledCase]:
    """``count`` cases from as many publications as possible: one per publication in turn, in file order.

    Case series are lopsided (one paper holds 157 patients of one disease); an even spread over the
    list would let a few papers, and their diseases, decide what is learned and what is measured.
    """
    by_publication: dict[str, list[LabelledCase]] = {}
    for labelled in cases:
        by_publication.setdefault(labelled.pmid or labelled.case.case_id, []).append(labelled)
    queues = list(by_publication.values())
    chosen: list[LabelledCase] = []
    depth = 0
    while len(chosen) < count and any(depth < len(q) for q in queues):
        chosen.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    kept = {id(c) for c in chosen[:count]}
    return [c for c in cases if id(c) in kept]  # file order, as the trainers expect


def gold_for(labelled: LabelledCase, matcher: GoldMatcher) -> Gold:
    """The reward's gold: the case's diagnosis with the codes and disease names the corpus gives it.

    Training episodes and verl's exported rows both take their gold from here. Names are the
    corpus's disease-card titles other than the label (the reward folds names itself).
    """
    gold = labelled.gold
    codes = tuple(sorted(matcher.equivalent_codes(gold.id) - {gold.id}))
    names = tuple(name for name in disease_names(matcher.index, gold.id) if name != gold.label)
    return Gold(id=gold.id, label=gold.label, synonyms=names, equivalent_codes=codes)


def training_cases(
    cases: Sequence[LabelledCase], matcher: GoldMatcher, hidden_by_publication: Mapping[str, frozenset[str]]
) -> list[TrainingCase]:
    """Attach gold and hidden documents to each case."""
    return [
        TrainingCase(
            labelled,
            gold_for(labelled, matcher),
            tuple(sorted(hidden_by_publication.get(labelled.pmid or "", frozenset()))),
        )
        for labelled in cases
    ]


def prepare_cases(
    data: DataConfig,
    cases: Sequence[LabelledCase],
    matcher: GoldMatcher,
    hidden: Mapping[str, frozenset[str]],
    out: Path,
    log: Callable[[str], None],
    *,
    cited: frozenset[str],
) -> tuple[list[TrainingCase], list[TrainingCase]]:
    """A run's (training, validation) cases, spread over the split, recorded in ``out/cases.json``.

    Every trainer draws its cases the same way, so runs of different trainers on one seed meet the
    same patients. ``cited``: publications the index's annotation rows cite; their cases are left out.
    """
    independent = annotation_independent(cases, cited)
    log(f"{len(cases) - len(independent)} cases left out: no findings, or their publication feeds the annotations")
    train_all, validation_all = split_train_validation(independent, data.validation_fraction, data.max_findings)
    train = training_cases(spread_over_publications(train_all, data.train_cases), matcher, hidden)
    validation = training_cases(spread_over_publications(validation_all, data.validation_cases), matcher, hidden)
    write_json(
        out / "cases.json",
        {
            "annotation_independent": True,
            "train": [c.labelled.case.case_id for c in train],
            "validation": [c.labelled.case.case_id for c in validation],
        },
    )
    log(f"{len(train)} training and {len(validation)} validation cases (index side, disjoint publications)")
    return train, validation
