"""Calibrated probabilities: their invariants, the shipped fit, ECE, and the isotonic fit."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dxsearch.policies.calibration import (
    FEATURES,
    PROVISIONAL,
    Calibrator,
    CaseSignals,
    expected_calibration_error,
    shipped_calibrator,
)
from dxsearch.train.calibrate import CalibrationCase, fit, fit_temperature, isotonic

scores = st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=40).map(
    lambda xs: tuple(sorted(xs, reverse=True))
)
signals = st.builds(
    CaseSignals,
    scores=scores,
    best_similarity=st.floats(min_value=0.0, max_value=1.0),
    information=st.floats(min_value=0.0, max_value=200.0),
    findings=st.integers(min_value=1, max_value=60),
    top_votes=st.floats(min_value=0.0, max_value=1.0),
)


@given(signals)
def test_probabilities_keep_the_order_and_sum_to_at_most_one(case: CaseSignals) -> None:
    for calibrator in (PROVISIONAL, shipped_calibrator()):
        probabilities = calibrator.probabilities(case)
        assert len(probabilities) == len(case.scores)
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        assert sum(probabilities) <= 1.0 + 1e-9
        assert all(a >= b - 1e-12 for a, b in itertools.pairwise(probabilities))


def test_a_clear_winner_is_more_probable_than_a_tie() -> None:
    calibrator = shipped_calibrator()
    clear = CaseSignals(scores=(2.2, 0.6, 0.5), best_similarity=0.6, information=20.0, findings=5, top_votes=0.8)
    tie = CaseSignals(scores=(2.2, 2.19, 2.18), best_similarity=0.6, information=20.0, findings=5, top_votes=0.8)
    assert calibrator.probabilities(clear)[0] > calibrator.probabilities(tie)[0]
    assert calibrator.probabilities(tie)[0] < 0.5


def test_the_shipped_fit_was_made_on_index_side_cases_and_says_so() -> None:
    calibrator = shipped_calibrator()
    assert calibrator.features == FEATURES
    if calibrator is not PROVISIONAL:
        assert int(str(calibrator.fitted_on["cases"])) >= 300
        assert "command" in calibrator.fitted_on


def test_a_fit_for_other_features_is_refused() -> None:
    with pytest.raises(ValueError, match="features"):
        Calibrator(temperature=1.0, null_weights=(0.0,) * (len(FEATURES) + 1), features=("other",) * len(FEATURES))


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    assert expected_calibration_error([0.9, 0.9], [True, True]) == pytest.approx(0.1)
    assert expected_calibration_error([0.25] * 4, [True, False, False, False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0, 0.0], [False, True]) == pytest.approx(1.0)
    assert expected_calibration_error([], []) == 0.0


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60))
def test_isotonic_is_non_decreasing_and_within_the_data(pairs: list[tuple[float, bool]]) -> None:
    knots, values = isotonic([x for x, _ in pairs], [float(y) for _, y in pairs])
    assert knots == sorted(set(knots)) and len(knots) == len(values)
    # Strictly rising from knot to knot: different evidence between two knots never reads as one number.
    assert all(b > a for a, b in itertools.pairwise(values))
    assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in values)
    assert min(x for x, _ in pairs) <= knots[0] and knots[-1] <= max(x for x, _ in pairs)


def test_isotonic_keeps_each_block_mean_at_its_centre() -> None:
    # Points 0.1..0.4 hold 1 right of 4 and 0.6..0.9 hold 3 of 4: two blocks, each one knot at its mean x
    # with its accuracy, and inputs between the centres get probabilities between 0.25 and 0.75.
    x = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]
    y = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    knots, values = isotonic(x, y)
    assert knots == pytest.approx([0.25, 0.75]) and values == pytest.approx([0.25, 0.75])
    between = [float(np.interp(v, knots, values)) for v in (0.3, 0.5, 0.7)]
    assert between == pytest.approx([0.3, 0.5, 0.7])


def test_the_fitted_temperature_matches_how_often_the_gold_beats_the_rest() -> None:
    # Two candidates, scores 10 apart; the gold is the first in 3 cases of 4. The maximum-likelihood
    # temperature makes the first choice's tempered probability 3/4: 10 / T = ln 3.
    scored = [(np.array([10.0, 0.0]), 0)] * 3 + [(np.array([10.0, 0.0]), 1)]
    temperature = fit_temperature(scored)
    assert temperature == pytest.approx(10.0 / math.log(3.0), rel=1e-3)
    assert fit_temperature([]) == 1.0


def test_a_prior_keeps_a_small_fit_from_claiming_certainty() -> None:
    x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    y = [0.0] * 5 + [1.0] * 5
    assert isotonic(x, y)[1][0] == 0.0 and isotonic(x, y)[1][-1] == 1.0
    knots, values = isotonic(x, y, prior_strength=2.0)
    assert values == sorted(values) and knots == sorted(knots)
    # Two pseudo-points at the mean (0.5) in each block: 0/5 -> 1/7, 5/5 -> 6/7.
    assert values[0] == pytest.approx(1 / 7) and values[-1] == pytest.approx(6 / 7)


def _played(rule: Callable[[float], bool], count: int = 600) -> list[CalibrationCase]:
    """Cases of one publication each: a first candidate of score s beside a runner-up at 0, right by ``rule(s)``."""
    scores = np.random.default_rng(7).uniform(0.0, 0.6, count)
    return [
        CalibrationCase(
            case_id=f"c{i}",
            pmid=f"PMID:{i}",
            signals=CaseSignals(scores=(float(s), 0.0), best_similarity=0.5, information=20.0, findings=5),
            gold_rank=1 if rule(float(s)) else 2,
            ics=(4.0,) * 5,
        )
        for i, s in enumerate(scores)
    ]


def test_the_isotonic_map_ships_only_where_it_lowers_the_out_of_fold_error() -> None:
    """Right exactly when the score passes 0.3: no softmax draws that step and the map does, so it is kept; right
    at random, half the time whatever the score: the softmax alone says so, and a map fitted to noise is not."""
    step = fit(_played(lambda s: s > 0.3))
    assert step.isotonic_x and step.fitted_on["isotonic_map"].startswith("kept")
    assert step.fitted_on["ece_isotonic_out_of_fold"] < step.fitted_on["ece_softmax_out_of_fold"]
    coin = np.random.default_rng(11)
    noise = fit(_played(lambda s: bool(coin.random() < 0.5)))
    assert not noise.isotonic_x and noise.fitted_on["isotonic_map"].startswith("not kept")
