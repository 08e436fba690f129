"""GRPO over DiagnosticEnv with TRL's ``GRPOTrainer`` and a multi-turn ``rollout_func``.

TRL asks the rollout function for one completion per prompt in its batch (each case is
already repeated ``num_generations`` times). Ours plays a whole episode per prompt with
the trainer's live weights, sampling every turn through the same
:class:`~dxsearch.policies.llm.LlmPolicy` used at inference, then returns the
conversation's tokens after the prompt as the completion with an ``env_mask`` that is 1
on the model's own tokens and 0 on the environment's results, so the policy gradient
never flows through text the model did not write. The combined reward of
:mod:`rewards` comes back as an extra field and is the only reward with weight; each
component is also passed with weight 0, so TRL logs its mean per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.trainer.grpo_config import GRPOConfig
from trl.trainer.grpo_trainer import GRPOTrainer

from dxsearch.env import DiagnosticEnv
from dxsearch.policies.backends.transformers import TransformersBackend
from dxsearch.policies.llm import LlmPolicy
from dxsearch.policies.prompt import SYSTEM_PROMPTS, build_messages
from dxsearch.retrieval.base import Retriever
from dxsearch.train.checkpoints import cpu_trainer_arguments, latest_checkpoint
from dxsearch.train.config import TrainConfig
from dxsearch.train.data import TrainingCase
from dxsearch.train.episodes import encode_conversation, play
from dxsearch.train.metrics import JsonlMetrics
from rewards.scoring import COMPONENTS

RolloutFunc = Callable[[list[Any], GRPOTrainer], dict[str, list[Any]]]
RewardFunc = Callable[..., list[float | None]]


def case_key(prompt: Sequence[Mapping[str, str]]) -> str:
    """Prompts reach the rollout as chat messages; the case's rendered text identifies it."""
    return prompt[-1]["content"]


def grpo_dataset(cases: Sequence[TrainingCase], system_prompt: str) -> Dataset:
    """One row per case: the conversational prompt TRL samples from (order kept for the curriculum)."""
    return Dataset.from_dict({"prompt": [build_messages(c.labelled.case, [], system_prompt) for c in cases]})


def make_rollout(cases: Sequence[TrainingCase], retriever: Retriever, config: TrainConfig) -> RolloutFunc:
    """The rollout function over ``cases``; sampling is seeded by the run seed and the trainer's step."""
    system_prompt = SYSTEM_PROMPTS[config.prompt]
    by_prompt: dict[str, TrainingCase] = {}
    for case in cases:
        by_prompt.setdefault(case_key(build_messages(case.labelled.case, [], system_prompt)), case)
    env = DiagnosticEnv(retriever, config.budget)
    reward_config = config.reward_config()

    def rollout(prompts: list[Any], trainer: GRPOTrainer) -> dict[str, list[Any]]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        step = trainer.state.global_step
        backend = TransformersBackend.from_model(
            model,
            tokenizer,
            model_id="grpo-live",
            checkpoint=f"step-{step}",
            temperature=config.grpo.temperature,
            seed=config.seed * 1_000_003 + step * 1_009,
        )
        policy = LlmPolicy(
            backend, name="grpo-rollout", max_new_tokens=config.grpo.max_new_tokens, system_prompt=system_prompt
        )
        out: dict[str, list[Any]] = {
            "prompt_ids": [],
            "completion_ids": [],
            "logprobs": [],
            "env_mask": [],
            "episode_reward": [],
        }
        was_training = model.training
        model.eval()
        try:
            for prompt in prompts:
                case = by_prompt[case_key(prompt)]
                episode = play(
                    case.labelled.case, policy, env, case.gold, reward_config, exclude_doc_ids=case.hidden_doc_ids
                )
                encoded = encode_conversation(tokenizer, episode.messages(system_prompt))
                cut = encoded.prompt_length
                out["prompt_ids"].append(encoded.input_ids[:cut])
                out["completion_ids"].append(encoded.input_ids[cut:])
                out["env_mask"].append(encoded.assistant_mask[cut:])
                out["episode_reward"].append(dict(episode.reward.breakdown))
        finally:
            model.train(was_training)
        # No sampling log-probabilities: without vLLM, TRL recomputes them from the same weights.
        out["logprobs"] = None  # type: ignore[assignment]
        return out

    return rollout


def _reward_func(key: str) -> RewardFunc:
    def reward(
        prompts: list[Any], completions: list[Any], episode_reward: list[dict[str, float]], **_: Any
    ) -> list[float | None]:
        return [float(parts[key]) for parts in episode_reward]

    reward.__name__ = key
    return reward


def reward_functions() -> tuple[list[RewardFunc], list[float]]:
    """The combined reward (weight 1) and each component (weight 0: logged, not optimised twice)."""
    funcs = [_reward_func("total"), *(_reward_func(name) for name in COMPONENTS)]
    weights = [1.0] + [0.0] * len(COMPONENTS)
    return funcs, weights


def run_grpo(
    config: TrainConfig,
    start: Path,
    cases: Sequence[TrainingCase],
    retriever: Retriever,
    work_dir: Path,
    final_dir: Path,
    metrics_path: Path,
) -> dict[str, float]:
    """GRPO from ``start`` (the SFT model); resumes from ``work_dir``'s last checkpoint; saves to ``final_dir``."""
    grpo = config.grpo
    tokenizer = AutoTokenizer.from_pretrained(start, local_files_only=True)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(start, local_files_only=True, dtype="float32")
    funcs, weights = reward_functions()
    batch = grpo.cases_per_step * grpo.num_generations
    args = GRPOConfig(
        output_dir=str(work_dir),
        max_steps=grpo.steps,
        learning_rate=grpo.learning_rate,
        lr_scheduler_type="constant",
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        num_generations=grpo.num_generations,
        steps_per_generation=1,
        num_iterations=grpo.iterations,
        beta=grpo.beta,
        temperature=grpo.temperature,
        max_completion_length=grpo.max_new_tokens * config.budget.max_turns,
        reward_weights=weights,
        shuffle_dataset=not grpo.curriculum,
        logging_steps=1,
        **cpu_trainer_arguments(config.seed, save_steps=grpo.save_steps),
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=list[Any](funcs),
        args=args,
        train_dataset=grpo_dataset(cases, SYSTEM_PROMPTS[config.prompt]),
        processing_class=tokenizer,
        rollout_func=make_rollout(cases, retriever, config),
        callbacks=[JsonlMetrics(metrics_path, "grpo")],
    )
    resume = latest_checkpoint(work_dir)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer.save_model(str(final_dir))
    tokenizer.padding_side = "right"
    tokenizer.save_pretrained(final_dir)
    return {key: float(value) for key, value in output.metrics.items() if isinstance(value, int | float)}
