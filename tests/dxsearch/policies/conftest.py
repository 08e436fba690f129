"""Fixtures of the LLM policy's and its backends' tests: a tiny model built here, loaded locally.

Nothing is downloaded: the model comes from ``build_tiny_model``. The untrained model writes noise, so
tests assert structure, never content.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dxsearch.policies.backends.transformers import TransformersBackend
from dxsearch.train.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-a"), seed=0)


@pytest.fixture(scope="module")
def backend(tiny_dir: Path) -> Iterator[TransformersBackend]:
    threads = torch.get_num_threads()
    yield TransformersBackend(tiny_dir, num_threads=1)
    torch.set_num_threads(threads)
