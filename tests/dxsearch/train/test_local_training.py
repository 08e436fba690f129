"""The local trainer's parts on a real small index: token masks, SFT, and a short GRPO job that really updates.

The GRPO test is the issue's check: a few steps of TRL's GRPOTrainer over DiagnosticEnv
from a briefly warm-started model, asserting a finite loss, non-zero reward spread within
groups (or GRPO has nothing to learn from) and parameters that moved.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from support import marfan_labelled

from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.policies.prompt import COMPACT_SYSTEM_PROMPT, build_messages, render_case
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from dxsearch.train.config import GrpoConfig, ModelShape, SftConfig, TrainConfig
from dxsearch.train.data import (
    TrainingCase,
    annotation_independent,
    split_train_validation,
    spread_over_publications,
)
from dxsearch.train.episodes import encode_conversation, play
from dxsearch.train.grpo import run_grpo
from dxsearch.train.metrics import read_metrics
from dxsearch.train.sft import run_sft
from dxsearch.train.tiny_model import build_tiny_model
from rewards.gold import Gold

MARFAN = marfan_labelled()
CF = LabelledCase(
    case=Case(
        case_id="cf",
        sex="male",
        age="P3Y",
        findings=(
            Finding(label="Recurrent respiratory infections", hpo_id="HP:0002205"),
            Finding(label="Pancreatic insufficiency", hpo_id="HP:0001738"),
        ),
    ),
    gold=GoldDiagnosis(id="OMIM:219700", label="Cystic fibrosis"),
)
BUDGET = Budget(max_turns=4, max_retrievals=2, passages_per_retrieval=2, observation_tokens=120)
CONFIG = TrainConfig(
    preset="test",
    prompt="compact",
    model=ModelShape(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=2),
    budget=BUDGET,
    # Abstention off: the fixtures need two diagnosed teacher episodes (CF's two findings carry IC 8.7 < 9).
    teacher=EvidencePolicyConfig(
        max_finalist_lookups=0,
        patients_cited=1,
        finalists=2,
        brief_reasoning=True,
        abstain_below=0.0,
        min_specific_findings=0,
        min_information=0.0,
    ),
    sft=SftConfig(epochs=40, learning_rate=1e-2, batch_size=2, max_length=4096),
    grpo=GrpoConfig(steps=2, num_generations=4, cases_per_step=2, temperature=1.2, max_new_tokens=48, save_steps=1),
)


def _training_case(labelled: LabelledCase) -> TrainingCase:
    return TrainingCase(labelled, Gold(id=labelled.gold.id, label=labelled.gold.label), ())


def test_cases_are_spread_over_publications_before_a_second_case_of_any() -> None:
    sizes = {"PMID:1": 10, "PMID:2": 1, "PMID:3": 3, "PMID:4": 2}
    cases = [
        LabelledCase(case=MARFAN.case.model_copy(update={"case_id": f"{pmid}-{i}"}), gold=MARFAN.gold, pmid=pmid)
        for pmid, size in sizes.items()
        for i in range(size)
    ]
    chosen = spread_over_publications(cases, 6)
    assert [c.case.case_id for c in chosen] == ["PMID:1-0", "PMID:1-1", "PMID:2-0", "PMID:3-0", "PMID:3-1", "PMID:4-0"]
    assert spread_over_publications(cases, 100) == cases


def test_training_leaves_out_cases_whose_publication_feeds_the_disease_annotations() -> None:
    from corpus_builder.sources.phenopackets import index_phenopacket_cases
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    knowledge = get_hpo_knowledge()
    cited = knowledge.cited_publications()
    cases = index_phenopacket_cases()
    kept = annotation_independent(cases, cited)
    assert 0 < len(kept) < len(cases)
    assert all(c.case.observed and c.pmid not in cited for c in kept)
    leaky = next(c for c in cases if c.pmid in cited and c.case.observed)
    # Its gold's rows were curated from its own paper: kept, it would teach the leak the benchmark removes.
    assert any(leaky.pmid in row.pmids for row in knowledge.annotations(leaky.gold.id))
    assert leaky not in kept
    no_findings = leaky.model_copy(update={"case": leaky.case.model_copy(update={"findings": ()}), "pmid": "PMID:1"})
    assert annotation_independent([no_findings], cited) == []


@pytest.fixture(scope="module")
def env(small_index: Path, test_settings: Settings) -> DiagnosticEnv:
    return DiagnosticEnv(EmbeddedIndex(small_index, test_settings).retriever("hybrid"), BUDGET)


@pytest.fixture(scope="module")
def teacher_conversations(env: DiagnosticEnv) -> list[list[dict[str, str]]]:
    teacher = EvidencePolicy(CONFIG.teacher)
    episodes = [
        play(c.labelled.case, teacher, env, c.gold, CONFIG.reward_config()) for c in map(_training_case, (MARFAN, CF))
    ]
    assert all(e.stop_reason == "diagnosed" for e in episodes)
    return [e.messages(COMPACT_SYSTEM_PROMPT) for e in episodes]


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory, teacher_conversations: list[list[dict[str, str]]]) -> Path:
    texts = [m["content"] for messages in teacher_conversations for m in messages]
    shape = CONFIG.model
    return build_tiny_model(
        tmp_path_factory.mktemp("untrained"),
        corpus=texts,
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        initializer_range=0.02,
    )


def test_assistant_mask_covers_exactly_the_turns_the_model_wrote(
    untrained: Path, teacher_conversations: list[list[dict[str, str]]]
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(untrained, local_files_only=True)
    messages = teacher_conversations[0]
    encoded = encode_conversation(tokenizer, messages)
    assert len(encoded.input_ids) == len(encoded.assistant_mask)
    # The prompt is exactly what the policy is given before its first turn.
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert encoded.input_ids[: encoded.prompt_length] == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert not any(encoded.assistant_mask[: encoded.prompt_length])
    # Masked-in tokens decode to the assistant turns (each closed by the end-of-message token), nothing else.
    written = tokenizer.decode([t for t, m in zip(encoded.input_ids, encoded.assistant_mask, strict=True) if m])
    turns = [m["content"] for m in messages if m["role"] == "assistant"]
    assert written == "".join(f"{turn}<|im_end|>" for turn in turns)
    observations = [m["content"] for m in messages[2:] if m["role"] == "user"]
    assert observations and all(o not in written for o in observations)


def test_split_keeps_publications_on_one_side() -> None:
    cases = [
        LabelledCase(case=MARFAN.case.model_copy(update={"case_id": f"c{i}"}), gold=MARFAN.gold, pmid=f"PMID:{i % 7}")
        for i in range(70)
    ]
    train, validation = split_train_validation(cases, validation_fraction=0.3, max_findings=8)
    assert train and validation and len(train) + len(validation) == 70
    assert not {c.pmid for c in train} & {c.pmid for c in validation}
    assert split_train_validation(cases, 0.3, max_findings=2) == ([], [])  # 3 findings > 2: all skipped


@pytest.fixture(scope="module")
def sft_model(
    tmp_path_factory: pytest.TempPathFactory, untrained: Path, teacher_conversations: list[list[dict[str, str]]]
) -> Path:
    work = tmp_path_factory.mktemp("sft")
    torch.manual_seed(0)
    run_sft(CONFIG, untrained, teacher_conversations * 4, work / "run", work / "final", work / "metrics.jsonl")
    losses = [r["loss"] for r in read_metrics(work / "metrics.jsonl") if "loss" in r]
    assert losses and losses[-1] < losses[0] / 2, losses  # it memorises the teacher's two episodes
    return work / "final"


@pytest.mark.slow
def test_sft_model_follows_the_protocol(sft_model: Path, env: DiagnosticEnv) -> None:
    from dxsearch.policies.backends.transformers import TransformersBackend
    from dxsearch.policies.llm import LlmPolicy

    policy = LlmPolicy(
        TransformersBackend(sft_model), max_new_tokens=CONFIG.grpo.max_new_tokens, system_prompt=COMPACT_SYSTEM_PROMPT
    )
    case = _training_case(MARFAN)
    episode = play(case.labelled.case, policy, env, case.gold, CONFIG.reward_config())
    assert episode.reward.breakdown["format/well_formed"] > 0.0
    assert episode.reward.value > 0.0


@pytest.mark.slow
def test_short_grpo_job_has_finite_loss_and_changes_parameters(
    tmp_path: Path, sft_model: Path, small_index: Path, test_settings: Settings
) -> None:
    retriever = EmbeddedIndex(small_index, test_settings).retriever("hybrid")
    cases = [_training_case(MARFAN), _training_case(CF)]
    metrics = tmp_path / "metrics.jsonl"
    run_grpo(CONFIG, sft_model, cases, retriever, tmp_path / "run", tmp_path / "final", metrics)

    steps = [r for r in read_metrics(metrics) if r.get("stage") == "grpo" and "loss" in r and "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all(r["loss"] is not None and math.isfinite(r["loss"]) for r in steps)
    assert any(r["reward_std"] > 0 for r in steps), "no reward spread in any group: nothing to learn from"
    assert all(0.0 <= r["rewards/total/mean"] <= 1.0 for r in steps)
    before = load_file(sft_model / "model.safetensors")
    after = load_file(tmp_path / "final" / "model.safetensors")
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert changed, "GRPO left every parameter as it was"
    assert (tmp_path / "run" / "checkpoint-2").is_dir()


def test_curriculum_puts_easy_cases_first_and_keeps_ties_in_order() -> None:
    from dxsearch.train.pipeline import curriculum_order

    cases = [_training_case(c) for c in (MARFAN, CF, MARFAN, CF)]
    ordered = curriculum_order(cases, [0.2, 0.9, 0.9, 0.0])
    assert ordered == [cases[1], cases[2], cases[0], cases[3]]


def test_prompts_identify_their_case() -> None:
    from dxsearch.train.grpo import case_key, grpo_dataset

    dataset = grpo_dataset([_training_case(MARFAN), _training_case(CF)], COMPACT_SYSTEM_PROMPT)
    keys = [case_key(row["prompt"]) for row in dataset]
    assert keys == [render_case(MARFAN.case), render_case(CF.case)]
    assert dataset[0]["prompt"] == build_messages(MARFAN.case, [], COMPACT_SYSTEM_PROMPT)
    json.dumps(dataset[0]["prompt"])  # plain data, as TRL's sampler hands it over


@pytest.mark.slow
def test_grpo_resumes_from_its_last_checkpoint_after_an_interruption(
    tmp_path: Path, sft_model: Path, small_index: Path, test_settings: Settings
) -> None:
    """The resumed run continues at step 2 from checkpoint 1 and logs each step once.

    It does not reproduce the uninterrupted run bit for bit: TRL's RepeatSampler draws each
    epoch's order from a generator that a resume recreates, so the batches after the
    checkpoint can come in another order (measured; the rollouts are seeded per step).
    """
    retriever = EmbeddedIndex(small_index, test_settings).retriever("hybrid")
    cases = [_training_case(MARFAN), _training_case(CF)]
    cut = tmp_path / "cut"
    run_grpo(CONFIG, sft_model, cases, retriever, cut / "run", cut / "final", cut / "metrics.jsonl")
    first_step = [r for r in read_metrics(cut / "metrics.jsonl") if r["step"] == 1]
    # Interrupted after step 1: the last checkpoint and the final model never got written.
    for leftover in (cut / "run" / "checkpoint-2", cut / "final"):
        for path in sorted(leftover.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        leftover.rmdir()
    run_grpo(CONFIG, sft_model, cases, retriever, cut / "run", cut / "final", cut / "metrics.jsonl")

    rows = read_metrics(cut / "metrics.jsonl")
    assert [r["step"] for r in rows if "loss" in r and "reward" in r] == [1, 2]  # step 2 logged once
    assert [r for r in rows if r["step"] == 1] == first_step  # what was done before is kept as it was
    state = json.loads((cut / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    before = load_file(sft_model / "model.safetensors")
    after = load_file(cut / "final" / "model.safetensors")
    assert any(not torch.equal(before[name], after[name]) for name in before)
