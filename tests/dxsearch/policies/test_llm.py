"""The LLM policy over the local backend: one structurally sound turn, reproducible for a seed."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dxsearch.policies.backends.base import cut_at_first_stop
from dxsearch.policies.backends.transformers import TransformersBackend
from dxsearch.policies.base import Policy
from dxsearch.policies.llm import LlmPolicy
from dxsearch.policies.prompt import build_messages
from dxsearch.protocol import CLOSING_TAGS, ProtocolError, parse_turn
from dxsearch.train.tiny_model import build_tiny_model
from tests.dxsearch.policies.helpers import CASE, HISTORY, MAX_NEW


def test_policy_returns_one_structurally_sound_turn(backend: TransformersBackend) -> None:
    policy = LlmPolicy(backend, max_new_tokens=MAX_NEW)
    assert isinstance(policy, Policy)
    assert policy.thread_safe  # the API runs its turns unserialised
    assert policy.version.startswith(f"{backend.model_id}@{backend.version}+prompt.")
    text = policy.next_turn(CASE, HISTORY)
    completion = backend.generate(build_messages(CASE, HISTORY), CLOSING_TAGS, MAX_NEW)
    assert text == completion.text
    if completion.finish_reason == "stop":
        assert completion.stop in CLOSING_TAGS
        assert text.endswith(completion.stop)
        assert cut_at_first_stop(text, CLOSING_TAGS) == (text, completion.stop)
    else:
        assert cut_at_first_stop(text, CLOSING_TAGS)[1] is None
        if completion.finish_reason == "length":
            assert completion.completion_tokens == MAX_NEW
    # Malformed output is the environment's to judge; any other exception fails the test.
    with contextlib.suppress(ProtocolError):
        parse_turn(text)


def test_same_seed_same_output(backend: TransformersBackend, tmp_path: Path) -> None:
    twin = TransformersBackend(build_tiny_model(tmp_path / "twin", seed=0), num_threads=1)
    first = LlmPolicy(backend, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY)
    assert LlmPolicy(backend, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY) == first
    assert LlmPolicy(twin, max_new_tokens=MAX_NEW).next_turn(CASE, HISTORY) == first
