"""A verl tool-call transcript turned back into DxSearch protocol text, so :mod:`rewards` can score it.

What verl hands the reward function as ``solution_str`` (read in verl 0.9.1's reward-loop
``NaiveRewardManager.run_single``): the response token ids — every assistant reply and every tool
answer after the prompt — decoded with ``skip_special_tokens=True``. With Qwen2.5's chat template
and verl's hermes tool parser that is, for one retrieval::

    <reason>…</reason>
    <tool_call>
    {"name": "retrieve", "arguments": {"action": "match", "query": "…"}}
    </tool_call>
    user
    <tool_response>
    <result>…</result>
    </tool_response>
    assistant
    <diagnose>…</diagnose>

(``<|im_end|>``/``<|im_start|>`` are special tokens and vanish, leaving the bare role lines; the
``<tool_call>`` tags are ordinary added tokens and stay.) :func:`to_protocol_text` rewrites each
call as its protocol turn (:func:`~dxsearch.train.verl.calls.turn_text_from_call`), puts each tool
answer right after the call it answers (verl answers the calls of one reply in order, in one
block), drops the role lines around tool answers, and keeps every other character — so text the
policy wrote outside tags still costs it the format reward. A tool answer that is not a
``<result>`` (verl's own "Unknown function …" or "Invalid JSON …" messages) becomes a note-only
``<result>``, which is how the environment answers a malformed turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dxsearch.protocol import Result, render_result
from dxsearch.train.verl.calls import turn_text_from_call

_PIECE = re.compile(
    r"<tool_call>(?P<call>.*?)</tool_call>|<tool_response>(?P<response>.*?)</tool_response>",
    re.DOTALL,
)
# Chat-template special tokens, in case a caller decodes without skip_special_tokens.
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")
_ROLE = r"[ \t]*(?:user|assistant|tool|system)[ \t]*"
_ONLY_ROLES = re.compile(rf"^\s*(?:{_ROLE}(?:\n\s*|$))*$")
_LEADING_ROLE = re.compile(rf"^\s*{_ROLE}\n")
_TRAILING_ROLE = re.compile(rf"\n{_ROLE}\s*$")


@dataclass
class _Chunk:
    """Output text; a converted call also holds the tool answer that goes right after it."""

    text: str
    answer: str | None = None


def _answer_text(body: str) -> str:
    answer = body.strip()
    if answer.startswith("<result>") and answer.endswith("</result>"):
        return answer
    return render_result(Result(note=answer or "empty tool response"))


def to_protocol_text(solution: str) -> str:
    """Rewrite hermes tool calls and tool responses as protocol turns and ``<result>`` observations."""
    text = _SPECIAL_TOKEN.sub("", solution)
    chunks: list[_Chunk] = []
    waiting: list[_Chunk] = []  # calls of the current reply, in order, not yet answered
    previous: str | None = None  # kind of the last piece: "call", "response" or None
    position = 0
    for found in _PIECE.finditer(text):
        kind = "call" if found.group("call") is not None else "response"
        between = text[position : found.start()]
        if previous == "response":  # the next reply starts with the template's "assistant" role line
            between = _LEADING_ROLE.sub("", between, count=1)
        if kind == "response":  # the tool block starts with the template's "user"/"tool" role line
            between = "" if _ONLY_ROLES.match(between) else _TRAILING_ROLE.sub("", between, count=1)
        if previous == "response" and (kind == "call" or between.strip()):
            waiting = []  # a new reply: calls verl dropped from the last one stay unanswered
        if between:
            chunks.append(_Chunk(between))
        if kind == "call":
            call = _Chunk(turn_text_from_call(found.group("call")))
            chunks.append(call)
            waiting.append(call)
        elif waiting:
            waiting.pop(0).answer = _answer_text(found.group("response"))
        else:  # an answer to no call: kept where it is, so the reward sees a stray observation
            chunks.append(_Chunk(_answer_text(found.group("response"))))
        previous, position = kind, found.end()
    tail = text[position:]
    if previous == "response":
        tail = _LEADING_ROLE.sub("", tail, count=1)
    chunks.append(_Chunk(tail))
    return "".join(c.text + (f"\n{c.answer}\n" if c.answer is not None else "") for c in chunks)
