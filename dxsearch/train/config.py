"""One validated config for a local training run, and the named presets ``dxsearch train --preset`` offers.

Everything that changes what a run learns lives here (seed, data sizes, model
shape, episode budget, teacher, SFT and GRPO settings, reward weights), and the
whole config is written next to the checkpoints, so a result can always be
traced to the settings that produced it and a resumed run can refuse to mix two.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.episode import Budget
from dxsearch.policies.evidence import EvidencePolicyConfig
from rewards.config import BudgetLimits, RewardConfig, RewardWeights


class ModelShape(BaseModel):
    """The tiny Qwen2 built from scratch (random weights, tokenizer trained on the run's own texts)."""

    model_config = ConfigDict(frozen=True)

    vocab_size: int = Field(default=2048, ge=300)
    hidden_size: int = Field(default=128, ge=16)
    intermediate_size: int = Field(default=256, ge=16)
    num_hidden_layers: int = Field(default=3, ge=1)
    num_attention_heads: int = Field(default=4, ge=1)
    num_key_value_heads: int = Field(default=2, ge=1)
    initializer_range: float = Field(default=0.02, gt=0.0)


class DataConfig(BaseModel):
    """Which cases train and which validate; both from the index side, disjoint by publication.

    Held-out cases (the benchmark) are never read by training. Validation cases come
    from publications no training case shares, and every episode hides the records of
    the case's own publication, as the evaluation harness does.
    """

    model_config = ConfigDict(frozen=True)

    train_cases: int = Field(default=320, ge=1)
    validation_cases: int = Field(default=40, ge=1)
    validation_fraction: float = Field(
        default=0.1, gt=0.0, lt=1.0, description="Share of index-side publications reserved for validation."
    )
    max_findings: int = Field(
        default=8, ge=1, description="Cases with more observed findings are skipped (prompt length on CPU)."
    )
    retriever: str = Field(default="hybrid", description="Retriever the environment uses (lexical/dense/hybrid).")


class SftConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    epochs: float = Field(default=3.0, gt=0.0)
    learning_rate: float = Field(default=3e-3, gt=0.0)
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    warmup_ratio: float = Field(default=0.05, ge=0.0, lt=1.0)
    max_length: int = Field(default=2048, ge=64)


class GrpoConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    steps: int = Field(default=40, ge=1)
    num_generations: int = Field(default=4, ge=2, description="Rollouts per case (the GRPO group).")
    cases_per_step: int = Field(default=2, ge=1)
    learning_rate: float = Field(default=5e-4, gt=0.0)
    iterations: int = Field(
        default=1, ge=1, description="Optimiser steps per batch of rollouts (PPO-style reuse, clipped ratio)."
    )
    beta: float = Field(default=0.0, ge=0.0, description="KL weight to the SFT model (0: no reference model).")
    temperature: float = Field(default=1.0, gt=0.0)
    max_new_tokens: int = Field(default=256, ge=8, description="Token limit of one turn.")
    curriculum: bool = Field(default=False, description="Easy cases first, ordered by the teacher's reward.")
    save_steps: int = Field(default=10, ge=1)


class TrainConfig(BaseModel):
    """A whole local run: SFT warm start from the evidence baseline, then GRPO, then validation."""

    model_config = ConfigDict(frozen=True)

    preset: str = "custom"
    seed: int = 0
    threads: int = Field(default=2, ge=1, description="torch threads for the whole run.")
    sampled_validation: int = Field(
        default=2,
        ge=0,
        description="Also validate each model with this many samples per case at the GRPO temperature (0: none).",
    )
    prompt: Literal["full", "compact"] = Field(
        default="full", description="System prompt the model is trained and played with (recorded in its card)."
    )
    model: ModelShape = Field(default_factory=ModelShape)
    data: DataConfig = Field(default_factory=DataConfig)
    budget: Budget = Field(default_factory=Budget)
    teacher: EvidencePolicyConfig = Field(default_factory=EvidencePolicyConfig)
    sft: SftConfig = Field(default_factory=SftConfig)
    grpo: GrpoConfig = Field(default_factory=GrpoConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)

    def reward_config(self) -> RewardConfig:
        """The reward judged against this run's own budget (what the environment enforced)."""
        return self.reward.model_copy(update={"budget": BudgetLimits.from_budget(self.budget)})


_TINY_BUDGET = Budget(max_turns=4, max_retrievals=2, passages_per_retrieval=3, observation_tokens=160)
#: The teacher a tiny model can imitate: one match on the first three findings, a short reason, two candidates.
_TINY_TEACHER = EvidencePolicyConfig(
    max_query_findings=3,
    lookup_findings=False,
    max_finalist_lookups=0,
    patients_cited=1,
    finalists=2,
    brief_reasoning=True,
)

#: ``dxsearch train --preset NAME``: ``cpu-tiny`` is the full local run (under 30 minutes on 2 cores);
#: ``smoke`` is the same pipeline shrunk to seconds, for tests and CI.
PRESETS: dict[str, TrainConfig] = {
    "cpu-tiny": TrainConfig(
        preset="cpu-tiny",
        prompt="compact",
        budget=_TINY_BUDGET,
        teacher=_TINY_TEACHER,
        sft=SftConfig(epochs=10, batch_size=8, learning_rate=3e-3, max_length=1024),
        grpo=GrpoConfig(steps=30, cases_per_step=4, num_generations=8, learning_rate=1e-4, beta=0.02, temperature=0.7),
        reward=RewardConfig(weights=RewardWeights(format=0.3, retrieval=0.2, structure=0.2, accuracy=0.3)),
    ),
    "smoke": TrainConfig(
        preset="smoke",
        prompt="compact",
        model=ModelShape(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=2),
        data=DataConfig(train_cases=6, validation_cases=2),
        sampled_validation=1,
        budget=_TINY_BUDGET,
        teacher=_TINY_TEACHER,
        sft=SftConfig(epochs=1.0, batch_size=2, max_length=4096),
        grpo=GrpoConfig(steps=2, num_generations=2, cases_per_step=1, max_new_tokens=24, save_steps=1),
    ),
}


# -- the learned evidence policy (``--preset cpu-policy``) ------------------------------------------


class BcConfig(BaseModel):
    """Behaviour cloning of the evidence policy: the warm start GRPO begins from (full-batch Adam)."""

    model_config = ConfigDict(frozen=True)

    epochs: int = Field(default=300, ge=1)
    learning_rate: float = Field(default=0.05, gt=0.0)
    l2: float = Field(default=1e-3, ge=0.0, description="Keeps the Plackett–Luce scale finite on separable data.")


class PolicyGrpoConfig(BaseModel):
    """GRPO on the learned policy's decisions: groups of sampled episodes per case, clipped ratio, KL to BC."""

    model_config = ConfigDict(frozen=True)

    steps: int = Field(default=30, ge=1)
    cases_per_step: int = Field(default=8, ge=1)
    group_size: int = Field(default=8, ge=2, description="Sampled episodes per case (the GRPO group).")
    learning_rate: float = Field(default=0.02, gt=0.0)
    iterations: int = Field(default=2, ge=1, description="Optimiser steps per batch of episodes (clipped ratio).")
    clip: float = Field(default=0.2, gt=0.0)
    beta: float = Field(default=0.02, ge=0.0, description="Weight of the KL to the behaviour-cloned policy.")
    curriculum: bool = Field(default=False, description="Easy cases first (teacher reward), widening to all.")
    save_steps: int = Field(default=5, ge=1)


class PolicyTrainConfig(BaseModel):
    """A learned-policy run: BC warm start from the evidence policy, GRPO, validation of every stage."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["learned-policy"] = "learned-policy"
    preset: str = "custom"
    seed: int = 0
    # A validation share of 0.3: at 0.1 the annotation-independent validation side is 23 publications,
    # three of them 69 % of its cases, of diseases nearly all unannotated.
    data: DataConfig = Field(
        default_factory=lambda: DataConfig(
            train_cases=400, validation_cases=150, validation_fraction=0.3, max_findings=60
        )
    )
    budget: Budget = Field(default_factory=Budget)
    # The teacher ranks every case, as `dxsearch eval` plays it (the findings checks stay): with its 0.2
    # probability bar it abstains on ~95 % of published cases, and behaviour cloning learned to abstain.
    teacher: EvidencePolicyConfig = Field(default_factory=lambda: EvidencePolicyConfig(abstain_below=0.0))
    bc: BcConfig = Field(default_factory=BcConfig)
    grpo: PolicyGrpoConfig = Field(default_factory=PolicyGrpoConfig)
    reward: RewardConfig = Field(
        default_factory=lambda: RewardConfig(
            weights=RewardWeights(format=0.2, retrieval=0.2, structure=0.1, accuracy=0.5, frugality=0.1)
        )
    )
    ablations: bool = Field(default=False, description="Also train without frugality and with the curriculum flipped.")

    def reward_config(self) -> RewardConfig:
        return self.reward.model_copy(update={"budget": BudgetLimits.from_budget(self.budget)})


#: ``dxsearch train --preset NAME`` for the learned policy; ``policy-smoke`` is seconds, for tests.
POLICY_PRESETS: dict[str, PolicyTrainConfig] = {
    "cpu-policy": PolicyTrainConfig(preset="cpu-policy"),
    "policy-smoke": PolicyTrainConfig(
        preset="policy-smoke",
        data=DataConfig(train_cases=6, validation_cases=3, max_findings=60),
        bc=BcConfig(epochs=30),
        grpo=PolicyGrpoConfig(steps=3, cases_per_step=2, group_size=4, save_steps=1),
    ),
}
