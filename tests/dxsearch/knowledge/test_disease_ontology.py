"""Disease Ontology subsets joined on OMIM and Orphanet cross-references."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxsearch.knowledge.disease_ontology import (
    DiseaseOntology,
    default_disease_ontology_dir,
    get_disease_ontology,
)


@pytest.fixture(scope="module")
def ontology() -> DiseaseOntology:
    return get_disease_ontology()


def test_all_shipped_subsets_are_read(ontology: DiseaseOntology) -> None:
    assert set(ontology.versions) == {
        "DO_cancer_slim",
        "DO_infectious_disease_slim",
        "DO_rare_slim",
        "NCIthesaurus",
    }
    assert all(v.startswith("doid/releases/2026-07-31") for v in ontology.versions.values())
    assert 7000 < len(ontology) < 8000  # terms shared between subsets are counted once


def test_marfan_syndrome(ontology: DiseaseOntology) -> None:
    term = ontology.primary("OMIM:154700")
    assert term is not None
    assert term.doid == "DOID:14323"
    assert term.name == "Marfan syndrome"
    assert term.definition is not None and "connective tissue disease" in term.definition
    assert "Marfan's syndrome" in term.exact_synonyms
    assert term.icd10cm == ("ICD10CM:Q87.4",)
    assert term.omim == ("OMIM:154700",)
    assert ontology.term("DOID:14323") is term
    assert "DOID:14323" in ontology


def test_one_term_maps_many_ids(ontology: DiseaseOntology) -> None:
    group = ontology.term("DOID:3753")  # Hermansky-Pudlak syndrome
    assert group.n_mapped > 1
    for code in (*group.omim, *group.orpha):
        assert group in ontology.for_disease(code)


def test_one_id_maps_many_terms_most_specific_first(ontology: DiseaseOntology) -> None:
    matches = ontology.for_disease("OMIM:276900")
    assert [t.doid for t in matches] == ["DOID:0070655", "DOID:0110826"]  # Usher 1B, then Usher 1
    assert matches[0].n_mapped < matches[1].n_mapped
    assert ontology.for_disease("OMIM:1") == ()
    assert ontology.primary("OMIM:1") is None


def test_phenotypic_series_and_other_prefixes_are_not_disease_ids(ontology: DiseaseOntology) -> None:
    mapped = ontology.mapped_ids()
    assert all(c.split(":")[0] in {"OMIM", "ORPHA"} for c in mapped)
    assert all(c.split(":")[1].isdigit() for c in mapped)
    assert sum(c.startswith("OMIM:") for c in mapped) > 2500
    assert sum(c.startswith("ORPHA:") for c in mapped) > 2000


def test_undeclared_abbreviation_synonyms_are_read(ontology: DiseaseOntology) -> None:
    # "ALL" carries the synonym type OMO:0003012, which the subset files do not declare.
    assert "ALL" in ontology.term("DOID:9952").exact_synonyms


def test_missing_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no Disease Ontology"):
        DiseaseOntology.from_directory(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"absent\.obo"):
        DiseaseOntology([tmp_path / "absent.obo"])


def test_single_file_can_be_loaded() -> None:
    rare = DiseaseOntology([default_disease_ontology_dir() / "DO_rare_slim.obo"])
    assert len(rare) == 3460 - 2  # two obsolete terms left out
    assert rare.primary("OMIM:154700") is not None
