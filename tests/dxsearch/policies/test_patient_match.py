"""``<match>`` finds similar patients by the meaning of their findings, on a real built index, and every other
search is the text retriever's."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxsearch.agent import diagnose
from dxsearch.corpus import DocumentKind
from dxsearch.env import DiagnosticEnv
from dxsearch.policies.catalog import index_knowledge, index_retriever
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.policies.patient_match import MEANING, PatientMatchRetriever
from dxsearch.retrieval.base import SearchFilters
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.support import marfan_case

PATIENTS = (DocumentKind.PATIENT_RECORD,)


@pytest.fixture(scope="module")
def index(two_marfan_cards_index: Path, test_settings: Settings) -> EmbeddedIndex:
    return EmbeddedIndex(two_marfan_cards_index, test_settings)


@pytest.fixture(scope="module")
def retriever(index: EmbeddedIndex) -> PatientMatchRetriever:
    return PatientMatchRetriever.over(index, index.retriever("hybrid"), index_knowledge(index))


def test_patients_are_ranked_by_meaning_with_their_similarity(retriever: PatientMatchRetriever) -> None:
    # "Long fingers" is no word of any record: only the ontology (Arachnodactyly is a kind of it) finds them.
    found = retriever.search("Long fingers; Ectopia lentis; Aortic root aneurysm", PATIENTS, k=5)
    assert [e.retriever for e in found] == [MEANING] * 3
    assert [e.rank for e in found] == [1, 2, 3]
    assert found[0].doc_id.startswith("pt:orpha558")  # the two records with the aortic root rank first
    assert found[-1].doc_id == "pt:aaaa1111"
    assert all(e.kind is DocumentKind.PATIENT_RECORD and e.evidence_id.endswith("#0") for e in found)
    assert [e.score for e in found] == sorted((e.score for e in found), reverse=True)
    assert found[0].codes == ("ORPHA:558",)  # diagnosis codes only, as every retriever gives them


def test_hidden_records_stay_hidden(retriever: PatientMatchRetriever) -> None:
    hidden = SearchFilters(exclude_doc_ids=frozenset({"pt:orpha5581", "pt:orpha5582"}))
    found = retriever.search("Arachnodactyly; Ectopia lentis", PATIENTS, k=5, filters=hidden)
    assert [e.doc_id for e in found] == ["pt:aaaa1111"]


def test_other_searches_and_queries_naming_no_finding_are_the_text_retrievers(
    retriever: PatientMatchRetriever, index: EmbeddedIndex
) -> None:
    cards = retriever.search("Marfan syndrome", (DocumentKind.DISEASE_KNOWLEDGE,), k=3)
    assert cards == index.retriever("hybrid").search("Marfan syndrome", (DocumentKind.DISEASE_KNOWLEDGE,), k=3)
    assert all(e.retriever != MEANING for e in retriever.search("Marfan syndrome", None, k=5))
    assert retriever.search("zanzibarquokka", PATIENTS, k=5) == index.retriever("hybrid").search(
        "zanzibarquokka", PATIENTS, k=5
    )


def test_the_environment_matches_by_meaning_unless_the_setting_is_off(
    two_marfan_cards_index: Path, test_settings: Settings
) -> None:
    on = EmbeddedIndex(two_marfan_cards_index, test_settings)
    trace = diagnose(marfan_case(), EvidencePolicy(), DiagnosticEnv(index_retriever(on, "hybrid")))
    matched = [r for r in trace.retrievals if r.action == "match"]
    assert matched and {r.retriever for r in matched} == {MEANING}
    off = EmbeddedIndex(two_marfan_cards_index, test_settings.model_copy(update={"match_by_meaning": False}))
    assert not isinstance(index_retriever(off, "hybrid"), PatientMatchRetriever)
    trace = diagnose(marfan_case(), EvidencePolicy(), DiagnosticEnv(index_retriever(off, "hybrid")))
    assert {r.retriever for r in trace.retrievals if r.action == "match"} == {"hybrid"}


def test_a_candidate_only_patients_voted_for_is_named_as_their_records_name_it() -> None:
    from corpus_builder.sources.phenopackets import heldout_phenopacket_cases, labelled_case_document
    from dxsearch.policies.evidence import _recorded_name
    from dxsearch.protocol import Passage
    from dxsearch.pseudonym import Pseudonymiser

    labelled = heldout_phenopacket_cases()[0]
    document = labelled_case_document(
        labelled, source="phenopackets", licence="test", pseudonymiser=Pseudonymiser("a-test-key-of-sufficient-length")
    )
    passage = Passage(f"{document.id}#0", document.title, document.text, 0.5, (labelled.gold.id,))
    assert _recorded_name(passage, labelled.gold.id) == labelled.gold.label
    assert _recorded_name(passage, "OMIM:000000") is None
