"""Which OMIM / Orphanet codes and disease names mean the same disease, for finding decisions by diagnosis.

Why: a decision records the code the corpus document carried (``OMIM:154700``) while an auditor may ask
for ``ORPHA:558`` or "Marfan syndrome"; an exact-key filter would silently miss it. The answer is a set
of codes and names to match, computed here from the release files the project already ships offline,
never from a hand-written table:

- **Disease Ontology cross-references** (CC0, ``corpus_builder/data/disease-ontology``): a DO term that
  maps at most one OMIM and at most one ORPHA id makes those two the same disease, the rule the corpus
  already uses for its disease documents (:meth:`DiseaseOntology.equivalent_ids`). Its name and exact
  synonyms name that disease when the term maps exactly one id (the evaluation's synonym rule).
- **HPO disease labels** (hpo3, the project's pinned HPO release): every annotated OMIM and ORPHA disease
  with its name. A name that HPO and DO give to at most one code of each namespace links those codes
  (HPO labels ``OMIM:154700`` and ``ORPHA:558`` both "Marfan syndrome"; DO has no ORDO cross-reference for
  it). A name shared by several codes of one namespace ("Usher syndrome") links nothing, so an
  ambiguous label never merges two diseases; asked for directly, it still finds every code that bears it.

The equivalence is the closure over those links from the asked code (or from the codes the asked name
names), bounded by :data:`MAX_CODES`.

Apart from equivalence, :meth:`DiseaseEquivalents.subtype_heads` names the disease an Orphanet subtype
("Neurofibromatosis type 1 due to NF1 mutation or intragenic deletion") is a form of (``OMIM:162200``), so
a differential shows one entry for both; the search (:meth:`~DiseaseEquivalents.expand`) does not follow it.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dxsearch.corpus import normalise_name
from dxsearch.knowledge.disease_ontology import DiseaseOntology, get_disease_ontology
from dxsearch.knowledge.hpo import get_hpo_knowledge, load_hpo3

#: A disease code as decisions record them: ``OMIM:154700``, ``ORPHA:558`` (any prefix, any case).
DISEASE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*:[A-Za-z0-9_.\-]+")
#: At most this many codes in one equivalence (a safety bound on the SQL the filter becomes).
MAX_CODES = 32
#: How an Orphanet subtype's name joins its disease's to what makes it a subtype: "X due to Y".
SUBTYPE_JOIN = " due to "
#: Most genes a disease may have to be the head of a subtype: "Obesity" (ten genes) is a phenotype many
#: monogenic diseases share, and folding "Obesity due to leptin deficiency" into it would hide the diagnosis.
MAX_HEAD_GENES = 3


def canonical_code(code: str) -> str:
    """``omim:154700`` -> ``OMIM:154700``: the prefix upper-cased as HPO and DO write it."""
    prefix, _, local = code.strip().partition(":")
    return f"{prefix.upper()}:{local}"


@dataclass(frozen=True, slots=True)
class Equivalence:
    """What one filter value stands for: the codes and names a matching decision may carry."""

    asked: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    #: Whether HPO or DO knows the value (a code or a name of some disease).
    known: bool

    def keys(self) -> tuple[str, ...]:
        """Codes then names, deduplicated: every value a decision's diagnosis is matched against."""
        return tuple(dict.fromkeys((*self.codes, *self.names)))


class DiseaseEquivalents:
    """Codes and names linked by DO cross-references and unambiguous HPO / DO names (see the module doc)."""

    def __init__(
        self,
        labels: Iterable[tuple[str, str]],
        ontology: DiseaseOntology,
        genes: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        """``labels``: ``(code, name)`` pairs, one per disease (HPO's); ``ontology``: the DO subsets; ``genes``:
        a disease's gene symbols (HPO's ``genes_to_phenotype.txt``), read only for :meth:`subtype_heads`."""
        self._genes = genes
        self._heads: dict[str, tuple[str, ...]] | None = None
        names: dict[str, set[str]] = defaultdict(set)
        for code, name in labels:
            names[code].add(name)
        for term in ontology.terms():
            mapped = (*term.omim, *term.orpha)
            if len(mapped) == 1:
                names[mapped[0]].update((term.name, *term.exact_synonyms))
        self._names = {code: tuple(sorted(found)) for code, found in names.items()}
        by_name: dict[str, set[str]] = defaultdict(set)
        for code, found in self._names.items():
            for name in found:
                key = normalise_name(name)
                if key:
                    by_name[key].add(code)
        self._by_name = {key: tuple(sorted(codes)) for key, codes in by_name.items()}
        self._ontology = ontology

    def _unambiguous(self, name: str) -> bool:
        codes = self._by_name.get(normalise_name(name), ())
        prefixes = [c.partition(":")[0] for c in codes]
        return len(prefixes) == len(set(prefixes))

    def _linked(self, code: str) -> set[str]:
        linked = set(self._ontology.equivalent_ids(code))
        for name in self._names.get(code, ()):
            if self._unambiguous(name):
                linked.update(self._by_name.get(normalise_name(name), ()))
        return linked

    def subtype_heads(self, code: str) -> tuple[str, ...]:
        """The diseases ``code`` is a subtype of: an Orphanet "X due to Y" whose X is exactly the name of one
        disease of at most :data:`MAX_HEAD_GENES` genes, with every gene of the subtype among them.

        Why: "Neurofibromatosis type 1 due to NF1 mutation or intragenic deletion" (``ORPHA:363700``) and
        neurofibromatosis type 1 (``OMIM:162200``) took two of five places in one differential. The gene
        check keeps apart what only shares a phenotype's name ("Obesity due to leptin deficiency" and
        obesity) or a subtype that adds a gene; a subtype of no gene (a chromosomal one) cannot be checked
        and links nothing.
        """
        if self._heads is None:
            self._heads = self._subtypes()
        return self._heads.get(canonical_code(code), ())

    def _subtypes(self) -> dict[str, tuple[str, ...]]:
        genes = self._genes or (lambda _code: ())
        heads: dict[str, tuple[str, ...]] = {}
        for code, names in self._names.items():
            for name in names:
                head, joined, _ = name.partition(SUBTYPE_JOIN)
                own = set(genes(code))
                if not joined or not own:
                    continue
                found = tuple(
                    other
                    for other in self._by_name.get(normalise_name(head), ())
                    if other != code and 0 < len(set(genes(other))) <= MAX_HEAD_GENES and own <= set(genes(other))
                )
                if found:
                    heads[code] = tuple(sorted({*heads.get(code, ()), *found}))
        return heads

    def codes_named(self, name: str) -> tuple[str, ...]:
        """Every code HPO or DO gives this name (folded for case, punctuation and spacing)."""
        return self._by_name.get(normalise_name(name), ())

    def names_of(self, code: str) -> tuple[str, ...]:
        """The names HPO and DO give this code."""
        return self._names.get(canonical_code(code), ())

    def expand(self, value: str) -> Equivalence:
        """The codes and names that mean the same disease as ``value`` (a code or a disease name).

        An unknown value expands to nothing but itself: the caller decides whether that is an error.
        """
        asked = value.strip()
        is_code = DISEASE_CODE.fullmatch(asked) is not None
        start = [canonical_code(asked)] if is_code else list(self.codes_named(asked))
        seen: dict[str, None] = dict.fromkeys(start)
        queue = list(start)
        while queue and len(seen) < MAX_CODES:
            for linked in sorted(self._linked(queue.pop(0))):
                if linked not in seen and len(seen) < MAX_CODES:
                    seen[linked] = None
                    queue.append(linked)
        codes = tuple(seen)
        names = [n for c in codes for n in self._names.get(c, ()) if self._unambiguous(n)]
        if not is_code:
            names.insert(0, asked)
        known = any(c in self._names for c in codes)
        return Equivalence(asked=asked, codes=codes, names=tuple(dict.fromkeys(names)), known=known)


def hpo_disease_labels() -> list[tuple[str, str]]:
    """``(code, name)`` of every OMIM and ORPHA disease the pinned HPO release annotates."""
    ontology = load_hpo3()
    labels = [(f"OMIM:{d.id}", str(d.name)) for d in ontology.omim_diseases]
    labels += [(f"ORPHA:{d.id}", str(d.name)) for d in ontology.orpha_diseases]
    return labels


_LOCK = threading.Lock()
_DEFAULT: DiseaseEquivalents | None = None


def get_disease_equivalents() -> DiseaseEquivalents:
    """The process-wide equivalents over HPO's labels and the shipped DO subsets, built on first call (~3 s)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = DiseaseEquivalents(
                hpo_disease_labels(), get_disease_ontology(), lambda code: get_hpo_knowledge().genes(code)
            )
        return _DEFAULT
