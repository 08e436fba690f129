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


def plot_reliability(report: Mapping[str, Mapping[str, Any]], path: Path, headline: str = "") -> None:
    """Reliability diagram (stated probability of the first diagnosis against its accuracy, per bin) and the
    risk-coverage curve, one line per policy that states probabilities.

    ``headline`` titles the figure (what was held out: "leakage-controlled ..." or "LEAKY ..."), so a plot
    passed on alone still says what it measured. With no policy stating probabilities, each panel says so.
    """
    figure, (reliability, coverage) = plt.subplots(1, 2, figsize=(10, 4.8 if headline else 4.5))
    reliability.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    stating = [name for name, metrics in report.items() if metrics.get("reliability")]
    if not stating:
        for axis in (reliability, coverage):
            axis.text(
                0.5,
                0.5,
                f"no policy states a probability\n({', '.join(report) or 'none evaluated'})",
                ha="center",
                va="center",
                fontsize=9,
            )
    labelled: set[tuple[float, float]] = set()
    for name, metrics in report.items():
        bins = metrics.get("reliability") or []
        if not bins:
            continue
        ece = metrics.get("ece")
        label = f"{name} (ECE {ece:.3f}, n={metrics.get('ece_cases')})" if ece is not None else name
        reliability.plot(
            [b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", linewidth=1.5, label=label
        )
        for b in bins:  # beside the point, below right: on it, the count hid the marker and the next label
            reliability.annotate(
                str(b["cases"]),
                (b["confidence"], b["accuracy"]),
                xytext=(4, -9),
                textcoords="offset points",
                fontsize=6,
                alpha=0.7,
            )
        curve = metrics.get("risk_coverage") or []
        coverage.plot([p["coverage"] for p in curve], [p["accuracy"] for p in curve], linewidth=1.5, label=name)
        at = metrics.get("coverage") or {}
        if at.get("accuracy") is not None:
            coverage.scatter([at["coverage"]], [at["accuracy"]], marker="x", color="black")
            point = (at["coverage"], at["accuracy"])
            if point not in labelled:  # two policies at one point: one label, not two overprinted
                labelled.add(point)
                coverage.annotate(f"threshold {at['threshold']:.2f}", point, fontsize=7)
    reliability.set_xlabel("stated probability of the first diagnosis")
    reliability.set_ylabel("share of first diagnoses that were right")
    reliability.set_xlim(0, 1)
    reliability.set_ylim(0, 1)
    reliability.set_title("Reliability (numbers: cases per bin)")
    reliability.legend(fontsize=7, loc="upper left")
    coverage.set_xlabel("coverage (share of cases answered)")
    coverage.set_ylabel("top-1 accuracy of the answered")
    coverage.set_xlim(0, 1)
    coverage.set_ylim(0, 1)
    coverage.set_title("Accuracy against coverage")
    if stating:  # an empty legend box (and matplotlib's warning about it) said nothing
        coverage.legend(fontsize=7, loc="lower left")
    if headline:
        figure.suptitle(headline, fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
