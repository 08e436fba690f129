"""reward.py scores a verl tool-call transcript exactly as rewards.verl_entry scores the equivalent tag transcript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dxsearch.train.verl.reward as reward_module
from dxsearch.protocol import Passage, Result, render_result
from dxsearch.train.verl.convert import to_protocol_text
from dxsearch.train.verl.reward import compute_score
from rewards import verl_entry
from rewards.transcript import split_transcript
from rewards.verl_entry import SCORE_KEYS

GOLD = '{"id": "OMIM:154700", "label": "Marfan syndrome"}'
MATCH_RESULT = render_result(
    Result(
        passages=(
            Passage(
                "pt:aaaa1111#0",
                "Patient record (female, 14 years)",
                "Observed findings: Arachnodactyly; Lens dislocation; Tall stature\nDiagnosis: Marfan syndrome",
                0.83,
                ("OMIM:154700",),
            ),
        )
    )
)
LOOKUP_RESULT = render_result(
    Result(passages=(Passage("omim:154700#0", "Marfan syndrome", "Genes: FBN1", 0.91, ("OMIM:154700",)),))
)
REASON = "<reason>Long fingers and lens dislocation: connective tissue disorder.</reason>"
REASON_2 = "<reason>pt:aaaa1111#0 had Marfan syndrome, and its card omim:154700#0 fits.</reason>"
DIAGNOSE = "<diagnose>\n1. Marfan syndrome | OMIM:154700 | omim:154700#0, pt:aaaa1111#0 | 0.9\n</diagnose>"

#: What verl's NaiveRewardManager decodes (skip_special_tokens=True) from a Qwen2.5 tool rollout.
TOOL_TRANSCRIPT = f"""{REASON}
<tool_call>
{{"name": "retrieve", "arguments": {{"action": "match", "query": "Arachnodactyly; Ectopia lentis"}}}}
</tool_call>
user
<tool_response>
{MATCH_RESULT}
</tool_response>
assistant
<tool_call>
{{"name": "retrieve", "arguments": {{"action": "lookup", "query": "Marfan syndrome"}}}}
</tool_call>
user
<tool_response>
{LOOKUP_RESULT}
</tool_response>
assistant
{REASON_2}
{DIAGNOSE}"""

#: The same rollout in the tag protocol, as local inference writes it.
TAG_TRANSCRIPT = (
    f"{REASON}<match>Arachnodactyly; Ectopia lentis</match>{MATCH_RESULT}"
    f"<lookup>Marfan syndrome</lookup>{LOOKUP_RESULT}{REASON_2}{DIAGNOSE}"
)


def shape(text: str) -> list[tuple[str, str]]:
    """Segment kinds and whitespace-folded texts, as the rewards split a transcript."""
    return [(type(s).__name__, " ".join(s.text.split())) for s in split_transcript(text).segments]


def score(transcript: str, extra_info: Any = None, **kwargs: Any) -> dict[str, float | str]:
    return compute_score("dxsearch", transcript, GOLD, extra_info, **kwargs)


def test_a_tool_transcript_scores_exactly_as_its_tag_equivalent() -> None:
    segments = shape(to_protocol_text(TOOL_TRANSCRIPT))
    assert segments == shape(TAG_TRANSCRIPT)
    assert [name for name, _ in segments].count("ObservationSegment") == 2
    tool = score(TOOL_TRANSCRIPT)
    tag = verl_entry.compute_score("dxsearch", TAG_TRANSCRIPT, GOLD)
    assert tool == tag
    assert tuple(tool) == SCORE_KEYS and tool["reason"] == ""
    assert tool["accuracy"] == 1.0 and tool["retrieval"] == 1.0 and tool["format"] == 1.0
    assert 0.9 < float(tool["score"]) <= 1.0


def test_the_environment_records_in_extra_info_are_used_the_same_way() -> None:
    retrieved = [
        {"evidence_id": "pt:aaaa1111#0", "codes": ["OMIM:154700"], "rank": 1, "duplicate": False, "title": ""},
        {"evidence_id": "pt:bbbb2222#0", "codes": ["OMIM:219700"], "rank": 2, "duplicate": True, "title": ""},
    ]
    extra_info = {"split": "train", "index": 3, "retrieved": retrieved, "tool_rewards": [0.0, 0.0]}
    config = {"format_gate": True}
    tool = score(TOOL_TRANSCRIPT, extra_info, reward_config=config)
    assert tool == verl_entry.compute_score("dxsearch", TAG_TRANSCRIPT, GOLD, extra_info, reward_config=config)
    assert float(tool["retrieval"]) == pytest.approx(1.0 - 0.02)  # the withheld duplicate counts, as the env saw it
    assert tool != score(TOOL_TRANSCRIPT)


def test_special_tokens_left_in_give_the_same_text() -> None:
    with_tokens = (
        TOOL_TRANSCRIPT.replace("</tool_call>\nuser", "</tool_call><|im_end|>\n<|im_start|>user")
        .replace("</tool_response>\nassistant", "</tool_response><|im_end|>\n<|im_start|>assistant")
        .replace(DIAGNOSE, DIAGNOSE + "<|im_end|>")
    )
    assert to_protocol_text(with_tokens) == to_protocol_text(TOOL_TRANSCRIPT)


def test_malformed_calls_unknown_tools_and_stray_answers_cost_format() -> None:
    good = float(score(TOOL_TRANSCRIPT)["format"])
    bad_call = TOOL_TRANSCRIPT.replace('"action": "lookup"', '"action": "diagnose"')
    converted = to_protocol_text(bad_call)
    assert "<call>" in converted and "<lookup>" not in converted
    assert float(score(bad_call)["format"]) < good
    unknown = TOOL_TRANSCRIPT.replace('"name": "retrieve", "arguments": {"action": "lookup"', '"name": "web"')
    assert float(score(unknown)["format"]) < good
    verl_error = TOOL_TRANSCRIPT.replace(LOOKUP_RESULT, "Unknown function 'web'. Available tools: ['retrieve']")
    assert "<note>Unknown function 'web'." in to_protocol_text(verl_error)
    stray = TOOL_TRANSCRIPT.replace(
        f"assistant\n{REASON_2}", f"assistant\n<tool_response>\n{MATCH_RESULT}\n</tool_response>\n{REASON_2}"
    )
    assert float(score(stray)["format"]) < good
    chatter = TOOL_TRANSCRIPT.replace(REASON, "Let me look this up.")
    assert float(score(chatter)["format"]) < good


def test_an_unanswered_second_call_in_one_reply_is_not_paired_with_a_later_answer() -> None:
    """verl runs max_parallel_calls=1 call per reply; a dropped call stays unanswered."""
    two_calls = TOOL_TRANSCRIPT.replace(
        '"Arachnodactyly; Ectopia lentis"}}\n</tool_call>',
        '"Arachnodactyly; Ectopia lentis"}}\n</tool_call>\n<tool_call>\n'
        '{"name": "retrieve", "arguments": {"action": "search", "query": "FBN1"}}\n</tool_call>',
    )
    converted = to_protocol_text(two_calls)
    assert converted.index("<match>") < converted.index(MATCH_RESULT) < converted.index("<search>FBN1</search>")
    assert converted.index("<search>FBN1</search>") < converted.index("<lookup>") < converted.index(LOOKUP_RESULT)


def test_never_raises_and_verl_loads_it_by_path_and_by_package() -> None:
    from verl.utils.import_utils import load_extern_object

    assert score(None)["score"] == 0.0  # type: ignore[arg-type]
    assert score("<tool_call>{not json</tool_call>")["score"] == 0.0
    assert score(TOOL_TRANSCRIPT, extra_info="junk")["score"] == score(TOOL_TRANSCRIPT)["score"]
    by_path = load_extern_object(str(Path(reward_module.__file__)), "compute_score")
    by_package = load_extern_object("pkg://dxsearch.train.verl.reward", "compute_score")
    expected = score(TOOL_TRANSCRIPT)
    assert by_path("dxsearch", TOOL_TRANSCRIPT, GOLD) == by_package("dxsearch", TOOL_TRANSCRIPT, GOLD) == expected
