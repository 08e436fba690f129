"""Likelihood-ratio reasoning over the disease annotations, in the style of LIRICAL (Robinson et al. 2020).

For each candidate disease D and each piece of evidence e the scorer estimates
``LR = P(e | D) / P(e | not D)`` and multiplies them (adds their log10), so a
pretest probability becomes a post-test probability, and every factor can be
shown: which findings support D, which it does not explain, which contradict it.

* An observed finding t: ``P(t | D)`` is read through the ontology from D's
  annotated frequencies, and ``P(t | not D)`` is the background frequency of t,
  the share of diseases annotated with t or a descendant of it.

  - *exact* (D is annotated with t) or *ancestor* (t is more general than some
    of D's terms): ``f / bg(t)``, f the highest frequency among those terms;
  - *descendant* (t is more specific than D's term a): having t implies having
    a, and among a-patients t is about as common as in the background, so
    ``P(t|D) = f(a) bg(t) / bg(a)`` and the LR is ``f(a) / bg(a)``;
  - *related* (t and some of D's terms share an ancestor c below "Phenotypic
    abnormality"): the LR of c, discounted by ``related_discount``;
  - *none*: a small false-positive LR (``false_positive_lr``);
  - an observed finding D is annotated NOT to have (t, or an ancestor of t):
    a contradiction, ``contradiction_lr``.
* An excluded finding t: ``(1 - P(t|D)) / (1 - bg(t))`` with ``P(t|D)`` D's
  frequency of t (or of its descendants), so a feature D nearly always shows
  weighs against D; ``1 - P(t|D)`` is floored at ``excluded_floor`` (features
  are missed). Reports name as absent mostly features of the disease they
  discuss, so for a feature D is annotated with the ratio is multiplied by
  ``excluded_relevance`` (how much likelier D's own features are to be
  mentioned at all; 1 is the textbook LR).
* Annotated features the patient was not reported to have (off by default,
  ``not_reported_weight``): ``1 - w f`` for each of D's features of frequency at
  least ``not_reported_min_frequency`` that no reported finding touches.
* Sex (against X- and Y-linked inheritance) and a known mode of inheritance,
  each where given and where D is annotated.
* Onset, from one of two sources, never both (one factor, evidence ``onset`` or
  ``age``), against D's onset annotations (terms of HPO's Onset subtree, read
  from the same filtered annotation table as the phenotypes; each term is an
  age range, :data:`ONSET_YEARS`):

  - a stated onset term (``Case.onset``: "since infancy") is the window itself;
  - else the patient's current age ``a`` bounds onset from above: the findings
    are present, so the disease began by ``a``, and the window is "antenatal to
    a". A 3-month-old is evidence against a disease whose every annotated onset
    is juvenile or later; a 40-year-old fits nearly every onset, so the factor
    is near 1 for most diseases and weighs only against late-onset ones.

  A stated onset is the more specific of the two (it lies below the current
  age), so when both are given the age is not counted again. D's probability
  of the window is ``1 - onset_error`` when one of its onset ranges meets it
  (with slack: onsets are fuzzy), else ``onset_error``; the background is the
  same probability averaged over the onset-annotated diseases, so a window
  every disease meets gives LR 1. A disease with no onset annotation gets 1.

The background frequencies are computed here, from the ``Disease`` records the
knowledge object yields, never from hpo3's built-in annotations: when the
annotation table is filtered by publication, the scorer reads the filtered one.
Everything is precomputed into sparse matrices, so scoring ~8.5k OMIM diseases
for a case takes milliseconds.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from dxsearch.cases import Case
from dxsearch.knowledge.frequency import Frequency
from dxsearch.knowledge.hpo import MODE_OF_INHERITANCE, Disease, HpoKnowledge
from dxsearch.knowledge.similarity import phenotype_closure

FloatArray = npt.NDArray[np.float64]

#: What a contribution does to its disease, for a viewer: the finding supports it, is not explained by it,
#: contradicts it, weighs (mildly) against it, agrees with it without raising it (an excluded finding the
#: disease does not have), or changes nothing.
ContributionKind = Literal["supports", "unexplained", "contradicts", "against", "consistent", "neutral"]
#: Which evidence a contribution reads.
EvidenceKind = Literal["observed", "excluded", "not_reported", "sex", "inheritance", "onset", "age"]
#: How the patient's term meets the disease's annotation (``descendant``: the patient's term is more specific
#: than the annotated one; ``ancestor``: more general; ``not_annotated``: the disease is annotated NOT to have it;
#: ``unknown``: a term this scorer cannot use; ``implied``: an observed term more general than another observed one,
#: counted once through the specific one). Sex, inheritance, onset and age use ``consistent`` / ``inconsistent``.
Relation = Literal[
    "exact",
    "descendant",
    "ancestor",
    "related",
    "none",
    "not_annotated",
    "not_reported",
    "unknown",
    "implied",
    "consistent",
    "inconsistent",
]

_COUNT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_RELATION_CODES: tuple[Relation, ...] = ("none", "related", "ancestor", "descendant", "exact", "not_annotated")
_NONE, _RELATED, _ANCESTOR, _DESCENDANT, _EXACT, _NOT = range(6)

#: The terms of HPO's Onset subtree (HP:0003674) as age ranges in years (antenatal below 0). Not listed, so
#: skipped: the root and, in the 2025-01 release, Puerpural, Perimenopausal and Postmenopausal onset (no age).
ONSET_YEARS: dict[str, tuple[float, float]] = {
    "HP:0030674": (-1.0, 0.0),  # antenatal
    "HP:0011460": (-1.0, -0.75),  # embryonal
    "HP:0011461": (-0.75, 0.0),  # fetal
    "HP:0034199": (-0.85, -0.6),  # late first trimester
    "HP:0034198": (-0.6, -0.3),  # second trimester
    "HP:0034197": (-0.3, 0.0),  # third trimester
    "HP:0003577": (0.0, 0.0),  # congenital
    "HP:0003623": (0.0, 28 / 365.25),  # neonatal
    "HP:0003593": (28 / 365.25, 1.0),  # infantile
    "HP:0011463": (1.0, 5.0),  # childhood
    "HP:0003621": (5.0, 16.0),  # juvenile
    "HP:0410280": (0.0, 16.0),  # pediatric
    "HP:0003581": (16.0, 120.0),  # adult
    "HP:0011462": (16.0, 40.0),  # young adult
    "HP:0025708": (16.0, 19.0),  # early young adult
    "HP:0025709": (19.0, 25.0),  # intermediate young adult
    "HP:0025710": (25.0, 40.0),  # late young adult
    "HP:0003596": (40.0, 60.0),  # middle age
    "HP:0003584": (60.0, 120.0),  # late
}

#: Share of male patients under each mode of inheritance (modes not listed say nothing about sex).
MALE_SHARE: dict[str, float] = {
    "HP:0001419": 0.9,  # X-linked recessive
    "HP:0001417": 0.75,  # X-linked
    "HP:0001423": 0.35,  # X-linked dominant
    "HP:0001450": 0.99,  # Y-linked
    "HP:0000006": 0.5,  # autosomal dominant
    "HP:0000007": 0.5,  # autosomal recessive
    "HP:0001427": 0.5,  # mitochondrial
}


@dataclass(frozen=True, slots=True)
class Contribution:
    """One factor of a disease's likelihood ratio.

    ``term_id`` is the patient's term (for sex, inheritance and onset: the value given; for age:
    ``age <years> y``), ``matched_term`` the disease's term it met (for onset and age: the disease's onset term
    that meets the window, or ``None``), ``frequency`` the disease's frequency used, ``lr`` the factor.
    """

    term_id: str
    kind: ContributionKind
    relation: Relation
    matched_term: str | None
    frequency: float | None
    lr: float
    evidence: EvidenceKind

    @property
    def log10_lr(self) -> float:
        return math.log10(self.lr)


@dataclass(frozen=True, slots=True)
class DiseaseLikelihood:
    """A disease's total log10 LR, its post-test probability (over all scored diseases) and its factors."""

    disease_id: str
    name: str
    log10_lr: float
    posttest: float
    pretest: float
    contributions: tuple[Contribution, ...]

    def of_kind(self, kind: ContributionKind) -> tuple[Contribution, ...]:
        return tuple(c for c in self.contributions if c.kind == kind)


@dataclass(frozen=True, slots=True)
class _Patient:
    """What a call was given, resolved to current ids and sorted into what the scorer can use."""

    observed: tuple[str, ...]
    excluded: tuple[str, ...]
    unknown: tuple[str, ...]
    implied: tuple[tuple[str, str], ...]  # (observed term, the more specific observed term that implies it)
    sex: str | None
    inheritance: tuple[str, ...]
    age_years: float | None
    onset: str | None


@dataclass(slots=True)
class _ObservedParts:
    """Per observed term: the LR and relation code per disease, and the column that matched."""

    lr: FloatArray
    relation: npt.NDArray[np.int8]
    matched: npt.NDArray[np.int32]


class LikelihoodRatioScorer:
    """Likelihood ratios of every annotated disease (of ``prefixes``) for a patient's findings.

    The defaults were chosen by ``bench/bench_likelihood.py`` (coordinate descent on MRR) on 400 index-side
    published cases whose publication is not a reference of their gold disease's annotations, and measured on
    535 others from disjoint publications (never the held-out side): top-1 0.237, top-5 0.320, MRR 0.278, against
    0.265 / 0.348 / 0.305 for hpo3 enrichment and 0.163 / 0.290 / 0.224 for ``PhenotypeSimilarity`` (39% of
    those gold diseases have no annotation at all). Excluded findings cost accuracy on published cases at every
    strength tried (ignoring them: 0.264 / 0.342 / 0.304), because reports list as absent the features of the
    disease they discuss; reading "reported absent" as "relevant" (``excluded_floor=1``,
    ``excluded_relevance=4``) reaches 0.318 / 0.428 / 0.366 there, but would tell a clinician that "no ectopia
    lentis" supports Marfan syndrome, so the default keeps the textbook direction, weakened
    (``excluded_floor=0.8``): an excluded feature a disease nearly always shows still weighs against it.
    """

    def __init__(
        self,
        knowledge: HpoKnowledge,
        prefixes: Sequence[str] = ("OMIM",),
        *,
        unknown_frequency: float = 0.5,
        count_prior: float = 2.0,
        related_discount: float = 0.02,
        false_positive_lr: float = 0.2,
        contradiction_lr: float = 0.05,
        excluded_floor: float = 0.8,
        excluded_relevance: float = 1.0,
        contradiction_frequency: float = 0.75,
        not_reported_weight: float = 0.3,
        not_reported_min_frequency: float = 0.8,
        onset_error: float = 0.1,
        inheritance_error: float = 0.05,
        background_male_share: float = 0.5,
    ) -> None:
        if not 0.0 < unknown_frequency <= 1.0:
            raise ValueError("unknown_frequency must be in (0, 1]")
        if min(false_positive_lr, contradiction_lr, excluded_relevance) <= 0.0 or not 0.0 < excluded_floor <= 1.0:
            raise ValueError(
                "false_positive_lr, contradiction_lr, excluded_relevance must be > 0, excluded_floor in (0, 1]"
            )
        if not 0.0 <= not_reported_weight < 1.0:
            raise ValueError("not_reported_weight must be in [0, 1)")
        self.knowledge = knowledge
        self.prefixes = tuple(prefixes)
        self.unknown_frequency = unknown_frequency
        self.count_prior = count_prior
        self.related_discount = related_discount
        self.false_positive_lr = false_positive_lr
        self.contradiction_lr = contradiction_lr
        self.excluded_floor = excluded_floor
        self.excluded_relevance = excluded_relevance
        self.contradiction_frequency = contradiction_frequency
        self.not_reported_weight = not_reported_weight
        self.not_reported_min_frequency = not_reported_min_frequency
        self.onset_error = onset_error
        self.inheritance_error = inheritance_error
        self.background_male_share = background_male_share

        diseases = [d for prefix in self.prefixes for d in knowledge.diseases(prefix) if d.phenotypes]
        self.disease_ids: list[str] = [d.id for d in diseases]
        self.disease_names: list[str] = [d.name for d in diseases]
        self._row_of = {disease_id: row for row, disease_id in enumerate(self.disease_ids)}
        self._closures: dict[str, tuple[str, ...]] = {}
        self._terms: dict[str, int] = {}
        self._build_phenotypes(diseases)
        self._build_demographics(diseases)

    # -- building -----------------------------------------------------------------

    def frequency_estimate(self, frequency: Frequency | None) -> float:
        """``P(feature | disease)`` from an annotation: counts shrunk toward ``unknown_frequency``.

        A feature seen in 1 of 1 reported patients is weak evidence that every patient has it: ``n/m`` becomes
        ``(n + k p0) / (m + k)`` (a beta prior of ``k = count_prior`` pseudo-patients at ``p0 = unknown_frequency``);
        HPO bands and percentages keep their estimate; no frequency at all gives ``unknown_frequency``.
        """
        if frequency is None:
            return self.unknown_frequency
        count = _COUNT.match(frequency.raw)
        if count is not None and self.count_prior > 0:
            n, m = int(count.group(1)), int(count.group(2))
            estimate = (n + self.count_prior * self.unknown_frequency) / (m + self.count_prior)
        else:
            estimate = frequency.estimate
        return min(max(estimate, 1e-3), 1.0)

    def _closure(self, term_id: str) -> tuple[str, ...]:
        """A term and its ancestors below "Phenotypic abnormality" (which itself says nothing), the term first."""
        cached = self._closures.get(term_id)
        if cached is None:
            _, *ancestors = phenotype_closure(self.knowledge, term_id)
            cached = (term_id, *sorted(ancestors))
            self._closures[term_id] = cached
        return cached

    def _column(self, term_id: str) -> int:
        return self._terms.setdefault(term_id, len(self._terms))

    def _build_phenotypes(self, diseases: list[Disease]) -> None:
        direct: tuple[list[int], list[int], list[float]] = ([], [], [])
        closure: tuple[list[int], list[int], list[float]] = ([], [], [])
        negated: tuple[list[int], list[int]] = ([], [])
        for row, disease in enumerate(diseases):
            best: dict[int, float] = {}
            for phenotype in disease.phenotypes:
                frequency = self.frequency_estimate(phenotype.frequency)
                column = self._column(phenotype.term_id)
                direct[0].append(row)
                direct[1].append(column)
                direct[2].append(frequency)
                for ancestor in self._closure(phenotype.term_id):
                    col = self._column(ancestor)
                    if frequency > best.get(col, 0.0):
                        best[col] = frequency
            closure[0].extend([row] * len(best))
            closure[1].extend(best)
            closure[2].extend(best.values())
            for term_id in disease.excluded:
                if self.knowledge.is_phenotypic_abnormality(term_id):
                    negated[0].append(row)
                    negated[1].append(self._column(term_id))
        for term_id in list(self._terms):  # every ancestor of an indexed term gets a column too
            for ancestor in self._closure(term_id):
                self._column(ancestor)
        n, m = len(diseases), len(self._terms)
        #: [disease, term]: annotated frequency of the term itself.
        self._direct = sparse.csc_matrix((direct[2], (direct[0], direct[1])), shape=(n, m))
        #: [disease, term]: highest frequency among the annotated term-or-descendants.
        self._closure_freq = sparse.csc_matrix((closure[2], (closure[0], closure[1])), shape=(n, m))
        #: [disease, term]: 1 where the disease is annotated NOT to have the term.
        self._negated = sparse.csc_matrix(
            (np.ones(len(negated[0])), (negated[0], negated[1])), shape=(n, m), dtype=np.float64
        )
        counts = np.asarray((self._closure_freq > 0).sum(axis=0), dtype=np.float64).ravel()
        #: Share of diseases annotated with the term or a descendant, smoothed so no term has 0 or 1.
        self.background = np.clip((counts + 0.5) / (n + 1.0), 1e-6, 0.99)
        self._inverse_background = 1.0 / self.background
        # [term, ancestor-or-self] incidence, for "does a patient term touch this annotated term".
        rows: list[int] = []
        cols: list[int] = []
        for term_id, col in self._terms.items():
            for ancestor in self._closure(term_id):
                rows.append(col)
                cols.append(self._terms[ancestor])
        self._ancestry = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
        self._term_ids = [""] * m
        for term_id, col in self._terms.items():
            self._term_ids[col] = term_id
        # Log-LR of every frequent annotated feature, should the patient not be reported to have it.
        if self.not_reported_weight > 0.0:
            weights = self._direct.copy().tocsr()
            keep = weights.data >= self.not_reported_min_frequency
            weights.data = np.where(keep, np.log10(1.0 - self.not_reported_weight * weights.data), 0.0)
            weights.eliminate_zeros()
            self._not_reported = weights
        else:
            self._not_reported = sparse.csr_matrix((n, m))
        self._not_reported_total = np.asarray(self._not_reported.sum(axis=1)).ravel()

    def _build_demographics(self, diseases: list[Disease]) -> None:
        n = len(diseases)
        self._male_share = np.full(n, np.nan)
        self._modes: list[frozenset[str]] = []
        self._onsets: list[tuple[tuple[str, tuple[float, float]], ...]] = []
        mode_counts: dict[str, int] = {}
        with_modes = 0
        for row, disease in enumerate(diseases):
            shares = [MALE_SHARE[m] for m in disease.inheritance if m in MALE_SHARE]
            if any(s != 0.5 for s in shares):
                self._male_share[row] = float(np.mean(shares))
            modes = frozenset(
                a
                for m in disease.inheritance
                for a in (m, *self.knowledge.ancestors(m))
                if MODE_OF_INHERITANCE in self.knowledge.ancestors(a)
            )
            self._modes.append(modes)
            if modes:
                with_modes += 1
                for mode in modes:
                    mode_counts[mode] = mode_counts.get(mode, 0) + 1
            self._onsets.append(tuple((o, years) for o in disease.onset if (years := self.onset_years(o)) is not None))
        self._mode_background = {mode: (count + 0.5) / (with_modes + 1.0) for mode, count in mode_counts.items()}

    def onset_years(self, term_id: str) -> tuple[float, float] | None:
        """The age range of an onset term (its current id's), or ``None`` for a term without one."""
        current = self.knowledge.current_id(term_id)
        return ONSET_YEARS.get(current) if current is not None else None

    # -- the patient ----------------------------------------------------------------

    def _patient(
        self,
        observed: Iterable[str],
        excluded: Iterable[str],
        sex: str | None,
        inheritance: Iterable[str],
        age_years: float | None,
        onset: str | None,
    ) -> _Patient:
        seen: list[str] = []
        unknown: list[str] = []
        for term_id in observed:
            current = self.knowledge.current_id(term_id)
            if current is None or not self.knowledge.is_phenotypic_abnormality(current):
                if term_id not in unknown:
                    unknown.append(term_id)
            elif current not in seen:
                seen.append(current)
        implied: list[tuple[str, str]] = []
        for term_id in list(seen):  # "ectopia lentis" adds nothing once "lens subluxation" is counted
            by = next((other for other in seen if term_id in self.knowledge.ancestors(other)), None)
            if by is not None:
                implied.append((term_id, by))
                seen.remove(term_id)
        absent: list[str] = []
        for term_id in excluded:
            current = self.knowledge.current_id(term_id)
            if current is None or not self.knowledge.is_phenotypic_abnormality(current):
                if term_id not in unknown:
                    unknown.append(term_id)
            elif current not in absent and current not in seen and all(current != t for t, _ in implied):
                absent.append(current)
        modes: list[str] = []
        for term_id in inheritance:
            current = self.knowledge.current_id(term_id)
            if current is not None and current in self._mode_background and current not in modes:
                modes.append(current)
        sex_value = sex.lower() if sex and sex.lower() in ("male", "female") else None
        age = float(age_years) if age_years is not None and math.isfinite(age_years) and age_years >= 0 else None
        onset_id = self.knowledge.current_id(onset) if onset else None
        return _Patient(
            observed=tuple(seen),
            excluded=tuple(absent),
            unknown=tuple(unknown),
            implied=tuple(implied),
            sex=sex_value,
            inheritance=tuple(modes),
            age_years=age,
            onset=onset_id if onset_id is not None and self.onset_years(onset_id) is not None else None,
        )

    # -- the parts ----------------------------------------------------------------

    def _observed_parts(self, term_id: str) -> _ObservedParts:
        """LR of one observed term against every disease, with the relation and the matching column."""
        n = len(self.disease_ids)
        lr = np.full(n, self.false_positive_lr)
        relation = np.full(n, _NONE, dtype=np.int8)
        matched = np.full(n, -1, dtype=np.int32)
        cols = [self._terms[t] for t in self._closure(term_id) if t in self._terms]
        if not cols:
            return _ObservedParts(lr=lr, relation=relation, matched=matched)
        inverse = self._inverse_background[cols]
        direct = self._direct[:, cols].toarray() * inverse
        closure = self._closure_freq[:, cols].toarray() * inverse
        rows = np.arange(n)
        first = 1 if cols[0] == self._terms.get(term_id) else 0
        if len(cols) > first:  # through an ancestor: D's term is more general (descendant), or a cousin (related)
            upper = np.asarray(cols[first:], dtype=np.int32)
            for block, code, factor in (
                (direct[:, first:], _DESCENDANT, 1.0),
                (closure[:, first:], _RELATED, self.related_discount),
            ):
                arg = block.argmax(axis=1)
                value = block[rows, arg] * factor
                better = value > lr
                lr[better] = value[better]
                relation[better] = code
                matched[better] = upper[arg[better]]
        if first:  # the term itself: exact, or more general than D's terms (ancestor); wins ties
            value = closure[:, 0]
            better = value >= lr
            lr[better] = value[better]
            relation[better] = np.where(direct[better, 0] > 0, _EXACT, _ANCESTOR)
            matched[better] = cols[0]
        negated = self._negated[:, cols].getnnz(axis=1) > 0
        if np.any(negated):
            lr[negated] = self.contradiction_lr
            relation[negated] = _NOT
            matched[negated] = -1
        return _ObservedParts(lr=lr, relation=relation, matched=matched)

    def _excluded_lr(self, term_id: str) -> FloatArray:
        col = self._terms.get(term_id)
        if col is None:
            return np.ones(len(self.disease_ids))
        frequency = self._closure_freq[:, col].toarray().ravel()
        absent = np.maximum(1.0 - frequency, self.excluded_floor)
        absent[frequency > 0] *= self.excluded_relevance
        result: FloatArray = absent / (1.0 - self.background[col])
        return result

    def _touched(self, patient: _Patient) -> FloatArray:
        """1 for every indexed term a reported finding touches (it, its ancestors, its descendants)."""
        mask = np.zeros(len(self._terms))
        own = [self._terms[t] for t in (*patient.observed, *patient.excluded) if t in self._terms]
        if own:
            mask[np.asarray(self._ancestry[:, own].sum(axis=1)).ravel() > 0] = 1.0
        for term_id in patient.observed:
            mask[[self._terms[a] for a in self._closure(term_id) if a in self._terms]] = 1.0
        return mask

    def _not_reported_log(self, patient: _Patient) -> FloatArray:
        if self.not_reported_weight <= 0.0 or not (patient.observed or patient.excluded):
            return np.zeros(len(self.disease_ids))
        untouched = 1.0 - self._touched(patient)
        result: FloatArray = np.asarray(self._not_reported @ untouched).ravel()
        return result

    def _sex_lr(self, sex: str | None) -> FloatArray:
        lr = np.ones(len(self.disease_ids))
        if sex is None:
            return lr
        known = ~np.isnan(self._male_share)
        male = self._male_share[known]
        if sex == "male":
            lr[known] = male / self.background_male_share
        else:
            lr[known] = (1.0 - male) / (1.0 - self.background_male_share)
        return lr

    def _inheritance_lr(self, mode: str) -> FloatArray:
        background = self._mode_background[mode]
        hit = (1.0 - self.inheritance_error) / background
        miss = self.inheritance_error / background
        return np.array([1.0 if not modes else hit if mode in modes else miss for modes in self._modes])

    def _onset_range(self, patient: _Patient) -> tuple[float, float] | None:
        """The window the disease must have begun in: the stated onset's range, else antenatal to the current age.

        A stated onset wins over the age (it is the more specific, and counting both would count one fact
        twice); see the module docstring.
        """
        if patient.onset is not None:
            return self.onset_years(patient.onset)
        if patient.age_years is not None:
            return (-1.0, patient.age_years)
        return None

    def _onset(self, patient: _Patient) -> tuple[FloatArray, npt.NDArray[np.bool_], list[str | None]]:
        """The onset (or age) LR of every disease, whether its onset meets the patient's window, and the term that did.

        ``P(window | D)`` is ``1 - onset_error`` when one of D's onset ranges meets the window, else
        ``onset_error``; ``P(window | not D)`` is that probability averaged over the onset-annotated diseases
        (the consistent share smoothed by half a disease), so a window nearly every disease meets (an adult's
        age) gives LRs near 1 and says little, and a narrow one separates.
        """
        window = self._onset_range(patient)
        n = len(self.disease_ids)
        lr = np.ones(n)
        if window is None:
            return lr, np.ones(n, dtype=bool), [None] * n
        annotated = np.array([bool(o) for o in self._onsets])
        met = [_meeting(window, o) for o in self._onsets]
        consistent = np.array([m is not None for m in met])
        share = (np.sum(consistent & annotated) + 0.5) / (np.sum(annotated) + 1.0)
        background = share * (1.0 - self.onset_error) + (1.0 - share) * self.onset_error
        lr[annotated & consistent] = (1.0 - self.onset_error) / background
        lr[annotated & ~consistent] = self.onset_error / background
        return lr, consistent | ~annotated, met

    def _totals(self, patient: _Patient) -> tuple[FloatArray, list[_ObservedParts], list[FloatArray], FloatArray]:
        total = np.zeros(len(self.disease_ids))
        observed = [self._observed_parts(t) for t in patient.observed]
        for part in observed:
            total += np.log10(part.lr)
        excluded = [self._excluded_lr(t) for t in patient.excluded]
        for lr in excluded:
            total += np.log10(lr)
        not_reported = self._not_reported_log(patient)
        total += not_reported
        total += np.log10(self._sex_lr(patient.sex))
        for mode in patient.inheritance:
            total += np.log10(self._inheritance_lr(mode))
        total += np.log10(self._onset(patient)[0])
        return total, observed, excluded, not_reported

    # -- public -------------------------------------------------------------------

    def score_all(
        self,
        observed: Iterable[str],
        excluded: Iterable[str] = (),
        *,
        sex: str | None = None,
        inheritance: Iterable[str] = (),
        age_years: float | None = None,
        onset: str | None = None,
    ) -> FloatArray:
        """Total log10 likelihood ratio of every disease (aligned with ``disease_ids``); 0 where nothing is known."""
        patient = self._patient(observed, excluded, sex, inheritance, age_years, onset)
        return self._totals(patient)[0]

    def score_case(self, case: Case) -> FloatArray:
        """:meth:`score_all` with everything a case carries (findings, sex, inheritance, onset, age)."""
        return self._totals(self._patient_of(case))[0]

    def rank_case(
        self, case: Case, *, k: int = 20, pretest: Mapping[str, float] | None = None
    ) -> list[DiseaseLikelihood]:
        """:meth:`rank` with everything a case carries."""
        return self._ranked(self._patient_of(case), k, pretest)

    def explain_case(
        self, disease_ids: Iterable[str], case: Case, *, pretest: Mapping[str, float] | None = None
    ) -> list[DiseaseLikelihood]:
        """:meth:`explain` with everything a case carries."""
        return self._explained_ids(disease_ids, self._patient_of(case), pretest)

    def _patient_of(self, case: Case) -> _Patient:
        """The one reading of a ``Case`` for this scorer, so no caller can leave a piece of evidence out."""
        return self._patient(
            [f.hpo_id for f in case.observed if f.hpo_id],
            [f.hpo_id for f in case.excluded if f.hpo_id],
            case.sex,
            case.inheritance,
            case.age_years,
            case.onset,
        )

    def posttest(self, log10_lr: FloatArray, pretest: Mapping[str, float] | None = None) -> FloatArray:
        """Post-test probabilities over the scored diseases: pretest (uniform unless given) times LR, normalised.

        ``pretest`` maps disease ids to non-negative weights (normalised here); diseases it leaves out get 0.
        """
        prior = self.pretest(pretest)
        with np.errstate(divide="ignore"):
            logits = np.log(prior) + np.asarray(log10_lr, dtype=np.float64) * math.log(10.0)
        finite = np.isfinite(logits)
        if not np.any(finite):
            return prior
        logits = np.where(finite, logits - logits[finite].max(), -np.inf)
        weights = np.exp(logits)
        result: FloatArray = weights / weights.sum()
        return result

    def pretest(self, pretest: Mapping[str, float] | None = None) -> FloatArray:
        """The pretest probability of every disease: uniform, or the given weights normalised."""
        n = len(self.disease_ids)
        if pretest is None:
            return np.full(n, 1.0 / max(n, 1))
        prior = np.zeros(n)
        for disease_id, weight in pretest.items():
            row = self._row_of.get(disease_id)
            if row is not None and math.isfinite(weight) and weight > 0:
                prior[row] = weight
        if prior.sum() <= 0:
            return np.full(n, 1.0 / max(n, 1))
        normalised: FloatArray = prior / prior.sum()
        return normalised

    def rank(
        self,
        observed: Iterable[str],
        excluded: Iterable[str] = (),
        *,
        k: int = 20,
        sex: str | None = None,
        inheritance: Iterable[str] = (),
        age_years: float | None = None,
        onset: str | None = None,
        pretest: Mapping[str, float] | None = None,
    ) -> list[DiseaseLikelihood]:
        """The ``k`` most probable diseases, explained, best first."""
        return self._ranked(self._patient(observed, excluded, sex, inheritance, age_years, onset), k, pretest)

    def _ranked(self, patient: _Patient, k: int, pretest: Mapping[str, float] | None) -> list[DiseaseLikelihood]:
        parts = self._totals(patient)
        post = self.posttest(parts[0], pretest)
        top = np.argsort(-post, kind="stable")[: max(k, 0)]
        return self._explained([int(r) for r in top], patient, parts, post, pretest)

    def explain(
        self,
        disease_ids: Iterable[str],
        observed: Iterable[str],
        excluded: Iterable[str] = (),
        *,
        sex: str | None = None,
        inheritance: Iterable[str] = (),
        age_years: float | None = None,
        onset: str | None = None,
        pretest: Mapping[str, float] | None = None,
    ) -> list[DiseaseLikelihood]:
        """Every factor of the given diseases (ids this scorer does not hold are left out), in the order given.

        Post-test probabilities are normalised over all scored diseases, not only the ones asked about.
        """
        return self._explained_ids(
            disease_ids, self._patient(observed, excluded, sex, inheritance, age_years, onset), pretest
        )

    def _explained_ids(
        self, disease_ids: Iterable[str], patient: _Patient, pretest: Mapping[str, float] | None
    ) -> list[DiseaseLikelihood]:
        rows = [self._row_of[d] for d in disease_ids if d in self._row_of]
        if not rows:
            return []
        parts = self._totals(patient)
        post = self.posttest(parts[0], pretest)
        return self._explained(rows, patient, parts, post, pretest)

    def row(self, disease_id: str) -> int | None:
        """Position of a disease in :meth:`score_all` arrays."""
        return self._row_of.get(disease_id)

    def has_disease(self, disease_id: str) -> bool:
        return disease_id in self._row_of

    # -- explanations ---------------------------------------------------------------

    def _explained(
        self,
        rows: list[int],
        patient: _Patient,
        parts: tuple[FloatArray, list[_ObservedParts], list[FloatArray], FloatArray],
        post: FloatArray,
        pretest: Mapping[str, float] | None,
    ) -> list[DiseaseLikelihood]:
        total, observed, excluded, _ = parts
        prior = self.pretest(pretest)
        sex_lr = self._sex_lr(patient.sex)
        inheritance_lr = [self._inheritance_lr(m) for m in patient.inheritance]
        onset_lr, onset_consistent, onset_met = self._onset(patient)
        touched = self._touched(patient) if self.not_reported_weight > 0.0 else None
        results: list[DiseaseLikelihood] = []
        for row in rows:
            items: list[Contribution] = []
            for term_id, part in zip(patient.observed, observed, strict=True):
                items.append(self._observed_contribution(row, term_id, part))
            for term_id, excluded_lr in zip(patient.excluded, excluded, strict=True):
                items.append(self._excluded_contribution(row, term_id, float(excluded_lr[row])))
            if touched is not None:
                items.extend(self._not_reported_contributions(row, touched))
            if patient.sex is not None:
                lr = float(sex_lr[row])
                items.append(_demographic(patient.sex, "sex", lr, lr >= 1.0, contradiction=False))
            for mode, mode_lr in zip(patient.inheritance, inheritance_lr, strict=True):
                consistent = mode in self._modes[row]
                items.append(_demographic(mode, "inheritance", float(mode_lr[row]), consistent, contradiction=True))
            if patient.onset is not None or patient.age_years is not None:
                items.append(
                    _demographic(
                        patient.onset or f"age {age_words(patient.age_years or 0.0)}",
                        "onset" if patient.onset is not None else "age",
                        float(onset_lr[row]),
                        bool(onset_consistent[row]),
                        contradiction=True,
                        matched=onset_met[row],
                    )
                )
            for term_id, by in patient.implied:
                # Counted once, through ``by``; its own frequency in the disease (a kind of an annotated feature, or
                # the feature itself) still says whether the disease explains it ("long fingers" beside "wrist sign":
                # Marfan syndrome explains long fingers, as arachnodactyly, whatever it makes of the wrist sign).
                items.append(
                    Contribution(term_id, "neutral", "implied", by, self._own_frequency(row, term_id), 1.0, "observed")
                )
            for term_id in patient.unknown:
                items.append(Contribution(term_id, "neutral", "unknown", None, None, 1.0, "observed"))
            results.append(
                DiseaseLikelihood(
                    disease_id=self.disease_ids[row],
                    name=self.disease_names[row],
                    log10_lr=float(total[row]),
                    posttest=float(post[row]),
                    pretest=float(prior[row]),
                    contributions=tuple(items),
                )
            )
        return results

    def _own_frequency(self, row: int, term_id: str) -> float | None:
        """The disease's frequency of ``term_id`` or a kind of it (``None``: not annotated, or annotated NOT)."""
        column = self._terms.get(term_id)
        if column is None or self._negated[row, column] > 0:
            return None
        frequency = float(self._closure_freq[row, column])
        return frequency if frequency > 0 else None

    def _observed_contribution(self, row: int, term_id: str, part: _ObservedParts) -> Contribution:
        lr = float(part.lr[row])
        relation = _RELATION_CODES[int(part.relation[row])]
        column = int(part.matched[row])
        matched: str | None = self._term_ids[column] if column >= 0 else None
        frequency: float | None = None
        if relation == "not_annotated":
            matched = next(
                (t for t in self._closure(term_id) if t in self._terms and self._negated[row, self._terms[t]] > 0),
                None,
            )
            return Contribution(term_id, "contradicts", relation, matched, 0.0, lr, "observed")
        if relation in ("exact", "descendant"):
            frequency = float(self._direct[row, column])
        elif relation in ("ancestor", "related") and column >= 0:
            frequency = float(self._closure_freq[row, column])
            if relation == "ancestor":
                matched = self._annotated_below(row, column, frequency) or matched
        kind: ContributionKind = "supports" if relation != "none" and lr > 1.0 else "unexplained"
        return Contribution(term_id, kind, relation, matched, frequency, lr, "observed")

    def _annotated_below(self, row: int, column: int, frequency: float) -> str | None:
        """The disease's own annotated term under ``column`` that carries ``frequency`` (for an ancestor match)."""
        for col in self._ancestry[:, column].nonzero()[0]:
            if abs(float(self._direct[row, int(col)]) - frequency) < 1e-12:
                return self._term_ids[int(col)]
        return None

    def _excluded_contribution(self, row: int, term_id: str, lr: float) -> Contribution:
        col = self._terms.get(term_id)
        frequency = float(self._closure_freq[row, col]) if col is not None else 0.0
        negated = col is not None and any(
            self._negated[row, self._terms[t]] > 0 for t in self._closure(term_id) if t in self._terms
        )
        if frequency > 0.0:
            relation: Relation = "exact" if col is not None and self._direct[row, col] > 0 else "ancestor"
            kind: ContributionKind = "consistent"
            if lr < 1.0:
                kind = "contradicts" if frequency >= self.contradiction_frequency else "against"
            return Contribution(term_id, kind, relation, term_id, frequency, lr, "excluded")
        relation = "not_annotated" if negated else "none"
        return Contribution(term_id, "consistent", relation, None, 0.0, lr, "excluded")

    def _not_reported_contributions(self, row: int, touched: FloatArray) -> list[Contribution]:
        start, end = self._not_reported.indptr[row], self._not_reported.indptr[row + 1]
        items: list[Contribution] = []
        for col, log_lr in zip(self._not_reported.indices[start:end], self._not_reported.data[start:end], strict=True):
            if touched[col] == 0.0:
                term_id = self._term_ids[int(col)]
                frequency = float(self._direct[row, int(col)])
                items.append(
                    Contribution(
                        term_id, "against", "not_reported", term_id, frequency, float(10**log_lr), "not_reported"
                    )
                )
        return items


def _meeting(window: tuple[float, float], onsets: tuple[tuple[str, tuple[float, float]], ...]) -> str | None:
    """The first of the disease's onset terms whose range meets the patient's window, or ``None``.

    Slack, since onset ranges are fuzzy: a year each way, and above the window a quarter of its upper end
    when that is more (a 14-year-old meets "adult onset", from 16).
    """
    low, high = window
    for term_id, (start, end) in onsets:
        if start <= high + max(1.0, 0.25 * high) and end >= low - 1.0:
            return term_id
    return None


def age_words(years: float) -> str:
    """An age as a clinician says it: "2 days" under a month, "8 months" under two years, else "14 y".

    Why: the factor said "age 0 y" for a 2-day-old and "age 0.67 y" for an 8-month-old (user test).
    """
    days = years * 365.25
    if days < 30.0:
        whole = max(round(days), 0)
        return f"{whole} day{'' if whole == 1 else 's'}"
    if years < 2.0:
        months = max(round(years * 12), 1)
        return f"{months} month{'' if months == 1 else 's'}"
    return f"{round(years, 1):g} y"


def _demographic(
    value: str,
    evidence: EvidenceKind,
    lr: float,
    consistent: bool,
    *,
    contradiction: bool,
    matched: str | None = None,
) -> Contribution:
    """Sex, inheritance, onset or age as a factor: an inconsistent one contradicts unless it only weighs against."""
    if lr == 1.0:
        return Contribution(value, "neutral", "consistent", matched, None, lr, evidence)
    if consistent:
        kind: ContributionKind = "supports" if lr > 1.0 else "consistent"
        return Contribution(value, kind, "consistent", matched, None, lr, evidence)
    kind = "contradicts" if contradiction else "against"
    return Contribution(value, kind, "inconsistent", None, None, lr, evidence)


_LOCK = threading.Lock()
_SCORERS: dict[tuple[int, tuple[str, ...]], tuple[HpoKnowledge, LikelihoodRatioScorer]] = {}


def get_likelihood_scorer(knowledge: HpoKnowledge, prefixes: Sequence[str] = ("OMIM",)) -> LikelihoodRatioScorer:
    """The process-wide scorer of a knowledge object (built on first use, a few seconds; then read-only)."""
    key = (id(knowledge), tuple(prefixes))
    with _LOCK:
        cached = _SCORERS.get(key)
        if cached is None or cached[0] is not knowledge:
            cached = (knowledge, LikelihoodRatioScorer(knowledge, prefixes))
            _SCORERS[key] = cached
        return cached[1]


__all__ = [
    "MALE_SHARE",
    "ONSET_YEARS",
    "Contribution",
    "ContributionKind",
    "DiseaseLikelihood",
    "EvidenceKind",
    "LikelihoodRatioScorer",
    "Relation",
    "get_likelihood_scorer",
]
