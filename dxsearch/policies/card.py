"""A trained checkpoint's card: the episode budget and turn length it was trained under.

A model trained with short observations and few turns sees a different task under the
default budget; the card travels inside the checkpoint directory (``dxsearch-policy.json``)
so ``dxsearch eval --policy llm --model DIR`` plays it under the conditions it learned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dxsearch.episode import Budget

CARD_NAME = "dxsearch-policy.json"


class PolicyCard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    budget: Budget
    max_new_tokens: int = Field(default=256, ge=1, description="Token limit of one turn (language models).")
    prompt: Literal["full", "compact"] = Field(
        default="full", description="Which system prompt (dxsearch.policies.prompt.SYSTEM_PROMPTS) it was trained with."
    )
    features: tuple[str, ...] = Field(
        default=(), description="Learned policy: the candidate and state features its weights read, in order."
    )
    features_version: str | None = Field(default=None, description="Learned policy: version of those features.")
    trained_by: str = Field(description="What produced the checkpoint, e.g. 'dxsearch train --preset cpu-tiny (grpo)'.")


def write_card(model_dir: Path, card: PolicyCard) -> None:
    (model_dir / CARD_NAME).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")


def read_card(model_dir: Path) -> PolicyCard | None:
    """The card, ``None`` if the checkpoint has none; a malformed card is an error, not a silent default."""
    path = model_dir / CARD_NAME
    if not path.is_file():
        return None
    try:
        return PolicyCard.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ValueError(f"{path}: not a valid policy card ({exc.error_count()} errors)") from None
