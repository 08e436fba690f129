"""Source ``hpo-diseases``: one ``disease_knowledge`` document per annotated OMIM / Orphanet disease.

The text is short labelled lines, one phenotype per line, so that a BM25
engine sees every feature name, a sentence embedder gets coherent chunks when
the chunker splits on lines, and an LLM reads it as a summary card. Words come
from HPO (names, frequencies, inheritance, onset, genes) and, where a Disease
Ontology term maps the disease, from DO (definition, synonyms, ICD-10-CM).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator
from functools import cached_property

from pydantic import ValidationError

from corpus_builder.sources.base import SOURCES, BuildScope, Reject, SourceInfo
from dxsearch.corpus import Document, DocumentKind, DocumentMetadata
from dxsearch.knowledge.disease_ontology import DiseaseOntology, DoTerm, get_disease_ontology
from dxsearch.knowledge.hpo import Disease, HpoKnowledge, get_hpo_knowledge

SOURCE_NAME = "hpo-diseases"
LICENCE = "HPO annotations: HPO licence (cite the Human Phenotype Ontology Consortium); Disease Ontology: CC0 1.0"
CITATION = (
    "Gargano MA et al. The Human Phenotype Ontology in 2024: phenotypes around the world. "
    "Nucleic Acids Res 2024;52(D1):D1333-D1346. "
    "Baron JA et al. The DO-KB Knowledgebase: a 20-year journey developing the disease open science "
    "ecosystem. Nucleic Acids Res 2024;52(D1):D1305-D1314."
)
PREFIXES = ("OMIM", "ORPHA")
_LINE_WIDTH = 200


def _wrapped(label: str, items: Iterable[str]) -> list[str]:
    """``label: a, b, c`` split over lines of at most ~200 characters, so no line outgrows a chunk."""
    text = ", ".join(items)
    if not text:
        return []
    lines = textwrap.wrap(text, width=_LINE_WIDTH, break_long_words=False, break_on_hyphens=False)
    return [f"{label}: {lines[0]}", *(f"{label} (continued): {line}" for line in lines[1:])]


def _synonym_terms(disease: Disease, matches: tuple[DoTerm, ...]) -> list[DoTerm]:
    """DO terms whose synonyms name this disease: one-to-one mappings, or a term of the same name.

    A DO term that groups several OMIM entries ("Usher syndrome type 1") has
    synonyms for the group, not for each subtype, so those are left out.
    """
    own = disease.name.casefold()
    return [t for t in matches if t.n_mapped == 1 or t.name.casefold() == own]


def equivalent_codes(disease: Disease, matches: tuple[DoTerm, ...], ontology: DiseaseOntology) -> list[str]:
    """Codes DO says mean the same disease (:meth:`DiseaseOntology.equivalent_ids`), then the ICD-10-CM codes
    of the most specific DO term."""
    codes = list(ontology.equivalent_ids(disease.id))
    if matches:
        codes.extend(matches[0].icd10cm)
    return list(dict.fromkeys(codes))


def disease_text(disease: Disease, knowledge: HpoKnowledge, matches: tuple[DoTerm, ...]) -> str:
    """The document body: labelled lines, most informative first."""
    lines = [f"{disease.name} ({disease.id})"]
    names: list[str] = []
    for term in _synonym_terms(disease, matches):
        if term.name.casefold() != disease.name.casefold():
            names.append(term.name)
        names.extend(term.exact_synonyms)
        names.extend(term.related_synonyms)
    own = disease.name.casefold()
    names = [n for n in dict.fromkeys(names) if n.casefold() != own]
    lines.extend(_wrapped("Also known as", names))
    primary = matches[0] if matches else None
    if primary is not None and primary.definition:
        about = "" if primary.name.casefold() == own else f", {primary.name}"
        lines.append(f"Definition (Disease Ontology{about}): {primary.definition}")
    lines.extend(_wrapped("Inheritance", (knowledge.term_name(t) for t in disease.inheritance)))
    lines.extend(_wrapped("Onset", (knowledge.term_name(t) for t in disease.onset)))
    lines.extend(_wrapped("Clinical course", (knowledge.term_name(t) for t in disease.clinical_course)))
    lines.extend(_wrapped("Genes", disease.genes))
    lines.append("Clinical features (annotated phenotypes, most frequent first):")
    for phenotype in disease.phenotypes:
        suffix = f" ({phenotype.frequency.label})" if phenotype.frequency is not None else ""
        lines.append(f"- {phenotype.name}{suffix}")
    if disease.excluded:
        lines.append("Not a feature:")
        lines.extend(f"- {knowledge.term_name(t)}" for t in disease.excluded)
    return "\n".join(lines)


def disease_document(disease: Disease, knowledge: HpoKnowledge, ontology: DiseaseOntology) -> Document:
    """The ``disease_knowledge`` document of one disease; raises ``ValidationError`` on bad input."""
    matches = ontology.for_disease(disease.id)
    prefix, _, local = disease.id.partition(":")
    hp_codes = (*disease.phenotype_ids, *disease.inheritance, *disease.onset, *disease.clinical_course)
    codes = tuple(dict.fromkeys((disease.id, *equivalent_codes(disease, matches, ontology), *hp_codes)))
    return Document(
        id=f"{prefix.lower()}:{local}",
        kind=DocumentKind.DISEASE_KNOWLEDGE,
        title=disease.name,
        text=disease_text(disease, knowledge, matches),
        metadata=DocumentMetadata(
            source=SOURCE_NAME,
            licence=LICENCE,
            codes=codes,
            extra={
                prefix.lower(): disease.id,
                "doid": matches[0].doid if matches else None,
                "genes": list(disease.genes),
                "n_phenotypes": len(disease.phenotypes),
            },
        ),
    )


class HpoDiseasesSource:
    """Yields one document per OMIM and ORPHA disease with at least one annotated phenotype."""

    def __init__(
        self,
        knowledge: HpoKnowledge | None = None,
        ontology: DiseaseOntology | None = None,
        prefixes: tuple[str, ...] = PREFIXES,
    ) -> None:
        self._knowledge = knowledge
        self._ontology = ontology
        self.prefixes = prefixes
        self.skipped_without_phenotypes = 0

    @cached_property
    def knowledge(self) -> HpoKnowledge:
        return self._knowledge or get_hpo_knowledge()

    @cached_property
    def ontology(self) -> DiseaseOntology:
        return self._ontology or get_disease_ontology()

    @cached_property
    def info(self) -> SourceInfo:
        versions = dict(self.knowledge.versions)
        versions.update({f"disease_ontology:{name}": v for name, v in sorted(self.ontology.versions.items())})
        return SourceInfo(
            name=SOURCE_NAME,
            description=(
                "Disease cards from HPO annotation rows (phenotype.hpoa; hpo3 for the ontology) and the Disease "
                f"Ontology; {self.knowledge.dropped_rows} rows citing "
                f"{len(self.knowledge.excluded_publications)} excluded publications left out"
            ),
            licence=LICENCE,
            versions=versions,
            citation=CITATION,
        )

    def iter_items(self) -> Iterator[Document | Reject]:
        self.skipped_without_phenotypes = 0
        for prefix in self.prefixes:
            for disease in self.knowledge.diseases(prefix):
                if not disease.phenotypes:
                    self.skipped_without_phenotypes += 1
                    continue
                try:
                    yield disease_document(disease, self.knowledge, self.ontology)
                except (ValidationError, KeyError) as exc:
                    yield Reject(source=SOURCE_NAME, location=f"phenotype.hpoa#{disease.id}", reason=str(exc))


@SOURCES.register(SOURCE_NAME)
def hpo_diseases_source(scope: BuildScope) -> HpoDiseasesSource:
    """Factory for ``corpus-builder build --source hpo-diseases``: cards from the rows the scope keeps."""
    return HpoDiseasesSource(knowledge=scope.knowledge)
