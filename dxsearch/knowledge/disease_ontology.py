"""Disease Ontology terms joined to OMIM and Orphanet ids: the words HPO annotations lack.

HPO annotation files name a disease and list its phenotypes, but carry no
definition and no synonyms; the Disease Ontology (CC0) has both, plus ICD-10-CM
codes, and cross-references OMIM (``MIM:``) and Orphanet (``ORDO:``). The join
is many-to-many: one DO term can group several OMIM entries, and an id can be
cross-referenced by more than one DO term, so lookups return every match with
the most specific first.
"""

from __future__ import annotations

import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from pronto.ontology import Ontology as OboOntology
from pronto.synonym import SynonymType

#: Synonym types the DO subset files use without declaring them; pronto refuses undeclared ones.
_UNDECLARED_SYNONYM_TYPES = (SynonymType("OMO:0003012", "abbreviation"),)


@dataclass(frozen=True, slots=True)
class DoTerm:
    """One Disease Ontology term with the cross-references this project joins on."""

    doid: str
    name: str
    definition: str | None
    exact_synonyms: tuple[str, ...]
    related_synonyms: tuple[str, ...]
    icd10cm: tuple[str, ...]
    omim: tuple[str, ...]
    orpha: tuple[str, ...]

    @property
    def n_mapped(self) -> int:
        """How many OMIM + ORPHA ids the term covers; 1 means a one-to-one mapping."""
        return len(self.omim) + len(self.orpha)


def default_disease_ontology_dir() -> Path:
    """The DO subset files shipped as package data of ``corpus_builder``."""
    return Path(str(files("corpus_builder") / "data" / "disease-ontology"))


def _curie(xref: str) -> str | None:
    """``MIM:154700`` -> ``OMIM:154700``, ``ORDO:558`` -> ``ORPHA:558``; phenotypic series are skipped."""
    prefix, _, local = xref.partition(":")
    if prefix == "MIM" and local.isdigit():
        return f"OMIM:{local}"
    if prefix == "ORDO" and local.isdigit():
        return f"ORPHA:{local}"
    if prefix == "ICD10CM" and local:
        return f"ICD10CM:{local}"
    return None


def _read_terms(path: Path) -> tuple[list[DoTerm], str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ontology = OboOntology(str(path))
    ontology.metadata.synonymtypedefs.update(_UNDECLARED_SYNONYM_TYPES)
    terms: list[DoTerm] = []
    for term in ontology.terms():
        if term.obsolete or not term.id.startswith("DOID:") or not term.name:
            continue
        codes = sorted({c for c in (_curie(x.id) for x in term.xrefs) if c is not None}, key=_code_key)
        exact = sorted({s.description for s in term.synonyms if s.scope == "EXACT"} - {term.name})
        related = sorted({s.description for s in term.synonyms if s.scope == "RELATED"} - {term.name})
        terms.append(
            DoTerm(
                doid=term.id,
                name=term.name,
                definition=str(term.definition) if term.definition else None,
                exact_synonyms=tuple(exact),
                related_synonyms=tuple(related),
                icd10cm=tuple(c for c in codes if c.startswith("ICD10CM:")),
                omim=tuple(c for c in codes if c.startswith("OMIM:")),
                orpha=tuple(c for c in codes if c.startswith("ORPHA:")),
            )
        )
    return terms, ontology.metadata.data_version or "unknown"


def _code_key(code: str) -> tuple[str, int, str]:
    prefix, _, local = code.partition(":")
    return (prefix, int(local) if local.isdigit() else -1, local)


class DiseaseOntology:
    """DO terms from several subset files, deduplicated by DOID, indexed by OMIM and ORPHA id."""

    def __init__(self, paths: Sequence[Path]) -> None:
        if not paths:
            raise FileNotFoundError("no Disease Ontology OBO files given")
        self.versions: dict[str, str] = {}
        self._terms: dict[str, DoTerm] = {}
        for path in sorted(paths):
            if not path.is_file():
                raise FileNotFoundError(f"Disease Ontology file {path} does not exist")
            terms, version = _read_terms(path)
            self.versions[path.stem] = version
            for term in terms:
                self._terms.setdefault(term.doid, term)
        index: dict[str, list[DoTerm]] = defaultdict(list)
        for term in self._terms.values():
            for code in (*term.omim, *term.orpha):
                index[code].append(term)
        self._by_code = {
            code: tuple(sorted(terms, key=lambda t: (t.n_mapped, t.definition is None, t.doid)))
            for code, terms in index.items()
        }

    @classmethod
    def from_directory(cls, directory: Path) -> DiseaseOntology:
        paths = sorted(directory.glob("*.obo"))
        if not paths:
            raise FileNotFoundError(f"no Disease Ontology .obo files in {directory}")
        return cls(paths)

    def __len__(self) -> int:
        return len(self._terms)

    def __contains__(self, doid: object) -> bool:
        return doid in self._terms

    def term(self, doid: str) -> DoTerm:
        """The term with this DOID; ``KeyError`` if none of the files has it."""
        return self._terms[doid]

    def terms(self) -> Iterable[DoTerm]:
        return self._terms.values()

    def for_disease(self, curie: str) -> tuple[DoTerm, ...]:
        """DO terms cross-referencing ``OMIM:nnn`` or ``ORPHA:nnn``, most specific first."""
        return self._by_code.get(curie, ())

    def primary(self, curie: str) -> DoTerm | None:
        """The most specific DO term for a disease (fewest mapped ids, then has a definition)."""
        matches = self.for_disease(curie)
        return matches[0] if matches else None

    def equivalent_ids(self, curie: str) -> tuple[str, ...]:
        """OMIM / ORPHA ids DO says mean the same disease as ``curie``: those of a term mapping at most one
        OMIM and at most one ORPHA id (a term grouping several OMIM entries is a group, not a synonym)."""
        found: list[str] = []
        for term in self.for_disease(curie):
            if len(term.omim) <= 1 and len(term.orpha) <= 1:
                found.extend(c for c in (*term.omim, *term.orpha) if c != curie)
        return tuple(dict.fromkeys(found))

    def mapped_ids(self) -> frozenset[str]:
        """Every OMIM and ORPHA CURIE some DO term cross-references."""
        return frozenset(self._by_code)


_LOCK = threading.Lock()
_DEFAULT: DiseaseOntology | None = None


def get_disease_ontology() -> DiseaseOntology:
    """The process-wide DO index over the shipped subset files, parsed on first call (~2 s)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = DiseaseOntology.from_directory(default_disease_ontology_dir())
        return _DEFAULT
