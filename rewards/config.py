"""How the reward components are weighted and judged: one validated, frozen config.

The same config object is used by verl (via ``custom_reward_function.reward_kwargs``),
the local GRPO trainer and evaluation, so a reported reward always says which
weights, rank schedule and budget produced it.
"""

from __future__ import annotations

import itertools
import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dxsearch.episode import Budget

_ENV_BUDGET = Budget()


class BudgetLimits(BaseModel):
    """The episode limits the format reward checks; defaults mirror :class:`dxsearch.env.Budget`."""

    model_config = ConfigDict(frozen=True)

    max_turns: int = Field(default=_ENV_BUDGET.max_turns, ge=1)
    max_retrievals: int = Field(default=_ENV_BUDGET.max_retrievals, ge=0)

    @classmethod
    def from_budget(cls, budget: Budget) -> BudgetLimits:
        """The limits of an environment's budget, so training judges what the env enforced."""
        return cls(max_turns=budget.max_turns, max_retrievals=budget.max_retrievals)


class RewardWeights(BaseModel):
    """Relative weights of the components in :func:`rewards.scoring.combine` (normalised by their sum)."""

    model_config = ConfigDict(frozen=True)

    format: float = Field(default=0.2, ge=0.0)
    retrieval: float = Field(default=0.2, ge=0.0)
    structure: float = Field(default=0.1, ge=0.0)
    accuracy: float = Field(default=0.5, ge=0.0)
    frugality: float = Field(default=0.0, ge=0.0, description="0 disables the frugality term.")

    @model_validator(mode="after")
    def _positive_total(self) -> RewardWeights:
        values = (self.format, self.retrieval, self.structure, self.accuracy, self.frugality)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("reward weights must be finite")
        if sum(values) <= 0.0:
            raise ValueError("at least one reward weight must be positive")
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "format": self.format,
            "retrieval": self.retrieval,
            "structure": self.structure,
            "accuracy": self.accuracy,
            "frugality": self.frugality,
        }


def reciprocal_schedule(length: int = 5) -> tuple[float, ...]:
    """1, 1/2, 1/3, ...: the accuracy credit of the gold diagnosis at each rank (MRR-style)."""
    return tuple(1.0 / rank for rank in range(1, length + 1))


class RewardConfig(BaseModel):
    """Weights, rank schedule, budget and penalties of the reward; defaults are the training defaults."""

    model_config = ConfigDict(frozen=True)

    weights: RewardWeights = Field(default_factory=RewardWeights)
    rank_schedule: tuple[float, ...] = Field(
        default_factory=reciprocal_schedule,
        description="Accuracy credit for the gold at rank 1, 2, ...; ranks past the end score 0.",
    )
    budget: BudgetLimits = Field(default_factory=BudgetLimits)
    duplicate_query_penalty: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Retrieval reward lost per repeated identical query."
    )
    duplicate_passage_penalty: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Retrieval reward lost per passage retrieved again."
    )
    frugality_requires_correct: bool = Field(
        default=True,
        description="Scale the frugality term by accuracy, so skipping retrieval only pays when the answer is right.",
    )
    format_gate: bool = Field(
        default=False, description="Multiply the combined reward by the format reward (malformed output earns less)."
    )
    min_title_chars: int = Field(
        default=4, ge=1, description="Shorter normalised passage titles are too generic to count as a citation."
    )

    @field_validator("rank_schedule")
    @classmethod
    def _schedule_is_decreasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("rank_schedule needs at least one value")
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in value):
            raise ValueError("rank_schedule values must be in [0, 1]")
        if any(later > earlier for earlier, later in itertools.pairwise(value)):
            raise ValueError("rank_schedule must not increase with rank (top-1 must pay at least top-5)")
        return value
