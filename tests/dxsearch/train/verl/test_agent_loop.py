"""One rollout through verl's own ToolAgentLoop: a scripted LLM server, RetrieveTool, then reward.py.

Only the LLM is replaced (by a server that replays scripted replies as token ids); the agent loop,
its hermes parser, its Continuous Token builder for Qwen2, the tool lifecycle and the reward are
verl's and DxSearch's real code. This is the GPU path minus vLLM and the optimiser.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import importlib.util
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedTokenizerBase

from dxsearch.env import DiagnosticEnv
from dxsearch.protocol import Action, Retrieve, render_result
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.verl.calls import call_text
from dxsearch.train.verl.export import export_parquet
from dxsearch.train.verl.preflight import compose
from dxsearch.train.verl.reward import compute_score
from dxsearch.train.verl.tool import RETRIEVED_KEY, RetrieveTool
from rewards import verl_entry
from rewards.evidence import evidence_from_records
from tests.dxsearch.train.verl.helpers import MARFAN, MARFAN_CARD, MARFAN_PATIENT

MATCH = Retrieve(Action.MATCH, "Arachnodactyly; Ectopia lentis")
LOOKUP = Retrieve(Action.LOOKUP, "Marfan syndrome")
REASON = "<reason>Long fingers and lens dislocation: a connective tissue disorder.</reason>"
REASON_2 = f"<reason>{MARFAN_PATIENT} had Marfan syndrome and {MARFAN_CARD} fits.</reason>"
DIAGNOSE = f"<diagnose>\n1. Marfan syndrome | OMIM:154700 | {MARFAN_CARD}, {MARFAN_PATIENT} | 0.9\n</diagnose>"
REWARD_CONFIG = "reward.custom_reward_function.reward_kwargs.reward_config"
REPLIES = [f"{REASON}\n{call_text(MATCH)}", call_text(LOOKUP), f"{REASON_2}\n{DIAGNOSE}"]


def _import_tool_agent_loop(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """verl's tool agent loop module (its import chain needs ``cachetools``, which the train extra installs)."""
    del monkeypatch
    return importlib.import_module("verl.experimental.agent_loop.tool_agent_loop")


class ScriptedServer:
    """Stands in for verl's LLM server client: replays REPLIES as token ids ending in <|im_end|>."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        from verl.workers.rollout.replica import TokenOutput

        self._output = TokenOutput
        self._tokenizer = tokenizer
        self._end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.replies = list(REPLIES)
        self.prompts: list[list[int]] = []
        self.generated = 0

    async def generate(self, *, prompt_ids: list[int], **kwargs: Any) -> Any:
        self.prompts.append(list(prompt_ids))
        ids = [*self._tokenizer.encode(self.replies.pop(0), add_special_tokens=False), self._end]
        self.generated += len(ids)
        return self._output(token_ids=ids, log_probs=[-1.0] * len(ids), num_preempted=0)


def _tag_equivalent(small_index: Path, tool: RetrieveTool) -> tuple[str, list[dict[str, Any]]]:
    """The same rollout in the tag protocol, answered by a DiagnosticEnv directly."""
    index = EmbeddedIndex(small_index)
    try:
        env = DiagnosticEnv(index.retriever("hybrid"), tool.settings.budget)
        env.reset(MARFAN.case)
        parts = [REASON]
        for turn in ("<match>Arachnodactyly; Ectopia lentis</match>", "<lookup>Marfan syndrome</lookup>"):
            observation = env.step(turn).observation
            assert observation is not None
            parts += [turn, render_result(observation)]
        retrieved = [
            {"evidence_id": e.evidence_id, "codes": list(e.codes), "rank": e.rank}
            | {"duplicate": e.duplicate, "title": e.title}
            for e in evidence_from_records(env.records)
        ]
    finally:
        index.close()
    return "".join([*parts, REASON_2, DIAGNOSE]), retrieved


@dataclass
class Rollout:
    """One finished rollout and what produced it."""

    output: Any
    sample: dict[str, Any]
    cfg: DictConfig
    server: ScriptedServer


@pytest.fixture(scope="module")
def rollout(
    tmp_path_factory: pytest.TempPathFactory,
    tokenizer: PreTrainedTokenizerBase,
    tool_config_path: Path,
    tool: RetrieveTool,
) -> Rollout:
    with pytest.MonkeyPatch.context() as monkeypatch:
        module = _import_tool_agent_loop(monkeypatch)
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.utils.dataset.rl_dataset import RLHFDataset

    cfg = compose(
        [
            f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tool_config_path}",
            "data.max_prompt_length=20000",  # the tiny tokenizer spends many more tokens than Qwen2.5's
        ]
    )
    rows = tmp_path_factory.mktemp("verl-rollout") / "train.parquet"
    export_parquet([MARFAN], rows, split="train", heldout=[])
    with pytest.MonkeyPatch.context() as monkeypatch:
        import datasets

        monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", rows.parent / "hf-datasets")
        sample = create_rl_dataset([str(rows)], cfg.data, tokenizer, None)[0]
    server = ScriptedServer(tokenizer)

    async def run() -> Any:
        loop = module.ToolAgentLoop(
            trainer_config=DictConfigWrap(cfg),
            server_manager=server,
            tokenizer=tokenizer,
            processor=None,
            dataset_cls=RLHFDataset,
            data_config=DictConfigWrap(cfg.data),
            hf_model_type="qwen2",
            tools=ToolListWrap([tool]),
        )
        return await loop.run({"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}, **sample)

    return Rollout(asyncio.run(run()), sample, cfg, server)


def test_a_verl_tool_rollout_is_answered_by_the_environment_and_scored_like_the_tag_protocol(
    rollout: Rollout, tokenizer: PreTrainedTokenizerBase, tool: RetrieveTool, small_index: Path
) -> None:
    output, sample, server = rollout.output, rollout.sample, rollout.server
    assert server.replies == [] and len(server.prompts) == 3  # two tool rounds, then the answer ended the rollout
    second_prompt = tokenizer.decode(server.prompts[1])
    assert "<tool_response>" in second_prompt and MARFAN_PATIENT in second_prompt
    assert '"name": "retrieve"' in tokenizer.decode(server.prompts[0])  # the tool schema reached the prompt
    assert sum(output.response_mask) == server.generated  # only model tokens are trained on
    assert 0 in output.response_mask  # tool answers are in the response, masked out
    assert not tool.instance_ids()  # verl released every per-call instance
    assert output.extra_fields["tool_rewards"] == [0.0, 0.0]
    retrieved = output.extra_fields[RETRIEVED_KEY]
    assert {MARFAN_PATIENT, MARFAN_CARD} <= {r["evidence_id"] for r in retrieved}

    # what verl's NaiveRewardManager does: decode without special tokens, merge extra_fields into extra_info
    solution_str = tokenizer.decode(output.response_ids, skip_special_tokens=True)
    extra_info = {**sample["extra_info"], **output.extra_fields}
    ground_truth = sample["reward_model"]["ground_truth"]
    scored = compute_score(sample["data_source"], solution_str, ground_truth, extra_info)
    tag_text, tag_retrieved = _tag_equivalent(small_index, tool)
    assert retrieved == tag_retrieved  # the tool's records are the environment's
    assert scored == verl_entry.compute_score("dxsearch", tag_text, ground_truth, {"retrieved": tag_retrieved})
    assert scored["accuracy"] == 1.0 and scored["format"] == 1.0 and scored["retrieval"] == 1.0


def test_verl_reward_manager_scores_the_rollout_with_the_configured_reward(
    rollout: Rollout, tokenizer: PreTrainedTokenizerBase
) -> None:
    """verl's own reward path: load_reward_manager (pkg:// path + reward_kwargs) and NaiveRewardManager.run_single
    on the rollout packed as AgentLoopWorker._compute_score packs it (tool_extra_fields included)."""
    import numpy as np
    import torch
    from tensordict import TensorDict
    from verl import DataProto
    from verl.trainer.ppo.reward import load_reward_manager

    output, sample = rollout.output, rollout.sample
    prompts = torch.tensor([output.prompt_ids])
    responses = torch.tensor([output.response_ids])
    batch = TensorDict(
        {
            "prompts": prompts,
            "responses": responses,
            "input_ids": torch.cat([prompts, responses], dim=1),
            "attention_mask": torch.ones(1, prompts.shape[1] + responses.shape[1], dtype=torch.int64),
        },
        batch_size=1,
    )
    non_tensor = {key: np.array([sample[key]], dtype=object) for key in ("data_source", "reward_model", "extra_info")}
    non_tensor["tool_extra_fields"] = np.array([output.extra_fields], dtype=object)
    cfg = copy.deepcopy(rollout.cfg)  # a reward_config that changes this rollout's score: paying for frugality
    OmegaConf.update(cfg, f"{REWARD_CONFIG}.weights", {"frugality": 1.0}, force_add=True)

    async def score() -> dict[str, Any]:
        manager = load_reward_manager(cfg, tokenizer)  # binds the running loop, as in verl's worker
        result: dict[str, Any] = await manager.run_single(DataProto(batch=batch, non_tensor_batch=non_tensor))
        return result

    result = asyncio.run(score())
    solution_str = tokenizer.decode(output.response_ids, skip_special_tokens=True)
    arguments = (
        sample["data_source"],
        solution_str,
        sample["reward_model"]["ground_truth"],
        {**sample["extra_info"], **output.extra_fields},
    )
    expected = compute_score(*arguments, reward_config=OmegaConf.to_container(OmegaConf.select(cfg, REWARD_CONFIG)))
    assert result["reward_extra_info"] == expected and result["reward_score"] == expected["score"]
    assert expected["accuracy"] == 1.0 and expected["score"] == pytest.approx((1.0 + 0.75) / 2)  # 2 of 8 retrievals
    assert expected["score"] != compute_score(*arguments)["score"]  # so reward_kwargs really reached the function
