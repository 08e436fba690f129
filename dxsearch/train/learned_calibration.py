"""The learned policy's confidence map: what each played case leaves behind, and the fit on those rows.

Training fits the map on the policy's greedy episodes of its own training cases. Those cases met the
tuning index the policy was trained on; ``dxsearch calibrate --policy learned`` refits it on tuning
folds instead (each fold's cases played on an index that leaves their publications out, records and
annotation rows, yet holds nearly all the rest), because a map fitted where fewer similar patients
vote says too little on the real index. Both paths go through :func:`calibration_row` and
:func:`fit_rows`, so a row means the same thing wherever it was played.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.progress import Progress

from dxsearch.cases import LabelledCase
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget
from dxsearch.evaluation import GoldMatcher, publication_documents
from dxsearch.knowledge.disease_ontology import get_disease_ontology
from dxsearch.policies.calibration import expected_calibration_error
from dxsearch.policies.catalog import index_retriever
from dxsearch.policies.learned import Calibration, LearnedPolicy
from dxsearch.protocol import Reason
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.calibrate import fit_temperature, fold_of, isotonic
from dxsearch.train.data import training_cases
from dxsearch.train.episodes import Episode, play
from rewards.config import RewardConfig
from rewards.gold import Gold
from rewards.transcript import transcript_from_turns

#: Pseudo-cases at the overall hit rate added to every step of the confidence map: the top step of a
#: fit on 400 cases holds a handful of answers, all right, and a clinician must not read 1.000 off it.
CALIBRATION_PRIOR = 2.0
#: Folds (whole publications) of the out-of-fold ECE a refit reports.
FOLDS = 5


def first_confidence(episode: Episode) -> float | None:
    """The confidence of the episode's first diagnosis (in the answer the reward scored); ``None`` without one."""
    final = transcript_from_turns(episode.history).final
    return final.candidates[0].confidence if final is not None and final.candidates else None


@dataclass(frozen=True, slots=True)
class LearnedCalibrationRow:
    """One greedy episode that diagnosed: every candidate's score, the gold's row, whether it came first.

    ``stated``: the confidence the policy gave its first diagnosis with the map it had then.
    """

    case_id: str
    pmid: str | None
    scores: tuple[float, ...]
    gold_row: int | None
    hit: bool
    stated: float

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "pmid": self.pmid,
            "scores": list(self.scores),
            "gold_row": self.gold_row,
            "hit": self.hit,
            "stated": self.stated,
        }

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> LearnedCalibrationRow:
        return cls(
            case_id=str(row["case_id"]),
            pmid=row.get("pmid"),
            scores=tuple(float(s) for s in row["scores"]),
            gold_row=None if row.get("gold_row") is None else int(row["gold_row"]),
            hit=bool(row["hit"]),
            stated=float(row["stated"]),
        )


def calibration_row(
    episode: Episode, gold: Gold, policy: LearnedPolicy, *, case_id: str, pmid: str | None
) -> LearnedCalibrationRow | None:
    """What the map is fitted on from one episode (``None`` if it did not diagnose with scores).

    ``policy`` (the variant that played it) recomputes every candidate's score at the diagnosis.
    """
    stated = first_confidence(episode)
    if stated is None:
        return None
    seen = policy.observe(episode.case, episode.history[:-1])  # what it saw when it diagnosed
    if not isinstance(seen.done.last, Reason) or not seen.scores.size:
        return None
    gold_row = next((row for row, c in enumerate(seen.candidates) if gold.matches(c.code, c.name)), None)
    return LearnedCalibrationRow(
        case_id=case_id,
        pmid=pmid,
        scores=tuple(float(s) for s in seen.scores),
        gold_row=gold_row,
        hit=int(episode.reward.breakdown["accuracy/gold_rank"]) == 1,
        stated=float(stated),
    )


def play_rows(
    cases: Sequence[LabelledCase],
    policy: LearnedPolicy,
    budget: Budget | None,
    index: EmbeddedIndex,
    retriever: str,
    *,
    keep: Callable[[LearnedCalibrationRow], None] = lambda row: None,
) -> list[LearnedCalibrationRow]:
    """Play ``cases`` as the benchmark does (same retriever and budget, own publication hidden); one row each.

    ``policy`` should not abstain on the probability bar (``abstain_below`` 0): a refit needs every
    first choice. Cases its findings checks refuse leave no row, as they get no probability when
    served. ``keep`` sees each row as it is made (a rerun resumes from what it wrote).
    """
    env = DiagnosticEnv(index_retriever(index, retriever), budget)
    matcher = GoldMatcher(index, get_disease_ontology())
    reward_config = RewardConfig()
    rows: list[LearnedCalibrationRow] = []
    with Progress(transient=True) as bar:
        task = bar.add_task("play", total=len(cases))
        for case in training_cases(cases, matcher, publication_documents(index)):
            labelled = case.labelled
            episode = play(labelled.case, policy, env, case.gold, reward_config, exclude_doc_ids=case.hidden_doc_ids)
            row = calibration_row(episode, case.gold, policy, case_id=labelled.case.case_id, pmid=labelled.pmid)
            if row is not None:
                rows.append(row)
                keep(row)
            bar.update(task, advance=1)
    return rows


def fit_rows(rows: Sequence[LearnedCalibrationRow], *, cases: int | None = None) -> Calibration:
    """Temperature on the rows whose gold is a candidate, then an isotonic map of the tempered first choice.

    ``cases``: how many episodes were played (rows are only those that diagnosed), for the record.
    """
    temperature = fit_temperature([(_scores(r), r.gold_row) for r in rows if r.gold_row is not None])
    tempered = Calibration((), (), temperature=temperature)
    firsts = [float(tempered.probabilities(_scores(r)).max()) for r in rows]
    knots, values = isotonic(firsts, [float(r.hit) for r in rows], prior_strength=CALIBRATION_PRIOR)
    before = expected_calibration_error([r.stated for r in rows], [r.hit for r in rows]) if rows else None
    return Calibration(
        tuple(knots),
        tuple(values),
        {
            "cases": len(rows) if cases is None else cases,
            "diagnosed": len(rows),
            "gold_among_candidates": sum(r.gold_row is not None for r in rows),
            "top1": sum(r.hit for r in rows) / max(len(rows), 1),
            "ece_before": before,
            "prior_strength": CALIBRATION_PRIOR,
        },
        temperature,
    )


def first_probability(calibration: Calibration, row: LearnedCalibrationRow) -> float:
    """The calibrated probability ``calibration`` gives the row's first choice."""
    scores = _scores(row)
    first = int(np.argmax(scores))
    return float(calibration.apply(calibration.probabilities(scores), first)[first])


def out_of_fold_ece(rows: Sequence[LearnedCalibrationRow], *, folds: int = FOLDS) -> float | None:
    """ECE of maps fitted without each fold of publications, on that fold: what a refit says on unseen papers."""
    stated: list[float] = []
    hits: list[bool] = []
    for fold in range(folds):
        inside = [r for r in rows if fold_of(r, folds) == fold]
        outside = [r for r in rows if fold_of(r, folds) != fold]
        if not inside or not outside:
            continue
        calibration = fit_rows(outside)
        stated += [first_probability(calibration, r) for r in inside]
        hits += [r.hit for r in inside]
    return expected_calibration_error(stated, hits) if stated else None


def _scores(row: LearnedCalibrationRow) -> npt.NDArray[np.float64]:
    return np.asarray(row.scores, dtype=np.float64)
