"""Check a DxSearch GRPO config on any CPU box before a GPU cluster is allocated for it.

:func:`compose` builds the config exactly as ``python -m verl.trainer.main_ppo --config-path
<config dir> --config-name dxsearch_grpo <overrides>`` would (Hydra, with verl's ``ppo_trainer``
defaults found through the YAML's ``pkg://verl.trainer.config`` search path). :func:`problems` then
runs what ``main_ppo.main`` runs before it starts Ray — ``verl.utils.config.validate_config`` with
``need_reference_policy``/``need_critic`` — and the checks verl cannot know about: a GRPO group of at
least 2, the multi-turn tool loop wired to the ``retrieve`` tool, a loadable reward function, a tool
answer that verl will not cut, the same retrieval budget for tool and reward, and (with
``check_paths``) that the model, data, tool config and index exist here.

    python -m dxsearch.train.verl.preflight [--check-paths] [OVERRIDE ...]   # exit 0 ok, 2 problems
    python -m dxsearch.train.verl.preflight --print-config-dir                # for --config-path
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from dxsearch.train.verl.calls import TOOL_NAME, tool_schema

if TYPE_CHECKING:
    from dxsearch.train.verl.tool import RetrieveTool

CONFIG_DIR = Path(__file__).resolve().parent / "config"
CONFIG_NAME = "dxsearch_grpo"
TOOL_CONFIG = CONFIG_DIR / "dxsearch_tool.yaml"
#: Markup of one rendered passage beyond its text and title (id, score, codes attributes): generous.
_PASSAGE_MARKUP_CHARS = 512
#: Where the tool config is given (the tool checks need it).
TOOL_CONFIG_KEY = "actor_rollout_ref.rollout.multi_turn.tool_config_path"
#: Keys dxsearch_grpo.yaml leaves null: every launch must give them.
REQUIRED = (
    "actor_rollout_ref.model.path",
    "data.train_files",
    "data.val_files",
    TOOL_CONFIG_KEY,
    "ray_kwargs.ray_init.runtime_env.env_vars.DXSEARCH_INDEX",
)


def compose(overrides: Sequence[str] = (), config_name: str = CONFIG_NAME) -> DictConfig:
    """The trainer config main_ppo would run with ``overrides`` (Hydra override syntax)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def verl_problems(cfg: DictConfig) -> list[str]:
    """What ``verl.trainer.main_ppo.main`` rejects before starting Ray (its first failure, as one line)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    try:
        # verl prints "All configuration checks passed successfully!" on stdout: a lie beside our own problems,
        # and stdout is for our one result line.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", UserWarning)  # "Disabled critic as adv_estimator != gae": intended
            validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except Exception as exc:  # verl raises AssertionError, ValueError or Hydra's InstantiationException
        cause = exc.__cause__ or exc
        return [f"verl validate_config: {type(cause).__name__}: {' '.join(str(cause).split())}"]
    return []


def _tool_budget_chars(tool: RetrieveTool) -> int:
    """An upper bound on one ``<result>`` the tool can return (the env's token estimate is 4 chars/token)."""
    budget = tool.settings.budget
    return budget.observation_tokens * 4 + budget.passages_per_retrieval * _PASSAGE_MARKUP_CHARS + 256


def dxsearch_problems(cfg: DictConfig, *, check_paths: bool = False) -> list[str]:
    """The DxSearch-specific problems of a composed config (empty if none)."""
    missing = [key for key in REQUIRED if OmegaConf.select(cfg, key) in (None, "")]
    # Every check that needs no missing value runs all the same: fixing the problems shown must not reveal others.
    found = [f"{key} is not set (give it as an override)" for key in missing]
    rollout = cfg.actor_rollout_ref.rollout
    if cfg.algorithm.adv_estimator == "grpo" and rollout.n < 2:
        found.append(f"actor_rollout_ref.rollout.n={rollout.n}: GRPO needs groups of at least 2 rollouts per case")
    multi_turn = rollout.multi_turn
    if not multi_turn.enable or multi_turn.format != "hermes":
        found.append("actor_rollout_ref.rollout.multi_turn must be enabled with format=hermes")
    if rollout.agent.default_agent_loop != "tool_agent":
        found.append("actor_rollout_ref.rollout.agent.default_agent_loop must be tool_agent")
    if TOOL_CONFIG_KEY not in missing:
        found += _tool_problems(cfg, check_paths=check_paths)
    found += _reward_problems(cfg)
    if check_paths and not missing:
        found += _path_problems(cfg)
    return found


def type_problems(cfg: DictConfig, overrides: Sequence[str]) -> list[str]:
    """Overrides whose value is text where the default config holds a number or a flag ("data.train_batch_size=abc").

    Why: verl's validation fails on them deep inside ("TypeError: not all arguments converted during string
    formatting"), naming neither the key nor what it wanted.
    """
    defaults = compose()
    found: list[str] = []
    for override in overrides:
        key, equals, _ = override.lstrip("+~").partition("=")
        if not equals:
            continue
        default, given = OmegaConf.select(defaults, key), OmegaConf.select(cfg, key)
        if isinstance(given, str) and isinstance(default, bool | int | float):
            wanted = "true or false" if isinstance(default, bool) else "a number"
            found.append(f"{key}={given}: {wanted} is expected (the default is {default})")
    return found


def _tool_problems(cfg: DictConfig, *, check_paths: bool) -> list[str]:
    from verl.tools.tool_registry import initialize_tools_from_config

    from dxsearch.train.verl.tool import RetrieveTool

    path = Path(str(cfg.actor_rollout_ref.rollout.multi_turn.tool_config_path)).expanduser()
    if not path.is_file():
        return [f"tool config {path} does not exist"]
    try:
        tools = {tool.name: tool for tool in initialize_tools_from_config(str(path))}
    except Exception as exc:
        return [f"tool config {path} does not load: {type(exc).__name__}: {exc}"]
    tool = tools.get(TOOL_NAME)
    if not isinstance(tool, RetrieveTool):
        return [f"tool config {path} has no {TOOL_NAME} tool of class {RetrieveTool.__qualname__}"]
    found: list[str] = []
    if tool.tool_schema.model_dump(exclude_unset=True, exclude_none=True) != tool_schema():
        found.append(f"tool config {path}: tool_schema differs from dxsearch.train.verl.calls.tool_schema()")
    limit = int(cfg.actor_rollout_ref.rollout.multi_turn.max_tool_response_length)
    needed = _tool_budget_chars(tool)
    if limit < needed:
        found.append(
            f"multi_turn.max_tool_response_length={limit} may cut a <result> (up to ~{needed} characters "
            f"with this tool budget); raise it or lower budget.observation_tokens"
        )
    reward_budget = _reward_config(cfg).get("budget", {})
    if reward_budget.get("max_retrievals", tool.settings.budget.max_retrievals) != tool.settings.budget.max_retrievals:
        found.append(
            "reward_kwargs.reward_config.budget.max_retrievals differs from the tool's budget.max_retrievals "
            f"({tool.settings.budget.max_retrievals}): the reward would judge a budget the environment did not enforce"
        )
    if check_paths and tool.settings.index is not None and not tool.settings.index.expanduser().is_dir():
        found.append(f"index {tool.settings.index} (tool config) does not exist")
    return found


def _reward_config(cfg: DictConfig) -> dict[str, Any]:
    kwargs = OmegaConf.select(cfg, "reward.custom_reward_function.reward_kwargs.reward_config")
    config = OmegaConf.to_container(kwargs, resolve=True) if isinstance(kwargs, DictConfig) else kwargs
    return {str(k): v for k, v in config.items()} if isinstance(config, dict) else {}


def _reward_problems(cfg: DictConfig) -> list[str]:
    from verl.utils.import_utils import load_extern_object

    from rewards.config import RewardConfig

    reward_fn = cfg.reward.custom_reward_function
    try:
        function = load_extern_object(module_path=reward_fn.path, object_name=reward_fn.name)
    except Exception as exc:
        return [f"reward function {reward_fn.path}:{reward_fn.name} does not load: {type(exc).__name__}: {exc}"]
    found = [] if callable(function) else [f"reward function {reward_fn.path}:{reward_fn.name} is not callable"]
    try:
        RewardConfig.model_validate(_reward_config(cfg))
    except ValueError as exc:
        found.append(f"reward_kwargs.reward_config is not a RewardConfig: {exc}")
    return found


def _path_problems(cfg: DictConfig) -> list[str]:
    found: list[str] = []
    model = Path(str(cfg.actor_rollout_ref.model.path)).expanduser()
    if not (model / "config.json").is_file():
        found.append(f"model {model} is not a local checkpoint directory (no config.json)")
    for key in ("train_files", "val_files"):
        files = cfg.data[key]
        for name in [files] if isinstance(files, str) else list(files):
            if not Path(str(name)).expanduser().is_file():
                found.append(f"data.{key}: {name} does not exist")
    index = Path(str(cfg.ray_kwargs.ray_init.runtime_env.env_vars.DXSEARCH_INDEX)).expanduser()
    if not (index / "CURRENT").is_file():
        found.append(f"DXSEARCH_INDEX={index} is not an index directory (no CURRENT)")
    return found


def problems(cfg: DictConfig, *, check_paths: bool = False, overrides: Sequence[str] = ()) -> list[str]:
    """verl's own validation, then DxSearch's checks; empty means the trainer would accept the config.

    ``overrides`` (as given to :func:`compose`) are checked for values of the wrong type first: with one, verl's
    validation is skipped, since its message would only be a symptom.
    """
    wrong_types = type_problems(cfg, overrides)
    return (wrong_types or verl_problems(cfg)) + dxsearch_problems(cfg, check_paths=check_paths)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: exit 0 when the composed config passes, 2 with one line per problem otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m dxsearch.train.verl.preflight",
        description=(
            "Compose dxsearch_grpo.yaml with verl's defaults and the given Hydra overrides, exactly as "
            "verl.trainer.main_ppo would, and check it with verl's validate_config and DxSearch's own checks."
        ),
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.nnodes=2")
    parser.add_argument("--check-paths", action="store_true", help="also check model, data, tool config and index")
    parser.add_argument("--print-config-dir", action="store_true", help="print the config directory and exit")
    parser.add_argument("--print-tool-config", action="store_true", help="print the tool config path and exit")
    args = parser.parse_args(argv)
    if args.print_config_dir or args.print_tool_config:
        print(CONFIG_DIR if args.print_config_dir else TOOL_CONFIG)
        return 0
    try:
        cfg = compose(args.overrides)
    except Exception as exc:  # Hydra: unknown key, bad override syntax, ...
        print(f"error: the config does not compose: {exc}", file=sys.stderr)
        return 2
    found = problems(cfg, check_paths=args.check_paths, overrides=args.overrides)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        print("ok: verl's validate_config and DxSearch's checks pass")
    return 2 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
