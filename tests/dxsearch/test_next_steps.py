"""Next steps of a differential: gene panel, ask-next questions by information gain, guideline passages."""

from __future__ import annotations

import math
from collections.abc import Collection

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import marfan_case, marfan_findings

from dxsearch.cases import Case, Finding
from dxsearch.corpus import Chunk, Document, DocumentKind, DocumentMetadata, Evidence
from dxsearch.knowledge.hpo import HpoKnowledge, get_hpo_knowledge
from dxsearch.next_steps import (
    NextSteps,
    NextStepsPlanner,
    PlanCandidate,
    Shift,
    information_gain,
    name_variants,
    names_disease,
    on_scale,
    shown,
    variant_of,
)
from dxsearch.retrieval.base import SearchFilters

MARFAN = PlanCandidate(1, "Marfan syndrome", "OMIM:154700", 0.6)
LOEYS_DIETZ = PlanCandidate(2, "Loeys-Dietz syndrome 1", "OMIM:609192", 0.2)
MARFAN_LIPODYSTROPHY = PlanCandidate(3, "Marfan lipodystrophy syndrome", "OMIM:616914", 0.1)
NOT_KNOWN = PlanCandidate(4, "Something coded elsewhere", "ICD10CM:Q87.4", 0.05)
BIFID_UVULA = "HP:0000193"


@pytest.fixture(scope="module")
def knowledge() -> HpoKnowledge:
    return get_hpo_knowledge()


def test_information_gain_is_one_bit_for_a_finding_that_splits_two_equal_candidates() -> None:
    gain, p_yes, if_yes, if_no = information_gain([0.5, 0.5], [1.0, 0.0])
    assert gain == pytest.approx(1.0)
    assert p_yes == pytest.approx(0.5)
    assert if_yes == pytest.approx([1.0, 0.0]) and if_no == pytest.approx([0.0, 1.0])


@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5).map(lambda ps: [p / sum(ps) for p in ps]),
    st.floats(0.01, 0.99),
)
def test_a_finding_every_candidate_shows_equally_often_tells_nothing(prior: list[float], chance: float) -> None:
    gain, p_yes, if_yes, if_no = information_gain(prior, [chance] * len(prior))
    assert gain == pytest.approx(0.0, abs=1e-9)
    assert p_yes == pytest.approx(chance)
    assert if_yes == pytest.approx(prior) and if_no == pytest.approx(prior)


@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5).map(lambda ps: [p / sum(ps) for p in ps]),
    st.lists(st.floats(0.01, 0.99), min_size=5, max_size=5),
)
def test_information_gain_is_never_negative_nor_above_the_prior_entropy(
    prior: list[float], chances: list[float]
) -> None:
    gain, *_ = information_gain(prior, chances[: len(prior)])
    assert 0.0 <= gain <= -sum(p * math.log2(p) for p in prior) + 1e-9


def test_name_variants_drop_subtypes_and_qualifiers_and_turn_inverted_names_round() -> None:
    assert "familial hypercholesterolemia" in name_variants("Hypercholesterolemia, familial, 1")
    assert "alport syndrome" in name_variants("Alport syndrome 3, autosomal dominant")
    assert "polycystic kidney disease" in name_variants(
        "Polycystic kidney disease 4 with or without polycystic liver disease"
    )
    assert name_variants("Fabry disease") == ("fabry disease",)
    assert name_variants("Syndrome") == ()  # one word, or generic words only: would name anything
    assert "familial syndrome" not in name_variants("Syndrome, familial")


def test_a_passage_names_a_disease_only_as_whole_words() -> None:
    assert names_disease("Refer for Fabry disease testing.", ("fabry disease",)) == "fabry disease"
    assert names_disease("Fabry-disease-like", ("fabry disease",)) == "fabry disease"  # punctuation folds
    assert names_disease("Nonfabry disease", ("fabry disease",)) is None


def test_the_gene_panel_lists_each_gene_once_with_every_diagnosis_it_is_for(knowledge: HpoKnowledge) -> None:
    steps = NextStepsPlanner(knowledge).plan(marfan_case(), [MARFAN, LOEYS_DIETZ, MARFAN_LIPODYSTROPHY, NOT_KNOWN])
    assert steps is not None and steps.gene_panel is not None
    panel = {gene.symbol: [d.code for d in gene.diagnoses] for gene in steps.gene_panel.genes}
    assert panel["FBN1"] == ["OMIM:154700", "OMIM:616914"]  # one gene, two diagnoses
    assert panel["TGFBR1"] == ["OMIM:609192"]
    assert steps.gene_panel.genes[0].symbol == "FBN1"  # genes of the top diagnosis first
    assert [d.code for d in steps.gene_panel.without_genes] == ["ICD10CM:Q87.4"]
    assert any("ICD10CM:Q87.4" in note for note in steps.notes)


def test_questions_separate_the_candidates_and_say_which_answer_favours_which(knowledge: HpoKnowledge) -> None:
    steps = NextStepsPlanner(knowledge).plan(marfan_case(), [MARFAN, LOEYS_DIETZ])
    assert steps is not None and steps.questions
    gains = [q.information_gain_bits for q in steps.questions]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0.1
    uvula = next(q for q in steps.questions if q.hpo_id == BIFID_UVULA)  # the textbook Loeys-Dietz sign
    assert [s.code for s in uvula.if_present] == ["OMIM:609192"]
    assert [s.code for s in uvula.if_absent] == ["OMIM:154700"]
    shift = uvula.if_present[0]
    assert shift.after > shift.before
    chances = {c.code: c for c in uvula.chances}
    assert chances["OMIM:154700"].annotation.startswith("not annotated")
    assert "patients" in chances["OMIM:609192"].annotation  # a count n/m, smoothed


def test_questions_skip_what_the_patient_has_or_was_asked(knowledge: HpoKnowledge) -> None:
    case = marfan_case(findings=marfan_findings(excluded={BIFID_UVULA: "Bifid uvula"}))
    steps = NextStepsPlanner(knowledge, max_questions=50).plan(case, [MARFAN, LOEYS_DIETZ])
    assert steps is not None
    asked = {q.hpo_id for q in steps.questions}
    present = {f.hpo_id for f in case.observed}
    assert BIFID_UVULA not in asked and not asked & present
    for term in asked:  # nothing the patient's findings already imply (a broader form of one of them)
        assert not any(term in knowledge.ancestors(p) for p in present if p)
    for term in asked:  # no question is a broader or narrower form of another
        assert not any(other in knowledge.ancestors(term) for other in asked)


def test_no_question_separates_a_single_candidate(knowledge: HpoKnowledge) -> None:
    steps = NextStepsPlanner(knowledge).plan(marfan_case(), [MARFAN])
    assert steps is not None and steps.questions == ()
    assert any("fewer than two" in note for note in steps.notes)
    assert NextStepsPlanner(knowledge).plan(marfan_case(), []) is None


def test_missing_probabilities_count_the_candidates_as_equally_likely(knowledge: HpoKnowledge) -> None:
    unscored = [PlanCandidate(1, MARFAN.name, MARFAN.code), PlanCandidate(2, LOEYS_DIETZ.name, LOEYS_DIETZ.code)]
    steps = NextStepsPlanner(knowledge).plan(marfan_case(), unscored)
    assert steps is not None and steps.probabilities == (0.5, 0.5)
    assert steps.scale == "equal" and steps.none_of_these == 0.0


def _shifts(steps: NextSteps) -> list[Shift]:
    return [s for q in steps.questions for s in (*q.if_present, *q.if_absent)]


def test_shifts_are_on_the_differentials_scale_with_none_of_these_kept(knowledge: HpoKnowledge) -> None:
    # A user test: an abstention weighed its leading candidate at 0.10, and the next steps said a "yes" took it
    # from 0.48 to 0.94: the candidates' probabilities had been renormalised among them, dropping the 0.8 left
    # to "none of these". The "before" of every shift is now the probability the answer stated.
    weighed = [
        PlanCandidate(1, MARFAN.name, MARFAN.code, 0.10),
        PlanCandidate(2, LOEYS_DIETZ.name, LOEYS_DIETZ.code, 0.06),
        PlanCandidate(3, MARFAN_LIPODYSTROPHY.name, MARFAN_LIPODYSTROPHY.code, 0.04),
    ]
    steps = NextStepsPlanner(knowledge).plan(marfan_case(), weighed, basis="considered")
    assert steps is not None and steps.questions
    assert steps.scale == "differential" and steps.probabilities == (0.1, 0.06, 0.04)
    assert steps.none_of_these == pytest.approx(0.8)
    stated = {c.code: c.confidence for c in weighed}
    for shift in _shifts(steps):
        assert shift.before == stated[shift.code]
    for question in steps.questions:  # "none of these" moves with the answers, and says how
        assert question.none_of_these_chance is not None and 0.0 < question.none_of_these_chance < 1.0
        assert question.none_of_these_if_present is not None and question.none_of_these_if_absent is not None
        assert 0.0 < question.chance_present < 1.0
    pair = NextStepsPlanner(knowledge).plan(marfan_case(), [MARFAN, LOEYS_DIETZ])  # 0.6 and 0.2: 0.2 left over
    assert pair is not None
    uvula = next(q for q in pair.questions if q.hpo_id == BIFID_UVULA)
    loeys = uvula.if_present[0]
    assert loeys.before == 0.2 and loeys.after > 0.2  # from the stated 0.2, not the 0.25 renormalised among the two


def test_a_near_certain_differential_is_never_made_certain(knowledge: HpoKnowledge) -> None:
    # A user test: the differential said Marfan syndrome 0.86, the next steps "0.94 -> 1.00". A "yes" raises it,
    # short of certainty: some of the 0.09 left to other diseases stays with them.
    differential = [
        PlanCandidate(1, MARFAN.name, MARFAN.code, 0.86),
        PlanCandidate(2, MARFAN_LIPODYSTROPHY.name, MARFAN_LIPODYSTROPHY.code, 0.04),
        PlanCandidate(3, LOEYS_DIETZ.name, LOEYS_DIETZ.code, 0.01),
    ]
    steps = NextStepsPlanner(knowledge, max_questions=20).plan(marfan_case(), differential)
    assert steps is not None and steps.questions and steps.none_of_these == pytest.approx(0.09)
    marfan = [s for s in _shifts(steps) if s.code == MARFAN.code]
    assert marfan and all(s.before == 0.86 for s in marfan)
    assert all(s.after < 1.0 for s in _shifts(steps))
    assert max(s.after for s in marfan) < 0.995  # not even rounded to certainty


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_a_shown_probability_is_certain_or_impossible_only_when_it_is(probability: float, _: float) -> None:
    value = shown(probability)
    assert (value == 1.0) == (probability == 1.0) and (value == 0.0) == (probability == 0.0)
    assert abs(value - probability) <= 1e-4


def test_probabilities_summing_above_one_are_renormalised_and_say_so(knowledge: HpoKnowledge) -> None:
    scores = [
        PlanCandidate(1, MARFAN.name, MARFAN.code, 0.9),
        PlanCandidate(2, LOEYS_DIETZ.name, LOEYS_DIETZ.code, 0.6),
    ]
    probabilities, scale = on_scale(scores)
    assert probabilities == pytest.approx([0.6, 0.4]) and scale == "among_candidates"
    steps = NextStepsPlanner(knowledge).plan(marfan_case(), scores)
    assert steps is not None and steps.scale == "among_candidates" and steps.none_of_these == 0.0
    assert all(q.none_of_these_if_present is None for q in steps.questions)


def test_retrieved_diseases_get_questions_only(knowledge: HpoKnowledge) -> None:
    steps = NextStepsPlanner(knowledge, retriever=_Guidelines([])).plan(
        marfan_case(), [MARFAN, LOEYS_DIETZ], basis="retrieved_diseases"
    )
    assert steps is not None and steps.questions
    assert steps.gene_panel is None and steps.guidelines == ()


# -- guideline passages ---------------------------------------------------------------------------------------

FABRY = PlanCandidate(1, "Fabry disease", "OMIM:301500", 0.5)
ALPORT = PlanCandidate(2, "Alport syndrome, X-linked", "OMIM:301050", 0.3)
GUIDELINE = Document(
    id="gl:0123456789abcdef",
    kind=DocumentKind.GUIDELINE,
    title="KDIGO CKD referral (open-medicine summary)",
    text="# Referral\n\nRefer suspected genetic kidney disease (Alport syndrome, Fabry disease) to nephrology.",
    metadata=DocumentMetadata(
        source="open-medicine-guidelines",
        licence="MIT",
        extra={"doi": "10.1016/j.kint.2023.10.018", "nature": "a summary, not the guideline's text"},
    ),
)


def _evidence(doc: Document, text: str, rank: int) -> Evidence:
    return Evidence(
        evidence_id=f"{doc.id}#0",
        doc_id=doc.id,
        kind=doc.kind,
        title=doc.title,
        text=text,
        score=3.0 / rank,
        rank=rank,
        retriever="lexical",
    )


class _Guidelines:
    """A retriever over fixed hits that records what it was asked."""

    name = "lexical"

    def __init__(self, hits: list[Evidence]) -> None:
        self.hits = hits
        self.asked: list[tuple[str, tuple[DocumentKind, ...] | None]] = []

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        self.asked.append((query, tuple(kinds) if kinds is not None else None))
        return self.hits[:k]


def test_guideline_passages_name_the_diagnosis_and_cite_their_references(knowledge: HpoKnowledge) -> None:
    unrelated = GUIDELINE.model_copy(update={"id": "gl:fedcba9876543210", "text": "# Sepsis\n\nA syndrome of ..."})
    retriever = _Guidelines([_evidence(unrelated, unrelated.text, 1), _evidence(GUIDELINE, GUIDELINE.text, 2)])
    documents = {d.id: d for d in (GUIDELINE, unrelated)}
    chunk = Chunk(
        doc_id=GUIDELINE.id, ordinal=0, text=GUIDELINE.text, start=0, end=len(GUIDELINE.text), section="Referral"
    )
    planner = NextStepsPlanner(knowledge, retriever=retriever, documents=documents.get, chunks=lambda _: chunk)
    steps = planner.plan(marfan_case(), [FABRY, ALPORT])
    assert steps is not None
    assert all(kinds == (DocumentKind.GUIDELINE,) for _, kinds in retriever.asked)  # guidelines only
    assert [g.evidence_id for g in steps.guidelines] == [f"{GUIDELINE.id}#0"]  # "a syndrome" names no diagnosis
    passage = steps.guidelines[0]
    assert [d.code for d in passage.diagnoses] == ["OMIM:301500", "OMIM:301050"]  # one passage, both diagnoses
    assert passage.names == "fabry disease"
    assert passage.references == ("doi:10.1016/j.kint.2023.10.018",)
    assert passage.licence == "MIT" and passage.section == "Referral"
    assert passage.note == "a summary, not the guideline's text"


def test_no_guideline_naming_the_diagnoses_is_said(knowledge: HpoKnowledge) -> None:
    steps = NextStepsPlanner(knowledge, retriever=_Guidelines([])).plan(marfan_case(), [MARFAN, LOEYS_DIETZ])
    assert steps is not None and steps.guidelines == ()
    assert any("no guideline passage" in note for note in steps.notes)


def test_findings_without_a_known_term_are_ignored(knowledge: HpoKnowledge) -> None:
    case = marfan_case(
        findings=(*marfan_findings(), Finding(label="odd feeling"), Finding(label="x", hpo_id="HP:9999999"))
    )
    steps = NextStepsPlanner(knowledge).plan(case, [MARFAN, LOEYS_DIETZ])
    assert steps is not None and steps.questions


# -- exclusive variants of one finding (a user test, 2026-11-27) -------------------------------------------------

CAFE_AU_LAIT, FEW_CAFE_AU_LAIT, MULTIPLE_CAFE_AU_LAIT = "HP:0000957", "HP:0007429", "HP:0007565"
NF1_DIFFERENTIAL = [
    PlanCandidate(1, "Neurofibromatosis, type 1", "OMIM:162200", 0.725),
    PlanCandidate(2, "Neurofibromatosis-Noonan syndrome", "OMIM:601321", 0.043),
    PlanCandidate(3, "Chromosome 17q11.2 deletion syndrome, 1.4-mb", "OMIM:613675", 0.015),
    PlanCandidate(4, "Watson syndrome", "OMIM:193520", 0.011),
    PlanCandidate(5, "Legius syndrome", "OMIM:611431", 0.007),
]


def _nf1_case(spots: str) -> Case:
    """The user test's note ("more than six café-au-lait macules, inguinal freckling, a plexiform neurofibroma,
    optic pathway glioma, scoliosis and short stature") with the spots read as ``spots``."""
    others = {
        "HP:0030052": "Inguinal freckling",
        "HP:0009732": "Plexiform neurofibroma",
        "HP:0009733": "Glioma",
        "HP:0002650": "Scoliosis",
        "HP:0004322": "Short stature",
    }
    findings = (
        Finding(label="café-au-lait macules", hpo_id=spots),
        *(Finding(label=n, hpo_id=t) for t, n in others.items()),
    )
    return Case(case_id="nf1", sex="female", age="P10Y", findings=findings)


def test_variants_of_one_finding_are_one_question_asked_of_the_commonest(knowledge: HpoKnowledge) -> None:
    """NF1 is annotated with both few (48/56) and multiple (677/781) café-au-lait spots: for a patient with café-au-lait
    spots the viewer asked "Few cafe-au-lait spots?" first, a "yes" taking NF1 from 0.72 to 0.98, and then "Multiple
    cafe-au-lait spots?" too. One question now, about the variant more diseases are annotated with."""
    steps = NextStepsPlanner(knowledge, max_questions=50).plan(_nf1_case(CAFE_AU_LAIT), NF1_DIFFERENTIAL)
    assert steps is not None
    asked = [q.hpo_id for q in steps.questions]
    assert MULTIPLE_CAFE_AU_LAIT in asked and FEW_CAFE_AU_LAIT not in asked
    assert knowledge.information_content(MULTIPLE_CAFE_AU_LAIT) < knowledge.information_content(FEW_CAFE_AU_LAIT)
    multiple = next(q for q in steps.questions if q.hpo_id == MULTIPLE_CAFE_AU_LAIT)
    assert multiple.if_present[0].code == "OMIM:162200"


@pytest.mark.parametrize("spots", [MULTIPLE_CAFE_AU_LAIT, FEW_CAFE_AU_LAIT])
def test_a_variant_the_patient_has_answers_the_others(knowledge: HpoKnowledge, spots: str) -> None:
    steps = NextStepsPlanner(knowledge, max_questions=50).plan(_nf1_case(spots), NF1_DIFFERENTIAL)
    assert steps is not None
    assert not {FEW_CAFE_AU_LAIT, MULTIPLE_CAFE_AU_LAIT} & {q.hpo_id for q in steps.questions}


def test_variants_are_told_by_their_names_and_never_nested_in_hpo(knowledge: HpoKnowledge) -> None:
    assert variant_of("Few cafe-au-lait spots") == ("count", "cafe au lait spots", "few")
    assert variant_of("Multiple cafe-au-lait spots") == ("count", "cafe au lait spots", "many")
    assert variant_of("Bilateral ptosis") == ("side", "ptosis", "both sides")
    assert variant_of("Three rows of eyelashes") is None and variant_of("Multiple") is None
    # Every group of variants HPO has (words saying different things of one finding) holds no broader or narrower
    # form of another member: they are alternatives, as the rule takes them.
    groups: dict[tuple[str, str], list[str]] = {}
    for term in knowledge.phenotypic_abnormality_terms:
        variant = variant_of(knowledge.term_name(term))
        if variant is not None:
            groups.setdefault((variant.kind, variant.rest), []).append(term)
    alternatives = {
        key: members
        for key, members in groups.items()
        if len({variant_of(knowledge.term_name(t)).says for t in members}) > 1  # type: ignore[union-attr]
    }
    assert ("count", "cafe au lait spots") in alternatives and len(alternatives) >= 20
    for members in alternatives.values():
        assert not any(a in knowledge.ancestors(b) for a in members for b in members), members
