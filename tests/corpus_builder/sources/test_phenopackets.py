"""The shipped published cases: split counts, the held-out side never indexed, documents via FHIR."""

from __future__ import annotations

import time

import pytest

from corpus_builder.sources.base import SOURCES, Reject
from corpus_builder.sources.phenopackets import (
    LICENCE,
    PhenopacketSource,
    heldout_phenopacket_cases,
    index_phenopacket_cases,
    split_counts,
    tuning_folds,
)
from dxsearch.corpus import Document, DocumentKind
from dxsearch.knowledge.hpo import publication_id

#: Rows in cases.jsonl; one (line 2683) lists no phenotypes and is rejected.
TOTAL_ROWS = 3753


def test_split_counts_cover_every_row_and_publications_do_not_overlap() -> None:
    counts = split_counts()
    assert counts.index_cases + counts.heldout_cases + counts.rejected_rows == TOTAL_ROWS
    assert counts.rejected_rows == 1
    heldout = heldout_phenopacket_cases()
    index = index_phenopacket_cases()
    assert len(heldout) == counts.heldout_cases and len(index) == counts.index_cases
    assert {c.pmid for c in heldout}.isdisjoint({c.pmid for c in index})
    assert len({c.pmid for c in heldout}) == counts.heldout_publications
    assert 0.15 < counts.heldout_publications / (counts.heldout_publications + counts.index_publications) < 0.25


def test_tuning_folds_are_disjoint_index_side_shares_drawn_the_same_way_every_time() -> None:
    folds = tuning_folds(4, 0.07)
    index_side = {publication_id(c.pmid or "") for c in index_phenopacket_cases()} - {None}
    heldout = {publication_id(c.pmid or "") for c in heldout_phenopacket_cases()}
    assert len(folds) == 4 and all(folds)
    for number, fold in enumerate(folds):
        assert fold <= index_side and fold.isdisjoint(heldout)
        assert 0.04 < len(fold) / len(index_side) < 0.10  # about 7% each
        assert all(fold.isdisjoint(other) for other in folds[number + 1 :])
    assert tuning_folds(4, 0.07) == folds
    # Fold k of a smaller share is the same draw cut finer: the first fold of 14% holds the first two of 7%.
    assert tuning_folds(1, 0.14)[0] == folds[0] | folds[1]
    with pytest.raises(ValueError, match="folds \\* share <= 1"):
        tuning_folds(3, 0.4)


def test_registered_source_yields_index_side_patient_records() -> None:
    assert "phenopackets" in SOURCES
    source = PhenopacketSource(limit=60)
    assert source.info.licence == LICENCE
    assert f"{source.counts.index_cases} cases" in source.info.description
    heldout_ids = {c.case.case_id for c in heldout_phenopacket_cases()}
    index_cases = {c.case.case_id: c for c in index_phenopacket_cases()[:60]}
    docs = [item for item in source.iter_items() if isinstance(item, Document)]
    assert len(docs) == 60
    assert len({d.id for d in docs}) == 60
    for doc, case in zip(docs, index_cases.values(), strict=True):
        assert doc.kind is DocumentKind.PATIENT_RECORD
        assert doc.id.startswith("pt:")
        assert case.case.case_id not in doc.model_dump_json()  # the case id only feeds the pseudonym
        assert case.case.case_id not in heldout_ids
        assert doc.metadata.codes[0] == case.gold.id
        assert f"Diagnosis: {case.gold.label} ({case.gold.id})" in doc.text
        assert f"Publication: {case.pmid}" in doc.text
        observed = [f.label for f in case.case.findings if not f.excluded]
        assert f"Observed findings: {'; '.join(observed)}" in doc.text


@pytest.mark.slow
def test_all_index_cases_convert_through_fhir() -> None:
    source = PhenopacketSource()
    started = time.perf_counter()
    items = list(source.iter_items())
    elapsed = time.perf_counter() - started
    docs = [item for item in items if isinstance(item, Document)]
    rejects = [item for item in items if isinstance(item, Reject)]
    assert len(docs) == source.counts.index_cases
    assert len({d.id for d in docs}) == len(docs)
    assert [r.location.rsplit(":", 1)[1] for r in rejects] == ["2683"]
    assert "phenotypes" in rejects[0].reason
    print(f"{len(docs)} index cases through FHIR in {elapsed:.1f} s")
