"""The ``guidelines`` source: open-medicine's guideline summaries, labelled as summaries, with DOIs and licence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import SMALL_DOCS, ListSource

from corpus_builder.build import run_build
from corpus_builder.sources.base import SOURCES, BuildScope, Reject, Source, SourceInfo
from corpus_builder.sources.catalog import DEFAULT_SOURCES, resolve_source
from corpus_builder.sources.open_medicine import LICENCE, NATURE, TITLE_SUFFIX, OpenMedicineGuidelines
from dxsearch.cases import Case, Finding
from dxsearch.corpus import Document, DocumentKind
from dxsearch.env import DiagnosticEnv
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings

AF_DOI = "10.1161/CIR.0000000000001193"  # 2023 ACC/AHA/ACCP/HRS atrial fibrillation guideline, first in the registry


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    items = list(OpenMedicineGuidelines().iter_items())
    assert not [item for item in items if isinstance(item, Reject)]
    return [item for item in items if isinstance(item, Document)]


def test_registered_as_guidelines_and_in_the_default_corpus() -> None:
    source = resolve_source("guidelines", BuildScope())
    assert isinstance(source, Source) and isinstance(source, OpenMedicineGuidelines)
    assert "guidelines" in SOURCES and "guidelines" in DEFAULT_SOURCES


def test_every_section_is_a_guideline_document_labelled_as_a_summary_with_its_doi(documents: list[Document]) -> None:
    source = OpenMedicineGuidelines()
    sections = sum(len(entry["sections"]) for entry in source.registry)
    assert len(documents) == sections >= 140 and len(source.registry) >= 40
    assert len({d.id for d in documents}) == len(documents)
    for document in documents:
        assert document.kind is DocumentKind.GUIDELINE and document.id.startswith("gl:")
        assert document.title.endswith(TITLE_SUFFIX)
        extra = document.metadata.extra
        assert extra["doi"].startswith("10.") and extra["references"] == [f"doi:{extra['doi']}"]
        assert extra["nature"] == NATURE
        assert document.metadata.licence == LICENCE and document.metadata.source == "guidelines"
        assert f"doi:{extra['doi']}. Summary by the open-medicine maintainers" in document.text
        assert "OpenMedicine Calculator" not in document.text  # tools this system does not serve


def test_the_manifest_info_names_licence_version_and_every_doi() -> None:
    info = OpenMedicineGuidelines().info
    assert info.name == "guidelines" and "MIT" in info.licence and "not the guidelines' text" in info.licence
    assert info.versions == {"open-medicine": "0.12.0"}
    assert len(info.references) == len({entry["doi"] for entry in OpenMedicineGuidelines().registry})
    assert f"doi:{AF_DOI}" in info.references


class _First:
    """The first ``n`` documents of a source, under the source's own info (a small build)."""

    def __init__(self, source: OpenMedicineGuidelines, n: int) -> None:
        self._source = source
        self._n = n

    @property
    def info(self) -> SourceInfo:
        return self._source.info

    def iter_items(self) -> Iterator[Document | Reject]:
        for number, item in enumerate(self._source.iter_items()):
            if number >= self._n:
                return
            yield item


def test_a_small_build_indexes_guidelines_with_doi_and_licence_and_a_lookup_reaches_one(
    tmp_path: Path, test_settings: Settings
) -> None:
    guidelines = _First(OpenMedicineGuidelines(), 6)
    manifest = run_build(tmp_path / "index", [ListSource("test-docs", list(SMALL_DOCS)), guidelines], test_settings)
    report = next(s for s in manifest.sources if s["name"] == "guidelines")
    assert report["documents"] == 6 and report["rejects"] == 0
    assert report["licence"] == LICENCE and f"doi:{AF_DOI}" in report["references"]
    assert report["versions"] == {"open-medicine": "0.12.0"}

    index = EmbeddedIndex(tmp_path / "index", test_settings)
    try:
        env = DiagnosticEnv(index.retriever("hybrid"))
        env.reset(Case(case_id="af", findings=(Finding(label="Atrial fibrillation", hpo_id="HP:0005110"),)))
        result = env.step("<lookup>atrial fibrillation anticoagulation CHA2DS2-VASc</lookup>")
        assert result.observation is not None and result.observation.passages
        first = result.observation.passages[0]
        found = index.store.document(first.evidence_id.split("#")[0])
        assert found is not None and found.kind is DocumentKind.GUIDELINE
        assert found.metadata.extra["doi"] == AF_DOI and found.metadata.licence == LICENCE
    finally:
        index.close()
