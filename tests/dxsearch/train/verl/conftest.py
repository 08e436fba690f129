"""Fixtures for the verl integration: the tool over the real small index, cases, a tiny Qwen2 chat model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from dxsearch.train.tiny_model import build_tiny_model
from dxsearch.train.verl.preflight import TOOL_CONFIG
from dxsearch.train.verl.tool import RetrieveTool
from tests.dxsearch.train.verl.helpers import HERMES_TEMPLATE


@pytest.fixture(scope="session")
def tool_config_path(small_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged tool YAML with its index pointed at the small test index (everything else as shipped)."""
    config = OmegaConf.load(TOOL_CONFIG)
    config.tools[0].config.index = str(small_index)
    path = tmp_path_factory.mktemp("verl-tool") / "dxsearch_tool.yaml"
    OmegaConf.save(config, path)
    return path


@pytest.fixture(scope="session")
def tool(tool_config_path: Path) -> Iterator[RetrieveTool]:
    """One RetrieveTool built by verl's own loader, shared like one AgentLoopWorker's."""
    from verl.tools.tool_registry import initialize_tools_from_config

    (built,) = initialize_tools_from_config(str(tool_config_path))
    assert isinstance(built, RetrieveTool)
    yield built
    built.close()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 with a locally trained tokenizer and the hermes chat template (all offline)."""
    out = build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.chat_template = HERMES_TEMPLATE
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir: Path) -> PreTrainedTokenizerBase:
    loaded: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(tiny_model_dir)
    return loaded


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing in these tests may reach the Hugging Face hub or write to the user's caches.

    ``datasets`` (which verl's RLHFDataset reads parquet through) caches under ``HF_DATASETS_CACHE``,
    read once at import: the module attribute is what ``load_dataset`` consults at call time.
    """
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
