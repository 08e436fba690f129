"""dxsearch_grpo.yaml composes with verl's ppo_trainer defaults and passes verl's own validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from dxsearch.train.verl.calls import tool_schema
from dxsearch.train.verl.preflight import CONFIG_DIR, REQUIRED, TOOL_CONFIG, compose, main, problems
from dxsearch.train.verl.tool import RetrieveTool

LAUNCH = [
    "actor_rollout_ref.model.path=/models/Qwen2.5-7B-Instruct",
    "data.train_files=/data/verl/train.parquet",
    "data.val_files=/data/verl/validation.parquet",
    f"actor_rollout_ref.rollout.multi_turn.tool_config_path={TOOL_CONFIG}",
    "ray_kwargs.ray_init.runtime_env.env_vars.DXSEARCH_INDEX=/data/index",
]


def test_the_grpo_config_composes_over_verl_defaults_and_passes_verl_validation() -> None:
    cfg = compose(LAUNCH)
    assert problems(cfg) == []
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.actor_rollout_ref.rollout.n == 8
    assert cfg.actor_rollout_ref.rollout.name == "vllm"
    assert cfg.trainer.n_gpus_per_node * cfg.trainer.nnodes == 8
    multi_turn = cfg.actor_rollout_ref.rollout.multi_turn
    assert multi_turn.enable and multi_turn.format == "hermes" and multi_turn.tool_config_path == str(TOOL_CONFIG)
    assert cfg.data.tool_config_path == str(TOOL_CONFIG)  # verl's interpolation: RLHFDataset sees the same tools
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == "tool_agent"
    assert cfg.reward.custom_reward_function.path == "pkg://dxsearch.train.verl.reward"
    # verl's defaults are really underneath (keys this config never sets)
    assert cfg.actor_rollout_ref.actor.clip_ratio == 0.2 and cfg.trainer.use_v1 is True
    # the verl-side dataclasses build from it (what the workers instantiate)
    from verl.utils.config import omega_conf_to_dataclass

    rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
    assert rollout.multi_turn.max_parallel_calls == 1 and rollout.prompt_length == cfg.data.max_prompt_length
    assert omega_conf_to_dataclass(cfg.algorithm).adv_estimator == "grpo"


def test_verl_itself_rejects_batch_sizes_that_do_not_divide() -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    odd_gpus = compose([*LAUNCH, "trainer.n_gpus_per_node=6"])
    with pytest.raises(AssertionError, match=r"real_train_batch_size \(512\) must be divisible"):
        validate_config(odd_gpus, need_reference_policy(odd_gpus), need_critic(odd_gpus))
    assert problems(odd_gpus) == [
        "verl validate_config: AssertionError: real_train_batch_size (512) must be divisible by minimal possible "
        "batch size (6)"
    ]
    big_mini_batch = compose([*LAUNCH, "actor_rollout_ref.actor.ppo_mini_batch_size=128"])
    (problem,) = problems(big_mini_batch)
    assert "train_batch_size (64) must be >= actor.ppo_mini_batch_size (128)" in problem


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("actor_rollout_ref.rollout.n=1", "GRPO needs groups of at least 2 rollouts"),
        ("actor_rollout_ref.rollout.n=0", "GRPO needs groups of at least 2 rollouts"),
        ("actor_rollout_ref.rollout.multi_turn.max_tool_response_length=256", "may cut a <result>"),
        ("actor_rollout_ref.rollout.multi_turn.enable=false", "multi_turn must be enabled"),
        ("actor_rollout_ref.rollout.agent.default_agent_loop=single_turn_agent", "must be tool_agent"),
        ("reward.custom_reward_function.reward_kwargs.reward_config.budget.max_retrievals=4", "differs from the tool"),
        ("reward.custom_reward_function.name=no_such_function", "does not load"),
    ],
)
def test_dxsearch_checks_reject_what_verl_would_accept(override: str, says: str) -> None:
    cfg = compose([*LAUNCH, override])
    found = problems(cfg)
    assert found and says in " ".join(found)


def test_values_every_launch_must_give_are_required() -> None:
    found = problems(compose())
    assert found == [f"{key} is not set (give it as an override)" for key in REQUIRED]


def test_multi_node_only_changes_nnodes() -> None:
    assert problems(compose([*LAUNCH, "trainer.nnodes=4"])) == []


def test_check_paths_finds_what_is_missing_here(tmp_path: Path, small_index: Path) -> None:
    missing = problems(compose(LAUNCH), check_paths=True)
    assert any("not a local checkpoint directory" in p for p in missing)
    assert any("data.train_files: /data/verl/train.parquet does not exist" in p for p in missing)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    for name in ("train.parquet", "val.parquet"):
        (tmp_path / name).write_bytes(b"")
    present = compose(
        [
            f"actor_rollout_ref.model.path={model}",
            f"data.train_files={tmp_path / 'train.parquet'}",
            f"data.val_files={tmp_path / 'val.parquet'}",
            f"actor_rollout_ref.rollout.multi_turn.tool_config_path={TOOL_CONFIG}",
            f"ray_kwargs.ray_init.runtime_env.env_vars.DXSEARCH_INDEX={small_index}",
        ]
    )
    assert problems(present, check_paths=True) == []


def test_the_packaged_tool_config_loads_with_verl_and_matches_the_code() -> None:
    from verl.tools.tool_registry import initialize_tools_from_config

    (tool,) = initialize_tools_from_config(str(TOOL_CONFIG))
    assert isinstance(tool, RetrieveTool) and tool.name == "retrieve"
    assert tool.tool_schema.model_dump(exclude_unset=True, exclude_none=True) == tool_schema()
    assert tool._index is None  # loading the config (as RLHFDataset does on the driver) opens no index
    tool.close()


def test_the_preflight_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(LAUNCH) == 0
    assert "ok: verl's validate_config and DxSearch's checks pass" in capsys.readouterr().out
    assert main([*LAUNCH, "actor_rollout_ref.rollout.n=1"]) == 2
    assert "error: actor_rollout_ref.rollout.n=1" in capsys.readouterr().err
    assert main([*LAUNCH, "no_such_section.x=1"]) == 2
    assert "does not compose" in capsys.readouterr().err
    assert main(["--print-config-dir"]) == 0 and capsys.readouterr().out.strip() == str(CONFIG_DIR)


def test_preflight_says_every_problem_at_once_and_only_its_own_result_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A user test: with the paths missing, a group of 1 was only reported after they were given; verl's own
    "All configuration checks passed successfully!" stood on stdout above the errors."""
    assert main(["actor_rollout_ref.rollout.n=1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "GRPO needs groups of at least 2" in err and "data.train_files is not set" in err


def test_an_override_of_the_wrong_type_is_named_not_a_verl_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*LAUNCH, "data.train_batch_size=abc"]) == 2
    err = capsys.readouterr().err
    assert "data.train_batch_size=abc: a number is expected" in err and "TypeError" not in err


def test_verl_main_ppo_composes_the_same_config(tmp_path: Path) -> None:
    """``main_ppo --config-path ... --config-name dxsearch_grpo --cfg job`` (Hydra prints and exits before main)."""
    command = [
        sys.executable,
        "-m",
        "verl.trainer.main_ppo",
        "--config-path",
        str(CONFIG_DIR),
        "--config-name",
        "dxsearch_grpo",
        "--cfg",
        "job",
        *LAUNCH,
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = yaml.safe_load(done.stdout)
    assert printed == OmegaConf.to_container(compose(LAUNCH), resolve=False)
