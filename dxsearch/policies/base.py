"""What every policy is: given the case and the exchanges so far, produce the next turn's text.

A policy returns raw text, not a parsed turn, because that is what a language
model produces and what the environment, the rewards and the audit trail must
judge; the evidence baseline renders its turns through :mod:`dxsearch.protocol`
so it is held to the same grammar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from dxsearch.cases import Case
from dxsearch.episode import Exchange


class PolicyError(RuntimeError):
    """The policy could not produce a turn (a rejected or malformed completion); the rollout stops with this
    reason, and the trace keeps it."""


class PolicyUnavailableError(PolicyError):
    """The policy's model server cannot answer (down, unreachable, timing out, after the retries).

    Not a decision: like a search backend that is down, it ends the whole run, so the API answers 503
    and audits nothing, and a command line exits 2, instead of recording a diagnosis nobody could make.
    """


@runtime_checkable
class Policy(Protocol):
    """Produces turns; ``name`` and ``version`` go into every trace and audit record."""

    name: str
    version: str

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        """The raw text of the next turn (one tagged action)."""
        ...
