"""The reasoning's "explains n/m" is the differential's, for the evidence and the learned policy, on real indexes.

A clinician saw "explains 9/12" in the learned policy's reasoning and "11 of 12" in the differential for one
diagnosis: the reasoning counted the similarity module's matched terms, the differential its explanation
(:mod:`dxsearch.knowledge.explanation`). Both count the explanation now, over every finding entered, a finding
that was not understood included. Real policies, real knowledge, real indexes; nothing mocked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import marfan_case, marfan_findings

from corpus_builder.sources.phenopackets import heldout_phenopacket_cases
from dxsearch.agent import Trace, diagnose
from dxsearch.cases import Case, Finding
from dxsearch.env import DiagnosticEnv
from dxsearch.policies.base import Policy
from dxsearch.policies.catalog import index_knowledge, index_retriever, make_policy, retriever_for
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

#: Entered as the user wrote it, and understood by nothing: it counts in "m" and is never explained.
NOT_UNDERSTOOD = Finding(label="xyzzy plugh")
#: "explains n/m findings" of a reasoning line, and the code the line names: "Name (CODE[, also ...]): ..." for
#: the evidence policy, "k. Name [CODE] p=..." for the learned one.
_EVIDENCE_LINE = re.compile(
    r"^.+ \(([A-Z]+:[^,)\s]+)(?:, also [^)]*)?\): probability .*\bexplains (\d+)/(\d+) findings"
)
_LEARNED_LINE = re.compile(r"^\d+\. .+ \[([A-Z]+:[^\]\s]+)\] p=.*\bexplains (\d+)/(\d+) findings")


def _reasoning_counts(trace: Trace) -> dict[str, tuple[int, int]]:
    """Per code, the "explains n/m" of the last reasoning turn that names it."""
    counts: dict[str, tuple[int, int]] = {}
    for turn in trace.turns:
        if turn.action != "reason":
            continue
        for line in turn.text.splitlines():
            found = _EVIDENCE_LINE.match(line) or _LEARNED_LINE.match(line)
            if found:
                counts[found.group(1)] = (int(found.group(2)), int(found.group(3)))
    return counts


def _play(name: str, index: EmbeddedIndex, case: Case) -> Trace:
    """``name`` played on ``case`` as the command line plays it, with the answer threshold off (a differential
    whatever the calibration makes of it) and the index's own knowledge for the policy and the explanation."""
    knowledge = index_knowledge(index)
    policy: Policy
    policy, budget = make_policy(name, Settings(abstain_below=0.0), knowledge=knowledge)
    env = DiagnosticEnv(index_retriever(index, retriever_for(name)), budget)
    return diagnose(case, policy, env, knowledge=knowledge)


def _assert_same_counts(trace: Trace, entered: int) -> None:
    assert trace.outcome == "diagnosed", (trace.stop_reason, trace.error)
    counts = _reasoning_counts(trace)
    assert trace.diagnoses
    for diagnosis in trace.diagnoses:
        explanation = diagnosis.explanation
        assert explanation is not None and diagnosis.code is not None
        assert explanation.entered == entered  # the not-understood finding is counted
        assert diagnosis.code in counts, f"{diagnosis.code} has no reasoning line"
        # the differential's "explains n of m", as the command line and the viewer print it
        assert counts[diagnosis.code] == (len(explanation.supports), explanation.entered), diagnosis.name


@pytest.fixture(scope="module")
def real_index(default_index: Path) -> EmbeddedIndex:
    """The default corpus (``DXSEARCH_TEST_DEFAULT_INDEX=var/index`` points the fixture at the one built here)."""
    return EmbeddedIndex(default_index)


@pytest.fixture(scope="module")
def real_case() -> Case:
    """A held-out published case (never indexed) of a dozen findings or so, and one item nobody understood."""
    case = next(c.case for c in heldout_phenopacket_cases() if 10 <= len(c.case.observed) <= 14)
    return case.model_copy(update={"findings": (*case.findings, NOT_UNDERSTOOD)})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["learned", "evidence"])
def test_the_reasoning_counts_what_the_differential_counts_on_the_real_index(
    real_index: EmbeddedIndex, real_case: Case, name: str
) -> None:
    trace = _play(name, real_index, real_case)
    _assert_same_counts(trace, len(real_case.observed))


@pytest.mark.parametrize("name", ["learned", "evidence"])
def test_the_reasoning_counts_what_the_differential_counts_on_the_small_index(
    small_index: Path, test_settings: Settings, name: str
) -> None:
    """The same on the test corpus, so every run checks it: Marfan syndrome's findings, one not understood."""
    findings = marfan_findings(("HP:0001166", "HP:0001083", "HP:0000098", "HP:0002616"))
    case = marfan_case(findings=(*findings, NOT_UNDERSTOOD))
    index = EmbeddedIndex(small_index, test_settings)
    try:
        trace = _play(name, index, case)
    finally:
        index.close()
    _assert_same_counts(trace, len(case.observed))
    marfan = next(d for d in trace.diagnoses if d.code == "OMIM:154700")
    assert marfan.explanation is not None and not any(r.label == "xyzzy plugh" for r in marfan.explanation.supports)
