"""A tiny, randomly initialised chat model built entirely on this machine.

Tests and the local GRPO trainer need a real causal LM with a real tokenizer and
chat template, loaded through the same code path as a production checkpoint, but
nothing may be downloaded. This module builds one: a byte-level BPE tokenizer
trained on protocol-shaped text (the system prompt, rendered cases, turns and
results) and a two-layer Qwen2 model, saved with ``save_pretrained``. The same
seed gives byte-identical files, so the checkpoint fingerprint is stable too.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # type: ignore[import-untyped]
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from dxsearch.cases import Case, Finding
from dxsearch.policies.prompt import SYSTEM_PROMPT, render_case
from dxsearch.protocol import (
    Action,
    Candidate,
    Diagnose,
    Passage,
    Reason,
    Result,
    Retrieve,
    render_result,
    render_turn,
)

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
#: Qwen's chat format: ``<|im_start|>role\\n...<|im_end|>\\n`` per message, then the assistant prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
VOCAB_SIZE = 1024

# Findings words for tokenizer training only; ids are made up per case (only their shape matters).
_FINDING_LABELS = (
    "Arachnodactyly",
    "Ectopia lentis",
    "Tall stature",
    "Short stature",
    "Aortic root aneurysm",
    "Pectus excavatum",
    "Seizure",
    "Global developmental delay",
    "Intellectual disability",
    "Hypotonia",
    "Microcephaly",
    "Macrocephaly",
    "Hypertelorism",
    "Ptosis",
    "Strabismus",
    "Sensorineural hearing impairment",
    "Cleft palate",
    "Atrial septal defect",
    "Failure to thrive",
    "Recurrent respiratory infections",
    "Pancreatic insufficiency",
    "Hepatomegaly",
    "Splenomegaly",
    "Chorea",
    "Ataxia",
    "Nystagmus",
    "Scoliosis",
    "Joint hypermobility",
    "Brachydactyly",
    "Syndactyly",
    "Polydactyly",
    "Cataract",
    "Retinal dystrophy",
    "Cardiomyopathy",
    "Renal cyst",
    "Hypoglycemia",
    "Lactic acidosis",
    "Muscle weakness",
    "Elevated creatine kinase",
    "Hyperkeratosis",
)
_DISEASES = (
    ("Marfan syndrome", "OMIM:154700"),
    ("Loeys-Dietz syndrome 1", "OMIM:609192"),
    ("Cystic fibrosis", "OMIM:219700"),
    ("Huntington disease", "OMIM:143100"),
    ("Noonan syndrome 1", "OMIM:163950"),
    ("Rett syndrome", "OMIM:312750"),
    ("Dravet syndrome", "ORPHA:33069"),
    ("Ehlers-Danlos syndrome", "ORPHA:98249"),
)


def _synthetic_texts(rng: random.Random, count: int) -> Iterator[str]:
    """Rendered cases, turns and results in the exact shapes the model will read and write."""
    for number in range(count):
        labels = rng.sample(_FINDING_LABELS, k=rng.randint(2, 6))
        findings = tuple(
            Finding(label=label, hpo_id=f"HP:{rng.randrange(10**7):07d}", excluded=index > 0 and rng.random() < 0.2)
            for index, label in enumerate(labels)
        )
        case = Case(
            case_id=f"synthetic-{number}",
            sex=rng.choice(("male", "female", "unknown")),
            age=f"P{rng.randint(0, 60)}Y{rng.randint(0, 11)}M",
            findings=findings,
        )
        yield render_case(case)
        query = "; ".join(label for label in labels)
        disease, code = rng.choice(_DISEASES)
        evidence_id = f"{code.split(':')[0].lower()}:{code.split(':')[1]}#{rng.randint(0, 3)}"
        patient_id = f"pt:{rng.getrandbits(32):08x}#0"
        yield render_turn(Reason(f"The findings {query} suggest {disease}."))
        yield render_turn(Retrieve(rng.choice((Action.MATCH, Action.SEARCH)), query))
        yield render_turn(Retrieve(Action.LOOKUP, disease))
        yield render_result(
            Result(
                passages=(
                    Passage(evidence_id, disease, f"{disease} ({code})\nClinical features: {query}", 0.9, (code,)),
                    Passage(patient_id, "Patient record", f"Observed findings: {query}", 0.5, (code,)),
                ),
                note="2 retrievals left" if rng.random() < 0.3 else None,
            )
        )
        confidence = round(rng.random(), 2)
        yield render_turn(Diagnose((Candidate(disease, code, (evidence_id, patient_id), confidence),)))
        yield render_turn(Diagnose(()))


def _train_tokenizer(texts: Iterable[str], vocab_size: int = VOCAB_SIZE) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[ENDOFTEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        chat_template=CHAT_TEMPLATE,
        model_max_length=8192,
    )


def _token_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    found = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(found, int):
        raise TypeError(f"{token} is not a single token")
    return found


def build_tiny_model(
    out_dir: Path,
    *,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    vocab_size: int = VOCAB_SIZE,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    initializer_range: float = 0.3,
) -> Path:
    """Build and save a tiny Qwen2 chat model and its tokenizer to ``out_dir``; returns ``out_dir``.

    ``corpus`` adds texts to the tokenizer's training data (the protocol text is always in).
    The defaults are the test model; the local trainer passes its preset's shape, and a
    normal ``initializer_range`` (0.02) for a model that is going to be trained.
    The model is untrained: its output is noise in the right format of bytes, which is what
    tests of loading, generation, stopping and serving need, and a starting point for training.
    """
    rng = random.Random(seed)
    texts = [SYSTEM_PROMPT, *_synthetic_texts(rng, 200), *(corpus or ())]
    tokenizer = _train_tokenizer(texts, vocab_size)
    eos_id = _token_id(tokenizer, IM_END)
    pad_id = _token_id(tokenizer, ENDOFTEXT)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        # The usual 0.02 makes an untrained model this small repeat one token forever; the test
        # default 0.3 gives varied output, so tests exercise stopping and parsing on more than one string.
        initializer_range=initializer_range,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)  # type: ignore[no-untyped-call]
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
