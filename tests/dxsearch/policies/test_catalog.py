"""The one policy factory: every registered name builds a policy, unknown names and unconfigured LLMs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxsearch.episode import Budget
from dxsearch.policies.base import Policy
from dxsearch.policies.catalog import (
    POLICIES,
    PolicyLoadError,
    configured_policy_name,
    make_policy,
    retriever_for,
)
from dxsearch.registry import RegistryError
from dxsearch.settings import Settings

#: Policies that need weights: the LLM a checkpoint (``--model``), the learned one its shipped weights (below).
NEED_A_MODEL = {"llm", "learned"}


def test_every_registered_policy_without_weights_builds_with_the_default_budget() -> None:
    assert POLICIES.names() == ["dense", "evidence", "hybrid", "learned", "lexical", "llm", "phenotype"]
    for name in POLICIES.names():
        if name in NEED_A_MODEL:
            continue
        policy, budget = make_policy(name, Settings())
        assert isinstance(policy, Policy)
        assert policy.name == name
        assert budget == Budget()
        assert POLICIES.get(name).description


def test_rankings_search_with_their_own_retriever_and_the_rest_with_hybrid() -> None:
    assert {name: retriever_for(name) for name in POLICIES.names()} == {
        "dense": "dense",
        "evidence": "hybrid",
        "hybrid": "hybrid",
        "learned": "hybrid",
        "lexical": "lexical",
        "llm": "hybrid",
        "phenotype": "hybrid",
    }


def test_unknown_names_and_an_unconfigured_llm_are_refused_with_a_reason() -> None:
    with pytest.raises(RegistryError, match="unknown policy 'nope'; known: dense, evidence"):
        make_policy("nope", Settings())
    with pytest.raises(PolicyLoadError, match="--model PATH"):
        make_policy("llm", Settings())


def test_a_missing_checkpoint_is_a_load_error_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(PolicyLoadError, match="cannot load the llm policy"):
        make_policy("llm", Settings(), missing)


def test_a_server_plays_the_llm_only_when_one_is_configured() -> None:
    assert configured_policy_name(Settings()) == "learned"
    assert configured_policy_name(Settings(policy="phenotype")) == "phenotype"
    served = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m")
    assert configured_policy_name(served) == "llm"


def test_the_learned_policy_plays_its_shipped_calibrated_weights_and_abstains_on_nonspecific_findings() -> None:
    from dxsearch.cases import Case, Finding
    from dxsearch.policies.learned import CANDIDATE_FEATURES, LearnedPolicy, default_weights
    from dxsearch.protocol import Diagnose, parse_turn

    assert default_weights() is not None  # shipped: top-1 above the evidence policy's on held-out cases (README)
    policy, budget = make_policy("learned", Settings())
    assert isinstance(policy, LearnedPolicy) and budget == Budget()
    assert policy.params.rank_linear.shape == (len(CANDIDATE_FEATURES),)
    calibration = policy.params.calibration
    assert calibration is not None and calibration.fitted_on["cases"] > 100
    assert all(0.0 <= v <= 1.0 for v in calibration.values) and max(calibration.values) < 0.9
    fever = Case(case_id="fever", findings=(Finding(label="Fever", hpo_id="HP:0001945"),))
    turn = parse_turn(policy.next_turn(fever, []))
    assert isinstance(turn, Diagnose) and not turn.candidates and "nonspecific" in (turn.reason or "")
