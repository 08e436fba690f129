"""An LLM policy: the chat transcript in, one raw turn out, over any text backend.

The policy never repairs what the model wrote: it only cuts the completion at the
first closing tag (a turn ends there; anything after it would be a second action
the model was not asked for) and hands the text to the environment, which judges
it with :func:`dxsearch.protocol.parse_turn`. Malformed output is a scored
outcome, not an error; :class:`~dxsearch.policies.base.PolicyError` is kept for a
backend that cannot answer at all.

The backends live in :mod:`dxsearch.policies.backends`, behind
:class:`~dxsearch.policies.backends.base.TextBackend`:
:class:`~dxsearch.policies.backends.transformers.TransformersBackend` runs any causal
LM from a local directory (tests, the local trainer, small deployments),
:class:`~dxsearch.policies.backends.openai_http.OpenAIChatBackend` talks to an
OpenAI-compatible server such as vLLM. Neither ever downloads anything. This module
imports neither, so it never loads torch.
"""

from __future__ import annotations

from collections.abc import Sequence

from dxsearch.cases import Case
from dxsearch.episode import Exchange
from dxsearch.policies.backends.base import TextBackend, cut_at_first_stop
from dxsearch.policies.prompt import SYSTEM_PROMPT, build_messages, prompt_version
from dxsearch.protocol import CLOSING_TAGS


class LlmPolicy:
    """A :class:`~dxsearch.policies.base.Policy` over any :class:`TextBackend`.

    ``version`` combines the backend's model id and version with the system prompt's hash, so a
    trace pins both the checkpoint and the prompt it was given.

    ``thread_safe``: callers may run turns from several threads at once without serialising them.
    The policy holds no state of its own, and its backends synchronise (the local model holds a
    lock) or are stateless (an HTTP client).
    """

    thread_safe: bool = True

    def __init__(
        self,
        backend: TextBackend,
        name: str = "llm",
        max_new_tokens: int = 512,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        self.backend = backend
        self.model_id = backend.model_id
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.version = f"{backend.model_id}@{backend.version}+prompt.{prompt_version(system_prompt)}"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        """The raw next turn, cut after its closing tag; malformed text is returned as it is."""
        messages = build_messages(case, history, self.system_prompt)
        text = self.backend.complete(messages, CLOSING_TAGS, self.max_new_tokens)
        return cut_at_first_stop(text, CLOSING_TAGS)[0]
