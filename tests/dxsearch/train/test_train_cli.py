"""`dxsearch train` end to end (smoke preset, default corpus): artefacts, resume, refusal, and eval of the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpus_builder.sources.phenopackets import heldout_phenopacket_cases, index_phenopacket_cases
from dxsearch.cli import app
from dxsearch.policies.card import read_card
from dxsearch.train.metrics import read_metrics

runner = CliRunner()


@pytest.fixture(scope="module")
def smoke_run(default_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train") / "run"
    result = runner.invoke(app, ["train", "--preset", "smoke", "--out", str(out), "--index", str(default_index)])
    assert result.exit_code == 0, result.output
    assert "validation" in result.output and "summary.json" in result.output
    return out


@pytest.mark.slow
def test_smoke_run_writes_summary_metrics_plot_and_cards(smoke_run: Path) -> None:
    summary = json.loads((smoke_run / "summary.json").read_text())
    for name in ("untrained", "sft", "grpo", "teacher"):
        assert 0.0 <= summary[name]["reward"] <= 1.0
        assert set(summary[name]["components"]) == {"format", "retrieval", "structure", "accuracy", "frugality"}
    assert summary["teacher"]["reward"] > 0.0  # the evidence baseline plays the protocol correctly
    sampled = summary["grpo"]["sampled"]
    assert sampled["samples_per_case"] == 1 and sampled["cases"] == summary["validation_cases"]
    grpo_steps = [r["step"] for r in read_metrics(smoke_run / "metrics.jsonl") if r["stage"] == "grpo" and "loss" in r]
    assert grpo_steps[:2] == [1, 2]
    assert (smoke_run / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = read_card(smoke_run / "models" / "grpo")
    assert card is not None and card.budget.max_turns == 4


@pytest.mark.slow
def test_training_reads_no_heldout_case(smoke_run: Path) -> None:
    used = json.loads((smoke_run / "cases.json").read_text())
    heldout = {c.case.case_id for c in heldout_phenopacket_cases()}
    index_side = {c.case.case_id for c in index_phenopacket_cases()}
    chosen = set(used["train"]) | set(used["validation"])
    assert chosen and chosen <= index_side and not chosen & heldout
    assert not set(used["train"]) & set(used["validation"])


@pytest.mark.slow
def test_rerun_resumes_without_retraining_and_another_config_is_refused(smoke_run: Path, default_index: Path) -> None:
    weights = (smoke_run / "models" / "grpo" / "model.safetensors").read_bytes()
    again = runner.invoke(app, ["train", "--preset", "smoke", "--out", str(smoke_run), "--index", str(default_index)])
    assert again.exit_code == 0, again.output
    assert (smoke_run / "models" / "grpo" / "model.safetensors").read_bytes() == weights
    other = runner.invoke(
        app, ["train", "--preset", "smoke", "--seed", "7", "--out", str(smoke_run), "--index", str(default_index)]
    )
    assert other.exit_code == 2 and len(other.output.strip().splitlines()) == 1
    assert "another config" in other.output


@pytest.mark.slow
def test_eval_runs_the_trained_checkpoint_through_the_benchmark(
    smoke_run: Path, default_index: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    model = smoke_run / "models" / "grpo"
    args = ["eval", "--policy", "llm", "--model", str(model), "--index", str(default_index)]
    result = runner.invoke(app, [*args, "--limit", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "policy card" in result.output  # played under the budget it was trained with
    report = json.loads(out.read_text())
    assert report["policy"] == "llm" and report["cases"] == 4  # 2 real + 2 simulated held-out cases
    assert 0.0 <= report["top1"] <= 1.0


def test_train_without_an_index_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--index", str(tmp_path / "none")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_policy_preset_writes_the_summary_and_its_model_plays_through_eval(default_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "policy"
    result = runner.invoke(app, ["train", "--preset", "policy-smoke", "--out", str(out), "--index", str(default_index)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_dir"] == str(out / "models" / "grpo")
    for name in ("untrained", "sft", "grpo", "evidence"):
        assert {"reward", "top1", "top5", "mrr", "retrievals_per_case"} <= summary[name].keys()
    assert (out / "reward_curve.png").stat().st_size > 0
    report_path = tmp_path / "eval.json"
    args = ["eval", "--policy", "learned", "--model", summary["model_dir"], "--index", str(default_index)]
    evaluated = runner.invoke(app, [*args, "--limit", "2", "--json", str(report_path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(report_path.read_text())["policy"] == "learned"
