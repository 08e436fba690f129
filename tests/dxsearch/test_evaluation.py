"""The harness's calibration report: ECE, reliability bins, coverage and accuracy at the threshold, the plot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.evaluation import (
    KNOWN_BY_ANNOTATIONS_ONLY,
    KNOWN_BY_PATIENTS_AND_ANNOTATIONS,
    KNOWN_BY_PATIENTS_ONLY,
    UNKNOWN_TO_THE_INDEX,
    GoldMatcher,
    RankedAnswer,
    evaluate,
    knowledge_group,
)
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from dxsearch.train.plot import plot_reliability

MARFAN = GoldDiagnosis(id="OMIM:154700", label="Marfan syndrome")


@pytest.fixture(scope="module")
def matcher(small_index: Path, test_settings: Settings) -> Iterator[GoldMatcher]:
    index = EmbeddedIndex(small_index, test_settings)
    yield GoldMatcher(index)
    index.close()


def _case(number: int) -> LabelledCase:
    case = Case(case_id=f"c{number}", findings=(Finding(label="Arachnodactyly", hpo_id="HP:0001166"),))
    return LabelledCase(case=case, gold=MARFAN)


# Ten cases: stated 0.9 on four (three right), 0.3 on four (one right), two abstentions on the findings.
ANSWERS = {
    **{f"c{i}": RankedAnswer(("OMIM:154700",), ("Marfan syndrome",), confidence=0.9) for i in range(3)},
    "c3": RankedAnswer(("OMIM:000001",), ("Other",), confidence=0.9),
    "c4": RankedAnswer(("OMIM:154700",), ("Marfan syndrome",), confidence=0.3),
    **{f"c{i}": RankedAnswer(("OMIM:000001",), ("Other",), confidence=0.3) for i in range(5, 8)},
    **{f"c{i}": RankedAnswer((), (), outcome="insufficient_evidence") for i in range(8, 10)},
}


def test_ece_coverage_and_reliability_are_reported(matcher: GoldMatcher, tmp_path: Path) -> None:
    cases = [_case(i) for i in range(10)]
    report = evaluate({"p": lambda labelled: ANSWERS[labelled.case.case_id]}, {"s": cases}, matcher, abstain_below=0.5)
    metrics = report["p"]
    assert metrics["top1"] == pytest.approx(0.4)
    # |0.9 - 0.75| * 4/8 + |0.3 - 0.25| * 4/8
    assert metrics["ece"] == pytest.approx(0.1) and metrics["ece_cases"] == 8
    assert metrics["coverage"] == {"threshold": 0.5, "coverage": 0.4, "accuracy": 0.75, "answered": 4}
    assert [(b["cases"], b["accuracy"]) for b in metrics["reliability"]] == [(4, 0.25), (4, 0.75)]
    assert metrics["risk_coverage"][-1]["coverage"] == pytest.approx(0.8)
    assert metrics["sets"]["s"]["ece"] == pytest.approx(0.1)
    plot = tmp_path / "eval.reliability.png"
    plot_reliability(report, plot, headline="leakage-controlled: test")
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_a_reliability_plot_of_policies_stating_no_probability_says_so_without_an_empty_legend(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """A user test: enrichment's plot was an empty figure with an empty legend box, and matplotlib warned."""
    plot = tmp_path / "enrichment.reliability.png"
    plot_reliability({"enrichment": {"top1": 0.2, "reliability": [], "risk_coverage": []}}, plot, headline="LEAKY")
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert not [w for w in recwarn if "legend" in str(w.message).lower()]


def test_the_ece_interval_resamples_publications_so_one_paper_of_many_cases_is_one_draw(
    matcher: GoldMatcher,
) -> None:
    """All cases from one paper: every resample is that paper, so the interval is the ECE itself; from ten
    papers it has width, and holds the ECE."""

    def interval(pmid_of: dict[int, str]) -> list[float]:
        cases = [LabelledCase(case=_case(i).case, gold=MARFAN, pmid=pmid_of[i]) for i in range(10)]
        run = {"p": lambda labelled: ANSWERS[labelled.case.case_id]}
        return evaluate(run, {"s": cases}, matcher)["p"]["ece_interval"]

    one = interval(dict.fromkeys(range(10), "PMID:1"))
    assert one == pytest.approx([0.1, 0.1])
    ten = interval({i: f"PMID:{100 + i}" for i in range(10)})
    assert ten[0] <= 0.1 <= ten[1] and ten[1] - ten[0] > 0.05
    assert interval({i: f"PMID:{100 + i}" for i in range(10)}) == ten  # seeded: a rerun reports the same


def test_disease_group_accuracy_counts_a_candidate_of_the_same_gene_beside_the_exact_headline(
    matcher: GoldMatcher,
) -> None:
    """Loeys-Dietz (TGFBR2) for a TGFBR2 case is a group hit, never an exact one; the exact metric is untouched."""
    from dxsearch.evaluation import gene_group_rank
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    knowledge = get_hpo_knowledge()
    assert "TGFBR2" in knowledge.genes("OMIM:610168")  # Loeys-Dietz syndrome 2
    gold = GoldDiagnosis(id="OMIM:999999", label="A TGFBR2 disorder nobody annotated")
    case = Case(case_id="g", findings=(Finding(label="Arachnodactyly", hpo_id="HP:0001166"),))
    labelled = LabelledCase(case=case, gold=gold, genes=("TGFBR2",))
    ungenotyped = LabelledCase(case=case, gold=gold)
    answer = RankedAnswer(("OMIM:154700", "OMIM:610168"), ("Marfan syndrome", "Loeys-Dietz syndrome 2"))
    rank = gene_group_rank(knowledge)
    assert rank(answer, labelled, None) == 2
    assert rank(answer, ungenotyped, None) is None
    assert rank(answer, labelled, 1) == 1  # the exact hit comes first
    report = evaluate({"p": lambda _: answer}, {"s": [labelled]}, matcher, group_rank=rank)["p"]
    assert report["top1"] == 0.0 and report["top5"] == 0.0
    assert report["group_top1"] == 0.0 and report["group_top5"] == 1.0


def test_the_cli_offers_exactly_the_direct_rankers_evaluation_has() -> None:
    from dxsearch.cli import DIRECT_RANKER_NAMES
    from dxsearch.evaluation import DIRECT_RANKERS

    assert set(DIRECT_RANKER_NAMES) == set(DIRECT_RANKERS)


def test_the_likelihood_ranker_weighs_the_cases_age() -> None:
    """Muscular dystrophy: unaged, a dystrophy of juvenile/adult onset is among the five; in a 3-month-old, none."""
    from dxsearch.evaluation import likelihood_runner
    from dxsearch.knowledge.hpo import get_hpo_knowledge
    from dxsearch.knowledge.likelihood import ONSET_YEARS

    knowledge = get_hpo_knowledge()
    run = likelihood_runner(knowledge)
    findings = (Finding(label="Muscular dystrophy", hpo_id="HP:0003560"),)
    gold = GoldDiagnosis(id="OMIM:310200", label="Duchenne muscular dystrophy")
    infant = run(LabelledCase(case=Case(case_id="i", age="P3M", findings=findings), gold=gold))
    unknown = run(LabelledCase(case=Case(case_id="i", findings=findings), gold=gold))

    def begins_at_five_or_later(code: str) -> bool:
        onsets = [ONSET_YEARS[o] for o in knowledge.disease(code).onset if o in ONSET_YEARS]
        return bool(onsets) and all(start >= 5.0 for start, _ in onsets)

    assert any(begins_at_five_or_later(code) for code in unknown.codes)
    assert len(infant.codes) == 5 and not any(begins_at_five_or_later(code) for code in infant.codes)


def test_the_knowledge_groups_say_what_the_index_knows_of_the_gold_disease() -> None:
    """Patients of the gold disease (from other papers) and its annotations are the two things a ranking can
    learn it from; a case of a disease with neither cannot be answered, whatever the policy."""
    knowledge = get_hpo_knowledge()
    group = knowledge_group({"OMIM:154700": 4, "OMIM:999999": 1}, knowledge)

    def published(gold: GoldDiagnosis, pmid: str | None = "PMID:1") -> LabelledCase:
        return LabelledCase(case=_case(0).case, gold=gold, pmid=pmid)

    unknown = GoldDiagnosis(id="OMIM:999998", label="Not a disease")
    assert group(published(MARFAN)) == KNOWN_BY_PATIENTS_AND_ANNOTATIONS
    assert group(published(GoldDiagnosis(id="OMIM:999999", label="Patients only"))) == KNOWN_BY_PATIENTS_ONLY
    assert group(published(GoldDiagnosis(id="OMIM:101600", label="Pfeiffer syndrome"))) == KNOWN_BY_ANNOTATIONS_ONLY
    assert group(published(unknown)) == UNKNOWN_TO_THE_INDEX
    assert group(published(MARFAN, pmid=None)) is None  # simulated: no publication, in no group
