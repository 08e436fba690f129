"""SFT warm start: imitate the evidence baseline's episodes on training cases, with TRL's SFTTrainer.

The examples are pre-tokenised by :func:`dxsearch.train.episodes.encode_conversation`
(``input_ids`` + ``assistant_masks``), so the loss covers exactly the tokens the model
writes at inference — its turns and their end token — never the system prompt, the
case or the environment's results, whatever the chat template looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.trainer.sft_config import SFTConfig
from trl.trainer.sft_trainer import SFTTrainer

from dxsearch.train.checkpoints import cpu_trainer_arguments, latest_checkpoint
from dxsearch.train.config import TrainConfig
from dxsearch.train.episodes import encode_conversation
from dxsearch.train.metrics import JsonlMetrics


def sft_dataset(tokenizer: Any, conversations: Sequence[Sequence[dict[str, str]]], max_length: int) -> Dataset:
    """Tokenised conversations; ones longer than ``max_length`` are dropped rather than cut mid-turn."""
    rows: dict[str, list[list[int]]] = {"input_ids": [], "assistant_masks": []}
    for messages in conversations:
        encoded = encode_conversation(tokenizer, messages)
        if len(encoded.input_ids) > max_length or not any(encoded.assistant_mask):
            continue
        rows["input_ids"].append(encoded.input_ids)
        rows["assistant_masks"].append(encoded.assistant_mask)
    if not rows["input_ids"]:
        raise ValueError(f"no teacher episode fits in {max_length} tokens")
    return Dataset.from_dict(rows)


def run_sft(
    config: TrainConfig,
    start: Path,
    conversations: Sequence[Sequence[dict[str, str]]],
    work_dir: Path,
    final_dir: Path,
    metrics_path: Path,
) -> dict[str, float]:
    """Train from ``start`` on the teacher's conversations; resumes from ``work_dir``'s last checkpoint.

    Writes the final model and tokenizer to ``final_dir`` and returns the Trainer's summary metrics.
    """
    tokenizer = AutoTokenizer.from_pretrained(start, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(start, local_files_only=True, dtype="float32")
    dataset = sft_dataset(tokenizer, conversations, config.sft.max_length)
    args = SFTConfig(
        output_dir=str(work_dir),
        num_train_epochs=config.sft.epochs,
        learning_rate=config.sft.learning_rate,
        per_device_train_batch_size=config.sft.batch_size,
        gradient_accumulation_steps=config.sft.gradient_accumulation_steps,
        warmup_ratio=config.sft.warmup_ratio,
        lr_scheduler_type="cosine",
        max_length=config.sft.max_length,
        logging_steps=5,
        packing=False,
        **cpu_trainer_arguments(config.seed, save_steps=50),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[JsonlMetrics(metrics_path, "sft")],
    )
    resume = latest_checkpoint(work_dir)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer.save_model(str(final_dir))
    tokenizer.save_pretrained(final_dir)
    return {key: float(value) for key, value in output.metrics.items() if isinstance(value, int | float)}
