"""Hypergeometric disease enrichment over the kept annotation rows: the classical phenotype-ranking floor.

A diagnostic agent is only worth its cost if it beats what the ontology alone
gives: for the patient's observed HPO terms, how surprising is each disease's
share of them under a hypergeometric draw from the whole ontology. This is the
test hpo3 runs (population: every phenotype term; a disease's successes: the
terms it is annotated with or below; the sample: the patient's terms), computed
here over :class:`~dxsearch.knowledge.hpo.HpoKnowledge`'s rows rather than
hpo3's built-in annotations, because only the rows can be filtered by
publication: a leave-publication-out benchmark must not rank with annotations
curated from the held-out papers.

The incidence matrix is kept on disk with the knowledge's other derived tables
(:mod:`dxsearch.knowledge.derived`): the evidence policy asks for this ranking on
every case, and deriving it walks every disease record (seconds per process).
"""

from __future__ import annotations

import math
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.stats import hypergeom

from dxsearch.cases import Case
from dxsearch.knowledge.derived import DerivedCache, cache_key, code_digest
from dxsearch.knowledge.hpo import PHENOTYPIC_ABNORMALITY, HpoKnowledge, get_hpo_knowledge

Namespace = Literal["omim", "orpha"]

_PREFIX: dict[str, str] = {"omim": "OMIM", "orpha": "ORPHA"}
#: Score given to a p-value that underflowed to 0: -log10 of the smallest positive double.
MAX_SCORE = -math.log10(5e-324)


@dataclass(frozen=True, slots=True)
class RankedDisease:
    """One disease in an enrichment ranking.

    ``score`` is ``-log10(p)`` of the hypergeometric test (higher is better, 0 for
    p = 1, ``MAX_SCORE`` if p underflowed): it keeps the order of p while staying
    readable where p is 1e-40. ``count`` is how many query terms the disease
    carries (a term counts when the disease is annotated to it or below it).
    """

    disease_id: str
    name: str
    score: float
    rank: int
    p_value: float
    fold: float
    count: int


@dataclass(frozen=True, slots=True)
class Incidence:
    """Disease x phenotype-term incidence of one namespace: what the test needs, kept on disk."""

    disease_ids: list[str]
    names: list[str]
    #: Phenotype term -> column.
    columns: dict[str, int]
    #: [disease, term]: 1 where the disease is annotated with the term or below it.
    matrix: sparse.csc_matrix


def derive_incidence(knowledge: HpoKnowledge, prefix: str) -> Incidence:
    """The incidence of the diseases of ``prefix`` that carry at least one phenotype term (seconds)."""
    disease_ids: list[str] = []
    names: list[str] = []
    columns = {term: col for col, term in enumerate(knowledge.phenotypic_abnormality_terms)}
    rows: list[int] = []
    cols: list[int] = []
    for disease in knowledge.diseases(prefix):
        closure: set[int] = set()
        for phenotype in disease.phenotypes:
            for term in (phenotype.term_id, *knowledge.ancestors(phenotype.term_id)):
                col = columns.get(term)
                if col is not None:
                    closure.add(col)
        if not closure:
            continue
        row = len(disease_ids)
        disease_ids.append(disease.id)
        names.append(disease.name)
        rows.extend([row] * len(closure))
        cols.extend(closure)
    shape = (len(disease_ids), len(columns))
    return Incidence(disease_ids, names, columns, sparse.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=shape))


def incidence_key(knowledge: HpoKnowledge, prefix: str) -> str:
    """Names what the incidence depends on: the knowledge's tables, the prefix and this module's code."""
    return cache_key(
        {"knowledge": knowledge.tables_key(), "prefix": prefix, "code": code_digest([sys.modules[__name__]])}
    )


class EnrichmentModel:
    """Disease x term incidence (annotated term or below) of one namespace, for the hypergeometric test."""

    def __init__(self, knowledge: HpoKnowledge, prefix: str, cache: DerivedCache | None = None) -> None:
        self.knowledge = knowledge
        store = cache or DerivedCache(None)
        incidence = store.load_or_build(
            f"enrichment-{prefix.lower()}",
            incidence_key(knowledge, prefix),
            lambda: derive_incidence(knowledge, prefix),
        )
        self.disease_ids = incidence.disease_ids
        self.names = incidence.names
        self._columns = incidence.columns
        self._incidence = incidence.matrix
        #: Successes in the population: how many phenotype terms each disease carries.
        self._carried: npt.NDArray[np.float64] = np.asarray(self._incidence.sum(axis=1)).ravel()
        self._population = len(self._columns) + 1  # the phenotype terms plus "Phenotypic abnormality" itself

    def rank(self, term_ids: list[str], k: int) -> list[RankedDisease]:
        """The ``k`` diseases with the smallest p, ties broken by fold enrichment then numeric id."""
        cols = [self._columns[t] for t in term_ids if t in self._columns]
        sample = len(term_ids)
        if not cols or k < 1 or not self.disease_ids:
            return []
        counts = np.asarray(self._incidence[:, cols].sum(axis=1)).ravel()
        hit = np.flatnonzero(counts > 0)
        p_values = hypergeom.sf(counts[hit] - 1, self._population, self._carried[hit], sample)
        folds = (counts[hit] / sample) / (self._carried[hit] / self._population)
        order = sorted(
            range(len(hit)),
            key=lambda i: (float(p_values[i]), -float(folds[i]), _numeric_id(self.disease_ids[hit[i]])),
        )[:k]
        return [
            RankedDisease(
                disease_id=self.disease_ids[hit[i]],
                name=self.names[hit[i]],
                score=_score(float(p_values[i])),
                rank=rank,
                p_value=float(p_values[i]),
                fold=float(folds[i]),
                count=int(counts[hit[i]]),
            )
            for rank, i in enumerate(order, start=1)
        ]


_MODELS: weakref.WeakKeyDictionary[HpoKnowledge, dict[str, EnrichmentModel]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def enrichment_model(knowledge: HpoKnowledge, namespace: Namespace = "omim") -> EnrichmentModel:
    """The model of ``knowledge``'s rows for a namespace, built once per knowledge object (~1 s) and kept in its
    derived-data cache."""
    if namespace not in _PREFIX:
        raise ValueError(f"namespace must be 'omim' or 'orpha', not {namespace!r}")
    with _LOCK:
        models = _MODELS.setdefault(knowledge, {})
        if namespace not in models:
            models[namespace] = EnrichmentModel(knowledge, _PREFIX[namespace], knowledge.derived_cache)
        return models[namespace]


def query_term_ids(case: Case, knowledge: HpoKnowledge) -> list[str]:
    """The observed findings' current HPO ids, sorted and unique; excluded, unknown or retired ones dropped.

    Enrichment has no notion of an absent phenotype, so excluded findings would
    only count as if present.
    """
    ids = {knowledge.current_id(f.hpo_id) for f in case.observed if f.hpo_id is not None}
    return sorted(term_id for term_id in ids if term_id is not None and term_id != PHENOTYPIC_ABNORMALITY)


def _score(p_value: float) -> float:
    if p_value <= 0.0:
        return MAX_SCORE
    return max(0.0, -math.log10(p_value))


def _numeric_id(disease_id: str) -> int:
    local = disease_id.partition(":")[2]
    return int(local) if local.isdigit() else -1


def rank_diseases(
    case: Case,
    k: int = 10,
    namespace: Namespace = "omim",
    knowledge: HpoKnowledge | None = None,
) -> list[RankedDisease]:
    """The ``k`` diseases most enriched in the case's observed HPO terms, best first (rank 1).

    ``knowledge`` defaults to the unfiltered release; pass the index's (filtered) knowledge to rank
    as that index may. Ties in p (common: same count, same annotation size) are broken by fold
    enrichment, then by the numeric disease id, so the ranking is deterministic. A case with no
    usable term, or ``k < 1``, gives an empty list.
    """
    if namespace not in _PREFIX:
        raise ValueError(f"namespace must be 'omim' or 'orpha', not {namespace!r}")
    known = knowledge if knowledge is not None else get_hpo_knowledge()
    term_ids = query_term_ids(case, known)
    if not term_ids or k < 1:
        return []
    return enrichment_model(known, namespace).rank(term_ids, k)


__all__ = [
    "MAX_SCORE",
    "EnrichmentModel",
    "Namespace",
    "RankedDisease",
    "enrichment_model",
    "query_term_ids",
    "rank_diseases",
]
