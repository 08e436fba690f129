"""The explanation card's data: what a diagnosis explains, does not explain, and what speaks against it."""

from __future__ import annotations

import math

import pytest

from dxsearch.cases import Case, Finding
from dxsearch.knowledge.explanation import explain_diagnoses
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.likelihood import age_words

MARFAN = "OMIM:154700"


def test_a_marfan_patient_explained_against_marfan_and_an_unrelated_disease() -> None:
    knowledge = get_hpo_knowledge()
    case = Case(
        case_id="m",
        findings=(
            Finding(label="Arachnodactyly", hpo_id="HP:0001166"),
            Finding(label="Lens dislocation", hpo_id="HP:0001083"),
            Finding(label="Blue toenails"),  # not understood: still entered, so not explained
            Finding(label="Aortic root aneurysm", hpo_id="HP:0002616", excluded=True),
        ),
    )
    marfan, huntington, uncoded = explain_diagnoses([MARFAN, "OMIM:143100", None], case, knowledge)
    assert uncoded is None
    assert marfan is not None and marfan.annotated and marfan.entered == 3
    assert [r.hpo_id for r in marfan.supports] == ["HP:0001166", "HP:0001083"]
    assert [r.label for r in marfan.supports] == ["Arachnodactyly", "Lens dislocation"]
    assert all(r.frequency and r.likelihood_ratio and r.likelihood_ratio > 1 for r in marfan.supports)
    assert [r.label for r in marfan.not_explained] == ["Blue toenails"]
    # Reported absent, but most Marfan patients have it: it speaks against the diagnosis, with its frequency.
    (against,) = marfan.contradicts
    assert against.hpo_id == "HP:0002616" and against.frequency is not None and against.frequency > 0.5
    assert against.likelihood_ratio is not None and against.likelihood_ratio < 1
    assert huntington is not None and huntington.annotated
    assert not huntington.supports and not huntington.contradicts
    assert {r.label for r in huntington.not_explained} == {"Arachnodactyly", "Lens dislocation", "Blue toenails"}
    assert marfan.log10_likelihood_ratio is not None and huntington.log10_likelihood_ratio is not None
    assert marfan.log10_likelihood_ratio > huntington.log10_likelihood_ratio


def test_a_disease_the_knowledge_does_not_annotate_explains_nothing_and_says_so() -> None:
    knowledge = get_hpo_knowledge()
    case = Case(case_id="x", findings=(Finding(label="Arachnodactyly", hpo_id="HP:0001166"),))
    (unknown,) = explain_diagnoses(["OMIM:999999"], case, knowledge)
    assert unknown is not None and not unknown.annotated
    assert [r.label for r in unknown.not_explained] == ["Arachnodactyly"] and unknown.entered == 1


def test_the_age_and_sex_are_listed_as_factors_and_counted_in_the_total() -> None:
    """A 3-month-old girl with muscle weakness: Becker muscular dystrophy (X-linked, adult onset) is spoken
    against by both; the factors are listed with their ratios and are part of the total."""
    knowledge = get_hpo_knowledge()
    findings = (Finding(label="Muscular dystrophy", hpo_id="HP:0003560"),)
    infant = Case(case_id="b", sex="female", age="P3M", findings=findings)
    unknown = Case(case_id="b", findings=findings)
    becker, sma = explain_diagnoses(["OMIM:300376", "OMIM:253300"], infant, knowledge)
    (plain,) = explain_diagnoses(["OMIM:300376"], unknown, knowledge)
    assert becker is not None and sma is not None and plain is not None and plain.factors == ()
    factors = {f.evidence: f for f in becker.factors}
    assert set(factors) == {"sex", "age"}
    assert factors["age"].value == "age 3 months" and not factors["age"].fits and factors["age"].likelihood_ratio < 0.3
    assert factors["sex"].value == "female" and factors["sex"].likelihood_ratio < 1
    product = math.prod(f.likelihood_ratio for f in becker.factors)
    assert becker.log10_likelihood_ratio is not None and plain.log10_likelihood_ratio is not None
    assert becker.log10_likelihood_ratio - plain.log10_likelihood_ratio == pytest.approx(math.log10(product), abs=0.01)
    (sma_age,) = [f for f in sma.factors if f.evidence == "age"]  # spinal muscular atrophy I: begins in infancy
    assert sma_age.fits and sma_age.matched_name is not None and sma_age.likelihood_ratio > 1


def test_a_general_finding_the_disease_explains_is_explained_though_its_specific_kind_is_not() -> None:
    """ "long fingers" beside "wrist sign" (a kind of long fingers Marfan syndrome is not annotated with): the
    wrist sign is counted, once, and not explained; the long fingers are Marfan's arachnodactyly all the same."""
    knowledge = get_hpo_knowledge()
    long_fingers, wrist_sign = "HP:0100807", "HP:0025091"
    assert long_fingers in knowledge.ancestors(wrist_sign)
    case = Case(
        case_id="w",
        findings=(Finding(label="long fingers", hpo_id=long_fingers), Finding(label="wrist sign", hpo_id=wrist_sign)),
    )
    (marfan,) = explain_diagnoses([MARFAN], case, knowledge)
    assert marfan is not None
    assert [r.label for r in marfan.supports] == ["long fingers"]
    (supported,) = marfan.supports
    assert supported.frequency is not None and supported.frequency > 0.5 and supported.likelihood_ratio is None
    assert [r.label for r in marfan.not_explained] == ["wrist sign"]
    # Huntington disease has no kind of long fingers: neither is explained.
    (huntington,) = explain_diagnoses(["OMIM:143100"], case, knowledge)
    assert huntington is not None and not huntington.supports


@pytest.mark.parametrize(
    ("years", "said"),
    [
        (2 / 365.25, "2 days"),
        (1 / 365.25, "1 day"),
        (0.0, "0 days"),
        (8 / 12, "8 months"),
        (1 / 12, "1 month"),
        (1.5, "18 months"),
        (14.0, "14 y"),
        (45.25, "45.2 y"),
    ],
)
def test_an_age_factor_says_the_age_as_a_clinician_would(years: float, said: str) -> None:
    # A user test read "fits an age of 0 y" for a 2-day-old and "0.67 y" for an 8-month-old.
    assert age_words(years) == said
