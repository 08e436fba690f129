"""The hpo-diseases source builds every disease card from the real HPO and DO files."""

from __future__ import annotations

import re
import time

import pytest

from corpus_builder.sources.base import SOURCES, BuildScope, Reject, Source
from corpus_builder.sources.hpo_diseases import LICENCE, HpoDiseasesSource, hpo_diseases_source
from dxsearch.corpus import Document, DocumentKind
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.settings import get_settings


@pytest.fixture(scope="module")
def built() -> tuple[HpoDiseasesSource, list[Document], list[Reject], float]:
    source = HpoDiseasesSource()
    started = time.perf_counter()
    items = list(source.iter_items())
    elapsed = time.perf_counter() - started
    documents = [i for i in items if isinstance(i, Document)]
    rejects = [i for i in items if isinstance(i, Reject)]
    return source, documents, rejects, elapsed


@pytest.fixture(scope="module")
def by_id(built: tuple[HpoDiseasesSource, list[Document], list[Reject], float]) -> dict[str, Document]:
    return {d.id: d for d in built[1]}


def test_registered_and_satisfies_the_source_protocol() -> None:
    source = SOURCES.get("hpo-diseases")(BuildScope())
    assert isinstance(source, Source)
    assert isinstance(source, HpoDiseasesSource)
    assert source.knowledge is get_hpo_knowledge()


def test_a_scope_with_exclusions_builds_cards_from_the_kept_rows_only() -> None:
    """Leave-publication-out reaches the cards: a phenotype only an excluded paper supports is not on them."""
    knowledge = get_hpo_knowledge()
    marfan_pmids = {p for r in knowledge.annotations("OMIM:154700") for p in r.pmids}
    source = hpo_diseases_source(BuildScope(frozenset(marfan_pmids)))
    assert source.knowledge.excluded_publications == frozenset(marfan_pmids)
    kept = source.knowledge.disease("OMIM:154700")
    assert not kept.pmids
    assert len(kept.phenotypes) < len(knowledge.disease("OMIM:154700").phenotypes)
    assert f"{source.knowledge.dropped_rows} rows citing {len(marfan_pmids)} excluded" in source.info.description


def test_one_document_per_annotated_omim_and_orpha_disease(
    built: tuple[HpoDiseasesSource, list[Document], list[Reject], float], by_id: dict[str, Document]
) -> None:
    source, documents, rejects, _elapsed = built
    assert rejects == []
    assert len(by_id) == len(documents)
    knowledge = get_hpo_knowledge()
    expected = [d.id for p in ("OMIM", "ORPHA") for d in knowledge.diseases(p) if d.phenotypes]
    assert [d.metadata.codes[0] for d in documents] == expected
    assert 12_500 < len(documents) < 12_700  # phenotype.hpoa 2025-01 rows only (hpo3 lends the ontology)
    assert source.skipped_without_phenotypes == len(knowledge.disease_ids("OMIM")) + len(
        knowledge.disease_ids("ORPHA")
    ) - len(expected)
    for document in documents:
        assert re.fullmatch(r"(omim|orpha):\d+", document.id)
        assert document.kind is DocumentKind.DISEASE_KNOWLEDGE
        assert document.metadata.source == "hpo-diseases"
        assert document.metadata.licence == LICENCE
        assert document.metadata.extra["n_phenotypes"] >= 1
        assert document.text.count("\n- ") >= document.metadata.extra["n_phenotypes"]


def test_marfan_card(by_id: dict[str, Document]) -> None:
    marfan = by_id["omim:154700"]
    assert marfan.title == "Marfan syndrome"
    lines = marfan.text.splitlines()
    assert lines[0] == "Marfan syndrome (OMIM:154700)"
    assert "Also known as: Marfan's syndrome" in lines
    assert any(line.startswith("Definition (Disease Ontology): A connective tissue disease") for line in lines)
    assert "Inheritance: Autosomal dominant inheritance" in lines
    assert "Genes: FBN1" in lines
    assert any(line.startswith("- Arachnodactyly (frequent, ") for line in lines)
    assert any(line.startswith("- Ectopia lentis") for line in lines)
    codes = marfan.metadata.codes
    assert codes[0] == "OMIM:154700"
    assert {"ICD10CM:Q87.4", "HP:0001166", "HP:0001083", "HP:0000006"} <= set(codes)
    assert marfan.metadata.extra == {
        "omim": "OMIM:154700",
        "doid": "DOID:14323",
        "genes": ["FBN1"],
        "n_phenotypes": len(get_hpo_knowledge().disease("OMIM:154700").phenotypes),
    }
    orpha = by_id["orpha:558"]
    assert orpha.title == "Marfan syndrome"
    assert "- Arachnodactyly (very frequent, 80-99%)" in orpha.text.splitlines()
    assert orpha.metadata.extra["orpha"] == "ORPHA:558"


def test_features_are_listed_most_frequent_first(by_id: dict[str, Document]) -> None:
    knowledge = get_hpo_knowledge()
    for doc_id, curie in (("omim:154700", "OMIM:154700"), ("orpha:558", "ORPHA:558")):
        lines = by_id[doc_id].text.splitlines()
        start = lines.index("Clinical features (annotated phenotypes, most frequent first):") + 1
        names = [line[2:].split(" (")[0] for line in lines[start:] if line.startswith("- ")]
        expected = [p.name for p in knowledge.disease(curie).phenotypes]
        assert names[: len(expected)] == expected


def test_absent_features_are_stated_and_not_coded(by_id: dict[str, Document]) -> None:
    knowledge = get_hpo_knowledge()
    disease = next(d for d in knowledge.diseases("ORPHA") if d.excluded and d.phenotypes)
    document = by_id[disease.id.lower()]
    assert "Not a feature:" in document.text
    assert f"- {knowledge.term_name(disease.excluded[0])}" in document.text.split("Not a feature:")[1]
    assert not set(disease.excluded) & set(document.metadata.codes)


def test_group_terms_give_definition_but_not_synonyms(by_id: dict[str, Document]) -> None:
    # OMIM:276900 (Usher 1B) maps to its own DO term first, then to the "Usher syndrome type 1" group.
    usher = by_id["omim:276900"]
    assert usher.metadata.extra["doid"] == "DOID:0070655"
    assert "Definition (Disease Ontology, Usher syndrome type 1B): " in usher.text
    aliases = next(line for line in usher.text.splitlines() if line.startswith("Also known as: "))
    assert "Usher syndrome type 1B" in aliases
    assert "Usher syndrome type 1," not in aliases and not aliases.endswith("Usher syndrome type 1")


def test_lines_fit_a_chunk(built: tuple[HpoDiseasesSource, list[Document], list[Reject], float]) -> None:
    limit = get_settings().chunk_max_chars
    assert all(len(line) <= limit for d in built[1] for line in d.text.splitlines())


def test_coverage_of_do_genes_and_frequencies(
    built: tuple[HpoDiseasesSource, list[Document], list[Reject], float],
) -> None:
    documents = built[1]
    assert sum("\nDefinition (Disease Ontology" in d.text for d in documents) > 3500
    assert sum("\nAlso known as: " in d.text for d in documents) > 1500
    assert sum(bool(d.metadata.extra["genes"]) for d in documents) > 8000
    assert sum(" patients)" in d.text or "%)" in d.text for d in documents) > 9500


def test_info_records_versions_and_licence(
    built: tuple[HpoDiseasesSource, list[Document], list[Reject], float],
) -> None:
    info = built[0].info
    assert info.name == "hpo-diseases"
    assert info.licence == LICENCE
    assert info.versions["hpo3"] == "1.5.1"
    assert info.versions["hp_obo_data_version"] == "hp/releases/2025-01-16"
    assert info.versions["phenotype_hpoa_date"] == "2025-01-16"
    assert info.versions["disease_ontology:DO_rare_slim"].startswith("doid/releases/2026-07-31")
    assert info.citation and "Human Phenotype Ontology" in info.citation


def test_documents_are_reproducible(by_id: dict[str, Document]) -> None:
    again = next(d for d in HpoDiseasesSource().iter_items() if isinstance(d, Document))
    assert again.content_hash() == by_id[again.id].content_hash()
