"""OMIM / Orphanet equivalents and disease names, from the shipped HPO release and Disease Ontology subsets."""

from __future__ import annotations

import pytest

from dxsearch.knowledge.disease_equivalents import (
    MAX_CODES,
    DiseaseEquivalents,
    canonical_code,
    get_disease_equivalents,
)
from dxsearch.knowledge.disease_ontology import get_disease_ontology


@pytest.fixture(scope="module")
def equivalents() -> DiseaseEquivalents:
    return get_disease_equivalents()


@pytest.mark.parametrize("asked", ["OMIM:154700", "omim:154700", "ORPHA:558", "Marfan syndrome", "marfan SYNDROME"])
def test_marfan_by_either_code_or_by_name(equivalents: DiseaseEquivalents, asked: str) -> None:
    found = equivalents.expand(asked)
    assert found.known
    assert set(found.codes) == {"OMIM:154700", "ORPHA:558"}
    assert "Marfan syndrome" in found.names and "Marfan's syndrome" in found.names  # HPO label, DO synonym
    assert {"OMIM:154700", "ORPHA:558", "Marfan syndrome"} <= set(found.keys())


def test_a_do_cross_reference_links_codes_whose_labels_differ(equivalents: DiseaseEquivalents) -> None:
    # DO's "chronic myeloid leukemia" maps OMIM:608232 and ORDO:521; HPO labels them differently.
    assert set(equivalents.expand("OMIM:608232").codes) == {"OMIM:608232", "ORPHA:521"}
    assert set(equivalents.expand("ORPHA:521").codes) == {"OMIM:608232", "ORPHA:521"}
    assert get_disease_ontology().equivalent_ids("OMIM:219700") == ("ORPHA:586",)  # cystic fibrosis
    assert set(equivalents.expand("Cystic fibrosis").codes) == {"OMIM:219700", "ORPHA:586"}


def test_an_ambiguous_name_links_nothing_but_finds_every_code_it_names(equivalents: DiseaseEquivalents) -> None:
    # "Omphalocele" is the label of two OMIM entries and one Orphanet entry: asked by name, all three;
    # asked by one of the codes, the name does not pull in the others.
    assert set(equivalents.codes_named("omphalocele")) == {"OMIM:164750", "OMIM:310980", "ORPHA:660"}
    assert set(equivalents.expand("Omphalocele").codes) == {"OMIM:164750", "OMIM:310980", "ORPHA:660"}
    by_code = equivalents.expand("OMIM:164750")
    assert "OMIM:310980" not in by_code.codes
    assert not any(n.casefold() == "omphalocele" for n in by_code.names)


def test_unrelated_diseases_stay_apart(equivalents: DiseaseEquivalents) -> None:
    marfan = set(equivalents.expand("ORPHA:558").keys())
    assert not marfan & set(equivalents.expand("OMIM:219700").keys())
    assert "ORPHA:286" not in marfan  # vascular Ehlers-Danlos syndrome: a differential, not a synonym


def test_unknown_values_expand_to_themselves(equivalents: DiseaseEquivalents) -> None:
    code = equivalents.expand("OMIM:999999")
    assert not code.known and code.codes == ("OMIM:999999",) and code.names == ()
    partial = equivalents.expand("Marfan")  # a name matches whole, never a part of a name
    assert not partial.known and partial.codes == () and partial.names == ("Marfan",)


def test_every_equivalence_is_bounded(equivalents: DiseaseEquivalents) -> None:
    assert all(len(equivalents.expand(c).codes) <= MAX_CODES for c in ("OMIM:164750", "ORPHA:558", "Omphalocele"))
    assert canonical_code(" orpha:558 ") == "ORPHA:558"
