"""Simulated patients, the way phenotype-driven diagnosis is evaluated in the literature.

Köhler et al. 2009 (Phenomizer) draw a disease's annotated terms by their
frequency, then make the patient realistic: some terms are reported less
precisely (replaced by an ancestor), a few unrelated terms are added (noise),
and some are not recorded at all. Every random choice comes from a generator
seeded by ``(seed, disease, k)``, so the same seed gives the same cases, and a
case does not change when more diseases or cases are asked for.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.knowledge.hpo import Disease, DiseasePhenotype, HpoKnowledge

Origin = Literal["annotated", "imprecise", "noise"]
_SEX_CODES = {"male": "MALE", "female": "FEMALE", "other": "OTHER_SEX", "unknown": "UNKNOWN_SEX"}


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Knobs of the simulation; defaults follow common practice (Köhler 2009, later benchmarks)."""

    max_terms: int = 12
    min_terms: int = 3
    p_imprecise: float = 0.3
    n_noise: tuple[int, int] = (1, 2)
    p_drop: float = 0.1
    unknown_frequency: float = 0.5
    min_annotated: int = 5

    def __post_init__(self) -> None:
        for name in ("p_imprecise", "p_drop", "unknown_frequency"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 1 <= self.min_terms <= self.max_terms:
            raise ValueError(f"need 1 <= min_terms <= max_terms, got {self.min_terms}, {self.max_terms}")
        low, high = self.n_noise
        if not 0 <= low <= high:
            raise ValueError(f"n_noise must be (low, high) with 0 <= low <= high, got {self.n_noise}")
        if self.min_annotated < self.min_terms:
            raise ValueError("min_annotated must be at least min_terms")


class SimulatedTerm(NamedTuple):
    """A term of a simulated patient and where it came from (``annotated_id``: the term it replaces)."""

    term_id: str
    origin: Origin
    annotated_id: str | None


@dataclass(frozen=True, slots=True)
class SimulatedPatient:
    disease_id: str
    sex: Literal["male", "female"]
    terms: tuple[SimulatedTerm, ...]


def eligible_diseases(knowledge: HpoKnowledge, min_annotated: int = 5, prefix: str = "OMIM") -> list[str]:
    """Diseases with at least ``min_annotated`` annotated phenotypes, in a stable order."""
    return [d.id for d in knowledge.diseases(prefix) if len(d.phenotypes) >= min_annotated]


def _probability(phenotype: DiseasePhenotype, config: SimulationConfig) -> float:
    return config.unknown_frequency if phenotype.frequency is None else phenotype.frequency.estimate


def _sample_annotated(
    candidates: list[DiseasePhenotype], rng: random.Random, config: SimulationConfig
) -> list[DiseasePhenotype]:
    """Each term with probability = its frequency, topped up to ``min_terms``, capped at ``max_terms``."""
    chosen = [p for p in candidates if rng.random() < _probability(p, config)]
    if len(chosen) < config.min_terms:
        rest = [p for p in candidates if p not in chosen and _probability(p, config) > 0.0]
        # Weighted sampling without replacement (Efraimidis-Spirakis keys).
        keyed = sorted(rest, key=lambda p: rng.random() ** (1.0 / _probability(p, config)), reverse=True)
        chosen.extend(keyed[: config.min_terms - len(chosen)])
    if len(chosen) > config.max_terms:
        obligate = [p for p in chosen if _probability(p, config) >= 1.0]
        others = [p for p in chosen if _probability(p, config) < 1.0]
        chosen = (obligate + rng.sample(others, len(others)))[: config.max_terms]
    return chosen


def _imprecise(term_id: str, taken: set[str], knowledge: HpoKnowledge, rng: random.Random) -> str | None:
    """A uniformly random ancestor strictly below "Phenotypic abnormality" not already used, if any."""
    options = sorted(
        a for a in knowledge.ancestors(term_id) if knowledge.is_phenotypic_abnormality(a) and a not in taken
    )
    return rng.choice(options) if options else None


def _noise(disease: Disease, taken: set[str], count: int, knowledge: HpoKnowledge, rng: random.Random) -> list[str]:
    """Terms neither equal to, ancestors of, nor descendants of any term annotated to the disease."""
    annotated = set(disease.phenotype_ids) | set(disease.excluded)
    related = annotated.union(*(knowledge.ancestors(t) for t in annotated))
    pool = knowledge.phenotypic_abnormality_terms
    noise: list[str] = []
    for _ in range(10_000):
        if len(noise) == count:
            break
        term = rng.choice(pool)
        if term in related or term in taken or term in noise or knowledge.ancestors(term) & annotated:
            continue
        noise.append(term)
    return noise


def simulate_patient(
    knowledge: HpoKnowledge, disease_id: str, rng: random.Random, config: SimulationConfig | None = None
) -> SimulatedPatient:
    """One patient: sample by frequency, blur some terms, drop some, add noise, shuffle."""
    config = config or SimulationConfig()
    disease = knowledge.disease(disease_id)
    sex: Literal["male", "female"] = rng.choice(("male", "female"))
    candidates = [p for p in disease.phenotypes if p.sex in (None, sex.upper())]
    terms: list[SimulatedTerm] = []
    taken: set[str] = set()
    sampled = _sample_annotated(candidates, rng, config)
    sampled_ids = {p.term_id for p in sampled}
    excluded = set(disease.excluded)  # never blur a term into one the disease is annotated not to have
    for phenotype in sampled:
        term = SimulatedTerm(phenotype.term_id, "annotated", phenotype.term_id)
        if rng.random() < config.p_imprecise:
            ancestor = _imprecise(phenotype.term_id, taken | sampled_ids | excluded, knowledge, rng)
            if ancestor is not None:
                term = SimulatedTerm(ancestor, "imprecise", phenotype.term_id)
        taken.add(term.term_id)
        terms.append(term)
    kept: list[SimulatedTerm] = []
    for index, term in enumerate(terms):
        remaining = len(kept) + len(terms) - index
        if rng.random() < config.p_drop and remaining > config.min_terms:
            continue
        kept.append(term)
    low, high = config.n_noise
    for term_id in _noise(disease, taken, rng.randint(low, high), knowledge, rng):
        kept.append(SimulatedTerm(term_id, "noise", None))
    rng.shuffle(kept)
    return SimulatedPatient(disease_id=disease.id, sex=sex, terms=tuple(kept))


def _labelled(knowledge: HpoKnowledge, patient: SimulatedPatient, case_id: str) -> LabelledCase:
    disease = knowledge.disease(patient.disease_id)
    findings = tuple(Finding(label=knowledge.term_name(t.term_id), hpo_id=t.term_id) for t in patient.terms)
    return LabelledCase(
        case=Case(case_id=case_id, sex=patient.sex, age=None, findings=findings),
        gold=GoldDiagnosis(id=disease.id, label=disease.name),
    )


def simulate_cases(
    knowledge: HpoKnowledge,
    *,
    n_diseases: int,
    per_disease: int,
    seed: int,
    max_terms: int = 12,
    p_imprecise: float = 0.3,
    n_noise: tuple[int, int] = (1, 2),
    p_drop: float = 0.1,
    min_annotated: int = 5,
) -> list[LabelledCase]:
    """``per_disease`` cases for each of ``n_diseases`` OMIM diseases drawn from the seed.

    Case ids are ``sim-{seed}-{omim number}-{k}``, grouped by disease in draw
    order, ``k`` ascending, so :func:`split_simulated` can hold out the last ones.
    """
    config = SimulationConfig(
        max_terms=max_terms,
        p_imprecise=p_imprecise,
        n_noise=n_noise,
        p_drop=p_drop,
        min_annotated=min_annotated,
    )
    eligible = eligible_diseases(knowledge, config.min_annotated)
    if not 0 <= n_diseases <= len(eligible):
        raise ValueError(f"n_diseases must be in [0, {len(eligible)}] (eligible OMIM diseases), got {n_diseases}")
    if per_disease < 0:
        raise ValueError(f"per_disease must be >= 0, got {per_disease}")
    cases: list[LabelledCase] = []
    for disease_id in random.Random(seed).sample(eligible, n_diseases):
        number = disease_id.partition(":")[2]
        for k in range(per_disease):
            rng = random.Random(f"{seed}:{disease_id}:{k}")
            patient = simulate_patient(knowledge, disease_id, rng, config)
            cases.append(_labelled(knowledge, patient, f"sim-{seed}-{number}-{k}"))
    return cases


def split_simulated(
    cases: Sequence[LabelledCase], heldout_per_disease: int = 1
) -> tuple[list[LabelledCase], list[LabelledCase]]:
    """(indexed, held out): per gold disease the last ``heldout_per_disease`` cases are held out."""
    if heldout_per_disease < 0:
        raise ValueError(f"heldout_per_disease must be >= 0, got {heldout_per_disease}")
    positions: dict[str, list[int]] = defaultdict(list)
    for index, case in enumerate(cases):
        positions[case.gold.id].append(index)
    held = {i for indices in positions.values() for i in indices[len(indices) - heldout_per_disease :]}
    indexed = [c for i, c in enumerate(cases) if i not in held]
    heldout = [c for i, c in enumerate(cases) if i in held]
    return indexed, heldout


def phenopacket_row(case: LabelledCase) -> dict[str, Any]:
    """A case as one row of the benchmark's phenopacket JSONL format."""
    phenotypes = []
    for finding in case.case.findings:
        if finding.hpo_id is None:
            raise ValueError(f"case {case.case.case_id}: finding {finding.label!r} has no HPO id")
        phenotypes.append({"excluded": finding.excluded, "id": finding.hpo_id, "label": finding.label})
    return {
        "age": case.case.age,
        "case_id": case.case.case_id,
        "disease": {"id": case.gold.id, "label": case.gold.label},
        "genes": list(case.genes),
        "phenotypes": phenotypes,
        "pmid": case.pmid,
        "sex": _SEX_CODES[case.case.sex],
    }


def write_cases_jsonl(cases: Iterable[LabelledCase], path: Path) -> int:
    """Write cases as phenopacket JSONL (keys sorted, as the benchmark file); returns the count.

    Written to a temporary file and renamed, so a reader never sees half a file.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(json.dumps(phenopacket_row(case), sort_keys=True) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return count
