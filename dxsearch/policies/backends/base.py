"""What every text backend shares: the protocol, a completion with how it ended, the stop-string cut.

Nothing here imports torch or an HTTP client, so the policy and either backend can depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "eos", "length"]
Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Completion:
    """One completion with how it ended; ``text`` includes the stop string when one ended it.

    ``finish_reason`` is ``stop`` (a stop string), ``eos`` (the model's end token) or
    ``length`` (``max_new_tokens`` reached): traces and trainers need to tell them apart.
    """

    text: str
    finish_reason: FinishReason
    stop: str | None = None
    completion_tokens: int | None = None


@runtime_checkable
class TextBackend(Protocol):
    """Chat completion that stops at (and keeps) the first stop string; ``model_id``/``version`` go into traces."""

    model_id: str
    version: str

    def complete(self, messages: Messages, stop: Sequence[str], max_new_tokens: int) -> str:
        """The completion text up to and including the first stop string, nothing after it."""
        ...


def cut_at_first_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """``text`` up to and including the earliest stop string, and that string (``None`` if none occurs)."""
    best: tuple[int, int, str] | None = None
    for candidate in stop:
        if not candidate:
            continue
        index = text.find(candidate)
        if index >= 0:
            key = (index, -len(candidate), candidate)
            if best is None or key < best:
                best = key
    if best is None:
        return text, None
    index, _, found = best
    return text[: index + len(found)], found


def sampling_suffix(temperature: float, top_p: float, seed: int | None) -> str:
    """Empty for greedy decoding (the checkpoint alone decides the output), else the sampling settings."""
    if temperature == 0.0:
        return ""
    return f"+T{temperature:g}p{top_p:g}s{seed if seed is not None else 'none'}"


def check_sampling(temperature: float, top_p: float) -> None:
    """Refuse sampling settings no backend can honour."""
    if not temperature >= 0.0:
        raise ValueError("temperature must be >= 0 (0 is greedy)")
    if not 0.0 < top_p <= 1.0:
        raise ValueError("top_p must be in (0, 1]")
