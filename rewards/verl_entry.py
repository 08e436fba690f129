"""verl's custom reward entry point: ``compute_score(data_source, solution_str, ground_truth, extra_info)``.

Configure verl with ``custom_reward_function.path=<this file>`` and
``custom_reward_function.name=compute_score``. verl loads the file with
``importlib`` under a module name of its own, so this file uses absolute imports
only (the ``rewards`` package must be installed, as it is with this distribution).

What verl does with the return value (read in verl's ``NaiveRewardManager`` and
the reward-loop managers): a float is the score; a dict must hold ``"score"``
and every key/value is appended to ``reward_extra_info`` (logged, and summarised
in validation metrics, where string values are skipped and ``acc`` is the "core"
variable). Each key must be present for every sample, or verl's length check
fails. So this returns a dict with a fixed key set: ``score``, the five
component values, ``acc`` (the accuracy component under verl's core name) and
``reason`` (empty, or why the sample scored 0). verl's managers pass extra
keyword arguments (``reward_router_address``, ``strict_box_verify`` and any
``custom_reward_function.reward_kwargs``); they are accepted and ignored, except
``reward_config`` (a :class:`~rewards.config.RewardConfig` as a dict or JSON).

``ground_truth`` is the :class:`~rewards.gold.Gold` model as a JSON string or a
dict (as stored in ``reward_model.ground_truth``). ``extra_info`` may carry
``"retrieved"``: the environment's evidence records (dicts with ``evidence_id``,
``codes``, ``rank``, ``duplicate``, optional ``title``), which then replace the
passages read from the text. Nothing here raises: any failure scores 0.0 with a reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from rewards.config import RewardConfig
from rewards.evidence import RetrievedEvidence
from rewards.gold import Gold
from rewards.scoring import COMPONENTS, combine

#: Every key of the returned dict; identical for every sample, as verl requires.
SCORE_KEYS = ("score", *COMPONENTS, "acc", "reason")
_MAX_REASON = 300


def plain(value: Any) -> Any:
    """Plain Python values from what verl hands over: numpy arrays (parquet list columns), OmegaConf containers."""
    if isinstance(value, str | bytes):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Collection):
        return [plain(v) for v in value]
    return value


def parse_ground_truth(ground_truth: Any) -> Gold:
    """The gold from a JSON string, a dict (or mapping) or a :class:`Gold`; raises ``ValueError`` otherwise."""
    if isinstance(ground_truth, Gold):
        return ground_truth
    if isinstance(ground_truth, bytes):
        ground_truth = ground_truth.decode("utf-8", errors="replace")
    if isinstance(ground_truth, str):
        try:
            ground_truth = json.loads(ground_truth)
        except json.JSONDecodeError as exc:
            raise ValueError(f"ground_truth is not JSON: {exc.msg}") from exc
    if not isinstance(ground_truth, Mapping):
        raise ValueError(f"ground_truth must be a JSON object or dict, got {type(ground_truth).__name__}")
    try:
        return Gold.model_validate(plain(ground_truth))
    except ValidationError as exc:
        raise ValueError(f"ground_truth is not a gold diagnosis: {exc.errors()[0].get('msg', 'invalid')}") from exc


def _config(raw: Any) -> RewardConfig:
    if raw is None:
        return RewardConfig()
    if isinstance(raw, RewardConfig):
        return raw
    if isinstance(raw, str):
        return RewardConfig.model_validate_json(raw)
    return RewardConfig.model_validate(plain(raw))


def _retrieved(extra_info: Any) -> tuple[tuple[RetrievedEvidence, ...] | None, str]:
    """The environment's evidence records from ``extra_info["retrieved"]`` if present; else read from the text."""
    if not isinstance(extra_info, Mapping) or extra_info.get("retrieved") is None:
        return None, ""
    try:
        rows = plain(extra_info["retrieved"])
        if not isinstance(rows, Sequence) or isinstance(rows, str):
            raise ValueError("not a list")
        evidence = tuple(
            RetrievedEvidence(
                evidence_id=str(row["evidence_id"]),
                codes=tuple(str(c) for c in row.get("codes") or ()),
                rank=int(row.get("rank", position)),
                duplicate=bool(row.get("duplicate", False)),
                title=str(row.get("title") or ""),
            )
            for position, row in enumerate(rows, start=1)
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return None, f"ignored extra_info.retrieved ({type(exc).__name__}); passages read from the text"
    return evidence, ""


def _report(score: float, components: Mapping[str, float], reason: str) -> dict[str, float | str]:
    report: dict[str, float | str] = {"score": score if math.isfinite(score) else 0.0}
    for name in COMPONENTS:
        report[name] = float(components.get(name, 0.0))
    report["acc"] = float(components.get("accuracy", 0.0))
    report["reason"] = reason[:_MAX_REASON]
    return report


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, float | str]:
    """The combined reward of one response for verl; ``result["score"]`` is in [0, 1]. Never raises."""
    del data_source  # one reward for every DxSearch dataset; the source is logged by verl itself
    try:
        if not isinstance(solution_str, str):
            return _report(0.0, {}, f"solution_str must be a string, got {type(solution_str).__name__}")
        gold = parse_ground_truth(ground_truth)
        config = _config(kwargs.get("reward_config"))
        retrieved, note = _retrieved(extra_info)
        result = combine(solution_str, gold, retrieved, config)
        return _report(result.value, result.breakdown, note)
    except Exception as exc:  # a reward must never take down a training step
        return _report(0.0, {}, f"{type(exc).__name__}: {exc}")
