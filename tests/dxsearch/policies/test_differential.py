"""Each disease once in a differential: real equivalences (DO xrefs, HPO labels), real policies, a real index.

The index holds Marfan syndrome twice, as the corpus does: an OMIM card and an Orphanet card.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from support import marfan_case, marfan_findings, marfan_labelled

from dxsearch.agent import diagnose, rollout
from dxsearch.cases import Case
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Exchange
from dxsearch.evaluation import GoldMatcher, answer_from_trace
from dxsearch.policies.differential import merge_candidates, same_disease
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.policies.learned import LearnedPolicy, default_weights, load_params
from dxsearch.policies.ranking import RetrievalRankingPolicy
from dxsearch.protocol import Candidate
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

MARFAN = marfan_case(findings=marfan_findings(("HP:0001166", "HP:0001083", "HP:0000098", "HP:0002616")))


@pytest.fixture(scope="module")
def index(two_marfan_cards_index: Path, test_settings: Settings) -> EmbeddedIndex:
    return EmbeddedIndex(two_marfan_cards_index, test_settings)


def test_equivalence_comes_from_the_release_files_and_never_merges_two_diseases() -> None:
    assert same_disease("OMIM:154700", "ORPHA:558")  # HPO labels both "Marfan syndrome"
    assert same_disease("ORPHA:1493", "OMIM:242840")  # Vici syndrome
    assert same_disease("omim:154700", "OMIM:154700")
    assert not same_disease("OMIM:154700", "OMIM:219700")
    # DO maps Robinow syndrome AD 1 and AD 2 both to ORPHA:3107 (a group): two diseases, and neither is the group.
    assert not same_disease("OMIM:180700", "OMIM:616331")
    assert not same_disease("OMIM:180700", "ORPHA:3107")


def test_an_orphanet_subtype_is_one_disease_with_the_disease_it_is_a_form_of() -> None:
    """A user test's NF1 note showed OMIM:162200 and "Neurofibromatosis type 1 due to NF1 mutation or intragenic
    deletion" (ORPHA:363700) as two of five entries. A shared phenotype's name is no subtype relation."""
    assert same_disease("ORPHA:363700", "OMIM:162200") and same_disease("OMIM:162200", "ORPHA:363700")
    assert same_disease("ORPHA:411511", "OMIM:105830")  # Angelman syndrome due to a point mutation (UBE3A)
    assert not same_disease("ORPHA:66628", "OMIM:601665")  # obesity due to leptin deficiency is no "obesity"
    assert not same_disease("ORPHA:411511", "ORPHA:98795")  # two subtypes of one disease stay two entries
    merged = merge_candidates(
        (
            Candidate("Neurofibromatosis type 1 due to NF1 mutation", "ORPHA:363700", ("orpha:363700#0",), 0.3),
            Candidate("Legius syndrome", "OMIM:611431", ("omim:611431#0",), 0.2),
            Candidate("Neurofibromatosis, type 1", "OMIM:162200", ("omim:162200#0",), 0.1),
        )
    )
    assert [(c.code, c.alternate_codes, c.confidence) for c in merged] == [
        ("ORPHA:363700", ("OMIM:162200",), 0.3),
        ("OMIM:611431", (), 0.2),
    ]


def test_the_better_ranked_entry_keeps_its_place_name_and_confidence() -> None:
    merged = merge_candidates(
        (
            Candidate("Marfan syndrome", "ORPHA:558", ("orpha:558#0",), 0.4),
            Candidate("Cystic fibrosis", "OMIM:219700", ("omim:219700#0",), 0.2),
            Candidate("Marfan syndrome", "OMIM:154700", ("omim:154700#0", "orpha:558#0", "pt:aaaa1111#0"), 0.3),
            Candidate("Unnamed", None, (), 0.01),
        )
    )
    assert merged == (
        Candidate(
            "Marfan syndrome",
            "ORPHA:558",
            ("orpha:558#0", "omim:154700#0", "pt:aaaa1111#0"),
            0.4,
            alternate_codes=("OMIM:154700",),
        ),
        Candidate("Cystic fibrosis", "OMIM:219700", ("omim:219700#0",), 0.2),
        Candidate("Unnamed", None, (), 0.01),
    )


def _evidence_policy() -> EvidencePolicy:
    """The evidence policy with Orphanet phenotype scores unshrunk, and no probability bar (as eval plays it)."""
    return EvidencePolicy(EvidencePolicyConfig(orpha_factor=1.0, abstain_below=0.0))


def test_evidence_policy_gives_marfan_once_and_another_disease_the_freed_slot(index: EmbeddedIndex) -> None:
    policy = _evidence_policy()
    played = rollout(MARFAN, policy, DiagnosticEnv(index.retriever("hybrid")))
    unmerged = policy.ranking_after(MARFAN, played.history[:-1]).candidates
    top_codes = [c.code for c in unmerged[:5]]
    marfan = {"OMIM:154700", "ORPHA:558"}
    assert top_codes[0] in marfan and marfan <= set(top_codes), "the unmerged top five hold Marfan twice"

    trace = diagnose(MARFAN, _evidence_policy(), DiagnosticEnv(index.retriever("hybrid")))
    assert trace.outcome == "diagnosed"
    first = trace.diagnoses[0]
    # the better-ranked entry keeps the line, the other's code goes beside it
    assert (first.rank, first.code, {first.code, *first.alternate_codes}) == (1, top_codes[0], marfan)
    assert all({d.code, *d.alternate_codes}.isdisjoint({"OMIM:154700", "ORPHA:558"}) for d in trace.diagnoses[1:])
    cited = [link.evidence_id for link in first.evidence]
    assert {"omim:154700#0", "pt:aaaa1111#0", "orpha:558#0", "pt:orpha5581#0", "pt:orpha5582#0"} <= set(cited)
    assert len(cited) == len(set(cited)) and not first.unsupported_citations
    assert first.confidence == round(unmerged[0].probability, 3)  # the stronger entry's calibrated probability
    assert [d.rank for d in trace.diagnoses] == [1, 2, 3, 4, 5]
    assert unmerged[5].code in {d.code for d in trace.diagnoses}  # the Orphanet entry's slot went to the sixth
    other = (marfan - {top_codes[0]}).pop()
    assert f"| {top_codes[0]}, {other} |" in trace.turns[-1].text  # the audited diagnose turn says so too


def test_retrieval_ranking_policy_folds_the_orphanet_card_into_the_omim_one(index: EmbeddedIndex) -> None:
    policy = RetrievalRankingPolicy("lexical")
    trace = diagnose(MARFAN, policy, DiagnosticEnv(index.retriever("lexical")))
    codes = [d.code for d in trace.diagnoses]
    marfan = [d for d in trace.diagnoses if {d.code, *d.alternate_codes} == {"OMIM:154700", "ORPHA:558"}]
    assert len(marfan) == 1, codes
    assert {link.evidence_id for link in marfan[0].evidence} == {"omim:154700#0", "orpha:558#0"}


class WritesTheDifferential:
    """A turn as a language model may write it, Marfan under both codes: what the trace must fold."""

    name = "written"
    version = "test"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        if not history:
            return "<lookup>Marfan syndrome</lookup>"
        return (
            "<diagnose>\n1. Marfan syndrome | ORPHA:558 | orpha:558#0 | 0.4\n"
            "2. Cystic fibrosis | OMIM:219700 | - | 0.1\n"
            "3. Marfan syndrome | OMIM:154700 | omim:154700#0, omim:999999#0 | 0.3\n</diagnose>"
        )


def test_the_trace_folds_any_policys_duplicates_and_evaluation_still_finds_the_gold(index: EmbeddedIndex) -> None:
    trace = diagnose(MARFAN, WritesTheDifferential(), DiagnosticEnv(index.retriever("hybrid")))
    assert [(d.rank, d.code, d.alternate_codes, d.confidence) for d in trace.diagnoses] == [
        (1, "ORPHA:558", ("OMIM:154700",), 0.4),
        (2, "OMIM:219700", (), 0.1),
    ]
    first = trace.diagnoses[0]
    assert [link.evidence_id for link in first.evidence] == ["orpha:558#0", "omim:154700#0"]
    assert first.unsupported_citations == ("omim:999999#0",)  # kept, and still flagged
    labelled = marfan_labelled(MARFAN)
    matcher = GoldMatcher(index)
    rank = matcher.rank_of_gold(answer_from_trace(trace, None), labelled.gold.id, labelled.gold.label)
    assert rank == 1  # the entry's name is the gold's; the headline matching is unchanged


def test_without_an_orphanet_card_nothing_is_folded(small_index: Path, test_settings: Settings) -> None:
    index = EmbeddedIndex(small_index, test_settings)
    trace = diagnose(MARFAN, EvidencePolicy(), DiagnosticEnv(index.retriever("hybrid")))
    assert trace.diagnoses[0].code == "OMIM:154700"
    assert all(not d.alternate_codes for d in trace.diagnoses)


def test_learned_policy_gives_marfan_once_and_refills_the_slot(index: EmbeddedIndex) -> None:
    weights = default_weights()
    assert weights is not None, "the shipped learned weights"
    evidence = EvidencePolicy(EvidencePolicyConfig(orpha_factor=1.0, abstain_below=0.0))
    policy = LearnedPolicy(load_params(weights), evidence=evidence)
    trace = diagnose(MARFAN, policy, DiagnosticEnv(index.retriever("hybrid")))
    assert trace.outcome == "diagnosed"
    seen = policy.observe(MARFAN, rollout(MARFAN, policy, DiagnosticEnv(index.retriever("hybrid"))).history[:-1])
    by_score = [seen.candidates[int(row)].code for row in np.argsort(-seen.scores, kind="stable")]
    marfan = [d for d in trace.diagnoses if {d.code, *d.alternate_codes} & {"OMIM:154700", "ORPHA:558"}]
    assert len(marfan) == 1
    assert {marfan[0].code, *marfan[0].alternate_codes} == {"OMIM:154700", "ORPHA:558"}
    assert {"omim:154700#0", "orpha:558#0"} <= {link.evidence_id for link in marfan[0].evidence}
    distinct = [c for c in by_score if c not in {"OMIM:154700", "ORPHA:558"}]
    assert {"OMIM:154700", "ORPHA:558"} <= set(by_score[:5]), "by score, Marfan takes two of the top five"
    assert [d.code for d in trace.diagnoses] == [by_score[0], *distinct[:4]]  # the fifth slot went to the next one
