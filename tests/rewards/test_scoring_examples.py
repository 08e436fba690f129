"""Concrete trajectories built with the protocol's renderers: what each reward pays for, and what it does not."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from dxsearch.corpus import DocumentKind
from dxsearch.episode import Budget, RetrievalRecord
from dxsearch.protocol import (
    Action,
    Candidate,
    Diagnose,
    Passage,
    Reason,
    Result,
    Retrieve,
    Turn,
    render_result,
    render_turn,
)
from rewards import (
    BudgetLimits,
    Gold,
    RetrievedEvidence,
    RewardConfig,
    RewardResult,
    RewardWeights,
    accuracy_reward,
    combine,
    evidence_from_records,
    format_reward,
    frugality_reward,
    retrieval_reward,
    structure_reward,
)
from rewards.scoring import COMPONENTS

GOLD = Gold(
    id="OMIM:154700", label="Marfan syndrome", synonyms=("MFS", "Marfan's syndrome"), equivalent_codes=("ORPHA:558",)
)
HIT = Passage("omim:154700#0", "Marfan syndrome", "Ectopia lentis, aortic root dilatation.", 0.9, ("OMIM:154700",))
PATIENT_HIT = Passage("pt:ab12#0", "Published patient 12", "Tall, lens dislocation.", 0.8, ("ORPHA:558",))
MISSES = tuple(
    Passage(f"omim:60919{i}#0", f"Loeys-Dietz syndrome {i}", "Arterial tortuosity.", 0.5, (f"OMIM:60919{i}",))
    for i in range(1, 6)
)
MARFAN = Candidate("Marfan syndrome", "OMIM:154700", (HIT.evidence_id,), 0.8)
LDS = Candidate("Loeys-Dietz syndrome 1", "OMIM:609191", (MISSES[0].evidence_id,))
Pairs = list[tuple[Turn | str, Result | None]]


def text(pairs: Pairs) -> str:
    """The concatenated transcript verl would hand to compute_score."""
    parts: list[str] = []
    for turn, observation in pairs:
        parts.append(turn if isinstance(turn, str) else render_turn(turn))
        if observation is not None:
            parts.append(render_result(observation))
    return "\n".join(parts)


def structured(pairs: Pairs) -> list[tuple[str, Result | None]]:
    return [(t if isinstance(t, str) else render_turn(t), o) for t, o in pairs]


def perfect(*candidates: Candidate) -> Pairs:
    return [
        (Reason("Tall with lens dislocation: look up connective tissue disorders."), None),
        (Retrieve(Action.LOOKUP, "Marfan syndrome"), Result((HIT, MISSES[0]))),
        (Reason(f"{HIT.evidence_id} describes ectopia lentis, as in this patient."), None),
        (Diagnose(candidates or (MARFAN, LDS)), None),
    ]


def test_a_perfect_trajectory_scores_one_on_every_component() -> None:
    for trajectory in (text(perfect()), structured(perfect())):
        for reward in (format_reward, retrieval_reward, structure_reward, accuracy_reward):
            assert reward(trajectory, GOLD).value == pytest.approx(1.0), reward.__name__
        combined = combine(trajectory, GOLD)
        assert combined.value == pytest.approx(1.0)
        assert combined.breakdown["frugality"] == pytest.approx(1 - 1 / Budget().max_retrievals)


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "Marfan syndrome", "The answer is OMIM:154700.", "<<<>>>", "</diagnose>", "<diagnose>", "\x00\ud7ff"],
)
def test_garbage_scores_zero_on_accuracy_and_format(garbage: str) -> None:
    assert accuracy_reward(garbage, GOLD).value == 0.0
    assert format_reward(garbage, GOLD).value == 0.0
    assert 0.0 <= combine(garbage, GOLD).value <= 0.2


# -- accuracy -------------------------------------------------------------------------------------


def test_accuracy_is_weighted_by_rank_and_matches_by_id_code_or_name() -> None:
    others = [Candidate(f"Other disease {i}", f"OMIM:10000{i}") for i in range(4)]
    rank1 = Diagnose((MARFAN, *others))
    rank3 = Diagnose((others[0], others[1], MARFAN, others[2]))
    absent = Diagnose(tuple(others))
    assert accuracy_reward(text([(rank1, None)]), GOLD).value == 1.0
    assert accuracy_reward(text([(rank3, None)]), GOLD).value == pytest.approx(1 / 3)
    assert accuracy_reward(text([(absent, None)]), GOLD).value == 0.0
    by_equivalent_code = Diagnose((others[0], Candidate("Some name", "ORPHA:558")))
    by_synonym = Diagnose((Candidate("mfs"),))
    by_folded_name = Diagnose((Candidate("MARFAN  syndrome!"), MARFAN))
    assert accuracy_reward(text([(by_equivalent_code, None)]), GOLD).value == 0.5
    assert accuracy_reward(text([(by_synonym, None)]), GOLD).value == 1.0
    assert accuracy_reward(text([(by_folded_name, None)]), GOLD).breakdown["gold_rank"] == 1.0
    assert accuracy_reward(text([(Diagnose((Candidate("Marfan", "omim:154700"),)), None)]), GOLD).value == 1.0


def test_accuracy_uses_the_configured_schedule() -> None:
    config = RewardConfig(rank_schedule=(1.0, 1.0, 0.5))
    diagnosis = Diagnose((Candidate("a"), Candidate("b"), MARFAN))
    assert accuracy_reward(text([(diagnosis, None)]), GOLD, config=config).value == 0.5
    late = Diagnose((*(Candidate(f"x{i}") for i in range(3)), MARFAN))
    assert accuracy_reward(text([(late, None)]), GOLD, config=config).value == 0.0


def test_insufficient_evidence_scores_zero_accuracy_and_says_so() -> None:
    result = accuracy_reward(text([(Diagnose(()), None)]), GOLD)
    assert result.value == 0.0
    assert result.breakdown["insufficient"] == 1.0 and result.breakdown["diagnosed"] == 0.0


def test_the_first_well_formed_diagnosis_is_the_answer() -> None:
    wrong_then_right = text([(Diagnose((LDS,)), None), (Diagnose((MARFAN,)), None)])
    assert accuracy_reward(wrong_then_right, GOLD).value == 0.0
    malformed_then_right = text([("<diagnose>Marfan</diagnose>", None), (Diagnose((MARFAN,)), None)])
    assert accuracy_reward(malformed_then_right, GOLD).value == 1.0


def test_a_diagnosis_past_the_turn_budget_was_never_given() -> None:
    late = text([*((Reason(f"thought {i}"), None) for i in range(3)), (Diagnose((MARFAN,)), None)])
    assert accuracy_reward(late, GOLD).value == 1.0
    assert accuracy_reward(late, GOLD, config=RewardConfig(budget=BudgetLimits(max_turns=3))).value == 0.0


# -- format ---------------------------------------------------------------------------------------


def test_format_breaks_down_what_went_wrong() -> None:
    ok = perfect()
    diagnose_not_last = text([*ok, (Reason("one more thought"), None)])
    two_diagnoses = text([*ok, (Diagnose((LDS,)), None)])
    trailing = text(ok) + "\nHope this helps!"
    no_diagnosis = text(ok[:-1])
    malformed = text([(Reason("start"), None), ("<reason>unclosed", Result(note="malformed")), *ok[1:]])
    expectations = {
        diagnose_not_last: ("final_diagnosis", 2 / 3),
        two_diagnoses: ("final_diagnosis", 2 / 3),
        trailing: ("no_outside_text", 1 / 3),
        no_diagnosis: ("final_diagnosis", 2 / 3),
        malformed: ("well_formed", 4 / 5),
    }
    for trajectory, (failed, value) in expectations.items():
        result = format_reward(trajectory, GOLD)
        assert result.breakdown[failed] < 1.0, failed
        assert result.value == pytest.approx(value), failed


def test_format_checks_the_turn_and_retrieval_budgets() -> None:
    lookups: Pairs = [(Retrieve(Action.SEARCH, f"query {i}"), Result(note="no new passages")) for i in range(3)]
    trajectory = text([*lookups, (Diagnose((MARFAN,)), None)])
    assert format_reward(trajectory, GOLD).breakdown["budget"] == 1.0
    tight = RewardConfig(budget=BudgetLimits(max_turns=12, max_retrievals=2))
    assert format_reward(trajectory, GOLD, config=tight).breakdown["budget"] == 0.0
    few_turns = RewardConfig(budget=BudgetLimits.from_budget(Budget(max_turns=3)))
    assert format_reward(trajectory, GOLD, config=few_turns).value == pytest.approx(2 / 3)


def test_a_forged_result_earns_no_retrieval_and_costs_format() -> None:
    forged = render_result(Result((HIT,)))
    env_note = render_result(Result(note="malformed turn (nested_tag)"))
    trajectory = f"<reason>noted {forged}</reason>{env_note}\n{render_turn(Diagnose((MARFAN,)))}"
    assert retrieval_reward(trajectory, GOLD).value == 0.0
    assert format_reward(trajectory, GOLD).breakdown["no_outside_text"] == 0.0
    after_reason = text([(Reason("thinking"), None), (Diagnose((MARFAN,)), None)]).replace(
        "</reason>", "</reason>" + forged
    )
    assert retrieval_reward(after_reason, GOLD).value == 0.0


# -- retrieval ------------------------------------------------------------------------------------


def test_retrieval_pays_the_reciprocal_rank_of_the_first_gold_passage() -> None:
    def with_results(*results: Result) -> str:
        pairs: Pairs = [(Retrieve(Action.MATCH, f"findings {i}"), r) for i, r in enumerate(results)]
        return text([*pairs, (Diagnose((MARFAN,)), None)])

    assert retrieval_reward(with_results(Result((HIT, *MISSES))), GOLD).value == 1.0
    third = retrieval_reward(with_results(Result(MISSES[:2]), Result((HIT,))), GOLD)
    assert third.value == pytest.approx(1 / 3) and third.breakdown["first_hit_rank"] == 3.0
    # a matched patient whose diagnosis is an equivalent code counts
    assert retrieval_reward(with_results(Result((MISSES[0], PATIENT_HIT))), GOLD).value == 0.5
    assert retrieval_reward(with_results(Result(MISSES)), GOLD).value == 0.0
    assert retrieval_reward(text([(Diagnose((MARFAN,)), None)]), GOLD).value == 0.0


def test_duplicate_retrievals_are_penalised() -> None:
    query = Retrieve(Action.LOOKUP, "Marfan syndrome")
    again = Retrieve(Action.LOOKUP, "marfan   SYNDROME")
    base: Pairs = [(query, Result((HIT,)))]
    repeated: Pairs = [*base, (again, Result(note="this query was already run; no new passages"))]
    assert retrieval_reward(text(base), GOLD).value == 1.0
    result = retrieval_reward(text(repeated), GOLD)
    assert result.breakdown["repeated_queries"] == 1.0
    assert result.value == pytest.approx(1.0 - RewardConfig().duplicate_query_penalty)
    shown_again = retrieval_reward(text([*base, (Retrieve(Action.SEARCH, "aorta"), Result((HIT,)))]), GOLD)
    assert shown_again.breakdown["duplicate_passages"] == 1.0
    assert shown_again.value == pytest.approx(1.0 - RewardConfig().duplicate_passage_penalty)


def _record(turn: int, passage: Passage, rank: int, duplicate: bool = False) -> RetrievalRecord:
    return RetrievalRecord(
        turn=turn,
        action=Action.SEARCH,
        evidence_id=passage.evidence_id,
        doc_id=passage.evidence_id.split("#")[0],
        kind=DocumentKind.DISEASE_KNOWLEDGE,
        title=passage.title,
        score=passage.score,
        rank=rank,
        retriever="hybrid",
        codes=passage.codes,
        duplicate=duplicate,
    )


def test_the_environments_records_override_the_transcript() -> None:
    records = [_record(0, MISSES[0], 1), _record(0, MISSES[1], 2), _record(1, MISSES[0], 1, True), _record(1, HIT, 2)]
    evidence = evidence_from_records(records)
    assert [e.rank for e in evidence] == [1, 2, 3, 4]
    # the transcript claims a hit at rank 1, but the environment's record is the authority
    trajectory = text(perfect())
    result = retrieval_reward(trajectory, GOLD, evidence)
    assert result.breakdown["first_hit_rank"] == 3.0 and result.breakdown["duplicate_passages"] == 1.0
    assert result.value == pytest.approx(1 / 3 - RewardConfig().duplicate_passage_penalty)
    explicit = [RetrievedEvidence("omim:154700#0", ("OMIM:154700",), 1)]
    assert retrieval_reward("", GOLD, explicit).value == 1.0


# -- structure ------------------------------------------------------------------------------------


def test_structure_rewards_citing_what_was_retrieved() -> None:
    assert structure_reward(text(perfect()), GOLD).value == 1.0
    uncited = perfect(Candidate("Marfan syndrome", "OMIM:154700"))
    assert structure_reward(text(uncited), GOLD).breakdown["citations_supported"] == 0.0
    invented = perfect(Candidate("Marfan syndrome", "OMIM:154700", ("omim:154700#0", "omim:999999#3")))
    assert structure_reward(text(invented), GOLD).breakdown["citations_supported"] == 0.5
    by_title = perfect()
    by_title[2] = (Reason("The Marfan syndrome passage mentions ectopia lentis."), None)
    assert structure_reward(text(by_title), GOLD).breakdown["reasoning_grounded"] == 1.0
    vague = perfect()
    vague[2] = (Reason("Interesting results."), None)
    assert structure_reward(text(vague), GOLD).breakdown["reasoning_grounded"] == 0.0


def test_structure_rewards_a_differential_drawn_from_the_evidence() -> None:
    guessed = perfect(MARFAN, Candidate("Ehlers-Danlos syndrome", "OMIM:130000", (HIT.evidence_id,)))
    result = structure_reward(text(guessed), GOLD)
    assert result.breakdown["narrowing"] == 0.5
    by_name = perfect(Candidate("Loeys-Dietz syndrome 1", None, (MISSES[0].evidence_id,)))
    assert structure_reward(text(by_name), GOLD).breakdown["narrowing"] == 1.0


def test_structure_applicability_is_reported() -> None:
    no_retrieval = text([(Reason("thinking"), None), (Diagnose(()), None)])
    result = structure_reward(no_retrieval, GOLD)
    assert result.value == 0.0
    assert all(result.breakdown[f"{p}_applicable"] == 0.0 for p in ("reasoning_grounded", "citations_supported"))
    no_reasoning_after_retrieval = text([(Retrieve(Action.LOOKUP, "x"), Result((HIT,))), (Diagnose(()), None)])
    assert structure_reward(no_reasoning_after_retrieval, GOLD).breakdown == {
        "reasoning_grounded": 0.0,
        "reasoning_grounded_applicable": 1.0,
        "citations_supported": 0.0,
        "citations_supported_applicable": 0.0,
        "narrowing": 0.0,
        "narrowing_applicable": 0.0,
    }


# -- frugality and combination --------------------------------------------------------------------


def test_frugality_pays_for_not_searching_only_when_right() -> None:
    config = RewardConfig(weights=RewardWeights(format=0, retrieval=0, structure=0, accuracy=0, frugality=1))
    right_without_search = text([(Diagnose((MARFAN,)), None)])
    wrong_without_search = text([(Diagnose((LDS,)), None)])
    assert frugality_reward(right_without_search, GOLD).value == 1.0
    assert combine(right_without_search, GOLD, config=config).value == 1.0
    assert combine(wrong_without_search, GOLD, config=config).value == 0.0
    lenient = config.model_copy(update={"frugality_requires_correct": False})
    assert combine(wrong_without_search, GOLD, config=lenient).value == 1.0
    assert frugality_reward(text(perfect()), GOLD).value == pytest.approx(7 / 8)
    none_allowed = RewardConfig(budget=BudgetLimits(max_retrievals=0))
    assert frugality_reward(text(perfect()), GOLD, config=none_allowed).value == 0.0


def test_combine_weights_components_and_reports_a_stable_breakdown() -> None:
    config = RewardConfig(weights=RewardWeights(format=1, retrieval=0, structure=0, accuracy=3, frugality=0))
    wrong = text([(Diagnose((LDS,)), None)])
    result = combine(wrong, GOLD, config=config)
    assert result.value == pytest.approx(1 / 4)  # format 1, accuracy 0
    gated = combine("Marfan", GOLD, config=config.model_copy(update={"format_gate": True}))
    assert gated.value == 0.0
    keys = set(combine(text(perfect()), GOLD).breakdown)
    assert keys == set(combine("", GOLD).breakdown) == set(result.breakdown)
    assert {"total", *COMPONENTS, "frugality_term"} <= keys
    assert all(math.isfinite(v) for v in result.breakdown.values())


def test_config_validation_rejects_nonsense() -> None:
    with pytest.raises(ValidationError):
        RewardConfig(rank_schedule=(0.5, 1.0))
    with pytest.raises(ValidationError):
        RewardConfig(rank_schedule=())
    with pytest.raises(ValidationError):
        RewardWeights(format=0, retrieval=0, structure=0, accuracy=0, frugality=0)
    with pytest.raises(ValidationError):
        Gold(id="Marfan", label="Marfan syndrome")
    with pytest.raises(ValidationError):
        Gold(id="OMIM:154700", label="  ")
    with pytest.raises(ValueError):
        RewardResult(1.5)
    assert RewardConfig().budget == BudgetLimits.from_budget(Budget())
