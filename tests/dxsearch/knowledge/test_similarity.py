"""Phenotype similarity over the real HPO annotations: specific findings find their disease."""

from __future__ import annotations

import numpy as np
from support import MARFAN_TERMS as SHARED_TERMS

from dxsearch.knowledge.similarity import get_phenotype_similarity

MARFAN_TERMS = [*SHARED_TERMS, "HP:0100775"]  # the shared Marfan findings + dural ectasia


def test_marfan_findings_rank_marfan_syndrome_near_the_top() -> None:
    similarity = get_phenotype_similarity()
    ranked = [m.disease_id for m in similarity.rank(MARFAN_TERMS, k=10)]
    assert "OMIM:154700" in ranked[:5]


def test_score_parts_are_bounded_and_explained() -> None:
    similarity = get_phenotype_similarity()
    (match,) = similarity.explain(["OMIM:154700"], MARFAN_TERMS)
    assert 0.0 < match.patient_to_disease <= 1.0 and 0.0 < match.disease_to_patient <= 1.0
    assert {"HP:0001166", "HP:0001083", "HP:0002616"} <= set(match.matched_terms)


def test_unexplained_findings_dilute_the_match() -> None:
    similarity = get_phenotype_similarity()
    unrelated = ["HP:0001250", "HP:0002353", "HP:0001249"]  # seizure, EEG abnormality, intellectual disability
    clean = similarity.explain(["OMIM:154700"], MARFAN_TERMS)[0]
    diluted = similarity.explain(["OMIM:154700"], MARFAN_TERMS + unrelated)[0]
    assert diluted.patient_to_disease < clean.patient_to_disease
    assert diluted.score < clean.score


def test_unknown_or_empty_input_scores_nothing() -> None:
    similarity = get_phenotype_similarity()
    assert similarity.rank([]) == []
    assert not np.any(similarity.score_all(["HP:9999999"]))
    assert similarity.explain(["OMIM:0000000"], MARFAN_TERMS) == []
