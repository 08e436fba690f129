"""Fit the evidence policy's calibrator on index-side published cases, leave-publication-out.

1. :func:`collect` plays the evidence policy (abstention off) on index-side cases, each with the
   patient records of its own publication hidden from retrieval, and keeps, per case, what the
   calibrator reads (:class:`~dxsearch.policies.calibration.CaseSignals`) and where the gold
   diagnosis ranks among all candidates.
2. :func:`fit` chooses the temperature and the "none of these" logit by maximum likelihood of the
   gold candidate (or of "none", when the gold is not a candidate), then an isotonic map of the top
   probability, fitted on out-of-fold predictions (folds are whole publications), so the map
   corrects what a fit does on cases it has not seen.

The held-out benchmark is never read here. ``dxsearch calibrate`` runs both steps and writes the
JSON the package ships (:data:`dxsearch.policies.calibration.CALIBRATION_FILE`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize, minimize_scalar

from dxsearch.agent import rollout
from dxsearch.cases import LabelledCase
from dxsearch.corpus import normalise_name
from dxsearch.env import DiagnosticEnv
from dxsearch.evaluation import GoldMatcher, RankedAnswer
from dxsearch.policies.calibration import FEATURES, Calibrator, CaseSignals, expected_calibration_error
from dxsearch.policies.catalog import index_retriever
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex

#: Candidates beyond this rank carry ~no probability; the fit reads at most this many per case.
MAX_CANDIDATES = 60
FOLDS = 5
L2 = 1e-3


@dataclass(frozen=True, slots=True)
class CalibrationCase:
    """One played case: the calibrator's input and where the gold ranks (``None``: not a candidate)."""

    case_id: str
    pmid: str | None
    signals: CaseSignals
    gold_rank: int | None
    ics: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["signals"]["scores"] = list(self.signals.scores)
        row["ics"] = list(self.ics)
        return row

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> CalibrationCase:
        signals = dict(row["signals"])
        signals["scores"] = tuple(signals["scores"])
        return cls(
            case_id=row["case_id"],
            pmid=row["pmid"],
            signals=CaseSignals(**signals),
            gold_rank=row["gold_rank"],
            ics=tuple(row["ics"]),
        )


def collect(
    cases: Iterable[LabelledCase],
    policy: EvidencePolicy,
    index: EmbeddedIndex,
    matcher: GoldMatcher,
    hidden_by_publication: Mapping[str, frozenset[str]],
    *,
    retriever: str = "hybrid",
    progress: Callable[[int, CalibrationCase], None] | None = None,
) -> list[CalibrationCase]:
    """Play ``policy`` on each case (its own publication's records hidden) and keep its full ranking.

    ``policy`` should not abstain (abstention thresholds at zero), so every case is ranked.
    """
    env = DiagnosticEnv(index_retriever(index, retriever))
    collected: list[CalibrationCase] = []
    for number, labelled in enumerate(cases, start=1):
        hidden = hidden_by_publication.get(labelled.pmid or "", frozenset())
        played = rollout(labelled.case, policy, env, exclude_doc_ids=hidden)
        ranking = policy.ranking_after(labelled.case, played.history)
        ranked = ranking.candidates[:MAX_CANDIDATES]
        signals = ranking.signals
        played_case = CalibrationCase(
            case_id=labelled.case.case_id,
            pmid=labelled.pmid,
            signals=CaseSignals(
                scores=signals.scores[:MAX_CANDIDATES],
                best_similarity=signals.best_similarity,
                information=signals.information,
                findings=signals.findings,
                top_votes=signals.top_votes,
            ),
            gold_rank=_gold_rank(matcher, labelled, [(c.code, c.name) for c in ranked]),
            ics=tuple(ic for _, _, ic in policy.understood(labelled.case)),
        )
        collected.append(played_case)
        if progress is not None:
            progress(number, played_case)
    return collected


def _gold_rank(matcher: GoldMatcher, labelled: LabelledCase, ranked: Sequence[tuple[str, str]]) -> int | None:
    """Where the gold ranks: the benchmark's matcher on the first five (what a differential shows), below
    them the gold's own equivalent codes and names (one look-up per case instead of one per candidate)."""
    gold = labelled.gold
    head = ranked[:5]
    answer = RankedAnswer(codes=tuple(code for code, _ in head), names=tuple(name for _, name in head))
    rank = matcher.rank_of_gold(answer, gold.id, gold.label)
    if rank is not None:
        return rank
    codes = matcher.equivalent_codes(gold.id)
    names = matcher.gold_names(gold.id, gold.label)
    for position, (code, name) in enumerate(ranked[5:], start=6):
        if code in codes or normalise_name(name) in names:
            return position
    return None


class Published(Protocol):
    """A played case as the folds see it: its publication, and its own id for a case without one."""

    @property
    def case_id(self) -> str: ...

    @property
    def pmid(self) -> str | None: ...


def fold_of(case: Published, folds: int = FOLDS) -> int:
    """A stable fold per publication (per case when it has none); both calibrations' out-of-fold fits use it."""
    key = case.pmid or f"case:{case.case_id}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % folds


def _negative_log_likelihood(theta: npt.NDArray[np.float64], cases: Sequence[CalibrationCase]) -> float:
    temperature = math.exp(theta[0])
    weights = theta[1:]
    total = 0.0
    for case in cases:
        logits = np.array(case.signals.scores, dtype=np.float64) / temperature
        null = float(np.dot(weights, case.signals.features()))
        everything = np.append(logits, null)
        top = float(everything.max())
        log_total = top + math.log(float(np.exp(everything - top).sum()))
        chosen = null if case.gold_rank is None else float(logits[case.gold_rank - 1])
        total += log_total - chosen
    return total / max(len(cases), 1) + L2 * float(np.dot(weights[1:], weights[1:]))


#: Starting temperatures of the fit (log scale) and its bounds: the likelihood is flat towards an infinite
#: temperature (every candidate alike), where an unbounded search once stopped (T ~ 1e31) on hard cases.
_START_LOG_TEMPERATURES = (math.log(0.05), math.log(0.2), math.log(1.0))
_LOG_TEMPERATURE_BOUNDS = (math.log(0.01), math.log(10.0))


def fit_softmax(cases: Sequence[CalibrationCase]) -> Calibrator:
    """Temperature and null-logit weights by maximum likelihood (bounded L-BFGS from a few starting
    temperatures, a light L2 on the feature weights)."""
    played = list(cases)
    bounds = [_LOG_TEMPERATURE_BOUNDS] + [(None, None)] * (len(FEATURES) + 1)
    best: Any = None
    for log_temperature in _START_LOG_TEMPERATURES:
        start = np.zeros(len(FEATURES) + 2)
        start[0] = log_temperature
        result = minimize(_negative_log_likelihood, start, args=(played,), method="L-BFGS-B", bounds=bounds)
        if best is None or result.fun < best.fun:
            best = result
    theta = best.x
    return Calibrator(temperature=math.exp(theta[0]), null_weights=tuple(float(w) for w in theta[1:]))


def fit_temperature(scored: Sequence[tuple[npt.NDArray[np.float64], int]]) -> float:
    """The temperature under which each case's gold is most likely among its candidates' scores.

    ``scored``: (every candidate's score, the gold's row) of cases whose gold is a candidate. One
    parameter, bounded like :func:`fit_softmax`'s (the likelihood flattens towards infinity); 1.0
    without cases.
    """
    if not scored:
        return 1.0

    def negative_log_likelihood(log_temperature: float) -> float:
        temperature = math.exp(log_temperature)
        total = 0.0
        for scores, gold in scored:
            logits = scores / temperature
            top = float(logits.max())
            total += top + math.log(float(np.exp(logits - top).sum())) - float(logits[gold])
        return total / len(scored)

    low, high = _LOG_TEMPERATURE_BOUNDS[0], math.log(100.0)
    result = minimize_scalar(negative_log_likelihood, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return math.exp(float(result.x))


def isotonic(x: Sequence[float], y: Sequence[float], *, prior_strength: float = 0.0) -> tuple[list[float], list[float]]:
    """Centred isotonic regression: pool-adjacent-violators, each block kept as one knot at its centre.

    Pool-adjacent-violators gives non-decreasing steps; read as steps, every input of a block (first-choice
    probabilities from 0.15 to 0.40, in one fit) maps to one number, so very different evidence reads as
    the same probability. Each block is kept instead as one knot, at the mean ``x`` of its points, with
    the block's accuracy as its value; interpolating between knots (``np.interp``) rises strictly from
    one block to the next and is flat only beyond the first and last knots (Oron & Flournoy's centred
    isotonic regression). The block means are kept at the knots, so the fit keeps the mean of ``y``
    only approximately.

    Equal ``x`` values are pooled first (one point, weighted by its count), so tied inputs map to one
    value (confidences rounded for display tie often).

    ``prior_strength`` > 0 adds that many pseudo-points at the mean of ``y`` to every block, so a
    block of a few points all right (or all wrong) maps to a probability short of 1 (or 0): a fit
    on a few hundred cases has no grounds for certainty at its ends. The mean is then kept only
    approximately.
    """
    prior = prior_strength * (sum(map(float, y)) / len(y)) if y else 0.0

    def value(block: list[float]) -> float:
        return (block[0] + prior) / (block[1] + prior_strength)

    pooled: dict[float, list[float]] = {}
    for xi, yi in zip(x, y, strict=True):
        tally = pooled.setdefault(float(xi), [0.0, 0.0])
        tally[0] += float(yi)
        tally[1] += 1.0
    blocks: list[list[float]] = []  # [sum of y, count, sum of x, min x, max x]

    def pool(violates: Callable[[list[float], list[float]], bool]) -> None:
        while len(blocks) > 1 and violates(blocks[-2], blocks[-1]):
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][2] += last[2]
            blocks[-1][4] = last[4]

    for xi in sorted(pooled):
        total, count = pooled[xi]
        blocks.append([total, count, xi * count, xi, xi])
        # Equal means pool too: the map rises strictly between knots, and the prior shrinks whole steps.
        pool(lambda a, b: a[0] / a[1] >= b[0] / b[1])
    if prior_strength:  # shrunk steps of different sizes can cross: pool them again until they rise
        raw, blocks = blocks, []
        for block in raw:
            blocks.append(block)
            pool(lambda a, b: value(a) >= value(b))
    centres = [min(max(block[2] / block[1], block[3]), block[4]) for block in blocks]  # rounding stays inside
    return centres, [value(block) for block in blocks]


def _top_probabilities(calibrator: Calibrator, cases: Sequence[CalibrationCase]) -> list[float]:
    return [float(calibrator.probabilities(c.signals)[0]) if c.signals.scores else 0.0 for c in cases]


def fit(cases: Sequence[CalibrationCase], *, folds: int = FOLDS) -> Calibrator:
    """The shipped calibrator: softmax fitted on all cases, isotonic map fitted on out-of-fold top probabilities.

    ``fitted_on`` records the cases, publications, and the out-of-fold ECE before and after the
    isotonic map (the map's own ECE is measured by a second cross-validation over the same folds). The
    map is kept only if it lowers that error: on 1,474 fold cases the softmax alone scored 0.017 and the map
    0.027, a correction that fits the folds it saw and not the ones it did not.
    """
    usable = [c for c in cases if c.signals.scores]
    out_of_fold = np.zeros(len(usable))
    fold = np.array([fold_of(c, folds) for c in usable])
    for k in range(folds):
        train = [c for c, f in zip(usable, fold, strict=True) if f != k]
        model = fit_softmax(train)
        tested = [i for i in range(len(usable)) if fold[i] == k]
        for i, p in zip(tested, _top_probabilities(model, [usable[i] for i in tested]), strict=True):
            out_of_fold[i] = p
    correct = np.array([c.gold_rank == 1 for c in usable], dtype=np.float64)
    # The isotonic map's own out-of-fold error: fit on the other folds' predictions, apply to this fold's.
    mapped = np.zeros(len(usable))
    for k in range(folds):
        others = fold != k
        knots, values = isotonic(list(out_of_fold[others]), list(correct[others]))
        mapped[~others] = np.interp(out_of_fold[~others], knots, values) if knots else out_of_fold[~others]
    hits = list(correct.astype(bool))
    ece_softmax = expected_calibration_error(list(out_of_fold), hits)
    ece_isotonic = expected_calibration_error(list(mapped), hits)
    knots, values = isotonic(list(out_of_fold), list(correct)) if ece_isotonic < ece_softmax else ([], [])
    softmax = fit_softmax(usable)
    publications = {c.pmid for c in usable if c.pmid}
    return softmax.model_copy(
        update={
            "isotonic_x": tuple(knots),
            "isotonic_y": tuple(values),
            "fitted_on": {
                "cases": len(usable),
                "publications": len(publications),
                "top1": float(correct.mean()) if len(correct) else 0.0,
                "folds": folds,
                "ece_softmax_out_of_fold": ece_softmax,
                "ece_isotonic_out_of_fold": ece_isotonic,
                "isotonic_map": "kept: it lowers the out-of-fold ECE"
                if knots
                else "not kept: it does not lower the out-of-fold ECE",
            },
        }
    )
