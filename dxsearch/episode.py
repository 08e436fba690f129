"""The vocabulary of one episode: its budget, why it stopped, what it retrieved, and its exchanges.

These types are shared by the environment that produces them, the policies that read them, the
rollout loop, the rewards that judge an episode and the audit trail that records it. They live
below all of those (beside the protocol) so that ``rewards`` can speak of an episode without
importing the environment, the policies or the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.corpus import DocumentKind
from dxsearch.protocol import Action, Result


class Budget(BaseModel):
    """Limits of one episode; a policy that ignores them is stopped, not trusted."""

    model_config = ConfigDict(frozen=True)

    max_turns: int = Field(default=12, ge=1, le=200)
    max_retrievals: int = Field(default=8, ge=0, le=100)
    passages_per_retrieval: int = Field(default=8, ge=1, le=50)
    observation_tokens: int = Field(default=2048, ge=16, description="Token budget of one <result>.")
    max_parse_errors: int = Field(default=3, ge=1, description="Consecutive malformed turns before stopping.")
    max_query_chars: int = Field(default=2000, ge=16)


class StopReason(StrEnum):
    """Why an episode ended; every trace carries one."""

    DIAGNOSED = "diagnosed"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    TURN_BUDGET = "turn_budget"
    PARSE_ERRORS = "parse_errors"
    POLICY_ERROR = "policy_error"


class RetrievalRecord(BaseModel):
    """One passage a retrieval turn found: shown to the policy, or withheld as already seen."""

    model_config = ConfigDict(frozen=True)

    turn: int = Field(ge=0)
    action: Action
    evidence_id: str
    doc_id: str
    kind: DocumentKind
    title: str
    score: float
    rank: int = Field(ge=1)
    retriever: str
    codes: tuple[str, ...] = ()
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Exchange:
    """One policy turn and the environment's answer to it (``None`` when there is none, e.g. after reasoning)."""

    turn: str
    observation: Result | None
