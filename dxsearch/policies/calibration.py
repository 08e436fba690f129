"""From candidate scores to probabilities that a diagnosis is right, and the artefact that holds the fit.

The evidence policy's scores are scaled within each case (the best disease is always near the top of
the scale), so "score relative to the top" said 1.000 for every first diagnosis. Here a case's
candidate scores become a probability distribution over "candidate *i* is the diagnosis" plus one
more outcome, "none of these": a softmax of ``score / temperature`` beside a *null logit* that is a
linear function of what the scale hides (how similar the best disease is in absolute terms, how much
information the findings carry, how many were understood, how strongly similar patients agree). An
isotonic map on the top probability corrects what the softmax leaves miscalibrated; every
probability of the case is scaled by the same factor, so the order never changes.

The parameters are fitted on index-side published cases with their own publication hidden
(:mod:`dxsearch.train.calibrate`, ``dxsearch calibrate``), never on the held-out benchmark, and
shipped as a small JSON file in this package (:data:`CALIBRATION_FILE`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The shipped fit, beside this module (``data/``); regenerate with ``dxsearch calibrate``.
CALIBRATION_FILE = "evidence-calibration.json"
#: The features of the null logit, in the order of ``null_weights`` (after the bias).
FEATURES = ("best_similarity", "log_findings", "information", "top_votes")
#: Raw phenotype similarity above this is a degenerate disease norm, not a closer match (see CaseSignals.features).
SIMILARITY_CAP = 2.0


@dataclass(frozen=True, slots=True)
class CaseSignals:
    """What the calibrator reads of one ranked case."""

    scores: tuple[float, ...]
    """Combined candidate scores, best first."""
    best_similarity: float
    """Raw (unscaled) phenotype similarity of the most similar disease."""
    information: float
    """Total information content of the understood observed findings."""
    findings: int
    """Observed findings understood as HPO terms."""
    top_votes: float = 0.0
    """Share of similar-patient votes the best candidate received."""

    def features(self) -> npt.NDArray[np.float64]:
        """The null logit's inputs: bias first, then :data:`FEATURES`.

        The raw similarity is capped at :data:`SIMILARITY_CAP`: a disease whose annotated terms all
        have zero information content gets a near-zero norm in :mod:`dxsearch.knowledge.similarity`
        and a similarity of up to ~1e9 (about a third of index-side cases); the cap keeps such a case
        one finite, recognisable value.
        """
        return np.array(
            [
                1.0,
                min(self.best_similarity, SIMILARITY_CAP),
                math.log1p(self.findings),
                self.information / 10.0,
                self.top_votes,
            ]
        )


class Calibrator(BaseModel):
    """Temperature softmax with a "none of these" outcome, then isotonic on the top probability."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(gt=0.0, description="Candidate logits are score / temperature.")
    null_weights: tuple[float, ...] = Field(description="Bias, then one weight per FEATURES entry.")
    features: tuple[str, ...] = FEATURES
    isotonic_x: tuple[float, ...] = Field(default=(), description="Top probability before the isotonic map.")
    isotonic_y: tuple[float, ...] = Field(default=(), description="... and after it (non-decreasing).")
    fitted_on: dict[str, object] = Field(
        default_factory=dict, description="What the fit saw and how well it did (cases, publications, ECE)."
    )

    @model_validator(mode="after")
    def _shapes(self) -> Calibrator:
        if self.features != FEATURES:
            raise ValueError(f"calibration features {self.features} do not match this code's {FEATURES}")
        if len(self.null_weights) != len(FEATURES) + 1:
            raise ValueError(f"null_weights needs {len(FEATURES) + 1} values")
        if len(self.isotonic_x) != len(self.isotonic_y):
            raise ValueError("isotonic_x and isotonic_y differ in length")
        if any(b < a for a, b in zip(self.isotonic_y, self.isotonic_y[1:], strict=False)):
            raise ValueError("isotonic_y must be non-decreasing")
        return self

    def softmax(self, signals: CaseSignals) -> npt.NDArray[np.float64]:
        """Probabilities of each candidate (aligned with ``signals.scores``) before the isotonic map."""
        if not signals.scores:
            return np.zeros(0)
        logits = np.array(signals.scores, dtype=np.float64) / self.temperature
        null = float(np.dot(np.array(self.null_weights), signals.features()))
        top = max(float(logits.max()), null)
        weights = np.exp(logits - top)
        total = float(weights.sum()) + math.exp(null - top)
        return np.asarray(weights / total, dtype=np.float64)

    def probabilities(self, signals: CaseSignals) -> list[float]:
        """The probability that each candidate is the diagnosis, best first; they sum to at most 1."""
        raw = self.softmax(signals)
        if raw.size == 0:
            return []
        if self.isotonic_x:
            top = float(raw[0])
            mapped = float(np.interp(top, self.isotonic_x, self.isotonic_y))
            if top > 0:
                raw = raw * (mapped / top)
            total = float(raw.sum())
            if total > 1.0:
                raw = raw / total
        return [float(min(max(p, 0.0), 1.0)) for p in raw]


#: Used only when no fitted file ships: a temperature that keeps the ranking and an even "none of these".
PROVISIONAL = Calibrator(temperature=0.25, null_weights=(4.0, 0.0, 0.0, 0.0, 0.0))


@lru_cache(maxsize=1)
def shipped_calibrator() -> Calibrator:
    """The fitted calibrator shipped with the package, else :data:`PROVISIONAL`."""
    path = resources.files("dxsearch.policies") / "data" / CALIBRATION_FILE
    if not path.is_file():
        return PROVISIONAL
    return Calibrator.model_validate(json.loads(path.read_text(encoding="utf-8")))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: the share-weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and outcomes differ in length")
    if not confidences:
        return 0.0
    conf = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    hits = np.asarray(correct, dtype=np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += float(members.sum()) * abs(float(conf[members].mean()) - float(hits[members].mean()))
    return total / len(conf)
