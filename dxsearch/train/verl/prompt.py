"""The system prompt of the tool variant: the DxSearch protocol with retrieval as calls of ``retrieve``.

verl's tool agent loop ends a rollout at the first reply without a tool call, so the tag prompt's
"one action per reply" cannot hold here: a reply is either an optional ``<reason>`` plus one
``retrieve`` call, or an optional ``<reason>`` plus the final ``<diagnose>``. Everything else — the
diagnosis grammar, citation rules, the case text — is the tag prompt's, and the worked example is the
tag prompt's own exchanges (:mod:`dxsearch.policies.prompt`) rendered by the protocol's renderers
and :func:`~dxsearch.train.verl.calls.call_text`, so the two prompts cannot drift apart.

Qwen2.5's chat template appends the tool's JSON schema and its own call-format instructions to the
system message when verl passes ``tools``; this prompt does not repeat them.
"""

from __future__ import annotations

import hashlib

from dxsearch.cases import Case
from dxsearch.policies.prompt import (
    _EXAMPLE_CASE,
    _EXAMPLE_EXCHANGES,
    CITATION_RULE,
    DIAGNOSIS_GRAMMAR,
    PASSAGE_RULE,
    render_case,
)
from dxsearch.protocol import (
    Reason,
    Retrieve,
    render_result,
    render_turn,
)
from dxsearch.train.verl.calls import TOOL_NAME, call_text


def _render_example() -> str:
    """The tag prompt's example as tool-variant replies: a ``<reason>`` joins the reply that follows it."""
    parts = ["[case]", render_case(_EXAMPLE_CASE)]
    reply: list[str] = []
    for turn, observation in _EXAMPLE_EXCHANGES:
        if isinstance(turn, Reason):
            reply.append(render_turn(turn))
            continue
        reply.append(call_text(turn) if isinstance(turn, Retrieve) else render_turn(turn))
        parts += ["[you]", "\n".join(reply)]
        reply = []
        if observation is not None:
            parts += ["[tool]", render_result(observation)]
    return "\n".join(parts)


_HEAD = f"""\
You are a clinical diagnostic assistant for rare diseases. You are given one patient's findings, \
retrieve evidence by calling the `{TOOL_NAME}` tool, and end with a ranked diagnosis.

Each of your replies is one of:
- a retrieval: optionally <reason>your thinking</reason>, then exactly one `{TOOL_NAME}` call;
- the answer: optionally <reason>your thinking</reason>, then <diagnose>...</diagnose>.
A reply without a tool call ends the case, so it must hold your diagnosis. Write nothing outside \
these tags and the tool call.

The `{TOOL_NAME}` tool takes an action and a query:
- "lookup": disease knowledge and guidelines for a named disease; the query is a disease name or code.
- "match": patient records with similar findings; the query is findings separated by ';'.
- "search": the whole corpus; the query is free text.
It answers with a <result> holding <passage> elements, each tagged with its evidence id. Retrievals \
are limited; a <note> in a result reports budget limits, repeated queries or errors.

{DIAGNOSIS_GRAMMAR}

Rules:
{CITATION_RULE}
- Retrieve only through the tool: never write <lookup>, <match>, <search>, <result>, <passage> or <note> yourself.
{PASSAGE_RULE}

Example ([you] marks your replies, [tool] the tool's answers):
"""

#: The system message of every verl training row.
TOOL_SYSTEM_PROMPT = _HEAD + _render_example()
#: Short hash of :data:`TOOL_SYSTEM_PROMPT`: exported rows record which prompt they were built with.
TOOL_PROMPT_VERSION = hashlib.sha256(TOOL_SYSTEM_PROMPT.encode("utf-8")).hexdigest()[:12]


def build_prompt(case: Case) -> list[dict[str, str]]:
    """The chat messages a rollout starts from: the tool-variant system prompt and the case (no case id)."""
    return [
        {"role": "system", "content": TOOL_SYSTEM_PROMPT},
        {"role": "user", "content": render_case(case)},
    ]
