"""The reward curve of a run as a PNG: GRPO's per-step rewards, with the validation levels of each model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, ever
import matplotlib.pyplot as plt

from rewards.scoring import COMPONENTS


def plot_reward_curve(
    metrics: Sequence[Mapping[str, Any]], validation: Mapping[str, Mapping[str, Any]], path: Path
) -> None:
    """Training reward (combined and per component) against GRPO step; dashed lines are validation means."""
    rows = sorted(
        (r for r in metrics if r.get("stage") == "grpo" and "rewards/total/mean" in r), key=lambda r: r["step"]
    )
    figure, axis = plt.subplots(figsize=(8, 4.5))
    if rows:
        steps = [r["step"] for r in rows]
        axis.plot(steps, [r["rewards/total/mean"] for r in rows], color="black", linewidth=2, label="combined (train)")
        for name in COMPONENTS:
            key = f"rewards/{name}/mean"
            if all(key in r for r in rows):
                axis.plot(steps, [r[key] for r in rows], linewidth=1, alpha=0.6, label=name)
    for name, style in (("untrained", ":"), ("sft", "--"), ("grpo", "-.")):
        if name in validation:
            value = float(validation[name]["reward"])
            axis.axhline(value, linestyle=style, color="tab:red", alpha=0.8, label=f"{name} validation {value:.3f}")
    axis.set_xlabel("GRPO step")
    axis.set_ylabel("reward")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title("DxSearch local GRPO: reward per step")
    axis.legend(fontsize=7, loc="upper left", ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
