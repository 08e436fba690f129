"""HpoKnowledge on the real release files: hpo3 (2025-11) for the ontology, phenotype.hpoa rows for diseases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dxsearch.knowledge.hpo import (
    PHENOTYPIC_ABNORMALITY,
    ROOT,
    HpoDataMissingError,
    HpoKnowledge,
    get_hpo_knowledge,
    read_publication_list,
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


def test_disease_knowledge_comes_from_the_rows_only(knowledge: HpoKnowledge) -> None:
    """hpo3 gives the ontology; its built-in disease term sets (no references) never reach a disease."""
    for disease_id in ("OMIM:154700", "ORPHA:558", "OMIM:607565"):
        rows = knowledge.annotations(disease_id)
        annotated = {r.term_id for r in rows if r.aspect == "P"}
        assert set(knowledge.disease(disease_id).phenotype_ids) <= annotated
    ids = knowledge.disease_ids()
    assert len(knowledge.disease_ids("OMIM")) == 8359
    assert len(knowledge.disease_ids("ORPHA")) == 4281
    assert ids == sorted(set(ids), key=ids.index)


def test_excluding_a_publication_drops_its_rows_before_anything_is_derived(knowledge: HpoKnowledge) -> None:
    marfan_rows = knowledge.annotations("OMIM:154700")
    pmid = next(p for r in marfan_rows for p in r.pmids)
    citing = [r for d in knowledge.disease_ids() for r in knowledge.annotations(d) if pmid in r.pmids]
    filtered = HpoKnowledge(get_settings().hpo_data_dir, excluded_publications=[pmid.removeprefix("PMID:")])
    assert filtered.excluded_publications == frozenset({pmid})
    assert filtered.dropped_rows == len(citing) > 0
    assert pmid in knowledge.cited_publications()
    assert pmid not in filtered.cited_publications()
    kept = filtered.annotations("OMIM:154700")
    assert len(kept) == len(marfan_rows) - sum(r.disease_id == "OMIM:154700" for r in citing)
    assert all(pmid not in r.pmids for r in kept)
    # A phenotype only that publication supported is gone; one others support stays, its frequency
    # pooled from the remaining rows alone.
    only_there = {r.term_id for r in citing if r.disease_id == "OMIM:154700"} - {r.term_id for r in kept}
    assert not only_there & set(filtered.disease("OMIM:154700").phenotype_ids)
    assert filtered.disease("OMIM:154700").pmids == tuple(sorted({p for r in kept for p in r.pmids}))


def test_information_content_is_computed_from_the_kept_rows(knowledge: HpoKnowledge) -> None:
    assert knowledge.information_content(PHENOTYPIC_ABNORMALITY) == 0.0
    arachnodactyly = knowledge.information_content("HP:0001166")
    assert 3.0 < arachnodactyly < 7.0
    assert knowledge.information_content("HP:9999999") == 0.0
    # A term no disease is annotated with (at or below) takes its most informative annotated ancestor's value.
    annotated: set[str] = set()
    for disease in knowledge.diseases("OMIM"):
        for term_id in disease.phenotype_ids:
            annotated |= {term_id, *knowledge.ancestors(term_id)}
    unannotated = next(t for t in knowledge.phenotypic_abnormality_terms if t not in annotated)
    expected = max(knowledge.information_content(a) for a in knowledge.ancestors(unannotated) if a in annotated)
    assert knowledge.information_content(unannotated) == expected > 0


def test_the_same_exclusions_give_the_same_knowledge_object() -> None:
    unfiltered = get_hpo_knowledge()
    assert get_hpo_knowledge([]) is unfiltered
    first = get_hpo_knowledge(["PMID:20301510", "12345"])
    assert get_hpo_knowledge(["PMID:12345", "20301510"]) is first
    assert first is not unfiltered
    with pytest.raises(ValueError, match="not a PMID"):
        get_hpo_knowledge(["doi:10.1/x"])


def test_obsolete_terms_map_to_their_replacement(knowledge: HpoKnowledge) -> None:
    assert knowledge.current_id("HP:0000057") == "HP:0008665"
    assert knowledge.current_id("HP:0001166") == "HP:0001166"
    assert knowledge.current_id("HP:9999999") is None
    # Alternative ids (hp.obo alt_id, unknown to hpo3) read as the term they were merged into.
    assert knowledge.current_id("HP:0000404") == "HP:0000365"
    assert knowledge.current_id("HP:0006746") == "HP:0001067"
    assert not knowledge.has_term("HP:0000404")
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


def test_a_publication_list_reads_pmids_in_either_form_and_names_a_bad_line(tmp_path: Path) -> None:
    listed = tmp_path / "fold.txt"
    listed.write_text("# tuning fold 1\nPMID:123\n\n456  # a comment\npmid:123\n", encoding="utf-8")
    assert read_publication_list(listed) == {"PMID:123", "PMID:456"}
    listed.write_text("PMID:1\n10.1000/xyz\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("fold.txt:2: '10.1000/xyz' is not a PMID")):
        read_publication_list(listed)
