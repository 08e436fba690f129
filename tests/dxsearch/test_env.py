"""DiagnosticEnv over a real embedded index: kinds per action, budgets, dedup, truncation, records."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import marfan_case, marfan_findings

from dxsearch.corpus import DocumentKind
from dxsearch.env import TRUNCATION_MARK, DiagnosticEnv, approximate_tokens
from dxsearch.episode import Budget, StopReason
from dxsearch.protocol import Diagnose, ParseErrorKind
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

CASE = marfan_case("test-case", findings=marfan_findings(("HP:0001166", "HP:0001083")))


@pytest.fixture(scope="module")
def index(small_index: Path, test_settings: Settings) -> EmbeddedIndex:
    return EmbeddedIndex(small_index, test_settings)


def test_each_action_reaches_its_kinds_and_records_rank_and_score(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("hybrid"))
    env.reset(CASE)
    match = env.step("<match>Arachnodactyly; Ectopia lentis</match>")
    assert match.observation is not None and match.observation.passages
    assert {env.seen(p.evidence_id).kind for p in match.observation.passages} == {  # type: ignore[union-attr]
        DocumentKind.PATIENT_RECORD
    }
    lookup = env.step("<lookup>Marfan syndrome</lookup>")
    assert lookup.observation is not None
    assert lookup.observation.passages[0].evidence_id == "omim:154700#0"
    assert lookup.observation.passages[0].codes == ("OMIM:154700",)  # diagnosis codes only, no HP terms
    kinds = {env.seen(p.evidence_id).kind for p in lookup.observation.passages}  # type: ignore[union-attr]
    assert kinds <= {DocumentKind.DISEASE_KNOWLEDGE, DocumentKind.GUIDELINE}
    records = env.records
    assert next(r.rank for r in records if r.turn == 1) == 1
    assert [r.rank for r in records if r.turn == 0] == list(range(1, len(match.observation.passages) + 1))
    assert all(r.score == env.seen(r.evidence_id).score for r in records)  # type: ignore[union-attr]
    assert env.retrievals_used == 2 and env.turns_used == 2 and not env.done


def test_already_seen_passages_are_withheld_and_counted(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("hybrid"))
    env.reset(CASE)
    first = env.step("<search>Marfan syndrome arachnodactyly</search>")
    second = env.step("<search>Marfan syndrome arachnodactyly</search>")
    assert first.observation is not None and second.observation is not None
    shown_first = {p.evidence_id for p in first.observation.passages}
    assert shown_first and not shown_first & {p.evidence_id for p in second.observation.passages}
    assert second.observation.note is not None
    assert "already run" in second.observation.note and "already shown" in second.observation.note
    duplicates = [r for r in env.records if r.duplicate]
    assert {r.evidence_id for r in duplicates} == shown_first


def test_observations_are_truncated_to_the_token_budget(index: EmbeddedIndex) -> None:
    budget = Budget(observation_tokens=24, passages_per_retrieval=3)
    env = DiagnosticEnv(index.retriever("lexical"), budget)
    env.reset(CASE)
    step = env.step("<lookup>Marfan syndrome arachnodactyly ectopia lentis</lookup>")
    assert step.observation is not None
    texts = [p.text for p in step.observation.passages]
    assert any(t.endswith(TRUNCATION_MARK) for t in texts)
    assert sum(approximate_tokens(t) for t in texts) <= 24 + 8 * len(texts)


def test_retrieval_budget_then_turn_budget_stop_a_searching_policy(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"), Budget(max_turns=4, max_retrievals=2))
    env.reset(CASE)
    outcomes = [env.step(f"<search>query {i}</search>") for i in range(4)]
    assert outcomes[2].observation is not None and "budget" in (outcomes[2].observation.note or "")
    assert env.retrievals_used == 2
    assert outcomes[-1].done and env.stop_reason is StopReason.TURN_BUDGET
    with pytest.raises(RuntimeError):
        env.step("<reason>one more</reason>")


def test_garbage_ends_after_consecutive_parse_errors_with_a_clear_reason(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"), Budget(max_parse_errors=3))
    env.reset(CASE)
    steps = [env.step(text) for text in ("blah", "<reason>ok</reason>", "<x>", "zz", "<search>")]
    assert steps[0].error is not None and steps[0].error.kind is ParseErrorKind.NO_TAG
    assert steps[0].observation is not None and "malformed" in (steps[0].observation.note or "")
    assert not steps[3].done  # the valid turn reset the count
    assert steps[4].done and env.stop_reason is StopReason.PARSE_ERRORS


def test_diagnose_ends_the_episode_and_keeps_the_answer(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"))
    env.reset(CASE)
    step = env.step("<diagnose>\n1. Marfan syndrome | OMIM:154700 | omim:154700#0\n</diagnose>")
    assert step.done and env.stop_reason is StopReason.DIAGNOSED
    assert isinstance(env.final, Diagnose) and env.final.candidates[0].code == "OMIM:154700"
    env.reset(CASE)
    env.step("<diagnose>insufficient evidence</diagnose>")
    assert env.stop_reason is StopReason.INSUFFICIENT_EVIDENCE


def test_excluded_documents_are_never_shown(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("hybrid"))
    env.reset(CASE, exclude_doc_ids={"pt:aaaa1111"})
    step = env.step("<match>Arachnodactyly; Lens dislocation; Tall stature</match>")
    assert step.observation is not None
    assert all(not p.evidence_id.startswith("pt:aaaa1111") for p in step.observation.passages)
