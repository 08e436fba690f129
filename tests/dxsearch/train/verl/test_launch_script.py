"""deploy/verl/launch_ray.sh: valid bash, strict mode, usage that teaches, and a real CPU-only check run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dxsearch.train.verl.export import export_parquet
from tests.dxsearch.train.verl.helpers import CYSTIC_FIBROSIS, MARFAN

SCRIPT = Path(__file__).resolve().parents[4] / "deploy" / "verl" / "launch_ray.sh"


def launch(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a script command with this interpreter (options before any "--": after it come Hydra overrides)."""
    argv = ["bash", str(SCRIPT), command, "--python", sys.executable, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def test_the_script_parses_and_runs_in_strict_mode() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, check=False).returncode == 0
    assert "set -euo pipefail" in SCRIPT.read_text(encoding="utf-8").splitlines()[:6]


def test_usage_and_refusals() -> None:
    usage = launch("--help")
    assert usage.returncode == 0
    for command in ("head", "worker", "export", "check", "train", "stop"):
        assert f"\n  {command} " in usage.stdout
    assert launch("bogus").returncode == 2
    missing = launch("train")
    assert missing.returncode == 2 and "train needs --model" in missing.stderr
    worker = launch("worker")
    assert worker.returncode == 2 and "worker needs --address" in worker.stderr


@pytest.mark.slow
def test_check_composes_and_validates_the_trainer_config_on_cpu(tmp_path: Path, small_index: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    data = tmp_path / "data"
    export_parquet([CYSTIC_FIBROSIS], data / "train.parquet", split="train", heldout=[MARFAN])
    export_parquet([MARFAN], data / "validation.parquet", split="validation")
    common = ["--model", str(model), "--index", str(small_index), "--data", str(data)]
    ok = launch("check", *common, "--nnodes", "2")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "ok: verl's validate_config and DxSearch's checks pass" in ok.stdout
    broken = launch("check", *common, "--", "actor_rollout_ref.rollout.n=1")
    assert broken.returncode == 2 and "GRPO needs groups of at least 2" in broken.stderr
