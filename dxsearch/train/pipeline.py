"""The whole local run behind ``dxsearch train``: teacher episodes, tiny model, SFT, GRPO, validation, summary.

Each stage writes its output under the run directory and then a marker in
``DIR/.done/``; a rerun with the same config skips finished stages and resumes an
interrupted trainer from its last checkpoint, so killing a run loses at most one
checkpoint interval. A rerun with a different config is refused: one directory, one run.

Layout: ``config.json``, ``cases.json`` (which cases trained and validated),
``teacher.jsonl``, ``models/{untrained,sft,grpo}/``, ``sft/`` and ``grpo/`` (trainer
checkpoints), ``eval/<model>.json``, ``metrics.jsonl``, ``reward_curve.png`` and
``summary.json`` (``{"untrained": {"reward": ...}, "sft": {...}, "grpo": {...}, ...}``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.progress import track
from transformers import set_seed

from dxsearch.cases import LabelledCase
from dxsearch.env import DiagnosticEnv
from dxsearch.evaluation import GoldMatcher, publication_documents
from dxsearch.knowledge.similarity import get_phenotype_similarity
from dxsearch.policies.backends.transformers import TransformersBackend
from dxsearch.policies.base import Policy
from dxsearch.policies.card import PolicyCard, write_card
from dxsearch.policies.catalog import index_knowledge, index_retriever
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.policies.llm import LlmPolicy
from dxsearch.policies.prompt import SYSTEM_PROMPTS
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.checkpoints import write_json
from dxsearch.train.config import TrainConfig
from dxsearch.train.data import TrainingCase, prepare_cases
from dxsearch.train.episodes import Episode, play
from dxsearch.train.grpo import run_grpo
from dxsearch.train.metrics import read_metrics
from dxsearch.train.plot import plot_reward_curve
from dxsearch.train.sft import run_sft
from dxsearch.train.tiny_model import build_tiny_model
from rewards.scoring import COMPONENTS

MODELS = ("untrained", "sft", "grpo")


class RunConfigMismatchError(ValueError):
    """The run directory holds a run with another config; mixing them would make its numbers meaningless."""


class RunDirectory:
    """Paths of one run and its stage markers."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def model(self, name: str) -> Path:
        return self.root / "models" / name

    def card(self, name: str, config: TrainConfig) -> None:
        """Write the budget and turn length the model is trained under into its directory."""
        write_card(
            self.model(name),
            PolicyCard(
                budget=config.budget,
                max_new_tokens=config.grpo.max_new_tokens,
                prompt=config.prompt,
                trained_by=f"dxsearch train --preset {config.preset} --seed {config.seed} ({name})",
            ),
        )

    def done(self, stage: str) -> bool:
        return (self.root / ".done" / stage).exists()

    def mark(self, stage: str) -> None:
        marker = self.root / ".done" / stage
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"), encoding="utf-8")

    def claim(self, config: TrainConfig) -> None:
        """Record the config, or check that it is the one already recorded."""
        path = self.root / "config.json"
        wanted = config.model_dump(mode="json")
        if path.exists():
            found = json.loads(path.read_text(encoding="utf-8"))
            if found != wanted:
                raise RunConfigMismatchError(
                    f"{self.root} holds a run with another config; use a new --out directory or the same preset"
                )
            return
        write_json(path, wanted)


def mean_breakdown(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Mean combined reward and components over episodes, with top-1 accuracy and stop reasons."""
    count = len(episodes)
    components = {name: sum(e.reward.breakdown[name] for e in episodes) / count for name in COMPONENTS}
    top1 = sum(1 for e in episodes if e.reward.breakdown["accuracy/gold_rank"] == 1.0) / count
    return {
        "reward": sum(e.reward.value for e in episodes) / count,
        "components": components,
        "top1": top1,
        "well_formed_turns": sum(e.reward.breakdown["format/well_formed"] for e in episodes) / count,
        "stop_reasons": dict(Counter(e.stop_reason for e in episodes)),
        "cases": count,
    }


def run_policy(
    policy: Policy, cases: Sequence[TrainingCase], env: DiagnosticEnv, config: TrainConfig, label: str
) -> list[Episode]:
    """Play every case with ``policy`` (progress bar), hiding each case's own publication."""
    reward_config = config.reward_config()
    return [
        play(c.labelled.case, policy, env, c.gold, reward_config, exclude_doc_ids=c.hidden_doc_ids)
        for c in track(cases, description=label)
    ]


def validate_model(
    config: TrainConfig, model_dir: Path, name: str, cases: Sequence[TrainingCase], env: DiagnosticEnv
) -> dict[str, Any]:
    """Greedy decoding (how the model is served) and, if configured, seeded samples at the GRPO temperature.

    GRPO optimises the expected reward of the sampling policy; greedy is what ``dxsearch eval``
    and the API run. Both are reported, each as the mean over the same fixed cases.
    """

    def policy(temperature: float, seed: int | None) -> LlmPolicy:
        backend = TransformersBackend(model_dir, model_id=f"{config.preset}-{name}", temperature=temperature, seed=seed)
        return LlmPolicy(
            backend, name=name, max_new_tokens=config.grpo.max_new_tokens, system_prompt=SYSTEM_PROMPTS[config.prompt]
        )

    result = mean_breakdown(run_policy(policy(0.0, None), cases, env, config, f"validate {name} (greedy)"))
    if config.sampled_validation:
        sampler = policy(config.grpo.temperature, config.seed)
        repeated = [case for case in cases for _ in range(config.sampled_validation)]
        sampled = mean_breakdown(run_policy(sampler, repeated, env, config, f"validate {name} (sampled)"))
        result["sampled"] = {"temperature": config.grpo.temperature, "samples_per_case": config.sampled_validation}
        result["sampled"].update(sampled)
    return result


def curriculum_order(cases: Sequence[TrainingCase], teacher_rewards: Sequence[float]) -> list[TrainingCase]:
    """Easy cases first: descending teacher reward (stable, so ties keep file order)."""
    order = sorted(range(len(cases)), key=lambda i: -teacher_rewards[i])
    return [cases[i] for i in order]


def run(
    config: TrainConfig,
    out: Path,
    index_dir: Path,
    cases: Sequence[LabelledCase],
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or resume) every stage and return the summary written to ``out/summary.json``.

    ``cases`` are the index side of the publication split (the command line passes the shipped
    phenopackets' index side); they are split again by publication into training and validation.
    """
    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    run_dir = RunDirectory(out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir.claim(config)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    index = EmbeddedIndex(index_dir)
    retriever = index_retriever(index, config.data.retriever)
    env = DiagnosticEnv(retriever, config.budget)
    matcher = GoldMatcher(index)
    hidden = publication_documents(index)
    knowledge = index_knowledge(index)
    similarity = get_phenotype_similarity(knowledge)  # the index's rows, its exclusions dropped
    train, validation = prepare_cases(
        config.data, cases, matcher, hidden, out, log, cited=knowledge.cited_publications()
    )

    # 1. The teacher: the evidence baseline's episodes on training cases (SFT data, curriculum difficulty).
    teacher_path = out / "teacher.jsonl"
    if not run_dir.done("teacher"):
        t0 = time.perf_counter()
        teacher = EvidencePolicy(config.teacher, similarity=similarity)
        episodes = run_policy(teacher, train, env, config, "teacher episodes")
        lines = [
            json.dumps(
                {
                    "case_id": c.labelled.case.case_id,
                    "reward": e.reward.value,
                    "messages": e.messages(SYSTEM_PROMPTS[config.prompt]),
                }
            )
            for c, e in zip(train, episodes, strict=True)
        ]
        teacher_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        write_json(out / "eval" / "teacher-train.json", mean_breakdown(episodes))
        timings["teacher_s"] = time.perf_counter() - t0
        run_dir.mark("teacher")
    rows = [json.loads(line) for line in teacher_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    conversations = [row["messages"] for row in rows]
    teacher_rewards = [float(row["reward"]) for row in rows]

    # 2. The untrained model: a tokenizer trained on the protocol and the teacher's text, random weights.
    if not run_dir.done("untrained"):
        shape = config.model
        corpus = [SYSTEM_PROMPTS[config.prompt], *(m["content"] for messages in conversations for m in messages)]
        build_tiny_model(
            run_dir.model("untrained"),
            seed=config.seed,
            corpus=corpus,
            vocab_size=shape.vocab_size,
            hidden_size=shape.hidden_size,
            intermediate_size=shape.intermediate_size,
            num_hidden_layers=shape.num_hidden_layers,
            num_attention_heads=shape.num_attention_heads,
            num_key_value_heads=shape.num_key_value_heads,
            initializer_range=shape.initializer_range,
        )
        run_dir.card("untrained", config)
        run_dir.mark("untrained")

    # 3. SFT warm start on the teacher's episodes.
    if not run_dir.done("sft"):
        t0 = time.perf_counter()
        set_seed(config.seed)
        run_sft(
            config, run_dir.model("untrained"), conversations, out / "sft", run_dir.model("sft"), out / "metrics.jsonl"
        )
        timings["sft_s"] = time.perf_counter() - t0
        run_dir.card("sft", config)
        run_dir.mark("sft")

    # 4. GRPO from the SFT model, optionally easy cases first.
    if not run_dir.done("grpo"):
        t0 = time.perf_counter()
        set_seed(config.seed)
        grpo_cases = curriculum_order(train, teacher_rewards) if config.grpo.curriculum else train
        run_grpo(
            config,
            run_dir.model("sft"),
            grpo_cases,
            retriever,
            out / "grpo",
            run_dir.model("grpo"),
            out / "metrics.jsonl",
        )
        timings["grpo_s"] = time.perf_counter() - t0
        run_dir.card("grpo", config)
        run_dir.mark("grpo")

    # 5. Validation: every model greedy on the same fixed cases, plus the teacher for reference.
    results: dict[str, Any] = {}
    for name in MODELS:
        path = out / "eval" / f"{name}.json"
        if not run_dir.done(f"eval-{name}"):
            t0 = time.perf_counter()
            write_json(path, validate_model(config, run_dir.model(name), name, validation, env))
            timings[f"eval_{name}_s"] = time.perf_counter() - t0
            run_dir.mark(f"eval-{name}")
        results[name] = json.loads(path.read_text(encoding="utf-8"))
    teacher_validation = out / "eval" / "teacher.json"
    if not run_dir.done("eval-teacher"):
        episodes = run_policy(
            EvidencePolicy(config.teacher, similarity=similarity), validation, env, config, "validate teacher"
        )
        write_json(teacher_validation, mean_breakdown(episodes))
        run_dir.mark("eval-teacher")
    results["teacher"] = json.loads(teacher_validation.read_text(encoding="utf-8"))

    plot_reward_curve(read_metrics(out / "metrics.jsonl"), results, out / "reward_curve.png")
    previous = json.loads((out / "summary.json").read_text(encoding="utf-8")) if (out / "summary.json").exists() else {}
    timings = {**previous.get("timings_s", {}), **{k.removesuffix("_s"): round(v, 1) for k, v in timings.items()}}
    timings["last_invocation"] = round(time.perf_counter() - started, 1)
    summary = {
        **results,
        "preset": config.preset,
        "seed": config.seed,
        "validation_cases": len(validation),
        "train_cases": len(train),
        "ordered": results["untrained"]["reward"] < results["sft"]["reward"] < results["grpo"]["reward"],
        "timings_s": timings,
    }
    write_json(out / "summary.json", summary)
    return summary
