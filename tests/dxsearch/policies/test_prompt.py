"""The prompt and the transcript an LLM policy sends: the episode's layout, the case, the system prompt."""

from __future__ import annotations

import pytest

from dxsearch.cases import Case
from dxsearch.policies.prompt import SYSTEM_PROMPT, age_in_words, build_messages, render_case
from dxsearch.protocol import INSUFFICIENT_EVIDENCE, Action
from tests.dxsearch.policies.helpers import CASE, HISTORY


def test_build_messages_lays_out_the_episode() -> None:
    messages = build_messages(CASE, HISTORY)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "assistant", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    case_text = messages[1]["content"]
    assert case_text == render_case(CASE)
    for finding in CASE.observed:
        assert f"- {finding.label}" in case_text
    assert "(HP:0001250)" in case_text and "(HP:0001263)" in case_text
    assert "excluded" in case_text.lower() and "Microcephaly (HP:0000252)" in case_text
    assert case_text.index("Microcephaly") > case_text.lower().index("excluded")
    assert "4 years 6 months" in case_text and "female" in case_text
    assert CASE.case_id not in case_text and "31234567" not in case_text
    assert "<b>" not in case_text and "&lt;b&gt;regression" in case_text
    assert [m["content"] for m in messages[2:4]] == [h.turn for h in HISTORY]
    assert messages[4]["content"].startswith("<result>")
    assert 'id="omim:607208#0"' in messages[4]["content"] and "3 retrievals left" in messages[4]["content"]


def test_render_case_without_findings_or_age() -> None:
    text = render_case(Case(case_id="c-1"))
    assert "Age: unknown" in text and "Observed findings: none recorded" in text
    assert "Excluded findings: none recorded" in text and "c-1" not in text


@pytest.mark.parametrize(
    ("age", "words"),
    [("P4Y6M", "4 years 6 months"), ("P1Y", "1 year"), ("P3W2D", "3 weeks 2 days"), (None, "unknown"), ("P", "P")],
)
def test_age_in_words(age: str | None, words: str) -> None:
    assert age_in_words(age) == words


def test_system_prompt_teaches_every_action() -> None:
    for action in Action:
        assert f"<{action.value}>" in SYSTEM_PROMPT and f"</{action.value}>" in SYSTEM_PROMPT
    assert f"<diagnose>{INSUFFICIENT_EVIDENCE}</diagnose>" in SYSTEM_PROMPT
    assert "N. name | code | evidence ids | confidence" in SYSTEM_PROMPT
