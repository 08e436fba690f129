"""Similar patients by the meaning of their findings (simGIC over the real HPO), not by their words."""

from __future__ import annotations

import pytest

from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.patient_similarity import PatientFindings, PatientSimilarity

ARACHNODACTYLY, ECTOPIA_LENTIS, LONG_FINGERS = "HP:0001166", "HP:0001083", "HP:0100807"
ABNORMAL_LENS, CHOREA, DEMENTIA = "HP:0000517", "HP:0002072", "HP:0000726"


@pytest.fixture(scope="module")
def similarity() -> PatientSimilarity:
    records = [
        PatientFindings("pt:chorea", (CHOREA, DEMENTIA)),
        # the same findings one level up the ontology: no term, and no word, in common with the query
        PatientFindings("pt:broader", (LONG_FINGERS, ABNORMAL_LENS)),
        PatientFindings("pt:marfan", (ARACHNODACTYLY, ECTOPIA_LENTIS)),
        PatientFindings("pt:no-findings", ()),
    ]
    return PatientSimilarity(get_hpo_knowledge(), records)


def test_records_rank_by_shared_meaning_and_unrelated_ones_are_not_returned(similarity: PatientSimilarity) -> None:
    ranked = similarity.rank([ARACHNODACTYLY, ECTOPIA_LENTIS], k=10)
    assert [doc_id for doc_id, _ in ranked] == ["pt:marfan", "pt:broader"]
    (_, same), (_, broader) = ranked
    assert same == pytest.approx(1.0)  # the very findings: the whole of both closures is shared
    assert 0.0 < broader < same  # their ancestors are shared, the rarer meaning below them is not


def test_a_more_specific_query_still_finds_the_record_that_says_it_more_broadly(similarity: PatientSimilarity) -> None:
    ranked = dict(similarity.rank([ARACHNODACTYLY], k=10))
    assert ranked["pt:broader"] > 0 and "pt:chorea" not in ranked


def test_excluded_records_k_and_unknown_or_empty_queries(similarity: PatientSimilarity) -> None:
    assert [d for d, _ in similarity.rank([ARACHNODACTYLY, ECTOPIA_LENTIS], k=10, exclude={"pt:marfan"})] == [
        "pt:broader"
    ]
    assert len(similarity.rank([ARACHNODACTYLY, ECTOPIA_LENTIS], k=1)) == 1
    assert similarity.rank(["HP:9999999"], k=10) == []  # no such term: nothing shared
    assert similarity.rank([], k=10) == []
