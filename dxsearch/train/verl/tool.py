"""``retrieve``: DiagnosticEnv as a verl tool, so GPU rollouts hit the same environment as local inference.

How verl 0.9.1 drives a tool (``ToolAgentLoop._call_tool`` in
``verl/experimental/agent_loop/tool_agent_loop.py``): for **every** call it runs
``create(create_kwargs=<row's tools_kwargs["retrieve"]["create_kwargs"]>)``, then
``execute(instance_id, arguments, agent_data=<the trajectory's AgentData>)``, then ``release`` — an
instance lives for one call only. An episode must outlive that (duplicate passages are withheld,
repeated queries noted, the retrieval budget enforced across the whole rollout), so the episode is
bound to the trajectory: the first call stores it on ``agent_data``, later calls of the same
trajectory find it there, and it is freed with ``agent_data`` when the rollout ends. Called without
``agent_data`` (other callers, the tests), an instance keeps its own episode from ``create`` to
``release``.

After each call the episode's retrieval records (episode-ordered, as :mod:`rewards` reads them) are
written to ``agent_data.extra_fields["retrieved"]``; verl's reward loop merges ``extra_fields`` into
the reward function's ``extra_info``, so the reward scores what the environment really retrieved,
including passages it withheld as duplicates.

The index is opened lazily, once per tool object (verl builds one per ``AgentLoopWorker``), inside
the tool's own retrieval thread; retrieval runs there so it never blocks the rollout event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from dxsearch.cases import Case
from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget
from dxsearch.policies.catalog import index_retriever
from dxsearch.protocol import Result, render_result, render_turn
from dxsearch.retrieval.base import Retriever, SearchFilters
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import get_settings
from dxsearch.train.verl.calls import ToolCallError, turn_from_arguments
from dxsearch.train.verl.calls import tool_schema as default_tool_schema
from rewards.evidence import evidence_from_records
from rewards.gold import Gold
from rewards.scoring import retrieval_reward
from rewards.transcript import transcript_from_turns
from rewards.verl_entry import plain

#: ``agent_data.extra_fields`` key of the retrieval records; :mod:`rewards.verl_entry` reads it from ``extra_info``.
RETRIEVED_KEY = "retrieved"


class ToolSettings(BaseModel):
    """The ``config`` mapping of the tool's entry in verl's tool YAML (``config/dxsearch_tool.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["native"] = Field(default="native", description="verl's tool type; only native tools exist.")
    index: Path | None = Field(
        default=None,
        description="Index directory (corpus-builder --out); None = Settings().index, i.e. $DXSEARCH_INDEX.",
    )
    retriever: str = Field(default="hybrid", description="Retriever name: lexical, dense or hybrid.")
    budget: Budget = Field(default_factory=Budget, description="Per-rollout limits; env turns count tool calls only.")
    retrieval_threads: int = Field(
        default=1, ge=1, le=32, description="Threads running retrievals for this tool object (one per worker)."
    )


class CreateKwargs(BaseModel):
    """What one dataset row passes to ``create`` (``extra_info.tools_kwargs.retrieve.create_kwargs``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case: Case
    exclude_doc_ids: tuple[str, ...] = Field(
        default=(), description="Documents hidden from this episode, e.g. patient records of the case's publication."
    )
    gold: Gold | None = Field(default=None, description="Only for calc_reward's step reward; the policy never sees it.")


@dataclass
class _Episode:
    """One rollout's environment and its (turn text, observation) history."""

    env: DiagnosticEnv
    gold: Gold | None
    exchanges: list[tuple[str, Result]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _note(text: str) -> str:
    """A note-only ``<result>``: how the environment answers anything it cannot execute."""
    return render_result(Result(note=text))


class RetrieveTool(BaseTool):
    """verl ``BaseTool`` whose one function, ``retrieve(action, query)``, is a DiagnosticEnv retrieval turn."""

    def __init__(self, config: Mapping[str, Any], tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        settings = ToolSettings.model_validate(plain(config))
        schema = tool_schema or OpenAIFunctionToolSchema.model_validate(default_tool_schema())
        super().__init__(config=dict(config), tool_schema=schema)
        self.settings = settings
        self._instances: dict[str, _Episode] = {}
        self._executor = ThreadPoolExecutor(max_workers=settings.retrieval_threads, thread_name_prefix="dxsearch-tool")
        self._open_lock = threading.Lock()
        self._index: EmbeddedIndex | None = None
        self._retriever: Retriever | None = None
        self._episode_attr = f"_dxsearch_episode_{self.name}"

    # -- verl's lifecycle --------------------------------------------------------------------------

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        """Start an episode for the row's case. verl 0.9.1 passes ``create_kwargs={...}``; a flat form also works.

        A row that does not hold a valid case raises ``ValueError``: that is a dataset bug, not a
        policy error (verl reports it as the call's response and logs it).
        """
        payload = plain(kwargs.get("create_kwargs", kwargs))
        try:
            if isinstance(payload, Mapping) and isinstance(payload.get("case"), str):  # a case stored as JSON text
                payload = {**payload, "case": json.loads(payload["case"])}
            create = CreateKwargs.model_validate(payload)
        except ValueError as exc:
            raise ValueError(f"{self.name}: create_kwargs must hold a case ({exc})") from exc
        env = DiagnosticEnv(_LazyRetriever(self), self.settings.budget)
        env.reset(create.case, exclude_doc_ids=create.exclude_doc_ids)
        key = instance_id or uuid4().hex
        self._instances[key] = _Episode(env=env, gold=create.gold)
        return key, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        """Run one retrieval turn; returns (the ``<result>`` text, step reward 0.0, metrics).

        Whatever the policy sends, the answer is a ``<result>``: bad arguments get a note-only one
        saying what is wrong and how to call the tool, without touching the episode. Only a broken
        deployment raises (an index that cannot be opened); verl then answers the call with its own
        error text, and ``preflight --check-paths`` exists to catch that before a run. The step reward
        is 0: the rollout is scored once, at the end, by :mod:`dxsearch.train.verl.reward` (a step
        reward would pay retrieval twice; verl only logs it in ``tool_rewards``).
        """
        episode = self._episode_for(instance_id, kwargs.get("agent_data"))
        if episode is None:
            return ToolResponse(text=_note(f"no open {self.name} episode {instance_id!r}")), 0.0, {"error": 1.0}
        try:
            turn = turn_from_arguments(plain(parameters))
        except ToolCallError as exc:
            note = f"invalid {self.name} call: {exc}. Call {self.name} with an action and a non-empty query."
            return ToolResponse(text=_note(note)), 0.0, {"invalid_call": 1.0}
        loop = asyncio.get_running_loop()
        text, metrics = await loop.run_in_executor(self._executor, self._step, episode, render_turn(turn))
        agent_data = kwargs.get("agent_data")
        if agent_data is not None:
            agent_data.extra_fields[RETRIEVED_KEY] = self.retrieved(episode)
        return ToolResponse(text=text), 0.0, metrics

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        """The retrieval reward of the episode so far if ``create`` was given a gold, else 0.0."""
        episode = self._instances.get(instance_id)
        if episode is None or episode.gold is None:
            return 0.0
        with episode.lock:
            pairs = list(episode.exchanges)
            records = episode.env.records
        return retrieval_reward(transcript_from_turns(pairs), episode.gold, evidence_from_records(records)).value

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        """Forget the instance (an episode bound to a trajectory lives on with its ``agent_data``)."""
        self._instances.pop(instance_id, None)

    # -- helpers -----------------------------------------------------------------------------------

    def instance_ids(self) -> frozenset[str]:
        """Instances created and not yet released (for monitoring and tests)."""
        return frozenset(self._instances)

    def records(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's retrieval records as :data:`RETRIEVED_KEY` holds them."""
        episode = self._instances.get(instance_id)
        return [] if episode is None else self.retrieved(episode)

    @staticmethod
    def retrieved(episode: _Episode) -> list[dict[str, Any]]:
        """Episode-ordered records in the shape ``rewards.verl_entry`` reads from ``extra_info["retrieved"]``."""
        with episode.lock:
            records = episode.env.records
        return [
            {
                "evidence_id": e.evidence_id,
                "codes": list(e.codes),
                "rank": e.rank,
                "duplicate": e.duplicate,
                "title": e.title,
            }
            for e in evidence_from_records(records)
        ]

    def retriever(self) -> Retriever:
        """The shared retriever, opening the index on first use (called from the retrieval thread)."""
        with self._open_lock:
            if self._retriever is None:
                index_dir = self.settings.index or get_settings().index
                self._index = EmbeddedIndex(index_dir.expanduser())
                self._retriever = index_retriever(self._index, self.settings.retriever)
            return self._retriever

    def close(self) -> None:
        """Stop the retrieval thread and close the index (verl never calls this; tests and tools do)."""
        self._executor.shutdown(wait=True)
        if self._index is not None:
            self._index.close()
            self._index, self._retriever = None, None

    def _episode_for(self, instance_id: str, agent_data: Any) -> _Episode | None:
        """The episode a call belongs to: the trajectory's if verl passed ``agent_data``, else the instance's."""
        episode = self._instances.get(instance_id)
        if agent_data is None or episode is None:
            return episode
        bound: _Episode | None = getattr(agent_data, self._episode_attr, None)
        if bound is None:
            setattr(agent_data, self._episode_attr, episode)
            return episode
        self._instances[instance_id] = bound  # so calc_reward(instance_id) sees the whole rollout
        return bound

    def _step(self, episode: _Episode, turn_text: str) -> tuple[str, dict[str, Any]]:
        with episode.lock:
            env = episode.env
            if env.done:
                return _note("the retrieval budget is used up: diagnose now"), {"refused": 1.0}
            step = env.step(turn_text)
            observation = step.observation or Result(note="no result")
            episode.exchanges.append((turn_text, observation))
            metrics = {
                "passages": float(len(observation.passages)),
                "retrievals_used": float(env.retrievals_used),
            }
            return render_result(observation), metrics


class _LazyRetriever:
    """A Retriever that asks the tool for the shared one at search time, so create() never opens the index."""

    def __init__(self, tool: RetrieveTool) -> None:
        self._tool = tool
        self.name = tool.settings.retriever

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        return self._tool.retriever().search(query, kinds, k, filters)
