"""``dxsearch train --preset cpu-policy``: the learned evidence policy, cloned from the evidence policy, then GRPO.

Stages (each resumable, markers in ``OUT/.done/``):

1. **teacher**: the evidence policy plays the training cases (index side of the publication
   split, each episode hiding its case's own publication); its rewards order the curriculum.
2. **bc** (``models/sft``): behaviour cloning. The ranker fits the Plackett–Luce likelihood of
   the teacher's differentials over the same candidates and features; then the action head
   fits the teacher's actions, in the states the fitted ranker puts it in.
3. **grpo** (``models/grpo``): per step, ``cases_per_step`` cases, ``group_size`` sampled
   episodes each (actions from the categorical, differentials from Plackett–Luce), the combined
   reward of :mod:`rewards`, advantages normalised within each case's group, a clipped ratio per
   decision and a KL term to the BC policy. Checkpoints every ``save_steps``; a rerun resumes.
4. **validation**: untrained (seeded random weights), sft, grpo and the evidence policy, greedy,
   on the fixed validation cases (publications disjoint from training): reward, top-1, top-5,
   MRR and retrievals per case in ``summary.json``, with ``model_dir`` naming the GRPO weights.

Retrieval is cached per (query, kinds, depth, exclusions), so the 8 episodes of a group pay for
a retrieval once; every parameter update is a few hundred float64 operations, so the run is
bound by the evidence signals, not by learning. Same seed, same run: every random draw comes
from a generator seeded by (seed, step, case, episode), and the checkpoint holds the optimiser.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dxsearch.cases import LabelledCase
from dxsearch.corpus import DocumentKind, Evidence
from dxsearch.env import DiagnosticEnv
from dxsearch.evaluation import GoldMatcher, publication_documents
from dxsearch.knowledge.similarity import PhenotypeSimilarity, get_phenotype_similarity
from dxsearch.policies.base import Policy
from dxsearch.policies.calibration import expected_calibration_error
from dxsearch.policies.card import PolicyCard, write_card
from dxsearch.policies.catalog import index_knowledge, index_retriever
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.policies.learned import (
    ACTIONS,
    CANDIDATE_FEATURES,
    FEATURES_VERSION,
    STATE_FEATURES,
    ActionDecision,
    Calibration,
    Decision,
    LearnedParams,
    LearnedPolicy,
    RankDecision,
    load_params,
    save_params,
)
from dxsearch.protocol import Action, Diagnose, Reason, Retrieve, parse_turn
from dxsearch.retrieval.base import Retriever, SearchFilters
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import write_atomically
from dxsearch.train.checkpoints import write_json
from dxsearch.train.config import PolicyTrainConfig
from dxsearch.train.data import TrainingCase, prepare_cases
from dxsearch.train.episodes import Episode, play
from dxsearch.train.learned_calibration import calibration_row, first_confidence, fit_rows
from dxsearch.train.metrics import read_metrics
from dxsearch.train.plot import plot_reward_curve
from rewards.config import RewardConfig
from rewards.gold import Gold
from rewards.scoring import COMPONENTS

STAGES = ("untrained", "sft", "grpo", "evidence")
_stderr = Console(stderr=True)


class CachedRetriever:
    """A retriever that answers a repeated (query, kinds, k, filters) from memory: episodes of a group are cheap."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self.name = inner.name
        self._cache: dict[tuple[object, ...], list[Evidence]] = {}
        self.hits = 0
        self.misses = 0

    def search(
        self,
        query: str,
        kinds: Collection[DocumentKind] | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Evidence]:
        key = (query, tuple(sorted(kinds)) if kinds is not None else None, k, filters)
        found = self._cache.get(key)
        if found is None:
            self.misses += 1
            found = self.inner.search(query, kinds, k, filters)
            self._cache[key] = found
        else:
            self.hits += 1
        return list(found)


# -- the policy in torch (same arithmetic as LearnedParams, differentiable) ---------------------------


class TorchPolicy(torch.nn.Module):
    def __init__(self, params: LearnedParams) -> None:
        super().__init__()
        self.weights = torch.nn.ParameterDict(
            {
                name: torch.nn.Parameter(torch.tensor(array, dtype=torch.float64))
                for name, array in params.arrays().items()
            }
        )

    def to_params(self) -> LearnedParams:
        return LearnedParams(**{name: p.detach().numpy().copy() for name, p in self.weights.items()})

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        w = self.weights
        hidden = torch.tanh(features @ w["rank_hidden"].T + w["rank_hidden_bias"])
        out: torch.Tensor = features @ w["rank_linear"] + hidden @ w["rank_out"]
        return out

    def action_log_probs(self, batch: ActionBatch) -> torch.Tensor:
        """Log-probabilities over actions, (decisions, actions); disallowed actions at -inf."""
        logits = batch.states @ self.weights["action"].T
        return torch.log_softmax(logits.masked_fill(~batch.masks, float("-inf")), dim=-1)

    def rank_position_log_probs(self, batch: RankBatch) -> torch.Tensor:
        """Log-probabilities over remaining candidates at each chosen position, (decisions, positions, candidates)."""
        scores = self.scores(batch.features)  # (N, C)
        available = batch.valid.clone()
        steps = []
        for position in range(batch.orders.shape[1]):
            steps.append(torch.log_softmax(scores.masked_fill(~available, float("-inf")), dim=-1))
            chosen = batch.orders[:, position]
            live = chosen >= 0
            available = available.clone()
            available[live, chosen[live]] = False
        return torch.stack(steps, dim=1)


@dataclass
class ActionBatch:
    states: torch.Tensor
    masks: torch.Tensor
    choices: torch.Tensor
    episodes: torch.Tensor


@dataclass
class RankBatch:
    features: torch.Tensor  # (N, C, F), padded
    valid: torch.Tensor  # (N, C)
    orders: torch.Tensor  # (N, K), -1 padded
    episodes: torch.Tensor


def batch_decisions(decisions: Sequence[tuple[int, Decision]]) -> tuple[ActionBatch | None, RankBatch | None]:
    """Stack (episode index, decision) pairs into padded tensors."""
    actions = [(e, d) for e, d in decisions if isinstance(d, ActionDecision)]
    ranks = [(e, d) for e, d in decisions if isinstance(d, RankDecision) and len(d.order)]
    action_batch = None
    if actions:
        action_batch = ActionBatch(
            torch.tensor(np.stack([d.state for _, d in actions]), dtype=torch.float64),
            torch.tensor(np.stack([d.mask for _, d in actions]), dtype=torch.bool),
            torch.tensor([d.choice for _, d in actions], dtype=torch.long),
            torch.tensor([e for e, _ in actions], dtype=torch.long),
        )
    rank_batch = None
    if ranks:
        width = max(d.features.shape[0] for _, d in ranks)
        depth = max(len(d.order) for _, d in ranks)
        features = np.zeros((len(ranks), width, len(CANDIDATE_FEATURES)))
        valid = np.zeros((len(ranks), width), dtype=bool)
        orders = np.full((len(ranks), depth), -1, dtype=np.int64)
        for row, (_, d) in enumerate(ranks):
            features[row, : d.features.shape[0]] = d.features
            valid[row, : d.features.shape[0]] = True
            orders[row, : len(d.order)] = d.order
        rank_batch = RankBatch(
            torch.tensor(features, dtype=torch.float64),
            torch.tensor(valid),
            torch.tensor(orders),
            torch.tensor([e for e, _ in ranks], dtype=torch.long),
        )
    return action_batch, rank_batch


def decision_log_probs(
    model: TorchPolicy, actions: ActionBatch | None, ranks: RankBatch | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each recorded decision (actions, then rankings) and of its episode index."""
    parts: list[torch.Tensor] = []
    episodes: list[torch.Tensor] = []
    if actions is not None:
        parts.append(model.action_log_probs(actions).gather(1, actions.choices[:, None])[:, 0])
        episodes.append(actions.episodes)
    if ranks is not None:
        per_position = model.rank_position_log_probs(ranks)
        chosen = ranks.orders.clamp(min=0)
        picked = per_position.gather(2, chosen[:, :, None])[:, :, 0]
        parts.append(torch.where(ranks.orders >= 0, picked, torch.zeros_like(picked)).sum(dim=1))
        episodes.append(ranks.episodes)
    if not parts:
        return torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.long)
    return torch.cat(parts), torch.cat(episodes)


def _kl(current: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """KL(current || reference) over the last axis of log-probabilities (disallowed entries are -inf in both)."""
    p = current.exp()
    diff = torch.where(torch.isfinite(current), current - reference, torch.zeros_like(current))
    return (p * diff).sum(dim=-1)


def decision_kls(
    model: TorchPolicy, reference: TorchPolicy, actions: ActionBatch | None, ranks: RankBatch | None
) -> torch.Tensor:
    """Per decision, the exact KL to the reference: over actions, and over each chosen position of a ranking."""
    parts: list[torch.Tensor] = []
    if actions is not None:
        with torch.no_grad():
            ref = reference.action_log_probs(actions)
        parts.append(_kl(model.action_log_probs(actions), ref))
    if ranks is not None:
        with torch.no_grad():
            ref = reference.rank_position_log_probs(ranks)
        kl = _kl(model.rank_position_log_probs(ranks), ref)
        parts.append(torch.where(ranks.orders >= 0, kl, torch.zeros_like(kl)).sum(dim=1))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


# -- behaviour cloning --------------------------------------------------------------------------------


def teacher_decisions(
    episodes: Sequence[Episode], policy: LearnedPolicy
) -> tuple[list[RankDecision], list[tuple[TrainingCaseHistory, str]]]:
    """The teacher's rankings (as Plackett–Luce targets) and its action at every turn (as labels)."""
    rankings: list[RankDecision] = []
    labelled: list[tuple[TrainingCaseHistory, str]] = []
    for episode in episodes:
        history = episode.history
        query = episode.case.findings_query()
        turns: list[object] = []
        for exchange in history:
            try:
                turns.append(parse_turn(exchange.turn))
            except ValueError:
                turns.append(None)
        for position, turn in enumerate(turns):
            prefix = TrainingCaseHistory(episode, position)
            if isinstance(turn, Retrieve):
                if turn.action is Action.MATCH:
                    label = "match"
                elif turn.action is Action.SEARCH:
                    label = "search"
                else:
                    label = "lookup_findings" if turn.query == query else "lookup_candidate"
                labelled.append((prefix, label))
            elif isinstance(turn, Reason):
                following = turns[position + 1] if position + 1 < len(turns) else None
                if isinstance(following, Diagnose) and following.candidates:
                    labelled.append((prefix, "diagnose"))
                    seen = policy.observe(episode.case, history[:position])
                    rows = {c.code: row for row, c in enumerate(seen.candidates)}
                    order = tuple(rows[c.code] for c in following.candidates if c.code in rows)
                    if order:
                        rankings.append(RankDecision(seen.features, order))
                else:
                    labelled.append((prefix, "abstain"))
            elif isinstance(turn, Diagnose) and not isinstance(turns[position - 1] if position else None, Reason):
                labelled.append((prefix, "abstain" if not turn.candidates else "diagnose"))
    return rankings, labelled


@dataclass(frozen=True, slots=True)
class TrainingCaseHistory:
    episode: Episode
    position: int


def _fit(model: TorchPolicy, loss_of: Callable[[], torch.Tensor], names: Sequence[str], config: Any) -> float:
    optimiser = torch.optim.Adam([model.weights[n] for n in names], lr=config.learning_rate)
    loss = torch.zeros(())
    for _ in range(config.epochs):
        optimiser.zero_grad()
        loss = loss_of() + config.l2 * sum((model.weights[n] ** 2).sum() for n in names)
        loss.backward()
        optimiser.step()
    return float(loss.detach())


def behaviour_clone(
    config: PolicyTrainConfig,
    episodes: Sequence[Episode],
    initial: LearnedParams,
    similarity: PhenotypeSimilarity | None = None,
) -> tuple[LearnedParams, dict[str, float]]:
    """Ranker first (its targets do not depend on the action head), then the action head in the ranker's states.

    ``similarity``: the phenotype scorer over the training index's disease knowledge (its excluded
    publications' rows dropped); ``None``, the full release.
    """
    rank_names = ("rank_linear", "rank_hidden", "rank_hidden_bias", "rank_out")
    model = TorchPolicy(initial)
    evidence = EvidencePolicy(config.teacher, similarity=similarity)
    memo: dict[tuple[object, ...], list[Any]] = {}  # candidates depend on the history, not on the weights
    policy = LearnedPolicy(initial, config.budget, evidence=evidence, memo=memo, check_findings=False)
    rankings, _ = teacher_decisions(episodes, policy)
    _, ranks = batch_decisions([(0, d) for d in rankings])
    rank_loss = 0.0
    if ranks is not None:
        batch = ranks

        def ranking_nll() -> torch.Tensor:
            return -decision_log_probs(model, None, batch)[0].mean()

        rank_loss = _fit(model, ranking_nll, rank_names, config.bc)
    fitted = model.to_params()
    policy = LearnedPolicy(fitted, config.budget, evidence=evidence, memo=memo, check_findings=False)
    _, labelled = teacher_decisions(episodes, policy)
    decisions: list[tuple[int, Decision]] = []
    skipped = 0
    for prefix, label in labelled:
        seen = policy.observe(prefix.episode.case, prefix.episode.history[: prefix.position])
        choice = ACTIONS.index(label)
        if not seen.mask[choice]:
            skipped += 1
            continue
        decisions.append((0, ActionDecision(seen.state, seen.mask, choice)))
    actions, _ = batch_decisions(decisions)
    action_loss = 0.0
    if actions is not None:
        action_batch = actions

        def action_nll() -> torch.Tensor:
            return -decision_log_probs(model, action_batch, None)[0].mean()

        action_loss = _fit(model, action_nll, ("action",), config.bc)
    stats = {
        "rank_nll": rank_loss,
        "action_nll": action_loss,
        "rankings": float(len(rankings)),
        "actions": float(len(decisions)),
        "actions_masked_out": float(skipped),
    }
    return model.to_params(), stats


# -- GRPO -----------------------------------------------------------------------------------------------


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=_stderr,
        transient=False,
    )


def step_cases(
    cases: Sequence[TrainingCase], difficulty_order: Sequence[int], config: PolicyTrainConfig, step: int
) -> list[int]:
    """Which cases (indices) step ``step`` trains on; with the curriculum, drawn from the easiest share, widening."""
    grpo = config.grpo
    rng = np.random.default_rng([config.seed, step, 1])
    pool: Sequence[int] = range(len(cases))
    if grpo.curriculum:
        # Easiest 30 % at step 0, all cases from 60 % of the steps on.
        share = min(1.0, 0.3 + 0.7 * step / max(1.0, 0.6 * grpo.steps))
        pool = difficulty_order[: max(grpo.cases_per_step, round(share * len(cases)))]
    count = min(grpo.cases_per_step, len(pool))
    return [int(pool[int(i)]) for i in rng.choice(len(pool), size=count, replace=False)]


def _save_checkpoint(path: Path, step: int, model: TorchPolicy, optimiser: torch.optim.Optimizer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "weights": model.state_dict(), "optimiser": optimiser.state_dict()}, tmp)
    tmp.replace(path)


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _drop_metrics_after(path: Path, stage: str, step: int) -> None:
    kept = [r for r in read_metrics(path) if r.get("stage") != stage or r["step"] <= step]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8"))


def run_policy_grpo(
    config: PolicyTrainConfig,
    start: LearnedParams,
    cases: Sequence[TrainingCase],
    difficulty_order: Sequence[int],
    env: DiagnosticEnv,
    checkpoint: Path,
    metrics_path: Path,
    *,
    stage: str = "grpo",
    reward_config: RewardConfig | None = None,
    similarity: PhenotypeSimilarity | None = None,
) -> LearnedParams:
    """GRPO from ``start`` (also the KL reference); resumes from ``checkpoint`` if one exists."""
    grpo = config.grpo
    reward_config = reward_config or config.reward_config()
    model = TorchPolicy(start)
    reference = TorchPolicy(start)
    optimiser = torch.optim.Adam(model.parameters(), lr=grpo.learning_rate)
    first = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["weights"])
        optimiser.load_state_dict(state["optimiser"])
        first = int(state["step"]) + 1
    _drop_metrics_after(metrics_path, stage, first - 1)
    evidence = EvidencePolicy(config.teacher, similarity=similarity)
    memo: dict[tuple[object, ...], list[Any]] = {}
    with _progress_bar() as bar:
        task = bar.add_task(stage, total=grpo.steps, completed=first, info="")
        for step in range(first, grpo.steps):
            t0 = time.perf_counter()
            params = model.to_params()
            decisions: list[tuple[int, Decision]] = []
            episodes: list[Episode] = []
            groups: list[list[int]] = []
            for case_index in step_cases(cases, difficulty_order, config, step):
                case = cases[case_index]
                group: list[int] = []
                for member in range(grpo.group_size):
                    recorder: list[Decision] = []
                    rng = np.random.default_rng([config.seed, step, case_index, member])
                    policy = LearnedPolicy(
                        params,
                        config.budget,
                        evidence=evidence,
                        rng=rng,
                        recorder=recorder,
                        memo=memo,
                        check_findings=False,
                    )
                    episode = play(
                        case.labelled.case, policy, env, case.gold, reward_config, exclude_doc_ids=case.hidden_doc_ids
                    )
                    group.append(len(episodes))
                    decisions.extend((len(episodes), d) for d in recorder)
                    episodes.append(episode)
                groups.append(group)
            rewards = np.array([e.reward.value for e in episodes])
            advantages = np.zeros(len(episodes))
            flat_groups = 0
            for group in groups:
                values = rewards[group]
                spread_ = values.std()
                if spread_ < 1e-9:
                    flat_groups += 1
                    continue
                advantages[group] = (values - values.mean()) / (spread_ + 1e-6)
            actions, ranks = batch_decisions(decisions)
            with torch.no_grad():
                old, episode_of = decision_log_probs(model, actions, ranks)
            advantage = torch.tensor(advantages, dtype=torch.float64)[episode_of]
            loss_value = kl_value = 0.0
            for _ in range(grpo.iterations):
                optimiser.zero_grad()
                current, _ = decision_log_probs(model, actions, ranks)
                ratio = (current - old).exp()
                clipped = ratio.clamp(1 - grpo.clip, 1 + grpo.clip)
                surrogate = torch.minimum(ratio * advantage, clipped * advantage)
                kl = decision_kls(model, reference, actions, ranks)
                loss = -surrogate.mean() + grpo.beta * kl.mean()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                loss_value, kl_value = float(loss.detach()), float(kl.detach().mean())
            ranks_of_gold = [e.reward.breakdown["accuracy/gold_rank"] for e in episodes]
            row: dict[str, Any] = {
                "stage": stage,
                "step": step,
                "loss": loss_value,
                "kl": kl_value,
                "rewards/total/mean": float(rewards.mean()),
                "rewards/total/std": float(rewards.std()),
                "top1": float(np.mean([r == 1.0 for r in ranks_of_gold])),
                "retrievals": float(np.mean([e.reward.breakdown["frugality/retrievals"] for e in episodes])),
                "flat_groups": flat_groups,
                "episodes": len(episodes),
                "decisions": len(decisions),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            for name in COMPONENTS:
                row[f"rewards/{name}/mean"] = float(np.mean([e.reward.breakdown[name] for e in episodes]))
            row["rewards/frugality_term/mean"] = float(
                np.mean([e.reward.breakdown["frugality_term"] for e in episodes])
            )
            _append_metrics(metrics_path, row)
            if (step + 1) % grpo.save_steps == 0 or step + 1 == grpo.steps:
                _save_checkpoint(checkpoint, step, model, optimiser)
            bar.update(task, advance=1, info=f"reward {row['rewards/total/mean']:.3f} top-1 {row['top1']:.2f}")
    return model.to_params()


# -- validation and the run ---------------------------------------------------------------------------


def _stated(episodes: Sequence[Episode]) -> list[tuple[float, bool]]:
    """(first diagnosis's confidence, was it the gold) of every episode that diagnosed."""
    pairs = []
    for episode in episodes:
        confidence = first_confidence(episode)
        if confidence is not None:
            pairs.append((confidence, int(episode.reward.breakdown["accuracy/gold_rank"]) == 1))
    return pairs


def fit_calibration(
    episodes: Sequence[Episode], golds: Sequence[Gold], policy: LearnedPolicy, cases: Sequence[LabelledCase] = ()
) -> Calibration:
    """Temperature and isotonic map of the first choice over greedy episodes of index-side cases.

    ``policy`` (the variant that played them) gives every candidate's score at each diagnosis: the
    temperature is fitted on the cases whose gold is a candidate, the isotonic map of the tempered
    first-choice probability on every case that diagnosed (:mod:`dxsearch.train.learned_calibration`).
    ``cases`` (the played cases, in order) name the rows' publications, if given.
    """
    rows = []
    for number, (episode, gold) in enumerate(zip(episodes, golds, strict=True)):
        labelled = cases[number] if cases else None
        row = calibration_row(
            episode,
            gold,
            policy,
            case_id=labelled.case.case_id if labelled else episode.case.case_id,
            pmid=labelled.pmid if labelled else None,
        )
        if row is not None:
            rows.append(row)
    return fit_rows(rows, cases=len(episodes))


def episode_metrics(episodes: Sequence[Episode]) -> dict[str, Any]:
    """reward, top1, top5, mrr, retrievals_per_case, ECE of the first diagnosis (and each reward component)."""
    count = len(episodes)
    ranks = [int(e.reward.breakdown["accuracy/gold_rank"]) for e in episodes]
    stated = _stated(episodes)
    return {
        "ece": expected_calibration_error([c for c, _ in stated], [h for _, h in stated]) if stated else None,
        "ece_cases": len(stated),
        "reward": sum(e.reward.value for e in episodes) / count,
        "top1": sum(r == 1 for r in ranks) / count,
        "top5": sum(1 <= r <= 5 for r in ranks) / count,
        "mrr": sum(1.0 / r for r in ranks if r) / count,
        "retrievals_per_case": sum(e.reward.breakdown["frugality/retrievals"] for e in episodes) / count,
        "components": {name: sum(e.reward.breakdown[name] for e in episodes) / count for name in COMPONENTS},
        "stop_reasons": dict(Counter(e.stop_reason for e in episodes)),
        "cases": count,
    }


def play_all(
    policy: Policy, cases: Sequence[TrainingCase], env: DiagnosticEnv, reward_config: RewardConfig, label: str
) -> list[Episode]:
    episodes: list[Episode] = []
    with _progress_bar() as bar:
        task = bar.add_task(label, total=len(cases), info="")
        for case in cases:
            episodes.append(
                play(case.labelled.case, policy, env, case.gold, reward_config, exclude_doc_ids=case.hidden_doc_ids)
            )
            bar.update(task, advance=1)
    return episodes


class _Run:
    def __init__(self, root: Path, config: PolicyTrainConfig) -> None:
        self.root = root
        self.config = config

    def model(self, name: str) -> Path:
        return self.root / "models" / name

    def done(self, stage: str) -> bool:
        return (self.root / ".done" / stage).exists()

    def mark(self, stage: str) -> None:
        marker = self.root / ".done" / stage
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"), encoding="utf-8")

    def save(self, name: str, params: LearnedParams) -> None:
        trained_by = f"dxsearch train --preset {self.config.preset} --seed {self.config.seed} ({name})"
        save_params(params, self.model(name), trained_by=trained_by)
        write_card(
            self.model(name),
            PolicyCard(
                budget=self.config.budget,
                features=(*CANDIDATE_FEATURES, *STATE_FEATURES),
                features_version=FEATURES_VERSION,
                trained_by=trained_by,
            ),
        )


def run(
    config: PolicyTrainConfig,
    out: Path,
    index_dir: Path,
    cases: Sequence[LabelledCase],
    *,
    log: Callable[[str], None] = print,
    retriever: Retriever | None = None,
) -> dict[str, Any]:
    """Run (or resume) every stage and return the summary written to ``out/summary.json``."""
    from dxsearch.train.pipeline import RunConfigMismatchError

    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    wanted = config.model_dump(mode="json")
    config_path = out / "config.json"
    if config_path.exists() and json.loads(config_path.read_text(encoding="utf-8")) != wanted:
        raise RunConfigMismatchError(f"{out} holds a run with another config; use a new --out directory")
    write_json(config_path, wanted)
    run_dir = _Run(out, config)
    timings: dict[str, float] = {}

    index = EmbeddedIndex(index_dir)
    cached = CachedRetriever(retriever or index_retriever(index, config.data.retriever))
    env = DiagnosticEnv(cached, config.budget)
    matcher = GoldMatcher(index)
    hidden = publication_documents(index)
    knowledge = index_knowledge(index)
    similarity = get_phenotype_similarity(knowledge)  # the index's rows, its exclusions dropped
    train, validation = prepare_cases(
        config.data, cases, matcher, hidden, out, log, cited=knowledge.cited_publications()
    )
    reward_config = config.reward_config()
    metrics_path = out / "metrics.jsonl"

    t0 = time.perf_counter()
    teacher_policy = EvidencePolicy(config.teacher, similarity=similarity)
    teacher = play_all(teacher_policy, train, env, reward_config, "teacher episodes")
    timings["teacher"] = time.perf_counter() - t0
    teacher_rewards = [e.reward.value for e in teacher]
    difficulty_order = sorted(range(len(train)), key=lambda i: -teacher_rewards[i])

    untrained = LearnedParams.initial(config.seed)
    if not run_dir.done("untrained"):
        run_dir.save("untrained", untrained)
        run_dir.mark("untrained")
    if not run_dir.done("sft"):
        t0 = time.perf_counter()
        sft, stats = behaviour_clone(config, teacher, untrained, similarity)
        _drop_metrics_after(metrics_path, "bc", -1)
        _append_metrics(metrics_path, {"stage": "bc", "step": 0, **stats})
        run_dir.save("sft", sft)
        timings["bc"] = time.perf_counter() - t0
        run_dir.mark("sft")
    sft = load_params(run_dir.model("sft"))

    variants: dict[str, tuple[PolicyTrainConfig, RewardConfig]] = {"grpo": (config, reward_config)}
    if config.ablations:
        no_frugality = reward_config.model_copy(
            update={"weights": reward_config.weights.model_copy(update={"frugality": 0.0})}
        )
        variants["grpo-no-frugality"] = (config, no_frugality)
        flipped = config.model_copy(
            update={"grpo": config.grpo.model_copy(update={"curriculum": not config.grpo.curriculum})}
        )
        name = "grpo-curriculum" if not config.grpo.curriculum else "grpo-no-curriculum"
        variants[name] = (flipped, reward_config)
    results: dict[str, Any] = {}

    def train_variant(name: str) -> None:
        if run_dir.done(name):
            return
        variant, variant_reward = variants[name]
        t0 = time.perf_counter()
        trained = run_policy_grpo(
            variant,
            sft,
            train,
            difficulty_order,
            env,
            out / "checkpoints" / f"{name}.pt",
            metrics_path,
            stage=name,
            reward_config=variant_reward,
            similarity=similarity,
        )
        run_dir.save(name, trained)
        timings[name] = time.perf_counter() - t0
        run_dir.mark(name)

    def greedy(name: str, params: LearnedParams) -> LearnedPolicy:
        """A trained variant as calibration and validation play it: greedy, every case (no findings checks)."""
        evidence = EvidencePolicy(config.teacher, similarity=similarity)
        return LearnedPolicy(params, config.budget, name=name, evidence=evidence, check_findings=False)

    def calibrate(name: str) -> None:
        """Fit the confidence map of a trained variant on its greedy episodes of the training cases."""
        if run_dir.done(f"calibrated-{name}"):
            return
        t0 = time.perf_counter()
        params = load_params(run_dir.model(name))
        params.calibration = None  # fitted on the uncalibrated first-choice probabilities
        policy = greedy(name, params)
        played = play_all(policy, train, env, reward_config, f"calibrate {name}")
        params.calibration = fit_calibration(
            played, [case.gold for case in train], policy, [case.labelled for case in train]
        )
        run_dir.save(name, params)
        timings[f"calibrate_{name}"] = time.perf_counter() - t0
        run_dir.mark(f"calibrated-{name}")

    def validate(name: str) -> None:
        path = out / "eval" / f"{name}.json"
        if not run_dir.done(f"eval-{name}"):
            t0 = time.perf_counter()
            policy: Policy
            if name == "evidence":
                policy = EvidencePolicy(config.teacher, similarity=similarity)
            else:
                policy = greedy(name, load_params(run_dir.model(name)))
            write_json(path, episode_metrics(play_all(policy, validation, env, reward_config, f"validate {name}")))
            timings[f"eval_{name}"] = time.perf_counter() - t0
            run_dir.mark(f"eval-{name}")
        results[name] = json.loads(path.read_text(encoding="utf-8"))

    def write_summary() -> dict[str, Any]:
        plot_reward_curve(read_metrics(metrics_path), results, out / "reward_curve.png")
        summary_path = out / "summary.json"
        previous = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
        timings_s = {**previous.get("timings_s", {}), **{k: round(v, 1) for k, v in timings.items()}}
        timings_s["last_invocation"] = round(time.perf_counter() - started, 1)
        pairs = (("untrained", "sft"), ("sft", "grpo"))
        summary = {
            **{name: results[name] for name in STAGES},
            "ablations": {name: results[name] for name in variants if name != "grpo" and name in results},
            "model_dir": str(run_dir.model("grpo")),
            "parameters": sft.size,
            "preset": config.preset,
            "seed": config.seed,
            "train_cases": len(train),
            "validation_cases": len(validation),
            "ordered": all(results[a][m] < results[b][m] for m in ("reward", "top1") for a, b in pairs),
            "retrieval_cache": {"hits": cached.hits, "misses": cached.misses},
            "timings_s": timings_s,
        }
        write_json(summary_path, summary)
        return summary

    # The main run is validated and summarised first; ablations (if any) follow and extend the summary.
    train_variant("grpo")
    calibrate("grpo")
    for name in STAGES:
        validate(name)
    summary = write_summary()
    for name in variants:
        if name != "grpo":
            train_variant(name)
            calibrate(name)
            validate(name)
            summary = write_summary()
    return summary
