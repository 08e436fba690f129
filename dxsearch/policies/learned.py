"""The learned evidence policy: the evidence baseline's signals, decisions by a few hundred trained parameters.

Where the evidence policy (:mod:`dxsearch.policies.evidence`) follows a fixed script with
hand-set weights, this policy decides with parameters trained by ``dxsearch train --preset
cpu-policy`` (behaviour cloning of the evidence policy, then GRPO on the combined reward):

* **what to do next**: a categorical over :data:`ACTIONS` (match the findings, look them up,
  search the whole corpus, look up the best candidate not yet grounded, diagnose, or declare
  "insufficient evidence"), logits linear in a state summary (:data:`STATE_FEATURES`: what
  was retrieved, budget used, how sure the ranking is, how many finalists are grounded);
  impossible actions are masked;
* **the ranking**: a Plackett–Luce distribution over every candidate the evidence signals
  produce, scored by a linear term plus a small tanh layer over :data:`CANDIDATE_FEATURES`;
  greedy play sorts by score, training samples orderings;
* **its confidence**: the first diagnosis's first-choice probability under that distribution,
  mapped by the :class:`Calibration` fitted after training to the chance it is right, the others
  scaled with it; below ``abstain_below`` (and on input the evidence policy's findings checks
  refuse) it answers "insufficient evidence" with the reason.

It speaks the protocol through the same :class:`~dxsearch.env.DiagnosticEnv` as every policy.
Before diagnosing it reasons once: one line per finalist with its probability, its score and
each feature's contribution (weight × value plus its share of the tanh layer), so
the trace records why each diagnosis ranks where it does; the ``<diagnose>`` turn replays the
order that line fixed (the policy keeps no hidden state between turns).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dxsearch.cases import Case
from dxsearch.episode import Budget, Exchange
from dxsearch.policies.differential import fold_equivalents, merge_candidates, merge_into
from dxsearch.policies.evidence import EvidencePolicy, all_explained, below_the_bar, explained_findings
from dxsearch.protocol import (
    MAX_DIAGNOSES,
    Action,
    Candidate,
    Diagnose,
    Reason,
    Retrieve,
    parse_turn,
    probability_text,
    render_turn,
)

POLICY_NAME = "learned"
#: Bump when a feature's definition changes: weights trained on other features must not load.
FEATURES_VERSION = "2"
WEIGHTS_NAME = "learned-policy.json"
WEIGHTS_FORMAT = "dxsearch-learned-policy"

#: Per candidate, each in [0, 1] (see :func:`candidate_features`).
CANDIDATE_FEATURES = (
    "similarity",  # IC/frequency phenotype similarity, scaled by the case's best
    "enrichment",  # hypergeometric enrichment score, scaled by the case's best
    "enrichment_log_p",  # -log10 p of the enrichment, /30, capped
    "votes",  # share of similar-patient votes (rank-weighted)
    "retrieval",  # 1/rank of its knowledge passage in the findings lookup or search
    "explained",  # share of the observed findings its annotations explain
    "unexplained",  # observed findings it fails to explain, /10, capped
    "patients",  # similar patients retrieved with this diagnosis, /5, capped
    "knowledge",  # 1 if a knowledge passage of it was retrieved (it can be cited)
    "orphanet",  # 1 for Orphanet entries (often disease groups)
    "likelihood",  # likelihood-ratio posterior odds against the case's best disease (uniform pretest)
    "likelihood_log_gap",  # 1 + log10 of those odds / 30, floored at 0: the gap where the odds are tiny
)
#: The state summary the action head reads.
STATE_FEATURES = (
    "bias",
    "matched",  # patients matched already
    "looked_up_findings",
    "searched",
    "candidate_lookups",  # lookups of candidates so far, /5
    "retrievals_used",  # share of the retrieval budget
    "top_probability",  # first-choice probability of the best candidate
    "margin",  # its lead over the second
    "finalists_grounded",  # share of the top five with a knowledge passage retrieved
    "findings",  # observed findings, /10, capped
    "no_candidates",
)
ACTIONS = ("match", "lookup_findings", "search", "lookup_candidate", "diagnose", "abstain")
#: Points of the midpoint rule for the integrated gradients of :meth:`LearnedParams.contributions`.
ATTRIBUTION_STEPS = 128
HIDDEN = 16
_RANKED_LINE = re.compile(r"^\d+\. .+ \[([A-Za-z][A-Za-z0-9_.-]*:[^\]\s]+)\] p=", re.MULTILINE)


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(logits - logits.max())
    out: npt.NDArray[np.float64] = shifted / shifted.sum()
    return out


@dataclass(frozen=True)
class Calibration:
    """A temperature over the scores, then an isotonic map from the first choice's probability to its accuracy.

    The Plackett–Luce scale is sharp (first choices near 0.9 where a tenth are right, runners-up
    near 0), so the confidence a clinician reads is fitted after training on the index-side
    training cases, or refitted on tuning folds (:mod:`dxsearch.train.learned_calibration`): ``temperature`` spreads the
    scores so that the gold's share among the candidates is as likely as it can be (the runners-up
    then keep a share their evidence justifies, not 0.00), and the isotonic map turns the first
    choice's tempered probability into the share of such answers that were right. The others are
    scaled with it, so that the confidences still sum to at most 1 and keep their order.
    """

    knots: tuple[float, ...]
    values: tuple[float, ...]
    fitted_on: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0

    def probabilities(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The tempered first-choice probabilities of ``scores`` (what the isotonic map reads)."""
        return _softmax(scores / self.temperature) if scores.size else np.zeros(0)

    def apply(self, probabilities: npt.NDArray[np.float64], first: int) -> npt.NDArray[np.float64]:
        """Map the first stated diagnosis's tempered probability (row ``first``); scale the others with it."""
        if not probabilities.size or not self.knots:
            return probabilities
        top = float(probabilities[first])
        if top <= 0:
            return probabilities
        mapped = float(np.interp(top, self.knots, self.values))
        # The others keep their proportions, below the first and within the mass the first leaves.
        rest = min(mapped / top, (1.0 - mapped) / (1.0 - top)) if top < 1.0 else 0.0
        out: npt.NDArray[np.float64] = probabilities * rest
        out[first] = mapped
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "isotonic_x": list(self.knots),
            "isotonic_y": list(self.values),
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Calibration:
        knots, values = tuple(map(float, payload["isotonic_x"])), tuple(map(float, payload["isotonic_y"]))
        if len(knots) != len(values) or any(b < a for a, b in pairwise(values)):
            raise ValueError("calibration: isotonic_x and isotonic_y must pair up, isotonic_y non-decreasing")
        temperature = float(payload.get("temperature", 1.0))
        if not temperature > 0:
            raise ValueError("calibration: temperature must be positive")
        return cls(knots, values, dict(payload.get("fitted_on") or {}), temperature)


@dataclass
class LearnedParams:
    """The policy's parameters (numpy; the trainer mirrors them in torch), and the map of its confidence."""

    action: npt.NDArray[np.float64]  # (len(ACTIONS), len(STATE_FEATURES))
    rank_linear: npt.NDArray[np.float64]  # (F,)
    rank_hidden: npt.NDArray[np.float64]  # (HIDDEN, F)
    rank_hidden_bias: npt.NDArray[np.float64]  # (HIDDEN,)
    rank_out: npt.NDArray[np.float64]  # (HIDDEN,)
    calibration: Calibration | None = None  # None until fitted: confidences are then first-choice probabilities

    NAMES = ("action", "rank_linear", "rank_hidden", "rank_hidden_bias", "rank_out")

    @classmethod
    def initial(cls, seed: int, scale: float = 0.1) -> LearnedParams:
        """Small random weights (the untrained policy): near-uniform actions, near-random ranking."""
        rng = np.random.default_rng(seed)
        features = len(CANDIDATE_FEATURES)
        return cls(
            action=rng.normal(0.0, scale, (len(ACTIONS), len(STATE_FEATURES))),
            rank_linear=rng.normal(0.0, scale, features),
            rank_hidden=rng.normal(0.0, scale, (HIDDEN, features)),
            rank_hidden_bias=np.zeros(HIDDEN),
            rank_out=rng.normal(0.0, scale, HIDDEN),
        )

    def arrays(self) -> dict[str, npt.NDArray[np.float64]]:
        return {name: getattr(self, name) for name in self.NAMES}

    @property
    def size(self) -> int:
        return sum(int(a.size) for a in self.arrays().values())

    def scores(self, features: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Candidate scores and the tanh layer's part of them, for a (candidates, F) feature matrix."""
        interactions = np.tanh(features @ self.rank_hidden.T + self.rank_hidden_bias) @ self.rank_out
        return features @ self.rank_linear + interactions, interactions

    def contributions(
        self, features: npt.NDArray[np.float64], steps: int = ATTRIBUTION_STEPS
    ) -> tuple[float, npt.NDArray[np.float64]]:
        """Each feature's part of each candidate's score, and the part no feature carries (the score of all zeros).

        Why: the tanh layer carries most of a score after training, and shown as one ``interactions`` term
        (+23.3 of 25.9) it explained nothing. A feature's part here is its linear weight × value plus its share
        of the tanh layer by integrated gradients (Sundararajan et al., 2017) along the straight path from all
        features at zero (midpoint rule, ``steps`` points): the parts and the base add up to the score, and a
        feature at zero has no part.
        """
        rows = np.atleast_2d(features)
        alphas = (np.arange(steps) + 0.5) / steps
        paths = alphas[:, None, None] * rows[None, :, :]  # (steps, candidates, F)
        slopes = 1.0 - np.tanh(paths @ self.rank_hidden.T + self.rank_hidden_bias) ** 2  # (steps, candidates, H)
        gradients = (slopes * self.rank_out) @ self.rank_hidden  # (steps, candidates, F)
        nonlinear = rows * gradients.mean(axis=0)
        base = float(np.tanh(self.rank_hidden_bias) @ self.rank_out)
        # The midpoint rule leaves a small gap on large features (0.38 at scale 5, a code review): it is shared out
        # in proportion to each part's size, so base + parts is the tanh layer's score to rounding.
        scores, _ = self.scores(rows)
        gap = scores - base - (nonlinear + rows * self.rank_linear).sum(axis=1)
        weight = np.abs(nonlinear)
        totals = weight.sum(axis=1, keepdims=True)
        nonlinear = nonlinear + np.where(totals > 0, weight / np.where(totals > 0, totals, 1.0), 0.0) * gap[:, None]
        return base, nonlinear + rows * self.rank_linear

    def confidences(self, scores: npt.NDArray[np.float64], first: int | None = None) -> npt.NDArray[np.float64]:
        """What each candidate's confidence says: calibrated if a calibration was fitted, else first-choice.

        ``first``: the row stated first (default: the best score); the calibration maps its probability.
        """
        if self.calibration is None or not scores.size:
            return _softmax(scores) if scores.size else np.zeros(0)
        first = int(np.argmax(scores)) if first is None else first
        return self.calibration.apply(self.calibration.probabilities(scores), first)

    def action_logits(self, state: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        logits = self.action @ state
        out: npt.NDArray[np.float64] = np.where(mask, logits, -np.inf)
        return out


def save_params(params: LearnedParams, model_dir: Path, *, trained_by: str) -> Path:
    """Write the weights as JSON (floats round-trip exactly, so a rerun can be compared bit for bit)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": WEIGHTS_FORMAT,
        "features_version": FEATURES_VERSION,
        "candidate_features": list(CANDIDATE_FEATURES),
        "state_features": list(STATE_FEATURES),
        "actions": list(ACTIONS),
        "hidden": HIDDEN,
        "parameters": params.size,
        "trained_by": trained_by,
        "weights": {name: array.tolist() for name, array in params.arrays().items()},
        "calibration": params.calibration.as_json() if params.calibration is not None else None,
    }
    path = model_dir / WEIGHTS_NAME
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path


def _weights_file(model_dir: Path) -> Path:
    """The weights file of a model directory (or the file itself, as the package ships it)."""
    return model_dir / WEIGHTS_NAME if model_dir.is_dir() else model_dir


def read_trained_by(model_dir: Path) -> str:
    """The command that trained the weights in ``model_dir`` (kept when only the confidence map is refitted)."""
    path = _weights_file(model_dir)
    return str(json.loads(path.read_text(encoding="utf-8")).get("trained_by", "unknown"))


def load_params(model_dir: Path) -> LearnedParams:
    """The weights in ``model_dir``; features of another version or shape are refused, not guessed."""
    path = _weights_file(model_dir)
    if not path.is_file():
        raise ValueError(f"{model_dir}: no {WEIGHTS_NAME} (train one with `dxsearch train --preset cpu-policy`)")
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if payload.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not learned-policy weights")
    expected = (FEATURES_VERSION, list(CANDIDATE_FEATURES), list(STATE_FEATURES), list(ACTIONS), HIDDEN)
    found = (
        payload.get("features_version"),
        payload.get("candidate_features"),
        payload.get("state_features"),
        payload.get("actions"),
        payload.get("hidden"),
    )
    if found != expected:
        raise ValueError(f"{path}: trained on features version {found[0]}, this code reads {FEATURES_VERSION}")
    weights = payload["weights"]
    action, rank_linear, rank_hidden, rank_hidden_bias, rank_out = (
        np.asarray(weights[name], dtype=np.float64) for name in LearnedParams.NAMES
    )
    calibration = Calibration.from_json(payload["calibration"]) if payload.get("calibration") else None
    params = LearnedParams(action, rank_linear, rank_hidden, rank_hidden_bias, rank_out, calibration)
    reference = LearnedParams.initial(0)
    for name, array in params.arrays().items():
        if array.shape != getattr(reference, name).shape:
            raise ValueError(f"{path}: {name} has shape {array.shape}")
    return params


# -- what a decision saw (the trainer recomputes log-probabilities from these) ---------------------


@dataclass(frozen=True, slots=True)
class ActionDecision:
    state: npt.NDArray[np.float64]
    mask: npt.NDArray[np.bool_]
    choice: int


@dataclass(frozen=True, slots=True)
class RankDecision:
    features: npt.NDArray[np.float64]  # (candidates, F)
    order: tuple[int, ...]  # the rows chosen, best first


Decision = ActionDecision | RankDecision


def candidate_features(candidate: Any, observed: int) -> list[float]:
    """The :data:`CANDIDATE_FEATURES` of one evidence candidate (``observed``: the case's observed findings)."""
    log_p = 0.0
    if candidate.enrichment_p is not None and candidate.enrichment_p > 0:
        log_p = min(-math.log10(candidate.enrichment_p), 30.0) / 30.0
    explained = len(candidate.matched)
    return [
        candidate.phenotype,
        candidate.enrichment,
        max(log_p, 0.0),
        candidate.votes,
        candidate.retrieval,
        explained / observed if observed else 0.0,
        min(max(observed - explained, 0), 10) / 10.0,
        min(len(candidate.patients), 5) / 5.0,
        float(bool(candidate.knowledge)),
        float(candidate.code.startswith("ORPHA:")),
        candidate.likelihood,
        1.0 + max(math.log10(candidate.likelihood), -30.0) / 30.0 if candidate.likelihood > 0 else 0.0,
    ]


@dataclass
class _Progress:
    matched: bool = False
    looked_up_findings: bool = False
    searched: bool = False
    candidate_lookups: int = 0
    retrievals: int = 0
    lookups: set[str] = field(default_factory=set)
    last: object = None


def _progress(history: Sequence[Exchange], findings_query: str) -> _Progress:
    done = _Progress()
    for exchange in history:
        try:
            turn = parse_turn(exchange.turn)
        except ValueError:
            done.last = None
            continue
        done.last = turn
        if not isinstance(turn, Retrieve):
            continue
        done.retrievals += 1
        if turn.action is Action.MATCH:
            done.matched = True
        elif turn.action is Action.SEARCH:
            done.searched = True
        elif turn.query == findings_query:
            done.looked_up_findings = True
        else:
            done.candidate_lookups += 1
            done.lookups.add(turn.query)
    return done


@dataclass(frozen=True, slots=True)
class Observed:
    done: _Progress
    candidates: Sequence[Any]
    features: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    interactions: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64]
    state: npt.NDArray[np.float64]
    mask: npt.NDArray[np.bool_]
    top: npt.NDArray[np.int64]


def _clean(name: str) -> str:
    return " ".join(
        name.replace("|", "/").replace("<", "(").replace(">", ")").replace("[", "(").replace("]", ")").split()
    )


class LearnedPolicy:
    """Evidence signals in, decisions by :class:`LearnedParams`; greedy unless given a sampler.

    ``rng`` makes it sample (training); ``recorder`` collects every decision it takes with what it saw.
    """

    version = f"1/features-{FEATURES_VERSION}"

    def __init__(
        self,
        params: LearnedParams,
        budget: Budget | None = None,
        *,
        evidence: EvidencePolicy | None = None,
        name: str = POLICY_NAME,
        rng: np.random.Generator | None = None,
        recorder: list[Decision] | None = None,
        memo: dict[tuple[object, ...], list[Any]] | None = None,
        check_findings: bool = True,
    ) -> None:
        self.name = name
        self.params = params
        self.budget = budget or Budget()
        self.evidence = evidence or EvidencePolicy()
        # The likelihood features need the ratios even where the evidence policy does not weigh them.
        self.evidence.collect_likelihood = True
        self.rng = rng
        self.recorder = recorder
        #: The evidence policy's findings checks, a serving guard: training plays every case (and its
        #: action head learns when to abstain); served and evaluated, nonspecific input is refused first.
        self.check_findings = check_findings
        self._memo = memo if memo is not None else {}

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        query = case.findings_query()
        if not query:
            return render_turn(Diagnose((), reason="no observed finding was given"))
        unsupported = self.evidence.abstention(case) if self.check_findings else None  # as the evidence policy's
        if unsupported is not None:
            return render_turn(Diagnose((), reason=unsupported))
        seen = self.observe(case, history)
        done, candidates, features, scores = seen.done, seen.candidates, seen.features, seen.scores
        if isinstance(done.last, Reason):
            return render_turn(self._diagnose(done.last.text, candidates, scores, case))
        state, mask = seen.state, seen.mask
        choice = self._choose(self.params.action_logits(state, mask))
        if self.recorder is not None:
            self.recorder.append(ActionDecision(state, mask, choice))
        action = ACTIONS[choice]
        if action == "match":
            return render_turn(Retrieve(Action.MATCH, query))
        if action == "lookup_findings":
            return render_turn(Retrieve(Action.LOOKUP, query))
        if action == "search":
            return render_turn(Retrieve(Action.SEARCH, query))
        if action == "lookup_candidate":
            lookup = self._next_lookup(candidates, seen.top, done)
            assert lookup is not None  # the mask allows this action only when there is one
            return render_turn(Retrieve(Action.LOOKUP, lookup))
        if action == "abstain":
            return render_turn(Diagnose(()))
        order = self._order(scores, features, candidates)
        confidences = self.params.confidences(scores, order[0] if order else None)
        text = self._explain(case, candidates, order, features, scores, confidences)
        return render_turn(Reason(text))

    def observe(self, case: Case, history: Sequence[Exchange]) -> Observed:
        """What the policy sees after ``history``: candidates, their features and scores, the state and the mask."""
        done = _progress(history, case.findings_query())
        candidates = self._candidates(case, history)
        observed = len(case.observed)
        features = np.array([candidate_features(c, observed) for c in candidates], dtype=np.float64)
        features = features.reshape(len(candidates), len(CANDIDATE_FEATURES))
        scores, interactions = self.params.scores(features)
        probabilities = _softmax(scores) if len(candidates) else np.zeros(0)
        top = np.argsort(-scores, kind="stable")[:MAX_DIAGNOSES]
        state = self._state(done, candidates, probabilities, top, observed)
        mask = self._mask(done, candidates, top, len(history))
        return Observed(done, candidates, features, scores, interactions, probabilities, state, mask, top)

    def _candidates(self, case: Case, history: Sequence[Exchange]) -> list[Any]:
        """The evidence candidates, memoised on what they depend on: the case and the passages retrieved so far.

        Sampled episodes of one case share most of their prefixes; the memo (shareable between
        policy instances) makes each distinct retrieval history cost one scoring.
        """
        retrieved = tuple(
            (e.turn, tuple(p.evidence_id for p in e.observation.passages))
            for e in history
            if e.observation is not None and e.observation.passages
        )
        key = (case.findings, case.text, case.sex, case.age, retrieved)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= 4096:
                self._memo.clear()
            found = self._memo[key] = self.evidence.candidates(case, history)
        return found

    # -- decisions ---------------------------------------------------------------------------------

    def _state(
        self,
        done: _Progress,
        candidates: Sequence[Any],
        probabilities: npt.NDArray[np.float64],
        top: npt.NDArray[np.int64],
        observed: int,
    ) -> npt.NDArray[np.float64]:
        ranked = np.sort(probabilities)[::-1]
        best = float(ranked[0]) if ranked.size else 0.0
        margin = best - float(ranked[1]) if ranked.size > 1 else best
        grounded = [bool(candidates[i].knowledge) for i in top]
        limit = max(self.budget.max_retrievals, 1)
        return np.array(
            [
                1.0,
                float(done.matched),
                float(done.looked_up_findings),
                float(done.searched),
                min(done.candidate_lookups, 5) / 5.0,
                min(done.retrievals / limit, 1.0),
                best,
                margin,
                sum(grounded) / len(grounded) if grounded else 0.0,
                min(observed, 10) / 10.0,
                float(not candidates),
            ]
        )

    def _next_lookup(self, candidates: Sequence[Any], top: npt.NDArray[np.int64], done: _Progress) -> str | None:
        for row in top:
            candidate = candidates[int(row)]
            lookup = f"{candidate.name} ({candidate.code})"
            if not candidate.knowledge and lookup not in done.lookups:
                return lookup
        return None

    def _mask(
        self, done: _Progress, candidates: Sequence[Any], top: npt.NDArray[np.int64], turns: int
    ) -> npt.NDArray[np.bool_]:
        # Two turns are kept for reasoning and diagnosing; no retrieval once the budget is spent.
        can_retrieve = done.retrievals < self.budget.max_retrievals and turns + 2 < self.budget.max_turns
        allowed = {
            "match": can_retrieve and not done.matched,
            "lookup_findings": can_retrieve and not done.looked_up_findings,
            "search": can_retrieve and not done.searched,
            "lookup_candidate": can_retrieve and self._next_lookup(candidates, top, done) is not None,
            "diagnose": bool(candidates) and turns + 1 < self.budget.max_turns,
            "abstain": True,
        }
        return np.array([allowed[a] for a in ACTIONS])

    def _choose(self, logits: npt.NDArray[np.float64]) -> int:
        if self.rng is None:
            return int(np.argmax(logits))
        return int(self.rng.choice(len(logits), p=_softmax(logits)))

    def _order(
        self, scores: npt.NDArray[np.float64], features: npt.NDArray[np.float64], candidates: Sequence[Any] = ()
    ) -> list[int]:
        """The finalists, best first: by score (greedy) or sampled from the Plackett–Luce distribution.

        Greedy, each disease once: a candidate of a disease already ranked under its other code (ORPHA beside
        OMIM) is skipped, and :meth:`_diagnose` folds it into that one, so its slot goes to the next disease.
        A sampled order (training) is left as drawn, since the recorded ranking decision must be the draw; its
        duplicates are folded when diagnosing, without refill.
        """
        count = min(MAX_DIAGNOSES, len(scores))
        if self.rng is None:
            ranked = [int(i) for i in np.argsort(-scores, kind="stable")]
            if candidates:
                ranked = [row for row, _ in fold_equivalents(ranked, lambda row: candidates[row].code)]
            order = ranked[:count]
        else:
            # Gumbel top-k is an exact Plackett–Luce sample.
            perturbed = scores + self.rng.gumbel(size=len(scores))
            order = [int(i) for i in np.argsort(-perturbed, kind="stable")[:count]]
        if self.recorder is not None:
            self.recorder.append(RankDecision(features, tuple(order)))
        return order

    # -- turns ---------------------------------------------------------------------------------------

    def _explain(
        self,
        case: Case,
        candidates: Sequence[Any],
        order: Sequence[int],
        features: npt.NDArray[np.float64],
        scores: npt.NDArray[np.float64],
        confidences: npt.NDArray[np.float64],
    ) -> str:
        # "explains n/m" as the differential counts it (the same explanation), over every observed finding entered.
        coverage = explained_findings([candidates[row].code for row in order], case, self.evidence.similarity.knowledge)
        meaning = "calibrated probability" if self.params.calibration is not None else "first-choice probability"
        lines = [
            f"Ranked {len(candidates)} candidates by a learned score over evidence features "
            f"(features v{FEATURES_VERSION}; contribution = weight x value plus the feature's share of the tanh "
            f"layer's interactions by integrated gradients, base = the score of no evidence; p = {meaning})."
        ]
        base, shares = self.params.contributions(features[list(order)]) if order else (0.0, features[:0])
        for position, (row, share, (explained, entered)) in enumerate(
            zip(order, shares, coverage, strict=True), start=1
        ):
            c = candidates[row]
            p = probability_text(confidences[row], 3)
            parts = [f"base {base:+.3f}"] + [
                f"{name} {part:+.3f}"
                for name, part, value in zip(CANDIDATE_FEATURES, share, features[row], strict=True)
                if value != 0.0
            ]
            cited = ", ".join([*c.knowledge[:2], *c.patients[:3]]) or "none"
            lines.append(
                f"{position}. {_clean(c.name)} [{c.code}] p={p} score {scores[row]:.3f} = "
                f"{', '.join(parts)}; explains {len(explained)}/{entered} findings; evidence {cited}"
            )
        return "\n".join(lines)

    def _diagnose(
        self, reasoning: str, candidates: Sequence[Any], scores: npt.NDArray[np.float64], case: Case | None = None
    ) -> Diagnose:
        by_code = {c.code: row for row, c in enumerate(candidates)}
        rows = [by_code[code] for code in _RANKED_LINE.findall(reasoning) if code in by_code]
        confidences = self.params.confidences(scores, rows[0] if rows else None)
        threshold = self.evidence.config.abstain_below

        def line(row: int) -> Candidate:
            c = candidates[row]
            evidence = (*c.knowledge[:2], *c.patients[: self.evidence.config.patients_cited])
            confidence = round(min(max(float(confidences[row]), 0.0), 1.0), 3)
            return Candidate(name=_clean(c.name), code=c.code, evidence=evidence, confidence=confidence)

        # Each disease once (dxsearch.policies.differential): lower-scored candidates of a chosen disease are
        # folded into its line (codes and citations; the line keeps its own probability), and chosen lines of
        # one disease (a sampled order may hold both) become one.
        ranked = [int(i) for i in np.argsort(-scores, kind="stable")]
        lower = {kept: folded for kept, folded in fold_equivalents(ranked, lambda row: candidates[row].code)}
        chosen: list[Candidate] = []
        for row in rows:
            extra = [line(other) for other in lower.get(row, ()) if other not in rows]
            chosen.append(merge_into(line(row), extra) if extra else line(row))
        if rows and self.params.calibration is not None and confidences[rows[0]] < threshold:
            top = candidates[rows[0]]
            considered = [
                (candidates[row], float(confidences[row]), [candidates[other] for other in lower.get(row, ())])
                for row in rows
            ]
            because = "" if case is None else all_explained(considered, case, self.evidence.similarity.knowledge)
            reason = below_the_bar(_clean(top.name), top.code, float(confidences[rows[0]]), threshold, because)
            return Diagnose((), reason=reason, considered=merge_candidates(chosen))
        return Diagnose(merge_candidates(chosen))


def default_weights() -> Path | None:
    """Weights shipped in the package, if any (only when they beat the evidence baseline on held-out cases)."""
    path = Path(__file__).parent / "weights" / WEIGHTS_NAME
    return path if path.is_file() else None
