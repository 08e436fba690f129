"""The rollout loop and its trace, with the evidence baseline and scripted policies on a real index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from support import marfan_case, marfan_findings

from dxsearch.agent import Trace, diagnose
from dxsearch.cases import Case
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget, Exchange, StopReason
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.next_steps import NextStepsPlanner
from dxsearch.policies.base import PolicyError
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

MARFAN_LIKE = marfan_case(
    "MRN-0042-secret",
    findings=marfan_findings(
        ("HP:0001166", "HP:0001083", "HP:0002616", "HP:0000098"), excluded={"HP:0001250": "Seizure"}
    ),
    text="Jane Roe, born 1990-02-03, seen in clinic.",
)


class ScriptedPolicy:
    """Replays fixed turns: a policy whose every output the test controls."""

    name = "scripted"
    version = "test"

    def __init__(self, turns: Sequence[str]) -> None:
        self.turns = list(turns)

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        return self.turns[min(len(history), len(self.turns) - 1)]


class EchoingPolicy:
    """A policy that quotes the clinical note back, as an LLM might."""

    name = "echo"
    version = "test"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        if history:
            return "<diagnose>insufficient evidence</diagnose>"
        return f"<reason>The note says: {case.text} So, tall.</reason>"


class CrashingPolicy:
    name = "crashing"
    version = "test"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        raise KeyError(case.text)


class FailingPolicy:
    name = "failing"
    version = "test"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        raise PolicyError("backend unavailable after 3 attempts")


@pytest.fixture(scope="module")
def index(small_index: Path, test_settings: Settings) -> EmbeddedIndex:
    return EmbeddedIndex(small_index, test_settings)


def test_evidence_baseline_diagnoses_with_a_cited_evidence_chain(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("hybrid"))
    trace = diagnose(MARFAN_LIKE, EvidencePolicy(), env, index_version=index.version)
    assert trace.outcome == "diagnosed" and trace.stop_reason is StopReason.DIAGNOSED
    assert [t.action for t in trace.turns][:2] == ["match", "lookup"]
    assert trace.turns[-1].action == "diagnose" and "reason" in {t.action for t in trace.turns}
    top = trace.diagnoses[0]
    assert top.code == "OMIM:154700"
    cited = {link.evidence_id for link in top.evidence}
    assert {"omim:154700#0", "pt:aaaa1111#0"} <= cited
    assert not top.unsupported_citations
    knowledge = next(link for link in top.evidence if link.evidence_id == "omim:154700#0")
    assert knowledge.mentions_diagnosis and {"Arachnodactyly", "Ectopia lentis"} <= set(knowledge.supports)
    retrieved = {r.evidence_id for r in trace.retrievals}
    assert all(link.evidence_id in retrieved for d in trace.diagnoses for link in d.evidence)
    assert trace.index_version == index.version


def test_a_passage_names_a_finding_by_its_hpo_name_when_the_note_used_other_words(index: EmbeddedIndex) -> None:
    from dxsearch.cases import Finding

    worded = marfan_case(
        "worded",
        findings=(
            Finding(label="long thin fingers", hpo_id="HP:0001166"),
            Finding(label="dislocated lenses", hpo_id="HP:0001083"),
            Finding(label="dilated aortic root", hpo_id="HP:0002616"),
        ),
    )
    env = DiagnosticEnv(index.retriever("hybrid"))
    with_names = diagnose(worded, EvidencePolicy(), env, knowledge=get_hpo_knowledge())
    card = next(link for link in with_names.diagnoses[0].evidence if link.evidence_id == "omim:154700#0")
    # The card lists Arachnodactyly and Ectopia lentis; the trace names the findings as the user entered them.
    assert {"long thin fingers", "dislocated lenses"} <= set(card.supports)
    without = diagnose(worded, EvidencePolicy(), DiagnosticEnv(index.retriever("hybrid")))
    bare = next(link for link in without.diagnoses[0].evidence if link.evidence_id == "omim:154700#0")
    assert "long thin fingers" not in bare.supports  # words alone: the card does not say "long thin fingers"


def test_trace_holds_no_phi(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("hybrid"))
    pseudonymiser = Pseudonymiser("a-test-key-of-sufficient-length")
    trace = diagnose(MARFAN_LIKE, EvidencePolicy(), env, pseudonymiser=pseudonymiser)
    dumped = trace.model_dump_json()
    assert "MRN-0042-secret" not in dumped and "Jane Roe" not in dumped and "1990-02-03" not in dumped
    assert trace.case.pseudonym == pseudonymiser.pseudonym("MRN-0042-secret", "case")
    assert trace.case.text_pseudonym == pseudonymiser.pseudonym(MARFAN_LIKE.text or "", "note")
    assert json.loads(dumped)["case"]["findings"][0]["label"] == "Arachnodactyly"


def test_citations_of_passages_never_retrieved_are_flagged_not_shown(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"))
    policy = ScriptedPolicy(
        [
            "<lookup>Marfan syndrome</lookup>",
            "<diagnose>\n1. Marfan syndrome | OMIM:154700 | omim:154700#0, omim:219700#0\n</diagnose>",
        ]
    )
    trace = diagnose(MARFAN_LIKE, policy, env)
    (diagnosis,) = trace.diagnoses
    shown = {r.evidence_id for r in trace.retrievals if not r.duplicate}
    assert "omim:219700#0" not in shown  # the lookup for Marfan did not show it ...
    assert diagnosis.unsupported_citations == ("omim:219700#0",)  # ... so citing it is flagged
    assert [link.evidence_id for link in diagnosis.evidence] == ["omim:154700#0"]


def test_a_garbage_policy_ends_in_bounded_turns_with_a_clear_reason(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"), Budget(max_turns=12, max_parse_errors=3))
    trace = diagnose(MARFAN_LIKE, ScriptedPolicy(["<<<garbage>>> </diagnose"]), env)
    assert len(trace.turns) == 3
    assert trace.stop_reason is StopReason.PARSE_ERRORS and trace.outcome == "no_diagnosis"
    assert all(t.error is not None for t in trace.turns)


def test_a_policy_that_searches_forever_is_stopped_by_the_turn_budget(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"), Budget(max_turns=5))
    trace = diagnose(MARFAN_LIKE, ScriptedPolicy(["<search>tall stature</search>"]), env)
    assert len(trace.turns) == 5 and trace.stop_reason is StopReason.TURN_BUDGET


def test_insufficient_evidence_is_an_outcome(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"))
    empty = Case(case_id="c", findings=())
    trace = diagnose(empty, EvidencePolicy(), env)
    assert trace.outcome == "insufficient_evidence" and trace.stop_reason is StopReason.INSUFFICIENT_EVIDENCE
    assert trace.diagnoses == ()


def test_the_trace_carries_next_steps_of_the_differential(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("hybrid"))
    planner = NextStepsPlanner.for_index(index, get_hpo_knowledge())
    trace = diagnose(MARFAN_LIKE, EvidencePolicy(), env, next_steps=planner)
    steps = trace.next_steps
    assert steps is not None and steps.basis == "differential"
    assert [c.code for c in steps.candidates] == [d.code for d in trace.diagnoses]
    assert steps.gene_panel is not None
    assert "FBN1" in {g.symbol for g in steps.gene_panel.genes}
    assert Trace.model_validate_json(trace.model_dump_json()) == trace  # stored and replayed as it was
    assert diagnose(MARFAN_LIKE, EvidencePolicy(), env).next_steps is None  # no planner, nothing planned


def test_an_insufficient_answer_gets_questions_over_the_retrieved_diseases_only(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"))
    policy = ScriptedPolicy(
        [
            "<lookup>Marfan syndrome; Cystic fibrosis; Huntington disease</lookup>",
            "<diagnose>insufficient evidence: unsure</diagnose>",
        ]
    )
    trace = diagnose(MARFAN_LIKE, policy, env, next_steps=NextStepsPlanner.for_index(index, get_hpo_knowledge()))
    assert trace.outcome == "insufficient_evidence"
    steps = trace.next_steps
    assert steps is not None and steps.basis == "retrieved_diseases"
    assert {"OMIM:154700", "OMIM:219700"} <= {c.code for c in steps.candidates}
    assert steps.questions and steps.gene_panel is None and steps.guidelines == ()
    empty = diagnose(
        Case(case_id="c", findings=()),
        EvidencePolicy(),
        env,
        next_steps=NextStepsPlanner.for_index(index, get_hpo_knowledge()),
    )
    assert empty.next_steps is None  # nothing retrieved, nothing to separate


def test_a_failing_backend_stops_with_policy_error(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"))
    trace = diagnose(MARFAN_LIKE, FailingPolicy(), env)
    assert trace.stop_reason is StopReason.POLICY_ERROR and trace.error is not None
    assert "unavailable" in trace.error and trace.turns == ()


def test_a_policy_echoing_the_note_does_not_put_it_in_the_trace(index: EmbeddedIndex) -> None:
    trace = diagnose(MARFAN_LIKE, EchoingPolicy(), DiagnosticEnv(index.retriever("lexical")))
    dumped = trace.model_dump_json()
    assert "Jane Roe" not in dumped and "1990-02-03" not in dumped
    assert "[note text removed]" in trace.turns[0].text and "So, tall." in trace.turns[0].text


def test_any_policy_exception_ends_the_episode_without_quoting_the_case(index: EmbeddedIndex) -> None:
    trace = diagnose(MARFAN_LIKE, CrashingPolicy(), DiagnosticEnv(index.retriever("lexical")))
    assert trace.stop_reason is StopReason.POLICY_ERROR and trace.error == "policy raised KeyError"


def test_retrievals_used_counts_empty_and_refused_retrievals(index: EmbeddedIndex) -> None:
    env = DiagnosticEnv(index.retriever("lexical"), Budget(max_turns=4, max_retrievals=2))
    trace = diagnose(MARFAN_LIKE, ScriptedPolicy(["<search>zzzzqqq</search>"]), env)
    assert trace.retrievals_used == 2 and trace.retrievals == ()


@pytest.mark.slow
def test_retrieved_disease_cards_of_one_disease_count_once(default_index: Path) -> None:
    """The OMIM and ORPHA cards of SPG10 (names differ, each lists the other's code) are one candidate."""
    from dxsearch.agent import retrieved_diseases
    from dxsearch.corpus import DocumentKind
    from dxsearch.episode import RetrievalRecord
    from dxsearch.protocol import Action

    opened = EmbeddedIndex(default_index, Settings())
    try:
        records = []
        for rank, doc_id in enumerate(("omim:604187", "orpha:100991", "omim:154700", "orpha:558"), start=1):
            document = opened.store.document(doc_id)
            assert document is not None
            records.append(
                RetrievalRecord(
                    turn=1,
                    action=Action.LOOKUP,
                    evidence_id=f"{doc_id}#0",
                    doc_id=doc_id,
                    kind=DocumentKind.DISEASE_KNOWLEDGE,
                    title=document.title,
                    score=1.0 / rank,
                    rank=rank,
                    retriever="lexical",
                    codes=tuple(document.metadata.codes),
                )
            )
    finally:
        opened.close()
    assert records[0].title != records[1].title  # not caught by name
    assert [c.code for c in retrieved_diseases(records)] == ["OMIM:604187", "OMIM:154700"]
