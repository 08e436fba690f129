"""The ``retrieve`` tool's contract: its schema, and the one mapping between tool calls and protocol turns.

A call ``retrieve(action="match", query="Arachnodactyly; Ectopia lentis")`` *is* the protocol turn
``<match>Arachnodactyly; Ectopia lentis</match>``. The tool (which executes calls) and the reward
(which reads them back from a transcript) both go through :func:`turn_from_arguments`, so a call the
tool rejects is a malformed turn for the reward too, and vice versa.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from dxsearch.protocol import Action, Retrieve, render_turn

TOOL_NAME = "retrieve"
#: Retrieval actions in a fixed order (schema enum, prompt, error messages).
ACTIONS: tuple[str, ...] = tuple(a.value for a in (Action.LOOKUP, Action.MATCH, Action.SEARCH))
#: The tag a call that cannot be a protocol turn is rendered with: not an action, so the parser
#: reports it as a malformed turn (``unknown_tag``), as the environment would.
MALFORMED_TAG = "call"


class ToolCallError(ValueError):
    """A ``retrieve`` call whose arguments are not a retrieval turn; the message is shown to the policy."""


def tool_schema() -> dict[str, Any]:
    """The OpenAI function schema of ``retrieve`` (verl's ``OpenAIFunctionToolSchema`` as a dict).

    ``config/dxsearch_tool.yaml`` carries the same schema (verl reads it from there); a test keeps
    the two equal.
    """
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": (
                "Retrieve passages from the medical corpus. Each passage carries an evidence id "
                "that a diagnosis can cite."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "action": {
                        "type": "string",
                        "description": (
                            "lookup: disease knowledge and guidelines for a named disease; "
                            "match: patient records with similar findings; search: the whole corpus."
                        ),
                        "enum": list(ACTIONS),
                    },
                    "query": {
                        "type": "string",
                        "description": (
                            "lookup: a disease name or code; match: findings separated by ';'; search: free text."
                        ),
                    },
                },
                "required": ["action", "query"],
            },
        },
    }


def turn_from_arguments(arguments: Mapping[str, Any]) -> Retrieve:
    """The protocol turn a call's arguments denote; raises :class:`ToolCallError` saying what is wrong.

    The query is trimmed (models pad JSON strings with spaces); anything :func:`render_turn` would
    refuse — an empty query, protocol tags inside it — is refused here, with the same meaning.
    """
    if not isinstance(arguments, Mapping):
        kind = type(arguments).__name__
        raise ToolCallError(f"arguments must be a JSON object with 'action' and 'query', got {kind}")
    unknown = sorted(str(k) for k in arguments if k not in ("action", "query"))
    if unknown:
        raise ToolCallError(f"unknown argument(s) {', '.join(unknown)}; {TOOL_NAME} takes only 'action' and 'query'")
    action, query = arguments.get("action"), arguments.get("query")
    if not isinstance(action, str) or action.strip().casefold() not in ACTIONS:
        raise ToolCallError(f"'action' must be one of {', '.join(ACTIONS)}, got {action!r}")
    if not isinstance(query, str) or not query.strip():
        raise ToolCallError("'query' must be a non-empty string")
    turn = Retrieve(Action(action.strip().casefold()), query.strip())
    try:
        render_turn(turn)
    except ValueError as exc:
        raise ToolCallError(f"'query' cannot be used: {exc}") from exc
    return turn


def call_text(turn: Retrieve) -> str:
    """A call as Qwen2.5 (hermes format) writes it; the prompt's worked example uses it."""
    payload = {"name": TOOL_NAME, "arguments": {"action": turn.action.value, "query": turn.query}}
    return "<tool_call>\n" + json.dumps(payload, ensure_ascii=False) + "\n</tool_call>"


def turn_text_from_call(body: str) -> str:
    """The protocol turn text of one ``<tool_call>`` body (its JSON); never raises.

    A call that is not a valid ``retrieve`` call becomes ``<call>…</call>`` (escaped), which the
    protocol parser rejects as a malformed turn — the reward then scores it as one.
    """
    try:
        payload = json.loads(body)
        if not isinstance(payload, Mapping):
            raise ToolCallError("a tool call must be a JSON object")
        if payload.get("name") != TOOL_NAME:
            raise ToolCallError(f"unknown tool {payload.get('name')!r}")
        arguments = payload.get("arguments", {})
        if isinstance(arguments, str):  # some models emit the arguments as a JSON string
            arguments = json.loads(arguments)
        return render_turn(turn_from_arguments(arguments))
    except (ValueError, TypeError):  # json.JSONDecodeError and ToolCallError are ValueErrors
        shown = html.escape(" ".join(body.split()), quote=False) or "-"
        return f"<{MALFORMED_TAG}>{shown}</{MALFORMED_TAG}>"
