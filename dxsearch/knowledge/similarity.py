"""Phenotype similarity between a patient and every annotated disease, weighted by IC and frequency.

This is the classical semantic-similarity ranking of phenotype-driven diagnosis
(Resnik's most informative common ancestor, best-match in both directions),
extended with annotated frequencies: a finding matched by a feature seen in 90%
of patients counts more than one seen in 5%, and a disease whose frequent
features the patient lacks counts less. Excluded findings that a disease is
annotated with count against it. Everything is precomputed into sparse
matrices once per process, so scoring all ~13k diseases takes milliseconds. The matrices are kept on
disk (:mod:`dxsearch.knowledge.derived`, keyed by the knowledge's tables, the disease prefixes and this
module's code), so a new process loads them instead of spending seconds deriving them again.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from dxsearch.knowledge.derived import DerivedCache, cache_key, code_digest
from dxsearch.knowledge.hpo import PHENOTYPIC_ABNORMALITY, HpoKnowledge, get_hpo_knowledge

#: Frequency assumed when a source gives none (HPO's "frequent" band midpoint is 0.55; unknown sits below it).
UNKNOWN_FREQUENCY = 0.4
#: Share of the score a match keeps even for a very rare feature: rarity lowers, never erases, evidence.
FREQUENCY_FLOOR = 0.5


def _frequency_weight(frequency: float) -> float:
    return FREQUENCY_FLOOR + (1.0 - FREQUENCY_FLOOR) * frequency


@dataclass(frozen=True, slots=True)
class PhenotypeMatch:
    """The similarity of one disease to a patient, with its parts (for the reasoning trace)."""

    disease_id: str
    score: float
    patient_to_disease: float
    disease_to_patient: float
    excluded_penalty: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SimilarityMatrices:
    """What scoring needs, derived from the knowledge's rows: the part of the scorer kept on disk."""

    disease_ids: list[str]
    disease_names: list[str]
    #: HPO id -> column of the matrices.
    terms: dict[str, int]
    #: [disease, term]: frequency weight of the best annotated descendant-or-self of term.
    closure: sparse.csc_matrix
    #: [disease, term]: frequency weight of directly annotated terms.
    direct: sparse.csr_matrix
    #: [term]: information content.
    ic: npt.NDArray[np.float64]
    #: [term, ancestor]: IC of each ancestor-or-self, to find a term's best match among the patient's closure.
    ancestor_ic: sparse.csr_matrix
    #: [disease]: IC-weighted sum of its direct annotations (the disease side's denominator).
    disease_norm: npt.NDArray[np.float64]


def phenotype_closure(knowledge: HpoKnowledge, term_id: str) -> Iterable[str]:
    """A term, then its ancestors inside "Phenotypic abnormality" (the root carries no information): what every
    ontology-aware score here (disease similarity, likelihood ratios, patient similarity) counts a term as."""
    yield term_id
    for ancestor in knowledge.ancestors(term_id):
        if ancestor != PHENOTYPIC_ABNORMALITY and knowledge.is_phenotypic_abnormality(ancestor):
            yield ancestor


def derive_matrices(knowledge: HpoKnowledge, prefixes: Sequence[str]) -> SimilarityMatrices:
    """The scorer's matrices over the diseases of ``prefixes`` that have annotated phenotypes (seconds)."""
    disease_ids: list[str] = []
    disease_names: list[str] = []
    terms: dict[str, int] = {}

    def column(term_id: str) -> int:
        return terms.setdefault(term_id, len(terms))

    closure_rows: list[int] = []
    closure_cols: list[int] = []
    closure_vals: list[float] = []
    direct_rows: list[int] = []
    direct_cols: list[int] = []
    direct_vals: list[float] = []
    for prefix in prefixes:
        for disease in knowledge.diseases(prefix):
            if not disease.phenotypes:
                continue
            row = len(disease_ids)
            disease_ids.append(disease.id)
            disease_names.append(disease.name)
            best: dict[int, float] = {}
            for phenotype in disease.phenotypes:
                weight = _frequency_weight(phenotype.frequency.estimate if phenotype.frequency else UNKNOWN_FREQUENCY)
                direct_rows.append(row)
                direct_cols.append(column(phenotype.term_id))
                direct_vals.append(weight)
                for ancestor in phenotype_closure(knowledge, phenotype.term_id):
                    col = column(ancestor)
                    best[col] = max(best.get(col, 0.0), weight)
            closure_rows.extend([row] * len(best))
            closure_cols.extend(best)
            closure_vals.extend(best.values())
    shape = (len(disease_ids), len(terms))
    closure = sparse.csc_matrix((closure_vals, (closure_rows, closure_cols)), shape=shape)
    direct = sparse.csr_matrix((direct_vals, (direct_rows, direct_cols)), shape=shape)
    ic = np.zeros(len(terms), dtype=np.float64)
    for term_id, col in terms.items():
        ic[col] = knowledge.information_content(term_id)
    anc_rows: list[int] = []
    anc_cols: list[int] = []
    for term_id, col in terms.items():
        for ancestor in phenotype_closure(knowledge, term_id):
            if ancestor in terms:
                anc_rows.append(col)
                anc_cols.append(terms[ancestor])
    ancestor_ic = sparse.csr_matrix((ic[anc_cols], (anc_rows, anc_cols)), shape=(len(terms), len(terms)))
    direct_ic = direct.multiply(ic[np.newaxis, :]).tocsr()
    disease_norm = np.asarray(direct_ic.sum(axis=1)).ravel() + 1e-9
    return SimilarityMatrices(disease_ids, disease_names, terms, closure, direct, ic, ancestor_ic, disease_norm)


def matrices_key(knowledge: HpoKnowledge, prefixes: Sequence[str]) -> str:
    """Names what the matrices depend on: the knowledge's tables, the prefixes and this module's code."""
    return cache_key(
        {
            "knowledge": knowledge.tables_key(),
            "prefixes": ",".join(prefixes),
            "code": code_digest([sys.modules[__name__]]),
        }
    )


class PhenotypeSimilarity:
    """Scores patients (sets of HPO ids) against all diseases of the HPO annotations.

    Defaults measured on 600 index-side published cases (never the held-out
    ones): weighting the patient side 0.8 beat 0.6 and 1.0; penalising
    excluded findings lowered top-1 at every weight tried (0.02-0.3), because
    case reports list as excluded exactly the features of the disease that
    were checked for, so the penalty is off unless configured.
    """

    def __init__(
        self,
        knowledge: HpoKnowledge,
        *,
        prefixes: Sequence[str] = ("OMIM", "ORPHA"),
        patient_weight: float = 0.8,
        excluded_weight: float = 0.0,
        cache: DerivedCache | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.patient_weight = patient_weight
        self.excluded_weight = excluded_weight
        store = cache or DerivedCache(None)
        matrices = store.load_or_build(
            "phenotype-similarity", matrices_key(knowledge, prefixes), lambda: derive_matrices(knowledge, prefixes)
        )
        self.disease_ids = matrices.disease_ids
        self.disease_names = matrices.disease_names
        self._terms = matrices.terms
        self._closure_matrix = matrices.closure
        self._direct = matrices.direct
        self._ic = matrices.ic
        self._ancestor_ic = matrices.ancestor_ic
        self._disease_norm = matrices.disease_norm
        self._row_of = {disease_id: row for row, disease_id in enumerate(self.disease_ids)}

    def _closure(self, term_id: str) -> Iterable[str]:
        return phenotype_closure(self.knowledge, term_id)

    def _current(self, term_ids: Iterable[str]) -> list[str]:
        current: list[str] = []
        for term_id in term_ids:
            resolved = self.knowledge.current_id(term_id)
            if resolved and resolved in self._terms and resolved not in current:
                current.append(resolved)
        return current

    def _parts(
        self, query: list[str], excluded: Iterable[str]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Patient-to-disease, disease-to-patient and excluded-finding penalty, each per disease."""
        n = len(self.disease_ids)
        patient_side = np.zeros(n)
        query_ic = 0.0
        query_closure: set[int] = set()
        for term_id in query:
            cols = [self._terms[a] for a in self._closure(term_id) if a in self._terms]
            query_closure.update(cols)
            block = self._closure_matrix[:, cols].multiply(self._ic[cols][np.newaxis, :])
            patient_side += np.asarray(block.max(axis=1).todense()).ravel()
            query_ic += float(self._ic[self._terms[term_id]])
        patient_side /= max(query_ic, 1e-9)
        mask = np.zeros(len(self._terms))
        mask[sorted(query_closure)] = 1.0
        best_for_term = np.asarray(self._ancestor_ic.multiply(mask[np.newaxis, :]).max(axis=1).todense()).ravel()
        disease_side = np.asarray(self._direct @ best_for_term).ravel() / self._disease_norm
        penalty = np.zeros(n)
        excluded_cols = [self._terms[t] for t in self._current(excluded)]
        if excluded_cols:
            block = self._closure_matrix[:, excluded_cols].multiply(self._ic[excluded_cols][np.newaxis, :])
            penalty = np.asarray(block.sum(axis=1)).ravel() / max(query_ic, 1e-9)
        return patient_side, disease_side, penalty

    def _combine(
        self,
        patient_side: npt.NDArray[np.float64],
        disease_side: npt.NDArray[np.float64],
        penalty: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        w = self.patient_weight
        combined: npt.NDArray[np.float64] = w * patient_side + (1 - w) * disease_side - self.excluded_weight * penalty
        return combined

    def score_all(self, observed: Iterable[str], excluded: Iterable[str] = ()) -> npt.NDArray[np.float64]:
        """Similarity of every disease (aligned with ``disease_ids``) to the patient; 0 when nothing is known."""
        query = self._current(observed)
        if not query:
            return np.zeros(len(self.disease_ids))
        return self._combine(*self._parts(query, excluded))

    def rank(self, observed: Iterable[str], excluded: Iterable[str] = (), k: int = 20) -> list[PhenotypeMatch]:
        """The ``k`` most similar diseases with their score parts, best first."""
        query = self._current(observed)
        if not query:
            return []
        parts = self._parts(query, excluded)
        scores = self._combine(*parts)
        top = np.argsort(-scores, kind="stable")[:k]
        return [self._match(int(i), query, scores, parts) for i in top]

    def explain(
        self, disease_ids: Iterable[str], observed: Iterable[str], excluded: Iterable[str] = ()
    ) -> list[PhenotypeMatch]:
        """Score parts of the given diseases (unknown ids are left out), in the order given."""
        query = self._current(observed)
        rows = [self._row_of[d] for d in disease_ids if d in self._row_of]
        if not query or not rows:
            return [PhenotypeMatch(self.disease_ids[r], 0.0, 0.0, 0.0, 0.0, ()) for r in rows]
        parts = self._parts(query, excluded)
        scores = self._combine(*parts)
        return [self._match(r, query, scores, parts) for r in rows]

    def _match(
        self,
        row: int,
        query: list[str],
        scores: npt.NDArray[np.float64],
        parts: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]],
    ) -> PhenotypeMatch:
        """Which patient terms the disease explains: annotated with the term itself or a descendant of it."""
        matched = tuple(t for t in query if self._closure_matrix[row, self._terms[t]] > 0)
        return PhenotypeMatch(
            disease_id=self.disease_ids[row],
            score=float(scores[row]),
            patient_to_disease=float(parts[0][row]),
            disease_to_patient=float(parts[1][row]),
            excluded_penalty=float(parts[2][row]),
            matched_terms=matched,
        )

    def row(self, disease_id: str) -> int | None:
        """Position of a disease in :meth:`score_all` arrays."""
        return self._row_of.get(disease_id)

    def has_disease(self, disease_id: str) -> bool:
        return disease_id in self._row_of

    def name(self, disease_id: str) -> str | None:
        row = self._row_of.get(disease_id)
        return None if row is None else self.disease_names[row]


_LOCK = threading.Lock()
_SCORERS: weakref.WeakKeyDictionary[HpoKnowledge, PhenotypeSimilarity] = weakref.WeakKeyDictionary()


def get_phenotype_similarity(knowledge: HpoKnowledge | None = None) -> PhenotypeSimilarity:
    """The scorer over ``knowledge``'s rows (default: the unfiltered release), built once per knowledge object.

    An index built with ``--exclude-publications`` is ranked with the knowledge filtered the same way
    (:func:`dxsearch.knowledge.hpo.get_hpo_knowledge` with the manifest's list). A few seconds to build,
    then read-only; kept in the knowledge's derived-data cache, so later processes load it instead.
    """
    known = knowledge if knowledge is not None else get_hpo_knowledge()
    with _LOCK:
        scorer = _SCORERS.get(known)
        if scorer is None:
            scorer = _SCORERS[known] = PhenotypeSimilarity(known, cache=known.derived_cache)
        return scorer
