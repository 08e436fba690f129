"""Episodes as training data: the chat the policy saw, its tokens, which tokens were the model's, and the reward.

SFT and GRPO must train on exactly the text an :class:`~dxsearch.policies.llm.LlmPolicy`
reads at inference, so conversations are built by :func:`dxsearch.policies.prompt.build_messages`
and rendered by the tokenizer's own chat template. Which tokens the model wrote (and is
trained on) is decided by character offsets of the assistant messages in that rendering,
which works for any chat template, with or without ``{% generation %}`` markers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dxsearch.agent import rollout
from dxsearch.cases import Case
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Exchange
from dxsearch.policies.base import Policy
from dxsearch.policies.prompt import SYSTEM_PROMPT, build_messages
from rewards.config import RewardConfig
from rewards.evidence import evidence_from_records
from rewards.gold import Gold
from rewards.scoring import RewardResult, combine
from rewards.transcript import transcript_from_turns


@dataclass(frozen=True, slots=True)
class Episode:
    """One case played to its end: the exchanges, the environment's retrieval record, and the reward."""

    case: Case
    history: tuple[Exchange, ...]
    reward: RewardResult
    stop_reason: str

    def messages(self, system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
        """The whole conversation as a policy given ``system_prompt`` sees it: system, case, turns, observations."""
        return build_messages(self.case, self.history, system_prompt)


def play(
    case: Case,
    policy: Policy,
    env: DiagnosticEnv,
    gold: Gold,
    reward_config: RewardConfig,
    *,
    exclude_doc_ids: Sequence[str] = (),
) -> Episode:
    """Run ``policy`` on ``case`` until the environment ends the episode, and score it.

    The one rollout loop (:func:`dxsearch.agent.rollout`) without the trace bookkeeping
    (pseudonyms, evidence chains), which training has no use for. A policy exception
    ends the episode: it is scored as it stands.
    """
    history = rollout(case, policy, env, exclude_doc_ids=exclude_doc_ids).history
    reward = score(history, env, gold, reward_config)
    return Episode(case, tuple(history), reward, str(env.stop_reason or "policy_error"))


def score(history: Sequence[Exchange], env: DiagnosticEnv, gold: Gold, config: RewardConfig) -> RewardResult:
    """The combined reward of an episode, judged on the environment's own retrieval record."""
    return combine(transcript_from_turns(history), gold, evidence_from_records(env.records), config)


@dataclass(frozen=True, slots=True)
class EncodedConversation:
    """Token ids of a rendered conversation; ``assistant_mask[i]`` is 1 where the model wrote token ``i``.

    ``prompt_length`` tokens (system, case, and the first assistant header) form the prompt.
    """

    input_ids: list[int]
    assistant_mask: list[int]
    prompt_length: int


def _render(tokenizer: Any, messages: Sequence[Mapping[str, str]], *, generation_prompt: bool) -> str:
    text: str = tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=generation_prompt
    )
    return text


def encode_conversation(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> EncodedConversation:
    """Tokenise a conversation through the chat template and mark the assistant's tokens.

    An assistant span runs from the end of the generation prompt that precedes it to the
    end of its own rendering, so it covers the turn text and the end-of-message token (the
    model learns to stop) but no role header and no observation.
    """
    spans: list[tuple[int, int]] = []
    prompt_chars = None
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:position], generation_prompt=True))
        end = len(_render(tokenizer, messages[: position + 1], generation_prompt=False).rstrip("\n"))
        spans.append((start, end))
        if prompt_chars is None:
            prompt_chars = start
    full = _render(tokenizer, messages, generation_prompt=False).rstrip("\n")
    if prompt_chars is None:
        prompt_chars = len(full)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoded["input_ids"])
    mask: list[int] = []
    prompt_length = len(ids)
    for index, (start, _end) in enumerate(encoded["offset_mapping"]):
        mask.append(int(any(lo <= start < hi for lo, hi in spans)))
        if start >= prompt_chars and index < prompt_length:
            prompt_length = index
    return EncodedConversation(ids, mask, prompt_length)
