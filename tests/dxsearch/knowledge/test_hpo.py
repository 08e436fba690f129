"""HpoKnowledge on the real release files: hpo3 (2025-11) united with phenotype.hpoa (2025-01)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxsearch.knowledge.hpo import (
    PHENOTYPIC_ABNORMALITY,
    ROOT,
    HpoDataMissingError,
    HpoKnowledge,
    get_hpo_knowledge,
)
from dxsearch.settings import get_settings


@pytest.fixture(scope="module")
def knowledge() -> HpoKnowledge:
    return get_hpo_knowledge()


def test_loaded_once_per_process(knowledge: HpoKnowledge) -> None:
    assert get_hpo_knowledge() is knowledge


def test_versions_name_both_releases(knowledge: HpoKnowledge) -> None:
    assert knowledge.versions["hpo3"] == "1.5.1"
    assert knowledge.versions["hpo3_hpo_release"].startswith("2025-11")
    assert knowledge.versions["hp_obo_data_version"] == "hp/releases/2025-01-16"
    assert knowledge.versions["phenotype_hpoa_date"] == "2025-01-16"


def test_missing_data_dir_names_path_and_make_target(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(HpoDataMissingError) as info:
        HpoKnowledge(missing)
    assert str(missing) in str(info.value)
    assert "make install" in str(info.value)


def test_source_files_are_not_altered(knowledge: HpoKnowledge) -> None:
    data = get_settings().hpo_data_dir
    assert (data / "phenotype.hpoa").read_text(encoding="utf-8").startswith("#description")
    assert knowledge.data_dir == data


def test_marfan_syndrome(knowledge: HpoKnowledge) -> None:
    marfan = knowledge.disease("OMIM:154700")
    assert marfan.name == "Marfan syndrome"
    assert "FBN1" in marfan.genes
    assert marfan.inheritance == ("HP:0000006",)
    assert knowledge.term_name("HP:0000006") == "Autosomal dominant inheritance"
    by_id = {p.term_id: p for p in marfan.phenotypes}
    arachnodactyly = by_id["HP:0001166"]
    assert arachnodactyly.name == "Arachnodactyly"
    assert arachnodactyly.frequency is not None
    assert 0.3 <= arachnodactyly.frequency.estimate < 0.8
    assert arachnodactyly.pmids
    assert "HP:0001083" in by_id  # Ectopia lentis
    assert all(knowledge.is_phenotypic_abnormality(t) for t in by_id)


def test_phenotypes_are_ordered_by_frequency_then_information_content(knowledge: HpoKnowledge) -> None:
    for disease_id in ("OMIM:154700", "ORPHA:558", "OMIM:607565"):
        phenotypes = knowledge.disease(disease_id).phenotypes
        keys = [
            (p.frequency is None, -(p.frequency.estimate if p.frequency else 0.0), -p.information_content)
            for p in phenotypes
        ]
        assert keys == sorted(keys)


def test_rows_keep_references_onset_aspect_and_not(knowledge: HpoKnowledge) -> None:
    rows = knowledge.annotations("OMIM:154700")
    assert {r.aspect for r in rows} == {"P", "I"}
    assert any(r.pmids for r in rows)
    assert all(r.disease_id == "OMIM:154700" for r in rows)
    all_rows = [r for d in knowledge.disease_ids() for r in knowledge.annotations(d)]
    assert len(all_rows) == 271_702 - knowledge.skipped_rows
    assert sum(r.negated for r in all_rows) == 711
    assert sum(r.frequency is not None for r in all_rows) > 0.75 * len(all_rows)
    # NOT rows are all Orphanet's; OMIM-derived rows say "absent" with a 0% frequency such as 0/5.
    for absent in (
        next(r for r in all_rows if r.negated and r.aspect == "P"),
        next(r for r in all_rows if r.frequency is not None and r.frequency.estimate == 0.0),
    ):
        disease = knowledge.disease(absent.disease_id)
        assert absent.term_id in disease.excluded
        assert absent.term_id not in disease.phenotype_ids
    onset_rows = [r for r in all_rows if r.onset]
    assert onset_rows
    assert all(knowledge.has_term(r.onset) for r in onset_rows if r.onset)


def test_onset_and_inheritance_are_classified(knowledge: HpoKnowledge) -> None:
    diseases = list(knowledge.diseases("OMIM"))
    assert sum(bool(d.inheritance) for d in diseases) > 7000
    assert sum(bool(d.onset) for d in diseases) > 2000
    for disease in diseases[:500]:
        assert all("HP:0000005" in knowledge.ancestors(t) for t in disease.inheritance)
        assert all("HP:0003674" in knowledge.ancestors(t) for t in disease.onset)


def test_term_sets_are_the_union_of_both_releases(knowledge: HpoKnowledge) -> None:
    phenotypes = [p for d in knowledge.diseases() for p in d.phenotypes]
    assert sum(p.in_hpo3 and not p.in_hpoa for p in phenotypes) > 1000  # newer hpo3 annotations kept
    assert sum(p.in_hpoa and not p.in_hpo3 for p in phenotypes) > 0  # and older ones not lost
    ids = knowledge.disease_ids()
    assert len(knowledge.disease_ids("OMIM")) >= 8487
    assert len(knowledge.disease_ids("ORPHA")) >= 4314
    assert ids == sorted(set(ids), key=ids.index)


def test_obsolete_terms_map_to_their_replacement(knowledge: HpoKnowledge) -> None:
    assert knowledge.current_id("HP:0000057") == "HP:0008665"
    assert knowledge.current_id("HP:0001166") == "HP:0001166"
    assert knowledge.current_id("HP:9999999") is None
    replaced = [r for d in knowledge.disease_ids() for r in knowledge.annotations(d) if r.term_id != r.source_term_id]
    assert replaced
    assert all(knowledge.current_id(r.term_id) == r.term_id for r in replaced)


def test_ontology_structure_and_information_content(knowledge: HpoKnowledge) -> None:
    ancestors = knowledge.ancestors("HP:0001166")
    assert {ROOT, PHENOTYPIC_ABNORMALITY, "HP:0001238"} <= ancestors
    assert knowledge.is_phenotypic_abnormality("HP:0001166")
    assert not knowledge.is_phenotypic_abnormality(PHENOTYPIC_ABNORMALITY)
    assert not knowledge.is_phenotypic_abnormality("HP:0000006")
    assert knowledge.information_content("HP:0001166") > knowledge.information_content("HP:0001238") > 0
    assert len(knowledge.phenotypic_abnormality_terms) > 17_000
    assert knowledge.ontology.get_hpo_object("HP:0001166").name == "Arachnodactyly"


def test_term_text_comes_from_hp_obo(knowledge: HpoKnowledge) -> None:
    text = knowledge.term_text("HP:0001166")
    assert text is not None
    assert text.definition is not None and "slender fingers" in text.definition
    assert "Spider fingers" in text.synonyms
    assert "Spider fingers" in text.layperson_synonyms
    assert knowledge.term_text("HP:9999999") is None


def test_unknown_disease_raises_key_error(knowledge: HpoKnowledge) -> None:
    with pytest.raises(KeyError):
        knowledge.disease("OMIM:1")
    assert knowledge.annotations("OMIM:1") == ()
    assert knowledge.genes("OMIM:1") == ()
