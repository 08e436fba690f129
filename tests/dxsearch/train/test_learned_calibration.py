"""Refitting the learned policy's confidence map on played rows: the module and `dxsearch calibrate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import MARFAN_TERMS, marfan_case, marfan_findings, marfan_labelled
from typer.testing import CliRunner

from dxsearch.cli import app
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.policies.learned import LearnedParams, LearnedPolicy, load_params, read_trained_by, save_params
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.config import POLICY_PRESETS
from dxsearch.train.learned_calibration import (
    LearnedCalibrationRow,
    first_probability,
    fit_rows,
    out_of_fold_ece,
    play_rows,
)

runner = CliRunner()
CONFIG = POLICY_PRESETS["policy-smoke"]


def _params() -> LearnedParams:
    params = LearnedParams.initial(2, scale=1.0)
    params.action[:, 0] = [0.0, 5.0, 0.0, 0.0, 10.0, -10.0]  # bias: look the findings up, then diagnose
    return params


def _rows(count: int) -> list[LearnedCalibrationRow]:
    """Rows whose gold is drawn from the softmax of twice the scores (a seeded draw): the right temperature is 0.5."""
    generator = np.random.default_rng(7)
    rows = []
    for number in range(count):
        scores = generator.normal(size=6)
        shares = np.exp(2 * scores) / np.exp(2 * scores).sum()
        gold = int(generator.choice(6, p=shares))
        rows.append(
            LearnedCalibrationRow(
                case_id=f"c{number}",
                pmid=f"PMID:{number % 40}",
                scores=tuple(float(s) for s in scores),
                gold_row=gold,
                hit=gold == int(np.argmax(scores)),
                stated=0.99,
            )
        )
    return rows


def test_rows_are_played_as_the_benchmark_plays_them_and_round_trip(small_index: Path) -> None:
    terms = list(MARFAN_TERMS)
    cases = [marfan_labelled(marfan_case(f"m{i}", findings=marfan_findings(tuple(terms[i:])))) for i in range(3)]
    policy = LearnedPolicy(_params(), CONFIG.budget, evidence=EvidencePolicy(CONFIG.teacher))
    kept: list[LearnedCalibrationRow] = []
    rows = play_rows(cases, policy, CONFIG.budget, EmbeddedIndex(small_index), "hybrid", keep=kept.append)
    assert rows and rows == kept
    for row in rows:
        assert len(row.scores) >= 1 and 0.0 <= row.stated <= 1.0
        assert row.hit == (row.gold_row is not None and row.gold_row == int(np.argmax(row.scores)))
        assert LearnedCalibrationRow.from_json(json.loads(json.dumps(row.to_json()))) == row


def test_a_refit_matches_how_often_first_choices_are_right_and_reports_unseen_publications() -> None:
    rows = _rows(400)
    calibration = fit_rows(rows)
    assert calibration.temperature == pytest.approx(0.5, rel=0.25)
    stated = [first_probability(calibration, r) for r in rows]
    hit_rate = sum(r.hit for r in rows) / len(rows)
    assert sum(stated) / len(stated) == pytest.approx(hit_rate, abs=0.03)
    # The map they were played with said 0.99 on every row: its ECE is the gap to the hit rate.
    assert calibration.fitted_on["ece_before"] == pytest.approx(0.99 - hit_rate, abs=1e-9)
    held = out_of_fold_ece(rows)
    assert held is not None and held < calibration.fitted_on["ece_before"] / 3


def test_the_cli_refits_the_map_and_keeps_the_weights(tmp_path: Path) -> None:
    model = tmp_path / "model"
    params = _params()
    save_params(params, model, trained_by="dxsearch train --preset cpu-policy (grpo)")
    played = tmp_path / "played.jsonl"
    played.write_text("".join(json.dumps({**r.to_json(), "index": "fold-x"}) + "\n" for r in _rows(200)))
    out = tmp_path / "refit"
    args = ["calibrate", "--policy", "learned", "--model", str(model), "--played", str(played), "--no-play"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "fitted on 200 cases (40 publications" in result.stdout
    refit = load_params(out)
    assert refit.calibration is not None and params.calibration is None
    assert refit.calibration.fitted_on["played_on_indexes"] == {"fold-x": 200}
    assert refit.calibration.fitted_on["ece_out_of_fold"] is not None
    for name, array in params.arrays().items():
        assert np.array_equal(array, refit.arrays()[name])
    assert read_trained_by(out) == "dxsearch train --preset cpu-policy (grpo)"


def test_a_fold_the_index_still_holds_is_refused_in_one_line(small_index: Path, tmp_path: Path) -> None:
    fold = tmp_path / "fold.txt"
    fold.write_text("# a fold\nPMID:123\n456\n")
    for policy in ("evidence", "learned"):
        result = runner.invoke(
            app, ["calibrate", "--policy", policy, "--index", str(small_index), "--publications", str(fold)]
        )
        assert result.exit_code == 2, result.output
        assert "does not leave out 2 of the 2 publications" in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_a_fold_file_with_a_bad_line_names_it(small_index: Path, tmp_path: Path) -> None:
    fold = tmp_path / "fold.txt"
    fold.write_text("PMID:123\ndoi:10.1/x\n")
    result = runner.invoke(app, ["calibrate", "--index", str(small_index), "--publications", str(fold)])
    assert result.exit_code == 2 and "fold.txt:2" in result.output
