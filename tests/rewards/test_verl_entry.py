"""verl's ``compute_score``: the signature and return shape verl expects, and never an exception."""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dxsearch.protocol import Action, Candidate, Diagnose, Passage, Reason, Result, Retrieve, render_result, render_turn
from rewards import Gold, verl_entry
from rewards.verl_entry import SCORE_KEYS, compute_score, parse_ground_truth

GOLD = Gold(id="OMIM:154700", label="Marfan syndrome", equivalent_codes=("ORPHA:558",))
HIT = Passage("omim:154700#0", "Marfan syndrome", "Ectopia lentis.", 0.9, ("OMIM:154700",))
MISS = Passage("omim:609192#0", "Loeys-Dietz syndrome 1", "Tortuosity.", 0.5, ("OMIM:609192",))
SOLUTION = "\n".join(
    [
        render_turn(Retrieve(Action.LOOKUP, "Marfan syndrome")),
        render_result(Result((HIT, MISS))),
        render_turn(Reason(f"{HIT.evidence_id} matches the lens dislocation.")),
        render_turn(Diagnose((Candidate("Marfan syndrome", "OMIM:154700", (HIT.evidence_id,)),))),
    ]
)


def assert_verl_shape(result: dict[str, Any]) -> None:
    assert tuple(result) == SCORE_KEYS
    assert isinstance(result["reason"], str)
    for key in SCORE_KEYS[:-1]:
        assert isinstance(result[key], float) and math.isfinite(result[key]) and 0.0 <= result[key] <= 1.0


def test_the_signature_is_verls_custom_reward_signature() -> None:
    parameters = inspect.signature(compute_score).parameters
    assert list(parameters)[:4] == ["data_source", "solution_str", "ground_truth", "extra_info"]
    assert parameters["extra_info"].default is None
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_ground_truth_as_json_or_dict_scores_a_perfect_response_one() -> None:
    for ground_truth in (GOLD.model_dump_json(), GOLD.model_dump(), json.dumps({"id": "OMIM:154700", "label": "x"})):
        result = compute_score("dxsearch/phenopackets", SOLUTION, ground_truth, {"split": "train", "index": 3})
        assert_verl_shape(result)
        assert result["score"] == 1.0 and result["acc"] == 1.0 and result["reason"] == ""


def test_verl_keyword_arguments_are_accepted() -> None:
    # managers pass their own extras; reward_kwargs may carry a RewardConfig
    result = compute_score(
        data_source="dxsearch",
        solution_str=SOLUTION,
        ground_truth=GOLD.model_dump(),
        extra_info={"num_turns": 4, "rollout_reward_scores": {}},
        reward_router_address=None,
        strict_box_verify=False,
        reward_config={"weights": {"accuracy": 1, "format": 0, "retrieval": 0, "structure": 0}},
    )
    assert_verl_shape(result)
    assert result["score"] == 1.0


def test_parquet_shaped_values_are_read() -> None:
    class FakeArray:  # what pandas/pyarrow hand over for list columns
        def __init__(self, values: list[str]) -> None:
            self.values = values

        def tolist(self) -> list[str]:
            return self.values

    gold = parse_ground_truth({"id": "OMIM:154700", "label": "Marfan", "equivalent_codes": FakeArray(["ORPHA:558"])})
    assert gold.equivalent_codes == ("ORPHA:558",)


def test_retrieved_records_in_extra_info_replace_the_text() -> None:
    records = [{"evidence_id": MISS.evidence_id, "codes": ["OMIM:609192"]}, {"evidence_id": HIT.evidence_id}]
    result = compute_score("dxsearch", SOLUTION, GOLD.model_dump(), {"retrieved": records})
    assert_verl_shape(result)
    assert result["retrieval"] == 0.0  # the record, not the transcript, says the hit lacks the gold code
    broken = compute_score("dxsearch", SOLUTION, GOLD.model_dump(), {"retrieved": [{"no_id": 1}]})
    assert broken["retrieval"] == 1.0 and "ignored extra_info.retrieved" in str(broken["reason"])


def test_bad_inputs_score_zero_with_a_reason() -> None:
    cases: list[tuple[Any, Any, Any]] = [
        (SOLUTION, "not json", None),
        (SOLUTION, json.dumps(["OMIM:154700"]), None),
        (SOLUTION, {"id": "Marfan", "label": "Marfan"}, None),
        (SOLUTION, None, None),
        (None, GOLD.model_dump(), None),
        (b"bytes", GOLD.model_dump(), None),
        (SOLUTION, GOLD.model_dump(), "not a dict"),
    ]
    for solution, ground_truth, extra_info in cases[:-1]:
        result = compute_score("dxsearch", solution, ground_truth, extra_info)
        assert_verl_shape(result)
        assert result["score"] == 0.0 and result["reason"]
    assert compute_score("dxsearch", *cases[-1])["score"] == 1.0
    bad_config = compute_score("dxsearch", SOLUTION, GOLD.model_dump(), None, reward_config={"rank_schedule": []})
    assert bad_config["score"] == 0.0 and "ValidationError" in str(bad_config["reason"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    solution=st.text() | st.sampled_from([SOLUTION, SOLUTION[:40], SOLUTION[::-1]]),
    ground_truth=st.text() | st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers()) | st.none(),
    extra_info=st.none() | st.dictionaries(st.just("retrieved"), st.lists(st.dictionaries(st.text(), st.text()))),
)
def test_never_raises_on_any_input(solution: str, ground_truth: Any, extra_info: Any) -> None:
    assert_verl_shape(compute_score("any", solution, ground_truth, extra_info))


def test_verl_can_load_the_file_by_path() -> None:
    # verl imports custom_reward_function.path with importlib under its own module name
    path = Path(verl_entry.__file__)
    spec = importlib.util.spec_from_file_location("custom_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.compute_score("dxsearch", SOLUTION, GOLD.model_dump_json())["score"] == 1.0
