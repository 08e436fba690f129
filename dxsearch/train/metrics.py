"""Training metrics as JSON lines (one object per logged step and stage), kept consistent across resumes.

The trainers log through a :class:`transformers.TrainerCallback`; a resumed stage first
drops the lines it is about to log again (steps after its checkpoint), so the file holds
one line per (stage, step) and the reward curve never shows an interrupted run twice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from dxsearch.retrieval.layout import write_atomically


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every metrics line (a missing file is an empty run)."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonlMetrics(TrainerCallback):
    """Appends ``{"stage", "step", "epoch", ...logs}`` to a JSONL file on every log event."""

    def __init__(self, path: Path, stage: str) -> None:
        self.path = path
        self.stage = stage

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        kept = [r for r in read_metrics(self.path) if r.get("stage") != self.stage or r["step"] <= state.global_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Atomically: a kill during this rewrite must not lose the stages already logged.
        write_atomically(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8"))

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs:
            return
        row = {"stage": self.stage, "step": state.global_step, "epoch": state.epoch}
        row.update({key: _plain(value) for key, value in logs.items()})
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
