"""The shipped published cases (GA4GH Phenopacket Store), split by publication.

The index side becomes patient-record documents for case-based retrieval, with
the diagnosis in the record (finding similar patients is only useful if their
diagnoses come along). The held-out side is never indexed: it is what
:func:`heldout_phenopacket_cases` hands to evaluation. The split is by PMID
(:mod:`dxsearch.intake.splits`), so no publication is on both sides.

Each case goes LabelledCase -> FHIR Bundle -> :func:`parse_bundle` ->
:func:`patient_document`, the same path a user's FHIR export takes, so the
shipped corpus continuously exercises (and tests) the FHIR route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from corpus_builder.fhir_bundles import case_to_bundle, patient_document
from corpus_builder.sources.base import SOURCES, BuildScope, Reject, Source, SourceInfo
from dxsearch.cases import CaseFileError, LabelledCase, iter_phenopacket_rows
from dxsearch.corpus import Document
from dxsearch.intake.fhir import BundleError, FhirVersion, parse_bundle
from dxsearch.intake.splits import (
    DEFAULT_HELDOUT_FRACTION,
    DEFAULT_SALT,
    Side,
    publication_split,
    split_key,
    split_position,
)
from dxsearch.knowledge.hpo import publication_id
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.settings import get_settings

SOURCE_NAME = "phenopackets"
LICENCE = "BSD-3-Clause (GA4GH Phenopacket Store, Monarch Initiative)"
CITATION = "GA4GH Phenopacket Store, Monarch Initiative (source commit b694d17); see data/phenopackets/README.md"
#: Pseudonym namespace of phenopacket case ids, wherever the rows come from (same case, same id).
ORIGIN_NAMESPACE = "phenopackets"
CASES_PATH = Path(__file__).resolve().parents[1] / "data" / "phenopackets" / "cases.jsonl"


class SplitCounts(BaseModel):
    """Cases and publications on each side of the split (and unreadable rows)."""

    model_config = ConfigDict(frozen=True)

    index_cases: int
    heldout_cases: int
    index_publications: int
    heldout_publications: int
    rejected_rows: int


def labelled_case_document(
    labelled: LabelledCase,
    *,
    source: str,
    licence: str,
    pseudonymiser: Pseudonymiser,
    origin_namespace: str = ORIGIN_NAMESPACE,
    fhir_version: FhirVersion = "R4B",
) -> Document:
    """A published case as a patient-record document, built through its FHIR Bundle.

    The PMID is shown in the record: it is a public publication, and it lets a
    reader check the case at its source.
    """
    bundle = case_to_bundle(labelled, fhir_version=fhir_version)
    (patient,) = parse_bundle(bundle, fhir_version=fhir_version).patients
    return patient_document(
        patient,
        source=source,
        licence=licence,
        pseudonymiser=pseudonymiser,
        origin_namespace=origin_namespace,
        publication=patient.publication,
    )


def iter_split_cases(path: Path = CASES_PATH) -> Iterator[tuple[Side, LabelledCase] | CaseFileError]:
    """Every row of a phenopacket file with its side of the split, or the row's error."""
    for item in iter_phenopacket_rows(path):
        if isinstance(item, CaseFileError):
            yield item
            continue
        labelled = item.to_labelled_case()
        yield publication_split(labelled.pmid, labelled.case.case_id), labelled


def heldout_phenopacket_cases(path: Path = CASES_PATH) -> list[LabelledCase]:
    """The held-out side: for evaluation only, never indexed. Unreadable rows are skipped (see the source)."""
    return [item[1] for item in iter_split_cases(path) if not isinstance(item, CaseFileError) and item[0] == "heldout"]


def index_phenopacket_cases(path: Path = CASES_PATH) -> list[LabelledCase]:
    """The index side, as cases (the source turns them into documents)."""
    return [item[1] for item in iter_split_cases(path) if not isinstance(item, CaseFileError) and item[0] == "index"]


def split_counts(path: Path = CASES_PATH) -> SplitCounts:
    """How many cases and publications each side holds."""
    cases = {"index": 0, "heldout": 0}
    publications: dict[str, set[str]] = {"index": set(), "heldout": set()}
    rejected = 0
    for item in iter_split_cases(path):
        if isinstance(item, CaseFileError):
            rejected += 1
            continue
        side, labelled = item
        cases[side] += 1
        publications[side].add(split_key(labelled.pmid, labelled.case.case_id))
    return SplitCounts(
        index_cases=cases["index"],
        heldout_cases=cases["heldout"],
        index_publications=len(publications["index"]),
        heldout_publications=len(publications["heldout"]),
        rejected_rows=rejected,
    )


class PhenopacketSource:
    """The index side of a phenopacket file as patient-record documents; bad rows as rejects.

    ``limit`` stops after that many index-side cases (for quick checks and tests).
    """

    def __init__(
        self,
        path: Path = CASES_PATH,
        *,
        pseudonymiser: Pseudonymiser | None = None,
        limit: int | None = None,
    ) -> None:
        self.path = path
        self._pseudonymiser = pseudonymiser or Pseudonymiser(get_settings().pseudonym_key)
        self._limit = limit

    @cached_property
    def counts(self) -> SplitCounts:
        return split_counts(self.path)

    @cached_property
    def info(self) -> SourceInfo:
        counts = self.counts
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return SourceInfo(
            name=SOURCE_NAME,
            description=(
                f"published rare-disease cases, index side of the by-publication split: "
                f"{counts.index_cases} cases from {counts.index_publications} publications "
                f"({counts.heldout_cases} cases from {counts.heldout_publications} publications held out, "
                f"never indexed)"
            ),
            licence=LICENCE,
            versions={
                "cases.jsonl sha256": digest,
                "split": f"{DEFAULT_SALT}, heldout_fraction={DEFAULT_HELDOUT_FRACTION}, by PMID",
            },
            citation=CITATION,
        )

    def iter_items(self) -> Iterator[Document | Reject]:
        emitted = 0
        for item in iter_split_cases(self.path):
            if isinstance(item, CaseFileError):
                yield Reject(source=SOURCE_NAME, location=f"{item.path}:{item.line}", reason=item.reason)
                continue
            side, labelled = item
            if side != "index":
                continue
            if self._limit is not None and emitted >= self._limit:
                return
            emitted += 1
            try:
                yield labelled_case_document(
                    labelled, source=SOURCE_NAME, licence=LICENCE, pseudonymiser=self._pseudonymiser
                )
            except BundleError as exc:
                location = f"{self.path}#{labelled.case.case_id}/{exc.path}"
                yield Reject(source=SOURCE_NAME, location=location, reason=exc.reason)
            except ValueError as exc:
                yield Reject(source=SOURCE_NAME, location=f"{self.path}#{labelled.case.case_id}", reason=str(exc))


@SOURCES.register(SOURCE_NAME)
def phenopackets_source(scope: BuildScope) -> Source:
    """The shipped cases' index side (``corpus-builder build --source phenopackets``).

    Cases of excluded publications are left out by the builder, like any document of theirs.
    """
    return PhenopacketSource()


#: Salt of the tuning folds: a draw independent of the held-out split's.
TUNING_SALT = "dxsearch-tuning-folds-v1"


def tuning_folds(folds: int, share: float, *, salt: str = TUNING_SALT, path: Path = CASES_PATH) -> list[frozenset[str]]:
    """``folds`` disjoint sets of index-side PMIDs, each about ``share`` of the index side's publications.

    A fold is left out of a tuning index (records and annotation rows), so its cases meet that index
    as held-out cases meet the real one. Fold k holds the publications whose place under ``salt``
    falls in [k * share, (k + 1) * share): a small share keeps the tuning index nearly as full as the
    real one, and several folds give enough cases. Cases without a PMID are left out (no index build
    can exclude them by publication).
    """
    if folds < 1 or share <= 0.0 or folds * share > 1.0:
        raise ValueError(f"need folds >= 1 and 0 < share with folds * share <= 1, got {folds} x {share}")
    chosen: list[set[str]] = [set() for _ in range(folds)]
    for labelled in index_phenopacket_cases(path):
        pmid = publication_id(labelled.pmid or "")
        if pmid is None:
            continue
        fold = int(split_position(pmid, labelled.case.case_id, salt=salt) // share)
        if fold < folds:
            chosen[fold].add(pmid)
    return [frozenset(fold) for fold in chosen]


def heldout_publications(path: Path = CASES_PATH) -> frozenset[str]:
    """The PMIDs of the held-out side: what a leakage-controlled build leaves out of disease knowledge too."""
    return frozenset(
        pmid for labelled in heldout_phenopacket_cases(path) if (pmid := publication_id(labelled.pmid or ""))
    )
