"""verl's custom reward for DxSearch tool rollouts: ``compute_score(data_source, solution_str, ground_truth, ...)``.

Configure it as ``reward.custom_reward_function.path=pkg://dxsearch.train.verl.reward`` (or this file's
path) and ``name=compute_score``; verl loads it with ``importlib`` under a name of its own, so it uses
absolute imports only.

``solution_str`` is a tool-call transcript (see :mod:`dxsearch.train.verl.convert`); it is rewritten
into protocol text and scored by :func:`rewards.verl_entry.compute_score`, so a tool rollout and the
equivalent tag rollout get the same reward, with the same fixed key set verl needs for logging.
``extra_info["retrieved"]`` — written by :class:`dxsearch.train.verl.tool.RetrieveTool` into the
trajectory's ``extra_fields``, which verl's reward loop merges into ``extra_info`` — stands in for the
passages read from the text, exactly as in :mod:`rewards.verl_entry`. Never raises.
"""

from __future__ import annotations

import contextlib
from typing import Any

from dxsearch.train.verl.convert import to_protocol_text
from rewards import verl_entry


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, float | str]:
    """The combined DxSearch reward of one tool rollout; ``result["score"]`` is in [0, 1]."""
    if isinstance(solution_str, str):
        # A reward must never take down a training step: if conversion failed, the raw text scores as malformed.
        with contextlib.suppress(Exception):
            solution_str = to_protocol_text(solution_str)
    return verl_entry.compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
