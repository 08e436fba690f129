"""Simulated patients: frequency sampling, imprecision, noise and drop, reproducible by seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from corpus_builder.simulate import (
    SimulatedPatient,
    SimulationConfig,
    eligible_diseases,
    phenopacket_row,
    simulate_cases,
    simulate_patient,
    split_simulated,
    write_cases_jsonl,
)
from dxsearch.cases import LabelledCase, load_labelled_cases
from dxsearch.knowledge.hpo import PHENOTYPIC_ABNORMALITY, ROOT, HpoKnowledge, get_hpo_knowledge

BENCHMARK = Path(__file__).resolve().parents[2] / "corpus_builder" / "data" / "phenopackets" / "cases.jsonl"


@pytest.fixture(scope="module")
def knowledge() -> HpoKnowledge:
    return get_hpo_knowledge()


@pytest.fixture(scope="module")
def patients(knowledge: HpoKnowledge) -> list[SimulatedPatient]:
    diseases = random.Random(0).sample(eligible_diseases(knowledge), 150)
    return [simulate_patient(knowledge, d, random.Random(f"t:{d}:{k}")) for d in diseases for k in range(3)]


def test_eligible_diseases_are_omim_with_five_annotated_terms(knowledge: HpoKnowledge) -> None:
    eligible = eligible_diseases(knowledge)
    assert len(eligible) > 5000
    assert all(d.startswith("OMIM:") for d in eligible)
    assert all(len(knowledge.disease(d).phenotypes) >= 5 for d in eligible[:300])


def test_terms_come_from_the_disease_or_are_unrelated_noise(
    knowledge: HpoKnowledge, patients: list[SimulatedPatient]
) -> None:
    for patient in patients:
        disease = knowledge.disease(patient.disease_id)
        annotated = set(disease.phenotype_ids)
        related = annotated.union(*(knowledge.ancestors(t) for t in annotated))
        ids = [t.term_id for t in patient.terms]
        assert len(ids) == len(set(ids))
        for term in patient.terms:
            assert knowledge.is_phenotypic_abnormality(term.term_id)
            assert term.term_id not in disease.excluded
            if term.origin == "noise":
                assert term.term_id not in related  # not annotated, not an ancestor of an annotated term
                assert not knowledge.ancestors(term.term_id) & annotated  # not a descendant of one
                assert not knowledge.ancestors(term.term_id) & set(disease.excluded)
            else:
                assert term.term_id in related
                assert term.annotated_id in annotated
            if term.origin == "imprecise":
                assert term.term_id in knowledge.ancestors(str(term.annotated_id))
                assert term.term_id not in {ROOT, PHENOTYPIC_ABNORMALITY}


def test_sizes_respect_min_max_and_noise_count(patients: list[SimulatedPatient]) -> None:
    for patient in patients:
        from_disease = [t for t in patient.terms if t.origin != "noise"]
        noise = [t for t in patient.terms if t.origin == "noise"]
        assert 3 <= len(from_disease) <= 12
        assert 1 <= len(noise) <= 2
    origins = {t.origin for p in patients for t in p.terms}
    assert origins == {"annotated", "imprecise", "noise"}


def test_full_imprecision_never_yields_a_root(knowledge: HpoKnowledge) -> None:
    config = SimulationConfig(p_imprecise=1.0, n_noise=(0, 0))
    for disease_id in eligible_diseases(knowledge)[:200]:
        patient = simulate_patient(knowledge, disease_id, random.Random(disease_id), config)
        for term in patient.terms:
            assert term.term_id not in {ROOT, PHENOTYPIC_ABNORMALITY}
            assert knowledge.is_phenotypic_abnormality(term.term_id)


def test_obligate_terms_are_always_present(knowledge: HpoKnowledge) -> None:
    config = SimulationConfig(p_imprecise=0.0, p_drop=0.0)
    disease = next(
        d
        for d in knowledge.diseases("OMIM")
        if len(d.phenotypes) >= 5 and any(p.frequency and p.frequency.raw == "HP:0040280" for p in d.phenotypes)
    )
    obligate = {p.term_id for p in disease.phenotypes if p.frequency and p.frequency.raw == "HP:0040280"}
    for k in range(20):
        patient = simulate_patient(knowledge, disease.id, random.Random(k), config)
        assert obligate <= {t.term_id for t in patient.terms}


def test_sampling_follows_frequency(knowledge: HpoKnowledge) -> None:
    config = SimulationConfig(p_imprecise=0.0, p_drop=0.0, n_noise=(0, 0), max_terms=500)
    disease = knowledge.disease("OMIM:154700")
    counts = dict.fromkeys(disease.phenotype_ids, 0)
    runs = 300
    for k in range(runs):
        for term in simulate_patient(knowledge, disease.id, random.Random(k), config).terms:
            counts[term.term_id] += 1
    dural_ectasia = 112 / 140
    assert abs(counts["HP:0100775"] / runs - dural_ectasia) < 0.1
    unknown = [p.term_id for p in disease.phenotypes if p.frequency is None]
    assert abs(sum(counts[t] for t in unknown) / (runs * len(unknown)) - 0.5) < 0.05


def test_same_seed_same_cases_and_other_seed_other_cases(knowledge: HpoKnowledge) -> None:
    first = simulate_cases(knowledge, n_diseases=40, per_disease=3, seed=11)
    again = simulate_cases(knowledge, n_diseases=40, per_disease=3, seed=11)
    other = simulate_cases(knowledge, n_diseases=40, per_disease=3, seed=12)
    assert [c.model_dump() for c in first] == [c.model_dump() for c in again]
    assert [c.model_dump() for c in first] != [c.model_dump() for c in other]


def test_case_fields(knowledge: HpoKnowledge) -> None:
    cases = simulate_cases(knowledge, n_diseases=30, per_disease=2, seed=5)
    assert len(cases) == 60
    for index, case in enumerate(cases):
        number = case.gold.id.removeprefix("OMIM:")
        assert case.case.case_id == f"sim-5-{number}-{index % 2}"
        assert case.gold.label == knowledge.disease(case.gold.id).name
        assert case.case.sex in {"male", "female"}
        assert case.case.age is None
        assert case.pmid is None
        assert all(f.hpo_id and f.label == knowledge.term_name(f.hpo_id) for f in case.case.findings)
        assert not any(f.excluded for f in case.case.findings)
    assert {c.case.sex for c in cases} == {"male", "female"}
    assert len({c.case.case_id for c in cases}) == len(cases)


def test_split_holds_out_the_last_cases_of_each_disease(knowledge: HpoKnowledge) -> None:
    cases = simulate_cases(knowledge, n_diseases=20, per_disease=3, seed=3)
    indexed, heldout = split_simulated(cases)
    assert len(indexed) == 40 and len(heldout) == 20
    assert all(c.case.case_id.endswith("-2") for c in heldout)
    assert not {c.case.case_id for c in indexed} & {c.case.case_id for c in heldout}
    assert {c.gold.id for c in heldout} == {c.gold.id for c in cases}
    indexed2, heldout2 = split_simulated(cases, heldout_per_disease=2)
    assert len(indexed2) == 20 and all(c.case.case_id.endswith("-0") for c in indexed2)
    assert len(heldout2) == 40
    assert split_simulated(cases, heldout_per_disease=0) == (list(cases), [])


def test_jsonl_matches_the_benchmark_format_and_round_trips(knowledge: HpoKnowledge, tmp_path: Path) -> None:
    cases = simulate_cases(knowledge, n_diseases=10, per_disease=2, seed=1)
    path = tmp_path / "sim.jsonl"
    assert write_cases_jsonl(cases, path) == 20
    lines = path.read_text(encoding="utf-8").splitlines()
    reference = json.loads(BENCHMARK.read_text(encoding="utf-8").splitlines()[0])
    for line, case in zip(lines, cases, strict=True):
        row = json.loads(line)
        assert line == json.dumps(row, sort_keys=True)
        assert set(row) == set(reference)
        assert set(row["phenotypes"][0]) == set(reference["phenotypes"][0])
        assert row["pmid"] is None and row["genes"] == [] and row["age"] is None
        assert row["sex"] in {"MALE", "FEMALE"}
        assert row == phenopacket_row(case)
    loaded: list[LabelledCase] = load_labelled_cases(path)
    assert loaded == cases


@pytest.mark.parametrize(
    "kwargs",
    [{"p_drop": 1.5}, {"max_terms": 2}, {"n_noise": (2, 1)}, {"p_imprecise": -0.1}, {"min_annotated": 2}],
)
def test_bad_config_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulationConfig(**kwargs)  # type: ignore[arg-type]


def test_too_many_diseases_is_refused(knowledge: HpoKnowledge) -> None:
    with pytest.raises(ValueError, match="n_diseases"):
        simulate_cases(knowledge, n_diseases=10**6, per_disease=1, seed=0)
