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
from dxsearch.policies.learned import Calibration, LearnedPolicy, explains_none
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
#: Fewest rows whose first choice explains no finding for their own factor (:func:`fit_rows`).
MIN_UNEXPLAINED_ROWS = 30


def first_confidence(episode: Episode) -> float | None:
    """The confidence of the episode's first diagnosis (in the answer the reward scored); ``None`` without one."""
    final = transcript_from_turns(episode.history).final
    return final.candidates[0].confidence if final is not None and final.candidates else None


@dataclass(frozen=True, slots=True)
class LearnedCalibrationRow:
    """One greedy episode that diagnosed: every candidate's score, the gold's row, whether it came first.

    ``stated``: the confidence the policy gave its first diagnosis with the map it had then.
    ``first_explains_none``: the best-scored candidate explains none of the findings entered (``None`` in rows
    played before it was recorded: they count as explaining some).
    """

    case_id: str
    pmid: str | None
    scores: tuple[float, ...]
    gold_row: int | None
    hit: bool
    stated: float
    first_explains_none: bool | None = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "case_id": self.case_id,
            "pmid": self.pmid,
            "scores": list(self.scores),
            "gold_row": self.gold_row,
            "hit": self.hit,
            "stated": self.stated,
        }
        if self.first_explains_none is not None:
            row["first_explains_none"] = self.first_explains_none
        return row

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> LearnedCalibrationRow:
        return cls(
            case_id=str(row["case_id"]),
            pmid=row.get("pmid"),
            scores=tuple(float(s) for s in row["scores"]),
            gold_row=None if row.get("gold_row") is None else int(row["gold_row"]),
            hit=bool(row["hit"]),
            stated=float(row["stated"]),
            first_explains_none=None if row.get("first_explains_none") is None else bool(row["first_explains_none"]),
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
        first_explains_none=explains_none(seen.candidates, int(np.argmax(seen.scores))),
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
    """Temperature on the rows whose gold is a candidate, then an isotonic map of the tempered first choice, then
    the factor of first choices that explain no finding (:attr:`Calibration.unexplained_factor`).

    With at least :data:`MIN_UNEXPLAINED_ROWS` rows whose first explains nothing, the map is fitted on the others
    and the factor on those: their hits over what the map gives them, with :data:`CALIBRATION_PRIOR` pseudo-cases
    right as often as the map says (so a few rows cannot move it far), never above 1 (an answer no finding
    supports is not made surer). Fewer: the map on every row, factor 1.
    ``cases``: how many episodes were played (rows are only those that diagnosed), for the record.
    """
    temperature = fit_temperature([(_scores(r), r.gold_row) for r in rows if r.gold_row is not None])
    tempered = Calibration((), (), temperature=temperature)
    unexplained = [r for r in rows if r.first_explains_none]
    separate = len(unexplained) >= MIN_UNEXPLAINED_ROWS and len(unexplained) < len(rows)
    mapped_on = [r for r in rows if not r.first_explains_none] if separate else list(rows)
    firsts = [float(tempered.probabilities(_scores(r)).max()) for r in mapped_on]
    knots, values = isotonic(firsts, [float(r.hit) for r in mapped_on], prior_strength=CALIBRATION_PRIOR)
    mapped = Calibration(tuple(knots), tuple(values), temperature=temperature)
    factor = 1.0
    if separate:
        given = sum(first_probability(mapped, r) for r in unexplained)
        right = sum(r.hit for r in unexplained)
        mean = given / len(unexplained)
        factor = min(1.0, (right + CALIBRATION_PRIOR * mean) / (given + CALIBRATION_PRIOR * mean)) if given else 1.0
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
            "first_explains_none": len(unexplained),
            "first_explains_none_top1": sum(r.hit for r in unexplained) / len(unexplained) if unexplained else None,
        },
        temperature,
        factor,
    )


def first_probability(calibration: Calibration, row: LearnedCalibrationRow) -> float:
    """The calibrated probability ``calibration`` gives the row's first choice."""
    scores = _scores(row)
    first = int(np.argmax(scores))
    probabilities = calibration.apply(
        calibration.probabilities(scores), first, explains_none=bool(row.first_explains_none)
    )
    return float(probabilities[first])


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
