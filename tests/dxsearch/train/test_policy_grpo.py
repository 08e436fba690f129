"""The learned evidence policy and its GRPO trainer on the small test index: a few steps, determinism, loading."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from support import MARFAN_GOLD, MARFAN_TERMS, marfan_case, marfan_findings, marfan_labelled

from dxsearch.agent import diagnose
from dxsearch.env import DiagnosticEnv
from dxsearch.policies.card import read_card
from dxsearch.policies.catalog import make_policy
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.policies.learned import FEATURES_VERSION, LearnedParams, LearnedPolicy, RankDecision, load_params
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from dxsearch.train.config import POLICY_PRESETS
from dxsearch.train.data import TrainingCase
from dxsearch.train.metrics import read_metrics
from dxsearch.train.policy_grpo import (
    CachedRetriever,
    TorchPolicy,
    _Run,
    batch_decisions,
    decision_log_probs,
    first_confidence,
    fit_calibration,
    play_all,
    run_policy_grpo,
)
from rewards.gold import Gold

CONFIG = POLICY_PRESETS["policy-smoke"]


def _cases() -> list[TrainingCase]:
    terms = list(MARFAN_TERMS)
    subsets = [tuple(terms[:3]), tuple(terms[1:4]), tuple(terms[::2]), tuple(terms)]
    gold = Gold(id=MARFAN_GOLD.id, label=MARFAN_GOLD.label)
    return [
        TrainingCase(marfan_labelled(marfan_case(f"marfan-{i}", findings=marfan_findings(s))), gold, ())
        for i, s in enumerate(subsets)
    ]


@pytest.fixture(scope="module")
def env(small_index: Path) -> DiagnosticEnv:
    return DiagnosticEnv(CachedRetriever(EmbeddedIndex(small_index).retriever("hybrid")), CONFIG.budget)


def _grpo(env: DiagnosticEnv, out: Path, steps: int = 3) -> LearnedParams:
    config = CONFIG.model_copy(update={"grpo": CONFIG.grpo.model_copy(update={"steps": steps})})
    cases = _cases()
    return run_policy_grpo(
        config, LearnedParams.initial(0), cases, list(range(len(cases))), env, out / "ck.pt", out / "metrics.jsonl"
    )


@pytest.mark.slow  # ~2 min wall on 2 shared cores under load (the phenotype scorer loads first)
def test_a_few_grpo_steps_move_parameters_and_reward_with_finite_loss(env: DiagnosticEnv, tmp_path: Path) -> None:
    trained = _grpo(env, tmp_path)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["kl"]) for r in rows)
    start = LearnedParams.initial(0).arrays().values()
    assert any(not np.array_equal(a, b) for a, b in zip(trained.arrays().values(), start, strict=True))
    assert len({r["rewards/total/mean"] for r in rows}) > 1 or any(r["rewards/total/std"] > 0 for r in rows)
    assert all(f"rewards/{c}/mean" in rows[0] for c in ("format", "retrieval", "structure", "accuracy", "frugality"))


@pytest.mark.slow  # four short GRPO runs: ~40 s wall on 2 shared cores under load
def test_same_seed_same_curve_and_resume_continues_it(env: DiagnosticEnv, tmp_path: Path) -> None:
    first = _grpo(env, tmp_path / "a")
    second = _grpo(env, tmp_path / "b")
    resumed_dir = tmp_path / "c"
    _grpo(env, resumed_dir, steps=2)
    resumed = _grpo(env, resumed_dir, steps=3)

    def curve(path: Path) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in read_metrics(path / "metrics.jsonl")]

    assert curve(tmp_path / "a") == curve(tmp_path / "b") == curve(resumed_dir)
    for params in (second, resumed):
        assert all(np.array_equal(a, b) for a, b in zip(first.arrays().values(), params.arrays().values(), strict=True))


def test_torch_mirror_matches_numpy_scores_and_plackett_luce(env: DiagnosticEnv) -> None:
    params = LearnedParams.initial(3, scale=0.5)
    features = np.random.default_rng(0).random((7, params.rank_linear.size))
    numpy_scores, _ = params.scores(features)
    model = TorchPolicy(params)
    import torch

    assert np.allclose(model.scores(torch.tensor(features)).detach().numpy(), numpy_scores)
    order = (2, 0, 5)
    _, ranks = batch_decisions([(0, RankDecision(features, order))])
    logp, _ = decision_log_probs(model, None, ranks)
    expected, remaining = 0.0, list(range(7))
    for row in order:
        expected += numpy_scores[row] - np.log(np.exp(numpy_scores[remaining]).sum())
        remaining.remove(row)
    assert float(logp[0].detach()) == pytest.approx(expected)


def test_make_policy_loads_a_checkpoint_and_diagnoses_with_feature_contributions(
    env: DiagnosticEnv, tmp_path: Path
) -> None:
    _Run(tmp_path, CONFIG).save("grpo", LearnedParams.initial(1))
    card = read_card(tmp_path / "models" / "grpo")
    assert card is not None and card.features_version == FEATURES_VERSION and "likelihood" in card.features
    policy, budget = make_policy("learned", Settings(), tmp_path / "models" / "grpo")
    assert isinstance(policy, LearnedPolicy) and budget == CONFIG.budget
    assert load_params(tmp_path / "models" / "grpo").size == policy.params.size
    trace = diagnose(marfan_case(), policy, DiagnosticEnv(env.retriever, budget))
    assert trace.stop_reason.value in {"diagnosed", "insufficient_evidence"}
    if trace.diagnoses:
        reasoning = next(t.text for t in trace.turns if t.action == "reason")
        assert "similarity" in reasoning and "base" in reasoning and trace.diagnoses[0].code in reasoning
        assert all(d.confidence is not None for d in trace.diagnoses)
        # Each line's parts add up to its score: the tanh layer is shared out, not one opaque term.
        for line in reasoning.splitlines()[1:]:
            score, parts = re.search(r"score (-?[\d.]+) = (.*?); explains", line).groups()
            total = sum(float(part.rsplit(" ", 1)[1]) for part in parts.split(", "))
            assert total == pytest.approx(float(score), abs=0.01 + 0.002 * len(parts.split(", "))), line


def test_feature_contributions_add_up_to_the_score_and_a_zero_feature_has_none() -> None:
    """Integrated gradients over the tanh layer: complete (base + parts = score) on trained-sized weights."""
    params = LearnedParams.initial(3, scale=1.0)
    features = np.abs(np.random.default_rng(4).normal(0.0, 5.0, (5, params.rank_linear.size)))  # large: a wide path
    features[:, 2] = 0.0
    scores, _ = params.scores(features)
    base, parts = params.contributions(features)
    assert base + parts.sum(axis=1) == pytest.approx(scores, abs=1e-9)
    assert (parts[:, 2] == 0.0).all()
    assert base == pytest.approx(float(params.scores(np.zeros((1, params.rank_linear.size)))[0][0]))


def test_the_confidence_a_clinician_reads_is_calibrated_on_played_cases_and_survives_a_reload(
    env: DiagnosticEnv, tmp_path: Path
) -> None:
    params = LearnedParams.initial(2, scale=1.0)
    params.action[:, 0] = [0.0, 5.0, 0.0, 0.0, 10.0, -10.0]  # bias: look the findings up, then diagnose
    evidence = EvidencePolicy(CONFIG.teacher)
    cases = _cases()
    episodes = play_all(
        LearnedPolicy(params, CONFIG.budget, evidence=evidence), cases, env, CONFIG.reward_config(), "t"
    )
    raw = [first_confidence(e) for e in episodes]
    assert any(c is not None for c in raw)
    policy = LearnedPolicy(params, CONFIG.budget, evidence=evidence)
    params.calibration = fit_calibration(episodes, [case.gold for case in cases], policy)
    assert params.calibration.fitted_on["cases"] == len(cases)
    assert params.calibration.temperature > 0
    # The map is monotone and within [0, 1].
    assert list(params.calibration.values) == sorted(params.calibration.values)
    assert all(0.0 <= v <= 1.0 for v in params.calibration.values)
    hits = [int(e.reward.breakdown["accuracy/gold_rank"]) == 1 for e in episodes]

    _Run(tmp_path, CONFIG).save("grpo", params)
    reloaded = load_params(tmp_path / "models" / "grpo")
    assert reloaded.calibration == params.calibration
    scores = np.array([2.0, 0.5, -1.0])
    tempered = np.exp(scores / reloaded.calibration.temperature)
    confidences = reloaded.confidences(scores)
    assert confidences[0] == pytest.approx(
        float(np.interp(tempered[0] / tempered.sum(), params.calibration.knots, params.calibration.values))
    )
    assert confidences.sum() <= 1.0 + 1e-9 and list(confidences) == sorted(confidences, reverse=True)
    again = play_all(LearnedPolicy(reloaded, CONFIG.budget, evidence=evidence), cases, env, CONFIG.reward_config(), "t")
    calibrated = []
    for before, episode, hit in zip(raw, again, hits, strict=True):
        after = first_confidence(episode)
        assert (before is None) == (after is None)  # the same answers, with calibrated confidences
        if after is not None:
            calibrated.append((after, hit))
            reasoning = next(e.turn for e in episode.history if "<reason>" in e.turn)
            assert "p = calibrated probability" in reasoning
    # Over the cases it was fitted on, the stated confidences average to about the hit rate (isotonic keeps
    # the mean; the prior's pseudo-cases at that rate move it a little), and none says certainly right.
    assert sum(c for c, _ in calibrated) / len(calibrated) == pytest.approx(
        sum(h for _, h in calibrated) / len(calibrated), abs=0.05
    )
    assert max(params.calibration.values) < 1.0


def test_weights_of_other_features_are_refused(tmp_path: Path) -> None:
    _Run(tmp_path, CONFIG).save("sft", LearnedParams.initial(0))
    path = tmp_path / "models" / "sft" / "learned-policy.json"
    payload = json.loads(path.read_text())
    payload["features_version"] = "0"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="features version"):
        load_params(path.parent)
