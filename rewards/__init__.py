"""Reward functions for training the diagnostic agent: format, retrieval, structure, accuracy, frugality.

Pure functions of (trajectory, gold answer, retrieved evidence) — no index, no
model — so verl's ``compute_score`` (:mod:`rewards.verl_entry`), the local GRPO
trainer and evaluation all score a trajectory the same way. A trajectory is the
concatenated transcript text or the environment's ``(turn, observation)`` pairs
(:mod:`rewards.transcript`); each component returns a value in [0, 1] and a
breakdown (:mod:`rewards.scoring`, which documents exactly what each measures);
:func:`combine` weights them with a :class:`RewardConfig`.
"""

from rewards.config import BudgetLimits, RewardConfig, RewardWeights
from rewards.evidence import RetrievedEvidence, evidence_from_records, evidence_from_transcript
from rewards.gold import Gold
from rewards.scoring import (
    RewardResult,
    accuracy_reward,
    combine,
    format_reward,
    frugality_reward,
    retrieval_reward,
    structure_reward,
)
from rewards.transcript import Transcript, as_transcript, split_transcript, transcript_from_turns

__all__ = [
    "BudgetLimits",
    "Gold",
    "RetrievedEvidence",
    "RewardConfig",
    "RewardResult",
    "RewardWeights",
    "Transcript",
    "accuracy_reward",
    "as_transcript",
    "combine",
    "evidence_from_records",
    "evidence_from_transcript",
    "format_reward",
    "frugality_reward",
    "retrieval_reward",
    "split_transcript",
    "structure_reward",
    "transcript_from_turns",
]
