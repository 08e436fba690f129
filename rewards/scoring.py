"""The reward components and their combination: pure, fast, bounded in [0, 1], never raising.

Every component has the signature ``(trajectory, gold, retrieved=None, config=None)``
and returns a :class:`RewardResult` (value in [0, 1] plus a breakdown). The
trajectory is text, ``(turn_text, observation)`` pairs or a parsed
:class:`~rewards.transcript.Transcript`; ``retrieved`` is the environment's record
of what was retrieved (:func:`rewards.evidence.evidence_from_records`) or ``None``
to read it from the ``<passage>`` elements of the transcript.

What each component measures, precisely:

* **format** = ``well_formed × (final_diagnosis + no_outside_text + budget) / 3`` where
  ``well_formed`` is the share of turns that parse; ``final_diagnosis`` is 1 iff
  exactly one turn attempts ``<diagnose>`` (a malformed attempt counts), it parsed,
  and it is the last segment; ``no_outside_text`` is 1 iff there is no text outside
  a tag (tagless turns, text around a tag, trailing text) and no stray or unreadable
  ``<result>``; ``budget`` is 1 iff turns <= ``max_turns`` and retrieval attempts
  (malformed ones included) <= ``max_retrievals``. No turn at all scores 0.
* **retrieval** = ``max(0, 1/r - q·repeated_queries - p·duplicate_passages)`` where
  ``r`` is the position, among non-duplicate passages in retrieval order, of the
  first passage whose codes include the gold id or an equivalent code (disease
  knowledge or a patient record with that diagnosis); no hit gives 0. A repeated
  query is a retrieval turn with the same action and case/space-folded query as an
  earlier one (the environment's own key); a duplicate passage is one retrieved
  again after it was seen.
* **structure** = mean of the applicable parts of:
  ``reasoning_grounded`` (share of ``<reason>`` turns after the first retrieval
  that mention a retrieved evidence id or a retrieved passage title; 0 if passages
  were retrieved but no reasoning followed; not applicable if nothing was
  retrieved), ``citations_supported`` (mean over final candidates of the share of
  their cited evidence ids that were actually retrieved; a candidate citing nothing
  scores 0) and ``narrowing`` (share of final candidates drawn from the retrieved
  evidence: their code is among the retrieved passages' codes or their name is a
  retrieved title — a differential selected from, hence no larger than, what was
  found, rather than padded with unretrieved guesses). Both diagnosis parts score 0
  without a final diagnosis and are not applicable to "insufficient evidence".
  Nothing applicable scores 0.
* **accuracy** = ``rank_schedule[k-1]`` for the first final candidate ``k`` that matches
  the gold by id, equivalent code, or normalised name/synonym; 0 if absent, past
  the schedule, with no final diagnosis, or for "insufficient evidence" (the
  dataset's cases all have a gold diagnosis, so declining is never right here).

The "final diagnosis" (accuracy, structure) is the first well-formed ``<diagnose>``
within the turn budget: the environment ends the episode there, so anything later
was never an answer.
* **frugality** = ``1 - min(retrievals, max_retrievals) / max_retrievals`` over
  well-formed retrieval turns (1 if the budget is 0 and none were made). In
  :func:`combine` it is scaled by accuracy when ``frugality_requires_correct``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dxsearch.corpus import normalise_name
from dxsearch.protocol import Action, Diagnose, Reason, Retrieve
from rewards.config import RewardConfig
from rewards.evidence import RetrievedEvidence, evidence_from_transcript
from rewards.gold import Gold, normalise_code
from rewards.transcript import (
    OUTSIDE_TEXT_ERRORS,
    Trajectory,
    Transcript,
    TurnSegment,
    as_transcript,
    query_key,
    retrieval_attempts,
)

DEFAULT_CONFIG = RewardConfig()
COMPONENTS = ("format", "retrieval", "structure", "accuracy", "frugality")

# Tokens an evidence id can be written as inside free text (ids hold ':', '#', '/', '.', '-', '_').
_ID_TOKEN = re.compile(r"[^\s,;()\[\]{}<>\"'|`*]+")


@dataclass(frozen=True, slots=True)
class RewardResult:
    """A reward value in [0, 1] and the measurements it was computed from."""

    value: float
    breakdown: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ValueError(f"reward {self.value!r} is outside [0, 1]")


class RewardFunction(Protocol):
    """The shape every component shares, so trainers can treat them uniformly."""

    def __call__(
        self,
        trajectory: Trajectory,
        gold: Gold,
        retrieved: Sequence[RetrievedEvidence] | None = None,
        config: RewardConfig | None = None,
    ) -> RewardResult: ...


def _unit(value: float) -> float:
    """Clamp to [0, 1]; float rounding in weighted sums must not push a reward out of range."""
    if not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, value))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _evidence(transcript: Transcript, retrieved: Sequence[RetrievedEvidence] | None) -> tuple[RetrievedEvidence, ...]:
    return tuple(retrieved) if retrieved is not None else evidence_from_transcript(transcript)


# -- format -------------------------------------------------------------------------------------


def format_reward(
    trajectory: Trajectory,
    gold: Gold | None = None,
    retrieved: Sequence[RetrievedEvidence] | None = None,
    config: RewardConfig | None = None,
) -> RewardResult:
    """Did the policy follow the grammar: well-formed turns, one final diagnosis, nothing outside tags, in budget."""
    del gold, retrieved  # format is judged on the text alone
    transcript = as_transcript(trajectory)
    cfg = config or DEFAULT_CONFIG
    turns = transcript.turns
    valid = sum(1 for t in turns if t.ok)
    well_formed = valid / len(turns) if turns else 0.0
    attempts = [t for t in turns if Action.DIAGNOSE in t.attempted]
    last = transcript.segments[-1] if transcript.segments else None
    final_ok = (
        len(attempts) == 1
        and isinstance(last, TurnSegment)
        and last.index == attempts[0].index
        and isinstance(last.turn, Diagnose)
    )
    outside_turns = sum(1 for t in turns if t.error is not None and t.error.kind in OUTSIDE_TEXT_ERRORS)
    clean = not transcript.outside and not transcript.stray_observations and outside_turns == 0
    retrievals = retrieval_attempts(transcript)
    in_budget = len(turns) <= cfg.budget.max_turns and retrievals <= cfg.budget.max_retrievals
    value = well_formed * (float(final_ok) + float(clean) + float(in_budget)) / 3.0
    return RewardResult(
        _unit(value),
        {
            "well_formed": well_formed,
            "final_diagnosis": float(final_ok),
            "no_outside_text": float(clean),
            "budget": float(in_budget),
            "turns": float(len(turns)),
            "malformed_turns": float(len(turns) - valid),
            "retrieval_attempts": float(retrievals),
            "stray_observations": float(len(transcript.stray_observations)),
        },
    )


# -- retrieval ----------------------------------------------------------------------------------


def repeated_queries(transcript: Transcript) -> int:
    """Retrieval turns that repeat an earlier (action, folded query) — wasted budget."""
    seen: set[tuple[Action, str]] = set()
    repeated = 0
    for turn in transcript.retrievals:
        key = query_key(turn)
        repeated += key in seen
        seen.add(key)
    return repeated


def retrieval_reward(
    trajectory: Trajectory,
    gold: Gold,
    retrieved: Sequence[RetrievedEvidence] | None = None,
    config: RewardConfig | None = None,
) -> RewardResult:
    """Reciprocal rank of the first retrieved passage about the gold disease, minus duplicate penalties."""
    transcript = as_transcript(trajectory)
    cfg = config or DEFAULT_CONFIG
    evidence = _evidence(transcript, retrieved)
    position = 0
    first_hit = 0
    for item in sorted(evidence, key=lambda e: e.rank):
        if item.duplicate:
            continue
        position += 1
        if gold.matches_any_code(item.codes):
            first_hit = position
            break
    duplicates = sum(1 for e in evidence if e.duplicate)
    repeats = repeated_queries(transcript)
    reciprocal = 1.0 / first_hit if first_hit else 0.0
    penalty = cfg.duplicate_query_penalty * repeats + cfg.duplicate_passage_penalty * duplicates
    return RewardResult(
        _unit(reciprocal - penalty),
        {
            "hit": float(first_hit > 0),
            "first_hit_rank": float(first_hit),
            "reciprocal_rank": reciprocal,
            "repeated_queries": float(repeats),
            "duplicate_passages": float(duplicates),
            "penalty": penalty,
        },
    )


# -- structure ----------------------------------------------------------------------------------


def _cites(text: str, ids: frozenset[str], titles: frozenset[str]) -> bool:
    """Does free text mention one of ``ids`` (as a token) or one of ``titles`` (as whole words, normalised)?"""
    tokens = {token.rstrip(".:-") for token in _ID_TOKEN.findall(text)}
    if tokens & ids:
        return True
    folded = f" {normalise_name(text)} "
    return any(f" {title} " in folded for title in titles)


def structure_reward(
    trajectory: Trajectory,
    gold: Gold | None = None,
    retrieved: Sequence[RetrievedEvidence] | None = None,
    config: RewardConfig | None = None,
) -> RewardResult:
    """Is the reasoning built on the evidence: grounded reasoning, supported citations, a narrowed differential."""
    del gold  # structure is about evidence use, not correctness
    transcript = as_transcript(trajectory)
    cfg = config or DEFAULT_CONFIG
    evidence = _evidence(transcript, retrieved)
    ids = frozenset(e.evidence_id for e in evidence)
    all_titles = frozenset(t for t in (normalise_name(e.title) for e in evidence) if t)
    titles = frozenset(t for t in all_titles if len(t) >= cfg.min_title_chars)
    codes = frozenset(normalise_code(c) for e in evidence for c in e.codes)
    parts: dict[str, float | None] = {"reasoning_grounded": None, "citations_supported": None, "narrowing": None}

    if ids:
        retrieval_turns = [t.index for t in transcript.turns if isinstance(t.turn, Retrieve)]
        after = retrieval_turns[0] if retrieval_turns else -1
        reasoning = [t.turn for t in transcript.turns if isinstance(t.turn, Reason) and t.index > after]
        grounded = [float(_cites(r.text, ids, titles)) for r in reasoning if isinstance(r, Reason)]
        parts["reasoning_grounded"] = _mean(grounded)

    final = transcript.answer(cfg.budget.max_turns)
    if final is None:
        parts["citations_supported"] = 0.0
        parts["narrowing"] = 0.0
    elif not final.insufficient:
        supported = [len(set(c.evidence) & ids) / len(c.evidence) if c.evidence else 0.0 for c in final.candidates]
        parts["citations_supported"] = _mean(supported)
        drawn: list[float] = []
        for candidate in final.candidates:
            from_code = candidate.code is not None and normalise_code(candidate.code) in codes
            name = normalise_name(candidate.name)
            from_title = len(name) >= cfg.min_title_chars and any(f" {name} " in f" {t} " for t in all_titles)
            drawn.append(float(from_code or from_title))
        parts["narrowing"] = _mean(drawn)

    applicable = [v for v in parts.values() if v is not None]
    breakdown: dict[str, float] = {}
    for name, part in parts.items():
        breakdown[name] = part if part is not None else 0.0
        breakdown[f"{name}_applicable"] = float(part is not None)
    return RewardResult(_unit(_mean(applicable)), breakdown)


# -- accuracy -----------------------------------------------------------------------------------


def gold_rank(final: Diagnose | None, gold: Gold) -> int | None:
    """1-based rank of the first candidate matching the gold (id, equivalent code, name or synonym)."""
    if final is None:
        return None
    for rank, candidate in enumerate(final.candidates, start=1):
        if gold.matches(candidate.code, candidate.name):
            return rank
    return None


def accuracy_reward(
    trajectory: Trajectory,
    gold: Gold,
    retrieved: Sequence[RetrievedEvidence] | None = None,
    config: RewardConfig | None = None,
) -> RewardResult:
    """The gold's place in the final differential, paid by the rank schedule (top-1 > top-5)."""
    del retrieved  # correctness does not depend on how the answer was found
    transcript = as_transcript(trajectory)
    cfg = config or DEFAULT_CONFIG
    final = transcript.answer(cfg.budget.max_turns)
    rank = gold_rank(final, gold)
    value = cfg.rank_schedule[rank - 1] if rank is not None and rank <= len(cfg.rank_schedule) else 0.0
    return RewardResult(
        _unit(value),
        {
            "diagnosed": float(final is not None and not final.insufficient),
            "insufficient": float(final is not None and final.insufficient),
            "gold_rank": float(rank or 0),
            "candidates": float(len(final.candidates) if final else 0),
        },
    )


# -- frugality ----------------------------------------------------------------------------------


def frugality_reward(
    trajectory: Trajectory,
    gold: Gold | None = None,
    retrieved: Sequence[RetrievedEvidence] | None = None,
    config: RewardConfig | None = None,
) -> RewardResult:
    """Fewer retrievals -> higher, so the policy can learn when not to search."""
    del gold, retrieved
    transcript = as_transcript(trajectory)
    cfg = config or DEFAULT_CONFIG
    used = len(transcript.retrievals)
    limit = cfg.budget.max_retrievals
    value = 1.0 - min(used, limit) / limit if limit > 0 else float(used == 0)
    return RewardResult(_unit(value), {"retrievals": float(used)})


# -- combination --------------------------------------------------------------------------------


def combine(
    trajectory: Trajectory,
    gold: Gold,
    retrieved: Sequence[RetrievedEvidence] | None = None,
    config: RewardConfig | None = None,
) -> RewardResult:
    """The weighted mean of the components (weights from ``config``), with every measurement in the breakdown.

    Breakdown keys: ``total``; each component's value under its name; the frugality
    term actually weighted (``frugality_term``); and each component's own breakdown
    under ``"<component>/<key>"``. The key set is the same for every input.
    """
    transcript = as_transcript(trajectory)
    cfg = config or DEFAULT_CONFIG
    evidence = _evidence(transcript, retrieved)
    parts = {
        "format": format_reward(transcript, gold, evidence, cfg),
        "retrieval": retrieval_reward(transcript, gold, evidence, cfg),
        "structure": structure_reward(transcript, gold, evidence, cfg),
        "accuracy": accuracy_reward(transcript, gold, evidence, cfg),
        "frugality": frugality_reward(transcript, gold, evidence, cfg),
    }
    values = {name: part.value for name, part in parts.items()}
    frugality_term = values["frugality"] * (values["accuracy"] if cfg.frugality_requires_correct else 1.0)
    weighted = {**values, "frugality": frugality_term}
    weights = cfg.weights.as_dict()
    total = sum(weights[name] * weighted[name] for name in COMPONENTS) / sum(weights.values())
    if cfg.format_gate:
        total *= values["format"]
    total = _unit(total)
    breakdown: dict[str, float] = {"total": total, **values, "frugality_term": frugality_term}
    for name, part in parts.items():
        breakdown.update({f"{name}/{key}": value for key, value in part.breakdown.items()})
    return RewardResult(total, breakdown)
