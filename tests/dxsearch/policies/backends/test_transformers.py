"""The local transformers backend on a tiny model built here: loading, stopping, sampling."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxsearch.policies.backends.base import Completion, TextBackend
from dxsearch.policies.backends.transformers import TransformersBackend, checkpoint_fingerprint
from dxsearch.policies.prompt import build_messages
from dxsearch.protocol import CLOSING_TAGS
from tests.dxsearch.policies.helpers import CASE, HISTORY, MAX_NEW, free_output, stop_inside


def test_backend_loads_the_local_checkpoint(backend: TransformersBackend, tiny_dir: Path) -> None:
    assert isinstance(backend, TextBackend)
    assert backend.version == checkpoint_fingerprint(tiny_dir)
    assert backend.model_id == tiny_dir.name
    prompt = backend.tokenizer.apply_chat_template(
        build_messages(CASE, HISTORY), add_generation_prompt=True, tokenize=False
    )
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    with pytest.raises(FileNotFoundError):
        TransformersBackend(tiny_dir / "missing")


def test_generation_stops_at_the_first_stop_string_and_keeps_it(backend: TransformersBackend) -> None:
    messages = build_messages(CASE, ())
    free = free_output(backend, messages)
    stop = stop_inside(free)
    completion = backend.generate(messages, [stop], MAX_NEW)
    assert completion == Completion(
        text=free[: free.index(stop) + len(stop)],
        finish_reason="stop",
        stop=stop,
        completion_tokens=completion.completion_tokens,
    )
    assert completion.completion_tokens is not None and completion.completion_tokens < MAX_NEW


def test_sampling_is_reproducible_for_a_seed(tiny_dir: Path) -> None:
    def sample_twice(seed: int) -> list[str]:
        sampler = TransformersBackend(tiny_dir, temperature=1.0, seed=seed)
        messages = build_messages(CASE, ())
        return [sampler.complete(messages, CLOSING_TAGS, 16) for _ in range(2)]

    first = sample_twice(7)
    assert sample_twice(7) == first
    assert first[0] != first[1]  # each call draws from its own seed, not the same sample again
    assert TransformersBackend(tiny_dir, temperature=1.0, seed=7).version.endswith("+T1p1s7")


def test_unseeded_sampling_varies_and_bad_dtype_is_refused(tiny_dir: Path) -> None:
    sampler = TransformersBackend(tiny_dir, temperature=1.0)
    messages = build_messages(CASE, ())
    assert len({sampler.complete(messages, CLOSING_TAGS, 16) for _ in range(3)}) > 1
    with pytest.raises(ValueError, match="dtype"):
        TransformersBackend(tiny_dir, dtype="float33")
