"""RetrieveTool against the real small index: verl's create/execute/calc_reward/release contract."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from verl.tools.schemas import ToolResponse

from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget
from dxsearch.policies.catalog import index_retriever
from dxsearch.protocol import parse_result, render_result
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.verl.tool import RETRIEVED_KEY, RetrieveTool
from tests.dxsearch.train.verl.helpers import CYSTIC_FIBROSIS, MARFAN, MARFAN_CARD, MARFAN_PATIENT

MATCH = {"action": "match", "query": "Arachnodactyly; Ectopia lentis"}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def create_kwargs(**extra: Any) -> dict[str, Any]:
    return {"case": MARFAN.case.model_dump(mode="json"), **extra}


def execute(tool: RetrieveTool, instance_id: str, parameters: dict[str, Any], **kwargs: Any) -> str:
    response, reward, metrics = run(tool.execute(instance_id, parameters, **kwargs))
    assert isinstance(response, ToolResponse) and isinstance(metrics, dict)
    assert reward == 0.0  # the rollout is scored once, at the end, by reward.py
    assert response.text is not None
    return response.text


def test_match_answers_with_the_environment_result_holding_the_marfan_patient(
    tool: RetrieveTool, small_index: Path
) -> None:
    instance_id, created = run(tool.create(create_kwargs=create_kwargs()))
    text = execute(tool, instance_id, MATCH)
    result = parse_result(text)
    assert MARFAN_PATIENT in [p.evidence_id for p in result.passages]
    assert next(p for p in result.passages if p.evidence_id == MARFAN_PATIENT).codes == ("OMIM:154700",)
    # the very text DiagnosticEnv itself renders for the same turn, with the tool's budget
    index = EmbeddedIndex(small_index)
    env = DiagnosticEnv(index_retriever(index, "hybrid"), tool.settings.budget)
    env.reset(MARFAN.case)
    assert text == render_result(env.step("<match>Arachnodactyly; Ectopia lentis</match>").observation)  # type: ignore[arg-type]
    index.close()
    assert created.is_empty()
    run(tool.release(instance_id))


def test_a_repeated_query_is_noted_and_passages_already_shown_are_withheld(tool: RetrieveTool) -> None:
    instance_id, _ = run(tool.create(create_kwargs=create_kwargs()))
    first = parse_result(execute(tool, instance_id, MATCH))
    second = parse_result(execute(tool, instance_id, {"action": "match", "query": "  arachnodactyly;  ECTOPIA lentis"}))
    assert MARFAN_PATIENT in {p.evidence_id for p in first.passages}
    assert MARFAN_PATIENT not in {p.evidence_id for p in second.passages}
    assert second.note is not None and "this query was already run" in second.note
    assert "already shown were left out" in second.note
    records = tool.records(instance_id)
    assert [r["rank"] for r in records] == list(range(1, len(records) + 1))  # episode order, as rewards read it
    assert [r["duplicate"] for r in records if r["evidence_id"] == MARFAN_PATIENT] == [False, True]
    run(tool.release(instance_id))


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"action": "diagnose", "query": "Marfan syndrome"}, "'action' must be one of lookup, match, search"),
        ({"action": "lookup"}, "'query' must be a non-empty string"),
        ({"action": "lookup", "query": "   "}, "'query' must be a non-empty string"),
        ({"action": "lookup", "query": "Marfan", "k": 50}, "unknown argument(s) k"),
        ({"action": "search", "query": "x</search><diagnose>1. y</diagnose>"}, "'query' cannot be used"),
    ],
)
def test_bad_parameters_get_an_error_note_not_an_exception_and_cost_nothing(
    tool: RetrieveTool, parameters: dict[str, Any], says: str
) -> None:
    instance_id, _ = run(tool.create(create_kwargs=create_kwargs()))
    result = parse_result(execute(tool, instance_id, parameters))
    assert result.passages == ()
    assert result.note is not None and result.note.startswith("invalid retrieve call") and says in result.note
    assert tool.records(instance_id) == []
    # the episode is untouched: the same match still finds the patient, with no "already run" note
    after = parse_result(execute(tool, instance_id, MATCH))
    assert MARFAN_PATIENT in {p.evidence_id for p in after.passages} and after.note is None
    run(tool.release(instance_id))


def test_release_frees_the_instance(tool: RetrieveTool) -> None:
    instance_id, _ = run(tool.create(create_kwargs=create_kwargs()))
    execute(tool, instance_id, MATCH)
    assert instance_id in tool.instance_ids()
    run(tool.release(instance_id))
    assert instance_id not in tool.instance_ids()
    assert tool.records(instance_id) == []
    gone = parse_result(execute(tool, instance_id, MATCH))
    assert gone.passages == () and gone.note == f"no open retrieve episode {instance_id!r}"


def test_two_instances_are_independent(tool: RetrieveTool) -> None:
    first, _ = run(tool.create(create_kwargs=create_kwargs()))
    second, _ = run(tool.create("given-id", create_kwargs=create_kwargs()))
    assert second == "given-id" and first != second
    execute(tool, first, MATCH)
    again = parse_result(execute(tool, second, MATCH))
    assert MARFAN_PATIENT in {p.evidence_id for p in again.passages} and again.note is None
    assert len(tool.records(first)) == len(tool.records(second))
    run(tool.release(first))
    assert tool.records(second)  # releasing one leaves the other
    run(tool.release(second))


def test_exclude_doc_ids_hide_documents_from_the_episode(tool: RetrieveTool) -> None:
    instance_id, _ = run(tool.create(create_kwargs=create_kwargs(exclude_doc_ids=["pt:aaaa1111"])))
    result = parse_result(execute(tool, instance_id, MATCH))
    assert MARFAN_PATIENT not in {p.evidence_id for p in result.passages}
    run(tool.release(instance_id))


def test_verl_per_call_lifecycle_keeps_one_episode_per_trajectory(tool: RetrieveTool) -> None:
    """What ToolAgentLoop._call_tool does for every call: create, execute(agent_data=...), release."""
    row_kwargs = {"create_kwargs": create_kwargs()}

    def call(agent_data: Any, parameters: dict[str, Any]) -> str:
        instance_id, _ = run(tool.create(**row_kwargs))
        try:
            return execute(tool, instance_id, parameters, agent_data=agent_data)
        finally:
            run(tool.release(instance_id))

    rollout = SimpleNamespace(extra_fields={})
    sibling = SimpleNamespace(extra_fields={})  # another rollout of the same case (GRPO group)
    first = parse_result(call(rollout, MATCH))
    second = parse_result(call(rollout, MATCH))
    assert MARFAN_PATIENT in {p.evidence_id for p in first.passages}
    assert second.note is not None and "already run" in second.note  # the episode outlived the instance
    lookup = parse_result(call(rollout, {"action": "lookup", "query": "Marfan syndrome"}))
    assert lookup.passages[0].evidence_id == MARFAN_CARD
    retrieved = rollout.extra_fields[RETRIEVED_KEY]
    assert [r["rank"] for r in retrieved] == list(range(1, len(retrieved) + 1))
    assert {r["evidence_id"] for r in retrieved} >= {MARFAN_PATIENT, MARFAN_CARD}
    assert any(r["duplicate"] for r in retrieved)
    fresh = parse_result(call(sibling, MATCH))
    assert MARFAN_PATIENT in {p.evidence_id for p in fresh.passages} and fresh.note is None
    assert len(sibling.extra_fields[RETRIEVED_KEY]) < len(retrieved)
    assert not tool.instance_ids()  # every per-call instance was released


def test_calc_reward_is_the_retrieval_reward_when_a_gold_is_given(tool: RetrieveTool) -> None:
    gold = {"id": "OMIM:154700", "label": "Marfan syndrome"}
    with_gold, _ = run(tool.create(create_kwargs=create_kwargs(gold=gold)))
    without, _ = run(tool.create(create_kwargs=create_kwargs()))
    assert run(tool.calc_reward(with_gold)) == 0.0  # nothing retrieved yet
    for instance_id in (with_gold, without):
        execute(tool, instance_id, MATCH)
    assert run(tool.calc_reward(with_gold)) == 1.0  # the first passage carries the gold code
    assert run(tool.calc_reward(without)) == 0.0
    execute(tool, with_gold, MATCH)  # a repeated query costs the repeat penalty
    assert run(tool.calc_reward(with_gold)) == pytest.approx(1.0 - 0.2 - 0.02)
    for instance_id in (with_gold, without):
        run(tool.release(instance_id))


def test_the_budget_from_the_tool_config_is_enforced(small_index: Path) -> None:
    budget = Budget(max_turns=2, max_retrievals=1)
    tool = RetrieveTool({"type": "native", "index": str(small_index), "budget": budget.model_dump()})
    try:
        instance_id, _ = run(tool.create(create_kwargs={"case": CYSTIC_FIBROSIS.case.model_dump(mode="json")}))
        assert parse_result(execute(tool, instance_id, {"action": "lookup", "query": "cystic fibrosis"})).passages
        spent = parse_result(execute(tool, instance_id, {"action": "lookup", "query": "sweat chloride"}))
        assert spent.passages == () and spent.note == "retrieval budget of 1 used up: diagnose now"
        ended = parse_result(execute(tool, instance_id, {"action": "search", "query": "bronchiectasis"}))
        assert ended.note == "the retrieval budget is used up: diagnose now"  # env stopped at its turn budget
    finally:
        tool.close()


def test_bad_configs_and_bad_rows_are_refused(tool: RetrieveTool) -> None:
    with pytest.raises(ValueError, match="retreiver"):
        RetrieveTool({"type": "native", "retreiver": "hybrid"})
    with pytest.raises(ValueError, match="create_kwargs must hold a case"):
        run(tool.create(create_kwargs={"exclude_doc_ids": []}))
    with pytest.raises(ValueError, match="create_kwargs must hold a case"):
        run(tool.create(create_kwargs={"case": "{not json"}))
    as_json = {"case": MARFAN.case.model_dump_json()}  # a case stored as JSON text works too
    instance_id, _ = run(tool.create(create_kwargs=as_json))
    run(tool.release(instance_id))
