"""The retrieval environment: the one place where a policy's turns touch the corpus.

Local inference, local training and the verl tool all drive a policy through
``DiagnosticEnv``, so budgets, de-duplication, truncation and the record of
what was retrieved (id, score, rank) are the same in every setting — which is
what lets rewards and the audit trail trust that record.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from dxsearch.cases import Case
from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.episode import Budget, RetrievalRecord, StopReason
from dxsearch.protocol import (
    Action,
    Diagnose,
    Passage,
    ProtocolError,
    Reason,
    Result,
    Retrieve,
    Turn,
    parse_turn,
)
from dxsearch.retrieval.base import Retriever, SearchFilters
from dxsearch.retrieval.fusion import best_per_document

#: Which document kinds each retrieval action reaches.
ACTION_KINDS: dict[Action, tuple[DocumentKind, ...] | None] = {
    Action.LOOKUP: (DocumentKind.DISEASE_KNOWLEDGE, DocumentKind.GUIDELINE),
    Action.MATCH: (DocumentKind.PATIENT_RECORD,),
    Action.SEARCH: None,
}
TRUNCATION_MARK = " …[truncated]"


def approximate_tokens(text: str) -> int:
    """Model-agnostic token estimate (~4 characters per token of English); budgets need no tokenizer."""
    return (len(text) + 3) // 4


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one turn did: the parsed turn or its error, the observation, and whether the episode ended."""

    turn_index: int
    turn: Turn | None
    error: ProtocolError | None
    observation: Result | None
    done: bool
    stop_reason: StopReason | None


@dataclass
class _Episode:
    case: Case
    filters: SearchFilters | None
    turns: int = 0
    retrievals: int = 0
    consecutive_errors: int = 0
    queries: set[tuple[Action, str]] = field(default_factory=set)
    seen: dict[str, Evidence] = field(default_factory=dict)
    records: list[RetrievalRecord] = field(default_factory=list)
    final: Diagnose | None = None
    stop_reason: StopReason | None = None


class DiagnosticEnv:
    """Answers one policy's turns for one case at a time (``reset`` starts the next)."""

    def __init__(
        self,
        retriever: Retriever,
        budget: Budget | None = None,
        *,
        count_tokens: Callable[[str], int] = approximate_tokens,
        candidates_per_retrieval: int = 40,
    ) -> None:
        self.retriever = retriever
        self.budget = budget or Budget()
        self._count_tokens = count_tokens
        self._candidates = max(candidates_per_retrieval, self.budget.passages_per_retrieval)
        self._episode: _Episode | None = None

    # -- episode state ---------------------------------------------------------------------

    def reset(self, case: Case, *, exclude_doc_ids: Collection[str] = ()) -> None:
        """Start an episode. ``exclude_doc_ids`` hides documents (e.g. the case's own record in training)."""
        filters = SearchFilters(exclude_doc_ids=frozenset(exclude_doc_ids)) if exclude_doc_ids else None
        self._episode = _Episode(case=case, filters=filters)

    @property
    def episode(self) -> _Episode:
        if self._episode is None:
            raise RuntimeError("call reset(case) before step()")
        return self._episode

    @property
    def done(self) -> bool:
        return self.episode.stop_reason is not None

    @property
    def stop_reason(self) -> StopReason | None:
        return self.episode.stop_reason

    @property
    def final(self) -> Diagnose | None:
        return self.episode.final

    @property
    def records(self) -> list[RetrievalRecord]:
        """Every retrieved passage of the episode, in order, with score and rank."""
        return list(self.episode.records)

    @property
    def turns_used(self) -> int:
        return self.episode.turns

    @property
    def retrievals_used(self) -> int:
        return self.episode.retrievals

    def seen(self, evidence_id: str) -> Evidence | None:
        """A passage this episode showed the policy (full text), or ``None`` if it never did."""
        return self.episode.seen.get(evidence_id)

    def stop(self, reason: StopReason) -> None:
        """End the episode from outside (the rollout loop does this when the policy fails)."""
        if self.episode.stop_reason is None:
            self.episode.stop_reason = reason

    # -- turns -------------------------------------------------------------------------------

    def step(self, turn_text: str) -> StepResult:
        """Judge one turn: parse it, run its retrieval within budget, and say whether the episode ended."""
        episode = self.episode
        if episode.stop_reason is not None:
            raise RuntimeError(f"episode already ended ({episode.stop_reason.value}); call reset()")
        index = episode.turns
        episode.turns += 1
        try:
            turn = parse_turn(turn_text)
        except ProtocolError as error:
            episode.consecutive_errors += 1
            if episode.consecutive_errors >= self.budget.max_parse_errors:
                episode.stop_reason = StopReason.PARSE_ERRORS
            else:
                self._stop_if_out_of_turns()
            note = f"malformed turn ({error.kind.value}): {error.message}. Reply with exactly one tagged action."
            return StepResult(index, None, error, Result(note=note), self.done, episode.stop_reason)
        episode.consecutive_errors = 0
        observation: Result | None = None
        if isinstance(turn, Diagnose):
            episode.final = turn
            episode.stop_reason = StopReason.INSUFFICIENT_EVIDENCE if turn.insufficient else StopReason.DIAGNOSED
        elif isinstance(turn, Retrieve):
            observation = self._retrieve(index, turn)
            self._stop_if_out_of_turns()
        else:
            assert isinstance(turn, Reason)
            self._stop_if_out_of_turns()
        return StepResult(index, turn, None, observation, self.done, episode.stop_reason)

    def _stop_if_out_of_turns(self) -> None:
        if self.episode.turns >= self.budget.max_turns and self.episode.stop_reason is None:
            self.episode.stop_reason = StopReason.TURN_BUDGET

    def _retrieve(self, turn_index: int, turn: Retrieve) -> Result:
        episode = self.episode
        if episode.retrievals >= self.budget.max_retrievals:
            return Result(note=f"retrieval budget of {self.budget.max_retrievals} used up: diagnose now")
        episode.retrievals += 1
        query = turn.query[: self.budget.max_query_chars]
        key = (turn.action, " ".join(query.casefold().split()))
        repeated = key in episode.queries
        episode.queries.add(key)
        found = best_per_document(
            self.retriever.search(query, ACTION_KINDS[turn.action], self._candidates, episode.filters)
        )
        fresh: list[Evidence] = []
        duplicates = 0
        for rank, evidence in enumerate(found, start=1):
            is_duplicate = evidence.evidence_id in episode.seen
            if is_duplicate:
                duplicates += 1
            elif len(fresh) >= self.budget.passages_per_retrieval:
                break
            else:
                fresh.append(evidence)
                episode.seen[evidence.evidence_id] = evidence
            episode.records.append(
                RetrievalRecord(
                    turn=turn_index,
                    action=turn.action,
                    evidence_id=evidence.evidence_id,
                    doc_id=evidence.doc_id,
                    kind=evidence.kind,
                    title=evidence.title,
                    score=evidence.score,
                    rank=rank,
                    retriever=evidence.retriever,
                    codes=evidence.codes,
                    duplicate=is_duplicate,
                )
            )
        notes = []
        if repeated:
            notes.append("this query was already run")
        if duplicates:
            notes.append(f"{duplicates} passage(s) already shown were left out")
        if not fresh:
            notes.append("no new passages")
        return Result(self._fit(fresh), "; ".join(notes) or None)

    def _fit(self, evidence: list[Evidence]) -> tuple[Passage, ...]:
        """Passages truncated to share the observation token budget (line boundaries where possible)."""
        if not evidence:
            return ()
        budget = self.budget.observation_tokens
        passages: list[Passage] = []
        for position, item in enumerate(evidence):
            share = budget // (len(evidence) - position)
            text = _truncate(item.text, share, self._count_tokens)
            budget -= self._count_tokens(text) + self._count_tokens(item.title) + 16
            passages.append(Passage(item.evidence_id, item.title, text, item.score, item.codes))
            budget = max(budget, 0)
        return tuple(passages)


def _truncate(text: str, tokens: int, count: Callable[[str], int]) -> str:
    if count(text) <= tokens:
        return text
    kept: list[str] = []
    used = count(TRUNCATION_MARK)
    for line in text.splitlines():
        cost = count(line + "\n")
        if used + cost > tokens:
            break
        kept.append(line)
        used += cost
    if not kept:
        # one very long first line: cut by characters, proportionally
        ratio = max(tokens - count(TRUNCATION_MARK), 1) / max(count(text), 1)
        kept = [text[: max(int(len(text) * ratio), 1)]]
    return "\n".join(kept) + TRUNCATION_MARK
