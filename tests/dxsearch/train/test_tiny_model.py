"""The tiny chat model the trainer and the tests start from: built here, byte-identical for a seed."""

from __future__ import annotations

from pathlib import Path

from dxsearch.policies.backends.transformers import checkpoint_fingerprint
from dxsearch.train.tiny_model import build_tiny_model


def test_tiny_model_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "first", seed=0)
    again = build_tiny_model(tmp_path / "again", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert checkpoint_fingerprint(again) == checkpoint_fingerprint(first)
    assert checkpoint_fingerprint(other) != checkpoint_fingerprint(first)
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in first.iterdir())
