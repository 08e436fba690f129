"""Simulated patients as a source: the index side of a seeded simulation, through FHIR R4B.

The default simulation (seed, disease count, patients per disease) is fixed
here so the default build and the built-in held-out evaluation set always
agree: the held-out patient of each disease is never indexed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from corpus_builder.fhir_bundles import case_to_bundle
from corpus_builder.simulate import simulate_cases, split_simulated, write_cases_jsonl
from corpus_builder.sources.base import SOURCES, BuildScope, Reject, Source, SourceInfo
from corpus_builder.sources.phenopackets import labelled_case_document
from dxsearch.cases import LabelledCase
from dxsearch.corpus import Document
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.settings import get_settings

SOURCE_NAME = "simulated-patients"
LICENCE = "Derived from HPO annotations (HPO licence: cite the Human Phenotype Ontology Consortium)"
DEFAULT_SEED = 13
DEFAULT_DISEASES = 400
DEFAULT_PER_DISEASE = 3


@dataclass(frozen=True)
class Simulation:
    seed: int
    indexed: list[LabelledCase]
    heldout: list[LabelledCase]
    excluded_publications: frozenset[str] = frozenset()


def run_simulation(
    seed: int, n_diseases: int, per_disease: int, excluded_publications: frozenset[str] = frozenset()
) -> Simulation:
    """Patients drawn from the annotation rows that remain once ``excluded_publications`` are dropped."""
    knowledge = get_hpo_knowledge(excluded_publications)
    cases = simulate_cases(knowledge, n_diseases=n_diseases, per_disease=per_disease, seed=seed)
    indexed, heldout = split_simulated(cases, heldout_per_disease=1)
    return Simulation(seed=seed, indexed=indexed, heldout=heldout, excluded_publications=excluded_publications)


@lru_cache(maxsize=2)
def default_simulation(excluded_publications: frozenset[str] = frozenset()) -> Simulation:
    """The simulation an index indexes (its ``indexed`` side) and is evaluated on (``heldout``).

    Drawn from the knowledge the index was built with (its manifest's ``excluded_publications``), so a
    leakage-controlled index's simulated patients carry no trace of the held-out papers either.
    """
    return run_simulation(DEFAULT_SEED, DEFAULT_DISEASES, DEFAULT_PER_DISEASE, excluded_publications)


class SimulatedPatientsSource:
    """Indexed simulated patients as patient-record documents (Case -> FHIR R4B Bundle -> Document)."""

    def __init__(self, simulation: Simulation) -> None:
        self._simulation = simulation

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(
            name=SOURCE_NAME,
            description=(
                f"{len(self._simulation.indexed)} patients simulated from HPO annotations (seed "
                f"{self._simulation.seed}; frequency sampling, imprecision, noise, drop), index side only"
            ),
            licence=LICENCE,
            versions=dict(get_hpo_knowledge(self._simulation.excluded_publications).versions),
        )

    def iter_items(self) -> Iterator[Document | Reject]:
        pseudonymiser = Pseudonymiser(get_settings().pseudonym_key)
        for labelled in self._simulation.indexed:
            yield labelled_case_document(
                labelled,
                source=SOURCE_NAME,
                licence=LICENCE,
                pseudonymiser=pseudonymiser,
                origin_namespace=SOURCE_NAME,
            )


@SOURCES.register(SOURCE_NAME)
def simulated_patients_source(scope: BuildScope) -> Source:
    return SimulatedPatientsSource(default_simulation(scope.excluded_publications))


def write_simulation(out: Path, *, seed: int, n_diseases: int, per_disease: int) -> dict[str, int]:
    """Write a simulation as phenopacket JSONL (indexed/heldout) and one FHIR R4B bundle per patient."""
    simulation = run_simulation(seed, n_diseases, per_disease)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for side, cases in (("indexed", simulation.indexed), ("heldout", simulation.heldout)):
        counts[side] = write_cases_jsonl(cases, out / f"{side}.jsonl")
        bundles = out / "fhir" / side
        bundles.mkdir(parents=True, exist_ok=True)
        for labelled in cases:
            bundle = case_to_bundle(labelled, fhir_version="R4B")
            (bundles / f"{labelled.case.case_id}.json").write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    return counts
