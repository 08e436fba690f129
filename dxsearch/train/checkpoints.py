"""What every local trainer stage shares: CPU training arguments, where a resume starts, atomic JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dxsearch.retrieval.layout import write_atomically


def write_json(path: Path, value: Any) -> None:
    """Write through a temporary file and rename, so a killed run never leaves half a JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def cpu_trainer_arguments(seed: int, save_steps: int) -> dict[str, Any]:
    """TrainingArguments common to SFT and GRPO: CPU and fp32, seeded data order, kept checkpoints, no trackers.

    ``save_total_limit`` keeps two checkpoints, so a run killed while writing one still has the other.
    """
    return {
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": 2,
        "seed": seed,
        "data_seed": seed,
        "use_cpu": True,
        "bf16": False,
        "fp16": False,
        "report_to": "none",
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
    }


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest ``checkpoint-N`` directory the Trainer wrote, if any (what a resume starts from)."""
    found = sorted(directory.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    return found[-1] if found else None
