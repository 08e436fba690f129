"""Likelihood ratios over the real HPO annotations: what supports, fails to explain and contradicts a disease."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from support import MARFAN_TERMS

from dxsearch.cases import Case, Finding
from dxsearch.knowledge.hpo import Disease, HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.likelihood import ONSET_YEARS, DiseaseLikelihood, LikelihoodRatioScorer, get_likelihood_scorer

MARFAN = "OMIM:154700"
MARFAN_FINDINGS = list(MARFAN_TERMS)  # arachnodactyly, ectopia lentis, tall stature, aortic root aneurysm
MARFAN_SYSTEMIC = ["HP:0000767", "HP:0001065"]  # pectus excavatum, striae distensae
MARFAN_LIPODYSTROPHY = "OMIM:616914"
DURAL_ECTASIA = "HP:0100775"  # Marfan: 112/140 patients
NF2 = "OMIM:101000"  # Neurofibromatosis type II, annotated NOT axillary freckling
AXILLARY_FRECKLING = "HP:0000997"
DUCHENNE = "OMIM:310200"  # X-linked recessive, childhood onset
BECKER = "OMIM:300376"  # X-linked recessive, adult onset
SMA1 = "OMIM:253300"  # spinal muscular atrophy type I: neonatal and infantile onset
LATE_PARKINSON = "OMIM:168600"  # Parkinson disease, late-onset: adult and late onset
INFANTILE_ONSET = "HP:0003593"
MUSCLE_WEAKNESS = ["HP:0003560", "HP:0001324"]  # muscular dystrophy, muscle weakness


@pytest.fixture(scope="module")
def knowledge() -> HpoKnowledge:
    return get_hpo_knowledge()


@pytest.fixture(scope="module")
def scorer(knowledge: HpoKnowledge) -> LikelihoodRatioScorer:
    return get_likelihood_scorer(knowledge)


def test_marfan_findings_give_marfan_syndrome_first_with_a_probability_above_half(
    scorer: LikelihoodRatioScorer,
) -> None:
    findings = [*MARFAN_FINDINGS, *MARFAN_SYSTEMIC]
    (best, *_) = scorer.rank(findings, k=5)
    assert best.disease_id == MARFAN
    assert best.posttest > 0.5
    assert {c.term_id for c in best.of_kind("supports")} == set(findings)


def test_the_four_cardinal_findings_leave_marfan_and_its_fbn1_sibling_on_top(scorer: LikelihoodRatioScorer) -> None:
    """Marfan lipodystrophy syndrome (FBN1 too) is annotated from one patient who had all four (1/1 each).

    Shrinking 1/1 toward the prior lowers, but does not remove, that single report's weight: the two FBN1
    diseases share the top and most of the probability; one more systemic finding separates them (above).
    """
    top = scorer.rank(MARFAN_FINDINGS, k=2)
    assert {d.disease_id for d in top} == {MARFAN, MARFAN_LIPODYSTROPHY}
    assert sum(d.posttest for d in top) > 0.8


def test_an_excluded_very_frequent_feature_contradicts_and_lowers_the_disease(scorer: LikelihoodRatioScorer) -> None:
    (plain,) = scorer.explain([MARFAN], MARFAN_FINDINGS)
    (lowered,) = scorer.explain([MARFAN], MARFAN_FINDINGS, [DURAL_ECTASIA])
    assert lowered.log10_lr < plain.log10_lr
    assert lowered.posttest < plain.posttest
    (contradiction,) = lowered.of_kind("contradicts")
    assert contradiction.term_id == DURAL_ECTASIA and contradiction.evidence == "excluded"
    assert contradiction.frequency is not None and contradiction.frequency >= scorer.contradiction_frequency
    assert contradiction.lr < 1.0


def test_an_observed_finding_annotated_not_is_a_contradiction(scorer: LikelihoodRatioScorer) -> None:
    (nf2,) = scorer.explain([NF2], ["HP:0009589", AXILLARY_FRECKLING])  # vestibular schwannoma, axillary freckling
    by_term = {c.term_id: c for c in nf2.contributions}
    assert by_term["HP:0009589"].kind == "supports"
    freckling = by_term[AXILLARY_FRECKLING]
    assert (freckling.kind, freckling.relation, freckling.matched_term) == (
        "contradicts",
        "not_annotated",
        AXILLARY_FRECKLING,
    )
    assert freckling.lr == scorer.contradiction_lr


def test_a_finding_in_another_organ_is_not_explained(scorer: LikelihoodRatioScorer) -> None:
    (marfan,) = scorer.explain([MARFAN], [*MARFAN_FINDINGS, "HP:0001250"])  # + seizure
    (seizure,) = [c for c in marfan.contributions if c.term_id == "HP:0001250"]
    assert seizure.kind == "unexplained" and seizure.lr < 1.0


def test_matches_through_the_ontology_name_the_annotated_term(scorer: LikelihoodRatioScorer) -> None:
    # Marfan is annotated "Ectopia lentis"; "Lens subluxation" lies below it, "Abnormality of the eye" above.
    (marfan,) = scorer.explain([MARFAN], ["HP:0001083", "HP:0000098"])
    assert {c.term_id: c.relation for c in marfan.contributions} == {"HP:0001083": "exact", "HP:0000098": "exact"}
    ((subluxation,),) = (d.contributions for d in scorer.explain([MARFAN], ["HP:0001132"]))
    ((eye,),) = (d.contributions for d in scorer.explain([MARFAN], ["HP:0000478"]))
    assert (subluxation.relation, subluxation.matched_term, subluxation.kind) == (
        "descendant",
        "HP:0001083",
        "supports",
    )
    assert eye.relation == "ancestor" and eye.matched_term is not None
    assert "HP:0000478" in scorer.knowledge.ancestors(eye.matched_term)
    assert eye.lr < subluxation.lr  # a general finding says less than a specific one


def test_contributions_multiply_to_the_total(knowledge: HpoKnowledge) -> None:
    scorer = LikelihoodRatioScorer(knowledge, not_reported_weight=0.3, not_reported_min_frequency=0.5)
    explained = scorer.explain(
        [MARFAN, DUCHENNE, BECKER, NF2, MARFAN_LIPODYSTROPHY],
        [*MARFAN_FINDINGS, "HP:0001250", "HP:0003560"],  # + seizure, muscular dystrophy
        [DURAL_ECTASIA, "HP:0000252"],  # microcephaly
        sex="female",
        inheritance=["HP:0000006"],
        age_years=3.0,
    )
    scores = scorer.score_all(
        [*MARFAN_FINDINGS, "HP:0001250", "HP:0003560"],
        [DURAL_ECTASIA, "HP:0000252"],
        sex="female",
        inheritance=["HP:0000006"],
        age_years=3.0,
    )
    assert len(explained) == 5
    for item in explained:
        assert math.isclose(math.fsum(c.log10_lr for c in item.contributions), item.log10_lr, abs_tol=1e-9)
        row = scorer.row(item.disease_id)
        assert row is not None and math.isclose(scores[row], item.log10_lr, abs_tol=1e-9)
        kinds = {c.evidence for c in item.contributions}
        assert {"observed", "excluded", "sex", "inheritance", "age"} <= kinds and "onset" not in kinds
    marfan = explained[0]
    assert any(c.evidence == "not_reported" and c.kind == "against" for c in marfan.contributions)


def test_sex_inheritance_and_onset_count_where_given(scorer: LikelihoodRatioScorer) -> None:
    findings = ["HP:0003560", "HP:0003707"]  # muscular dystrophy, calf muscle pseudohypertrophy
    base = {d.disease_id: d.log10_lr for d in scorer.explain([DUCHENNE, BECKER], findings)}
    female = {d.disease_id: d for d in scorer.explain([DUCHENNE, BECKER], findings, sex="female")}
    assert female[DUCHENNE].log10_lr < base[DUCHENNE]
    child = {d.disease_id: d.log10_lr for d in scorer.explain([DUCHENNE, BECKER], findings, age_years=3.0)}
    assert child[DUCHENNE] - base[DUCHENNE] > child[BECKER] - base[BECKER]
    dominant = {d.disease_id: d for d in scorer.explain([DUCHENNE], findings, inheritance=["HP:0000006"])}
    (mode,) = [c for c in dominant[DUCHENNE].contributions if c.evidence == "inheritance"]
    assert mode.lr < 1.0 and mode.relation == "inconsistent"


def test_posttest_probabilities_are_a_distribution_and_follow_the_pretest(scorer: LikelihoodRatioScorer) -> None:
    scores = scorer.score_all(MARFAN_FINDINGS)
    post = scorer.posttest(scores)
    assert math.isclose(float(post.sum()), 1.0) and np.all(post >= 0)
    favoured = scorer.posttest(scores, {MARFAN_LIPODYSTROPHY: 1.0, MARFAN: 1.0})
    assert math.isclose(float(favoured.sum()), 1.0)
    assert np.count_nonzero(favoured) == 2
    (marfan,) = scorer.explain([MARFAN], MARFAN_FINDINGS, pretest={MARFAN: 1.0})
    assert marfan.posttest == pytest.approx(1.0) and marfan.pretest == pytest.approx(1.0)


@pytest.mark.parametrize(
    "observed",
    [[], ["HP:9999999"], ["HP:0000001"], ["HP:0000118"], ["HP:0000006"]],  # none, unknown, root, PA, inheritance
)
def test_unknown_or_empty_input_gives_a_flat_finite_result(scorer: LikelihoodRatioScorer, observed: list[str]) -> None:
    scores = scorer.score_all(observed, ["HP:9999998"])
    assert np.all(np.isfinite(scores)) and not np.any(scores)
    post = scorer.posttest(scores)
    assert np.all(np.isfinite(post)) and np.allclose(post, 1.0 / len(scorer.disease_ids))
    (marfan,) = scorer.explain([MARFAN], observed)
    assert marfan.log10_lr == 0.0
    assert all(c.kind == "neutral" and c.lr == 1.0 for c in marfan.contributions)
    assert scorer.explain(["OMIM:0000000"], MARFAN_FINDINGS) == []


class _WithoutDisease:
    """The knowledge with one disease's annotations dropped, as a publication filter would."""

    def __init__(self, knowledge: HpoKnowledge, dropped: str) -> None:
        self._knowledge = knowledge
        self._dropped = dropped

    def diseases(self, prefix: str | None = None) -> Iterator[Disease]:
        return (d for d in self._knowledge.diseases(prefix) if d.id != self._dropped)

    def __getattr__(self, name: str) -> object:
        return getattr(self._knowledge, name)


def test_background_frequencies_come_from_the_diseases_the_knowledge_yields(knowledge: HpoKnowledge) -> None:
    full = get_likelihood_scorer(knowledge)
    filtered = LikelihoodRatioScorer(_WithoutDisease(knowledge, MARFAN))  # type: ignore[arg-type]
    assert not filtered.has_disease(MARFAN) and len(filtered.disease_ids) == len(full.disease_ids) - 1
    column = full._terms[DURAL_ECTASIA]
    annotated = sum(
        1
        for d in knowledge.diseases("OMIM")
        if d.phenotypes and any(DURAL_ECTASIA in (p.term_id, *knowledge.ancestors(p.term_id)) for p in d.phenotypes)
    )
    assert full.background[column] == pytest.approx((annotated + 0.5) / (len(full.disease_ids) + 1))
    assert filtered.background[filtered._terms[DURAL_ECTASIA]] < full.background[column]


def test_the_cached_scorer_is_per_knowledge_object(knowledge: HpoKnowledge) -> None:
    assert get_likelihood_scorer(knowledge) is get_likelihood_scorer(knowledge)


def test_a_finding_implied_by_a_more_specific_one_counts_once(scorer: LikelihoodRatioScorer) -> None:
    ectopia_lentis, lens_subluxation = "HP:0001083", "HP:0001132"
    (both,) = scorer.explain([MARFAN], [ectopia_lentis, lens_subluxation])
    (specific,) = scorer.explain([MARFAN], [lens_subluxation])
    assert both.log10_lr == pytest.approx(specific.log10_lr)
    (implied,) = [c for c in both.contributions if c.term_id == ectopia_lentis]
    assert (implied.kind, implied.relation, implied.matched_term, implied.lr) == (
        "neutral",
        "implied",
        lens_subluxation,
        1.0,
    )


def _factor(item: DiseaseLikelihood, evidence: str) -> list[tuple[str, str, str | None, float]]:
    return [(c.kind, c.relation, c.matched_term, c.lr) for c in item.contributions if c.evidence == evidence]


def test_a_three_month_olds_age_speaks_against_a_disease_of_adult_onset_only(scorer: LikelihoodRatioScorer) -> None:
    """The age bounds onset from above: Becker (adult onset) cannot have begun in a 3-month-old; SMA type I can."""
    infant = {d.disease_id: d for d in scorer.explain([BECKER, SMA1, MARFAN], MUSCLE_WEAKNESS, age_years=0.25)}
    ((kind, relation, matched, becker_lr),) = _factor(infant[BECKER], "age")
    assert (kind, relation, matched) == ("contradicts", "inconsistent", None) and becker_lr < 0.3
    ((kind, relation, matched, sma_lr),) = _factor(infant[SMA1], "age")
    assert kind == "supports" and relation == "consistent" and sma_lr > 1.0
    assert matched in scorer.knowledge.disease(SMA1).onset and ONSET_YEARS[matched][0] <= 0.25
    ((kind, _, _, marfan_lr),) = _factor(infant[MARFAN], "age")  # no onset annotation: the age says nothing
    assert (kind, marfan_lr) == ("neutral", 1.0)
    plain = {d.disease_id: d.log10_lr for d in scorer.explain([BECKER, SMA1], MUSCLE_WEAKNESS)}
    assert infant[BECKER].log10_lr - plain[BECKER] == pytest.approx(math.log10(becker_lr))
    assert infant[SMA1].log10_lr - infant[BECKER].log10_lr > plain[SMA1] - plain[BECKER] + 0.5


def test_an_adults_age_says_little_and_weighs_only_against_late_onset(scorer: LikelihoodRatioScorer) -> None:
    diseases = [BECKER, DUCHENNE, SMA1, LATE_PARKINSON]
    adult = {d.disease_id: d for d in scorer.explain(diseases, MUSCLE_WEAKNESS, age_years=40.0)}
    for disease_id in (BECKER, DUCHENNE, SMA1):  # adult, childhood, infantile onset: all begun by 40
        ((kind, _, _, lr),) = _factor(adult[disease_id], "age")
        assert kind == "supports" and 1.0 < lr < 1.05
    infant = {d.disease_id: d for d in scorer.explain([BECKER], MUSCLE_WEAKNESS, age_years=0.25)}
    assert abs(math.log10(_factor(adult[SMA1], "age")[0][3])) < abs(math.log10(_factor(infant[BECKER], "age")[0][3]))
    # Late-onset Parkinson is also annotated "adult onset" (from 16), so a 40-year-old fits it; a 10-year-old does not.
    assert _factor(adult[LATE_PARKINSON], "age")[0][0] == "supports"
    (child,) = scorer.explain([LATE_PARKINSON], MUSCLE_WEAKNESS, age_years=10.0)
    assert _factor(child, "age")[0][:2] == ("contradicts", "inconsistent")


def test_a_stated_onset_wins_over_the_age_and_is_counted_once(scorer: LikelihoodRatioScorer) -> None:
    both = {
        d.disease_id: d for d in scorer.explain([BECKER, SMA1], MUSCLE_WEAKNESS, age_years=40.0, onset=INFANTILE_ONSET)
    }
    stated = {d.disease_id: d for d in scorer.explain([BECKER, SMA1], MUSCLE_WEAKNESS, onset=INFANTILE_ONSET)}
    for disease_id in (BECKER, SMA1):
        assert _factor(both[disease_id], "age") == []
        assert _factor(both[disease_id], "onset") == _factor(stated[disease_id], "onset")
        assert both[disease_id].log10_lr == pytest.approx(stated[disease_id].log10_lr)
    # Infantile onset stated for a 40-year-old: Becker (adult onset) is contradicted, which the age alone would not do.
    assert _factor(both[BECKER], "onset")[0][0] == "contradicts"


def test_the_case_entry_points_read_everything_the_case_carries(scorer: LikelihoodRatioScorer) -> None:
    """``score_case`` / ``rank_case`` / ``explain_case``: age (an ISO duration), sex, inheritance and onset."""
    seizure = Finding(label="Seizure", hpo_id="HP:0001250", excluded=True)
    findings = (*(Finding(label=t, hpo_id=t) for t in MUSCLE_WEAKNESS), seizure)
    case = Case(case_id="c", sex="female", age="P3M", findings=findings, inheritance=("HP:0000006",))
    direct = scorer.score_all(MUSCLE_WEAKNESS, ["HP:0001250"], sex="female", inheritance=["HP:0000006"], age_years=0.25)
    assert np.allclose(scorer.score_case(case), direct)
    (explained,) = scorer.explain_case([BECKER], case)
    assert {c.evidence for c in explained.contributions} >= {"observed", "excluded", "sex", "inheritance", "age"}
    assert _factor(explained, "age")[0][0] == "contradicts"
    ranked = scorer.rank_case(case, k=3)
    row = scorer.row(ranked[0].disease_id)
    assert row is not None and ranked[0].log10_lr == pytest.approx(direct[row])
    unknown_age = case.model_copy(update={"age": None})
    assert not any(c.evidence == "age" for c in scorer.explain_case([BECKER], unknown_age)[0].contributions)
