"""The benchmark harness: run policies over held-out cases and score their differentials.

A policy sees only what the standard track allows (phenotypes observed and
excluded, sex, age); gold diagnoses stay in ``LabelledCase`` on this side.
Every policy runs through the same environment and rollout loop as in
production, so latency and retrieval counts are real. The classical floor,
hpo3's hypergeometric enrichment, is ranked directly (it retrieves nothing).

"Common" and "rare" split the cases by how many published patients with the
same diagnosis the index holds (``COMMON_MIN_INDEXED`` or more: common): the
corpus has no prevalence data, and what matters for a retrieval system is
whether it has seen the disease before.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from rich.progress import track

from dxsearch.agent import Trace, TracedDiagnosis, diagnose
from dxsearch.cases import LabelledCase
from dxsearch.corpus import DocumentKind, normalise_name
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget
from dxsearch.knowledge.disease_ontology import DiseaseOntology
from dxsearch.knowledge.hpo import HpoKnowledge, publication_id
from dxsearch.policies.base import Policy
from dxsearch.policies.calibration import expected_calibration_error
from dxsearch.policies.catalog import index_retriever
from dxsearch.retrieval.embedded import EmbeddedIndex

CUTOFFS = (1, 3, 5)
METRIC_KEYS = (
    "top1",
    "top3",
    "top5",
    "mrr",
    "citation_precision",
    "retrievals_per_case",
    "turns_per_case",
    "latency_p50_ms",
    "latency_p95_ms",
    "ece",
    "coverage",
)
COMMON_MIN_INDEXED = 3
ENRICHMENT = "enrichment"


@dataclass(frozen=True, slots=True)
class RankedAnswer:
    """One case's differential reduced to what scoring needs."""

    codes: tuple[str | None, ...]
    names: tuple[str, ...]
    cited: int = 0
    cited_precise: int = 0
    retrievals: int = 0
    turns: int = 0
    latency_ms: float = 0.0
    outcome: str = "diagnosed"
    confidence: float | None = None
    """The stated probability of the first diagnosis, when the policy gives one."""


def disease_names(index: EmbeddedIndex, code: str) -> list[str]:
    """Titles of the disease-knowledge documents whose primary code is ``code``: the disease's names in the corpus.

    Only disease knowledge: a patient record's title ("Patient record (female, 21 years)") is not a
    name of its diagnosis, and as a synonym it would pay a policy for answering with it.
    """
    names: set[str] = set()
    for doc_id in index.store.doc_ids_by_code(code):
        document = index.store.document(doc_id)
        if (
            document is not None
            and document.kind is DocumentKind.DISEASE_KNOWLEDGE
            and document.metadata.codes
            and document.metadata.codes[0] == code
        ):
            names.add(document.title)
    return sorted(names)


class GoldMatcher:
    """Does a diagnosis match the gold one: same code, a code the gold's documents share, or a name of it.

    Names are the gold label, the titles of documents coded with the gold id and
    exact synonyms from the Disease Ontology terms mapped one-to-one to it, all
    folded by :func:`normalise_name`.
    """

    def __init__(self, index: EmbeddedIndex, ontology: DiseaseOntology | None = None) -> None:
        self.index = index
        self.ontology = ontology

    @lru_cache(maxsize=65536)  # noqa: B019 - one matcher per evaluation run
    def gold_names(self, gold_id: str, gold_label: str) -> frozenset[str]:
        names = {normalise_name(gold_label)}
        names.update(normalise_name(title) for title in disease_names(self.index, gold_id))
        if self.ontology is not None:
            for term in self.ontology.for_disease(gold_id):
                if term.n_mapped == 1:
                    names.update(normalise_name(n) for n in (term.name, *term.exact_synonyms))
        return frozenset(n for n in names if n)

    @lru_cache(maxsize=65536)  # noqa: B019 - one matcher per evaluation run
    def equivalent_codes(self, code: str) -> frozenset[str]:
        """Codes of every disease document carrying ``code`` (OMIM <-> ORPHA <-> ICD-10 via the corpus)."""
        codes: set[str] = {code}
        for doc_id in self.index.store.doc_ids_by_code(code):
            if not doc_id.startswith(("omim:", "orpha:")):
                continue
            document = self.index.store.document(doc_id)
            if document is not None and document.metadata.codes and document.metadata.codes[0] == code:
                codes.update(c for c in document.metadata.codes if not c.startswith("HP:"))
        return frozenset(codes)

    def rank_of_gold(self, answer: RankedAnswer, gold_id: str, gold_label: str) -> int | None:
        gold_names = self.gold_names(gold_id, gold_label)
        for rank, (code, name) in enumerate(zip(answer.codes, answer.names, strict=True), start=1):
            if code is not None and (code == gold_id or gold_id in self.equivalent_codes(code)):
                return rank
            if name and normalise_name(name) in gold_names:
                return rank
        return None


def citation_counts(diagnoses: Sequence[TracedDiagnosis], knowledge: HpoKnowledge | None) -> tuple[int, int]:
    """(cited, precise): a citation is precise if its passage mentions the diagnosis or one of its phenotypes.

    Citations of passages never retrieved count as cited and never as precise.
    """
    cited = precise = 0
    for diagnosis in diagnoses:
        phenotype_names = _phenotype_names(diagnosis.code, knowledge)
        cited += len(diagnosis.evidence) + len(diagnosis.unsupported_citations)
        for link in diagnosis.evidence:
            if link.mentions_diagnosis or any(normalise_name(s) in phenotype_names for s in link.supports):
                precise += 1
    return cited, precise


def _phenotype_names(code: str | None, knowledge: HpoKnowledge | None) -> frozenset[str]:
    if code is None or knowledge is None:
        return frozenset()
    try:
        disease = knowledge.disease(code)
    except (KeyError, ValueError):
        return frozenset()
    return frozenset(normalise_name(p.name) for p in disease.phenotypes)


def answer_from_trace(trace: Trace, knowledge: HpoKnowledge | None) -> RankedAnswer:
    cited, precise = citation_counts(trace.diagnoses, knowledge)
    return RankedAnswer(
        codes=tuple(d.code for d in trace.diagnoses),
        names=tuple(d.name for d in trace.diagnoses),
        cited=cited,
        cited_precise=precise,
        retrievals=trace.retrievals_used,
        turns=len(trace.turns),
        latency_ms=trace.total_ms,
        outcome=trace.outcome,
        confidence=trace.diagnoses[0].confidence if trace.diagnoses else None,
    )


#: Confidence bins of the reliability diagram and the expected calibration error.
ECE_BINS = 10
#: Publication resamples behind the ECE's interval, and the interval's coverage.
ECE_RESAMPLES = 1000
ECE_INTERVAL = 0.9


@dataclass
class _Tally:
    ranks: list[int | None] = field(default_factory=list)
    answers: list[RankedAnswer] = field(default_factory=list)
    abstain_below: float = 0.0
    group_ranks: list[int | None] = field(default_factory=list)
    units: list[str] = field(default_factory=list)

    def add(self, rank: int | None, answer: RankedAnswer, group_rank: int | None = None, unit: str = "") -> None:
        """One case; ``unit``: what its outcome is shared with (its publication), for the ECE's interval."""
        self.ranks.append(rank)
        self.answers.append(answer)
        self.group_ranks.append(group_rank if group_rank is not None else rank)
        self.units.append(unit or f"case {len(self.units)}")

    def summary(self) -> dict[str, Any]:
        n = len(self.ranks)
        if n == 0:
            return {"cases": 0, **dict.fromkeys(METRIC_KEYS)}
        metrics: dict[str, Any] = {"cases": n}
        for cutoff in CUTOFFS:
            metrics[f"top{cutoff}"] = sum(1 for r in self.ranks if r is not None and r <= cutoff) / n
        metrics["mrr"] = sum(1.0 / r for r in self.ranks if r is not None) / n
        # Disease-group accuracy (the gold, or a candidate sharing the case's causal gene): reported beside,
        # never mixed into, the exact-id headline.
        for cutoff in (1, 5):
            metrics[f"group_top{cutoff}"] = sum(1 for r in self.group_ranks if r is not None and r <= cutoff) / n
        cited = sum(a.cited for a in self.answers)
        metrics["citation_precision"] = sum(a.cited_precise for a in self.answers) / cited if cited else None
        metrics["retrievals_per_case"] = statistics.fmean(a.retrievals for a in self.answers)
        metrics["turns_per_case"] = statistics.fmean(a.turns for a in self.answers)
        latencies = [a.latency_ms for a in self.answers]
        metrics["latency_p50_ms"] = _percentile(latencies, 50)
        metrics["latency_p95_ms"] = _percentile(latencies, 95)
        outcomes: dict[str, int] = {}
        for a in self.answers:
            outcomes[a.outcome] = outcomes.get(a.outcome, 0) + 1
        metrics["outcomes"] = outcomes
        metrics.update(self._calibration())
        return metrics

    def _calibration(self) -> dict[str, Any]:
        """ECE of the first diagnosis's probability, reliability bins, and coverage/accuracy at the threshold.

        Only cases whose first diagnosis carries a probability enter the ECE and the bins; a case
        answers at the threshold when it has one at or above ``abstain_below`` (abstentions on the
        findings alone never answer).
        """
        stated = [
            (a.confidence, r == 1) for a, r in zip(self.answers, self.ranks, strict=True) if a.confidence is not None
        ]
        if not stated:
            return {"ece": None, "ece_interval": None, "reliability": [], "coverage": None}
        units = [u for a, u in zip(self.answers, self.units, strict=True) if a.confidence is not None]
        confidences = [c for c, _ in stated]
        correct = [hit for _, hit in stated]
        bins: list[dict[str, float | int]] = []
        for b in range(ECE_BINS):
            low, high = b / ECE_BINS, (b + 1) / ECE_BINS
            members = [(c, hit) for c, hit in stated if low <= c < high or (b == ECE_BINS - 1 and c == 1.0)]
            if members:
                bins.append(
                    {
                        "low": low,
                        "high": high,
                        "cases": len(members),
                        "confidence": statistics.fmean(c for c, _ in members),
                        "accuracy": sum(hit for _, hit in members) / len(members),
                    }
                )
        answered = [hit for c, hit in stated if c >= self.abstain_below]
        n = len(self.ranks)
        return {
            "ece": expected_calibration_error(confidences, correct, ECE_BINS),
            "ece_interval": _ece_interval(confidences, correct, units),
            "ece_cases": len(stated),
            "reliability": bins,
            "coverage": {
                "threshold": self.abstain_below,
                "coverage": len(answered) / n,
                "accuracy": sum(answered) / len(answered) if answered else None,
                "answered": len(answered),
            },
            "risk_coverage": _risk_coverage(stated, n),
        }


def _risk_coverage(stated: Sequence[tuple[float, bool]], n: int, points: int = 20) -> list[dict[str, float]]:
    """Accuracy of the answered cases against the share answered, as the threshold rises (selective prediction)."""
    ordered = sorted(stated, key=lambda pair: -pair[0])
    curve: list[dict[str, float]] = []
    for step in range(1, points + 1):
        keep = round(len(ordered) * step / points)
        if keep == 0:
            continue
        kept = ordered[:keep]
        curve.append(
            {
                "threshold": kept[-1][0],
                "coverage": keep / n,
                "accuracy": sum(hit for _, hit in kept) / keep,
            }
        )
    return curve


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


Runner = Callable[[LabelledCase], RankedAnswer]


def policy_runner(
    policy: Policy,
    index: EmbeddedIndex,
    retriever: str,
    budget: Budget | None,
    knowledge: HpoKnowledge | None,
    same_publication: Mapping[str, frozenset[str]] | None = None,
) -> Runner:
    """Runs one case through the real environment and rollout loop.

    Patient records from the case's own publication are hidden from retrieval
    (``same_publication``: PMID -> doc ids), so a case file that overlaps the
    index cannot find itself or its family members.
    """
    env = DiagnosticEnv(index_retriever(index, retriever), budget)
    hidden = same_publication or {}

    def run(labelled: LabelledCase) -> RankedAnswer:
        exclude = hidden.get(labelled.pmid or "", frozenset())
        trace = diagnose(labelled.case, policy, env, index_version=index.version, exclude_doc_ids=exclude)
        return answer_from_trace(trace, knowledge)

    return run


def publication_documents(index: EmbeddedIndex) -> dict[str, frozenset[str]]:
    """PMID -> the indexed patient records from that publication."""
    found: dict[str, set[str]] = {}
    query = (
        "SELECT doc_id, json_extract(metadata, '$.extra.publication') FROM documents "
        "WHERE kind = 'patient_record' AND json_extract(metadata, '$.extra.publication') IS NOT NULL"
    )
    for doc_id, publication in index.store._db.execute(query):
        found.setdefault(str(publication), set()).add(str(doc_id))
    return {pmid: frozenset(ids) for pmid, ids in found.items()}


def enrichment_runner(knowledge: HpoKnowledge | None = None) -> Runner:
    """Hypergeometric enrichment over OMIM, on the index's annotation rows: the classical phenotype-ranking floor."""
    from dxsearch.baselines.enrichment import rank_diseases

    def run(labelled: LabelledCase) -> RankedAnswer:
        t0 = time.perf_counter()
        ranked = rank_diseases(labelled.case, k=5, knowledge=knowledge)
        return RankedAnswer(
            codes=tuple(r.disease_id for r in ranked),
            names=tuple(r.name for r in ranked),
            latency_ms=1000 * (time.perf_counter() - t0),
            outcome="diagnosed" if ranked else "no_diagnosis",
        )

    return run


def likelihood_runner(knowledge: HpoKnowledge | None = None) -> Runner:
    """The likelihood-ratio scorer alone over OMIM (uniform pretest, the index's rows): its post-test
    probability is the stated confidence, uncalibrated."""
    from dxsearch.knowledge.hpo import get_hpo_knowledge
    from dxsearch.knowledge.likelihood import get_likelihood_scorer

    scorer = get_likelihood_scorer(knowledge if knowledge is not None else get_hpo_knowledge())

    def run(labelled: LabelledCase) -> RankedAnswer:
        t0 = time.perf_counter()
        case = labelled.case
        # Findings, excluded findings, sex, inheritance, and onset or else age: all the case carries.
        ranked = scorer.rank_case(case, k=5) if any(f.hpo_id for f in case.observed) else []
        return RankedAnswer(
            codes=tuple(r.disease_id for r in ranked),
            names=tuple(r.name for r in ranked),
            latency_ms=1000 * (time.perf_counter() - t0),
            outcome="diagnosed" if ranked else "no_diagnosis",
            confidence=ranked[0].posttest if ranked else None,
        )

    return run


#: Rankers that score diseases directly, without the agent loop (``dxsearch eval`` only), by name.
DIRECT_RANKERS: dict[str, Callable[[HpoKnowledge | None], Runner]] = {
    ENRICHMENT: enrichment_runner,
    "likelihood": likelihood_runner,
}


def indexed_diagnosis_counts(index: EmbeddedIndex) -> dict[str, int]:
    """How many indexed patient records carry each diagnosis code (the common/rare split)."""
    counts: dict[str, int] = {}
    query = (
        "SELECT json_extract(metadata, '$.codes[0]') FROM documents WHERE kind = 'patient_record' "
        "AND json_extract(metadata, '$.codes[0]') IS NOT NULL"
    )
    for (code,) in index.store._db.execute(query):
        counts[code] = counts.get(code, 0) + 1
    return counts


Grouper = Callable[[LabelledCase], str | None]


def frequency_group(indexed_counts: Mapping[str, int]) -> Grouper:
    """``common`` if the index holds ``COMMON_MIN_INDEXED`` published patients with the diagnosis, else ``rare``."""

    def group(labelled: LabelledCase) -> str:
        return "common" if indexed_counts.get(labelled.gold.id, 0) >= COMMON_MIN_INDEXED else "rare"

    return group


def annotation_group(knowledge: HpoKnowledge) -> Grouper:
    """Whether the gold disease's HPO annotations cite the case's own publication.

    Phenotype scores are built from those annotations, so a case whose paper the
    annotation was curated from is easier; the independent group is the honest one.
    """

    def group(labelled: LabelledCase) -> str | None:
        if not labelled.pmid:
            return None
        try:
            pmids = knowledge.disease(labelled.gold.id).pmids
        except KeyError:
            return "annotation_independent"
        return "annotation_cites_case" if labelled.pmid in pmids else "annotation_independent"

    return group


#: What the index knows of a case's gold disease (:func:`knowledge_group`), for the groups of the report.
KNOWN_BY_PATIENTS_AND_ANNOTATIONS = "gold_has_patients_and_annotations"
KNOWN_BY_ANNOTATIONS_ONLY = "gold_has_annotations_only"
KNOWN_BY_PATIENTS_ONLY = "gold_has_patients_only"
UNKNOWN_TO_THE_INDEX = "gold_unknown_to_the_index"


def knowledge_group(indexed_counts: Mapping[str, int], knowledge: HpoKnowledge) -> Grouper:
    """Of a published case: whether the index holds patient records of its gold disease (other papers' patients,
    the votes' source), phenotype annotations of it (what the phenotype scores read), both, or neither.

    Why: a leakage-controlled headline mixes cases no method can get right (the index knows nothing of the
    disease once the case's paper is left out) with cases only similar patients can answer and cases only the
    annotations can. The ceiling says how many are in the first kind; these groups say how each policy does
    on each kind, so a change is read where it acts. Cases without a publication (simulated) are in no group.
    """

    def group(labelled: LabelledCase) -> str | None:
        if not labelled.pmid:
            return None
        patients = indexed_counts.get(labelled.gold.id, 0) > 0
        annotated = keeps_annotations(knowledge, labelled.gold.id)
        if patients and annotated:
            return KNOWN_BY_PATIENTS_AND_ANNOTATIONS
        if annotated:
            return KNOWN_BY_ANNOTATIONS_ONLY
        return KNOWN_BY_PATIENTS_ONLY if patients else UNKNOWN_TO_THE_INDEX

    return group


@dataclass(frozen=True, slots=True)
class Leak:
    """A publication that both gives evaluated cases and feeds the index."""

    publication: str
    cases: int
    annotation_rows: int
    patient_records: int

    def describe(self) -> str:
        parts = [
            f"{n} {what}"
            for n, what in ((self.annotation_rows, "annotation rows"), (self.patient_records, "patient records"))
            if n
        ]
        return f"{self.publication} ({self.cases} case(s); feeds {' and '.join(parts)})"


def leaking_publications(
    cases: Sequence[LabelledCase], knowledge: HpoKnowledge, same_publication: Mapping[str, frozenset[str]]
) -> list[Leak]:
    """Publications of ``cases`` that the index draws on: HPO rows citing them, or their patient records.

    An evaluation over such cases is not leakage-controlled: the answer was curated into the index from
    the very paper the case comes from. Most-leaking first.
    """
    cited = knowledge.cited_publications()
    records = {pmid: ids for p, ids in same_publication.items() if (pmid := publication_id(p))}
    by_publication: dict[str, int] = {}
    for labelled in cases:
        pmid = publication_id(labelled.pmid or "")
        if pmid and (pmid in cited or pmid in records):
            by_publication[pmid] = by_publication.get(pmid, 0) + 1
    if not by_publication:
        return []
    rows: dict[str, int] = dict.fromkeys(by_publication, 0)
    for disease_id in knowledge.disease_ids():
        for row in knowledge.annotations(disease_id):
            for pmid in row.pmids:
                if pmid in rows:
                    rows[pmid] += 1
    leaks = [Leak(p, n, rows[p], len(records.get(p, ()))) for p, n in by_publication.items()]
    return sorted(leaks, key=lambda leak: (-leak.cases, leak.publication))


def knowledge_ceiling(cases: Sequence[LabelledCase], knowledge: HpoKnowledge) -> float | None:
    """Share of cases whose gold disease keeps any phenotype annotation in ``knowledge``.

    A phenotype ranking cannot put first a disease it knows nothing about: this is the ceiling every
    leakage-controlled headline is read against (``None`` for no case).
    """
    if not cases:
        return None
    return sum(keeps_annotations(knowledge, labelled.gold.id) for labelled in cases) / len(cases)


def keeps_annotations(knowledge: HpoKnowledge, disease_id: str) -> bool:
    """Whether ``knowledge`` (after its exclusions) keeps any phenotype annotation of ``disease_id``."""
    try:
        return bool(knowledge.disease(disease_id).phenotypes)
    except KeyError:
        return False


def _ece_interval(confidences: Sequence[float], correct: Sequence[bool], units: Sequence[str]) -> list[float]:
    """The ECE's :data:`ECE_INTERVAL` bootstrap interval, resampling whole publications.

    A publication's patients share a disease and a write-up, so its cases are right or wrong together
    (one series of 15 was all wrong): how far the ECE of another set of papers could fall from this
    one's depends on how many papers there are, not cases. Seeded, so a rerun reports the same.
    """
    by_unit: dict[str, list[int]] = {}
    for position, unit in enumerate(units):
        by_unit.setdefault(unit, []).append(position)
    groups = list(by_unit.values())
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=bool)
    draws = np.random.default_rng(0).integers(0, len(groups), size=(ECE_RESAMPLES, len(groups)))
    values = []
    for draw in draws:
        chosen = np.concatenate([groups[g] for g in draw])
        values.append(expected_calibration_error(conf[chosen].tolist(), hits[chosen].tolist(), ECE_BINS))
    tail = (1.0 - ECE_INTERVAL) / 2.0
    return [float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))]


GroupRanker = Callable[[RankedAnswer, LabelledCase, int | None], int | None]


def gene_group_rank(knowledge: HpoKnowledge) -> GroupRanker:
    """Rank of the first diagnosis that is the gold (``exact``) or shares a causal gene with the case.

    The disease-group metric users compare with: a candidate of the same gene (an allelic disorder, a
    subtype of the same phenotypic series) sends a clinician to the same test. The case's genes are
    its published genotype; a candidate's are ``genes_to_phenotype.txt``'s links.
    """

    def rank(answer: RankedAnswer, labelled: LabelledCase, exact: int | None) -> int | None:
        genes = set(labelled.genes)
        for position, code in enumerate(answer.codes, start=1):
            if exact is not None and position >= exact:
                return exact
            if genes and code is not None and genes & set(knowledge.genes(code)):
                return position
        return exact

    return rank


def evaluate(
    runners: Mapping[str, Runner],
    case_sets: Mapping[str, Sequence[LabelledCase]],
    matcher: GoldMatcher,
    groupers: Sequence[Grouper] = (),
    *,
    limit: int | None = None,
    abstain_below: float = 0.0,
    group_rank: GroupRanker | None = None,
) -> dict[str, dict[str, Any]]:
    """Per policy: pooled metrics, per-set metrics and per-group metrics (common/rare, annotation overlap).

    The first case of each policy is run once untimed, so one-off loading
    (similarity matrices, models) does not land in the latency percentiles.
    ``abstain_below`` is the threshold coverage and accuracy are reported at (``coverage``): play
    policies with their probability abstention off, so top-k and ECE see every ranking.
    """
    report: dict[str, dict[str, Any]] = {}
    for name, run in runners.items():
        pooled = _Tally(abstain_below=abstain_below)
        per_set: dict[str, _Tally] = {}
        groups: dict[str, _Tally] = {}
        warmed = False
        for set_name, cases in case_sets.items():
            tally = per_set.setdefault(set_name, _Tally(abstain_below=abstain_below))
            chosen = list(cases)[:limit] if limit else list(cases)
            for labelled in track(chosen, description=f"{name} on {set_name}", transient=True):
                if not warmed:
                    run(labelled)
                    warmed = True
                answer = run(labelled)
                rank = matcher.rank_of_gold(answer, labelled.gold.id, labelled.gold.label)
                related = group_rank(answer, labelled, rank) if group_rank is not None else rank
                unit = publication_id(labelled.pmid or "") or labelled.case.case_id
                for bucket in (pooled, tally):
                    bucket.add(rank, answer, related, unit)
                for grouper in groupers:
                    group = grouper(labelled)
                    if group is not None:
                        groups.setdefault(group, _Tally(abstain_below=abstain_below)).add(rank, answer, related, unit)
        summary = pooled.summary()
        summary["sets"] = {s: t.summary() for s, t in per_set.items()}
        summary["groups"] = {g: t.summary() for g, t in groups.items()}
        report[name] = summary
    return report
