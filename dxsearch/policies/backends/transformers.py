"""The local backend: any causal LM with a chat template, from a local directory, via transformers.

The only module of the LLM policy's that imports torch and transformers; used by tests, the local
trainer (over its live weights) and small deployments. Nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from dxsearch.policies.backends.base import (
    Completion,
    FinishReason,
    Messages,
    check_sampling,
    cut_at_first_stop,
    sampling_suffix,
)
from dxsearch.policies.base import PolicyError

#: Files that decide a checkpoint's output: config, weights, tokenizer, chat template. Optimiser
#: states and training logs in a checkpoint directory are deliberately not hashed.
_CHECKPOINT_PATTERNS = (
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model*.bin.index.json",
    "tokenizer*",
    "vocab.*",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.*",
)


def checkpoint_fingerprint(model_path: Path) -> str:
    """Short SHA-256 over a checkpoint's config, weight and tokenizer files (names and bytes).

    Read once at load time; traces carry it so a result can be tied to the exact weights.
    """
    files = sorted({p for pattern in _CHECKPOINT_PATTERNS for p in model_path.glob(pattern) if p.is_file()})
    if not any(p.name == "config.json" for p in files):
        raise FileNotFoundError(f"{model_path} has no config.json: not a model directory")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:12]


class StopOnStrings(StoppingCriteria):
    """Stops a sequence once its generated tail contains any stop string.

    Decodes only the last few generated tokens per step (enough to hold the longest stop
    string even at one character per token), so the check stays cheap for long outputs and
    works with any tokenizer, whatever the tags split into.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, stop: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        self._prompt_length = prompt_length
        self._stop = tuple(s for s in stop if s)
        self._window = max((len(s) for s in self._stop), default=0) + 2

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = [False] * input_ids.shape[0]
        if self._stop:
            for row in range(input_ids.shape[0]):
                tail = input_ids[row, self._prompt_length :][-self._window :].tolist()
                text = self._tokenizer.decode(tail, skip_special_tokens=False)
                done[row] = any(s in text for s in self._stop)
        result: torch.BoolTensor = torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[assignment]
        return result


class TransformersBackend:
    """Any causal LM with a chat template, loaded from a local directory only.

    Greedy by default so evaluation is reproducible; with ``temperature > 0`` and a ``seed``
    each call draws from ``seed + call number`` inside a forked RNG, so runs repeat without
    touching the process-wide torch RNG (without a seed, that RNG is used). Calls are
    serialised by a lock: one model, one generation at a time. ``num_threads`` > 0 sets torch's
    thread count for the whole process.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        seed: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        dtype: str = "auto",
        model_id: str | None = None,
        num_threads: int = 0,
    ) -> None:
        check_sampling(temperature, top_p)
        if num_threads < 0:
            raise ValueError("num_threads must be >= 0 (0 keeps torch's default)")
        if num_threads:
            # Process-wide, like the embedder's: small models decode several times faster on one
            # thread than on cores they share with other work.
            torch.set_num_threads(num_threads)
        model_path = Path(model_path)
        if not model_path.is_dir():
            # A missing local path would otherwise be read as a hub repo id.
            raise FileNotFoundError(f"model directory {model_path} does not exist")
        torch_dtype: object = dtype if dtype == "auto" else getattr(torch, dtype, None)
        if not (torch_dtype == "auto" or isinstance(torch_dtype, torch.dtype)):
            raise ValueError(f"unknown dtype {dtype!r}; use 'auto' or a torch dtype name such as 'bfloat16'")
        tokenizer: Any = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True, dtype=torch_dtype)
        model.to(torch.device(device))
        model.eval()
        self._attach(
            model,
            tokenizer,
            checkpoint=checkpoint_fingerprint(model_path),
            model_id=model_id or model_path.name,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        model_id: str,
        checkpoint: str,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> TransformersBackend:
        """A backend over a model already in memory: the trainer's live weights during GRPO rollouts.

        ``checkpoint`` names the weights (e.g. ``step-12``), since live weights have no files to hash.
        The model is used as it is (device, train/eval mode): the caller owns it.
        """
        check_sampling(temperature, top_p)
        backend = cls.__new__(cls)
        backend._attach(
            model, tokenizer, checkpoint=checkpoint, model_id=model_id, temperature=temperature, top_p=top_p, seed=seed
        )
        return backend

    def _attach(
        self,
        model: Any,
        tokenizer: Any,
        *,
        checkpoint: str,
        model_id: str,
        temperature: float,
        top_p: float,
        seed: int | None,
    ) -> None:
        self.checkpoint = checkpoint
        self.model_id = model_id
        self.version = self.checkpoint + sampling_suffix(temperature, top_p, seed)
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.tokenizer: Any = tokenizer
        if self.tokenizer.chat_template is None:
            raise ValueError(f"the tokenizer of {model_id} has no chat template")
        # Any: transformers' generate/to typing is narrower than what a loaded model accepts.
        self.model: Any = model
        self.device = next(model.parameters()).device
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids: frozenset[int] = frozenset(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self._pad_id: int | None = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else next(iter(self._eos_ids), None)
        )
        self._calls = 0
        self._lock = threading.Lock()

    def prompt_ids(self, messages: Messages) -> list[int]:
        """The tokenised chat-templated prompt, ending with the assistant generation prompt."""
        prompt: str = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
        )
        ids: list[int] = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return ids

    def generate(self, messages: Messages, stop: Sequence[str], max_new_tokens: int) -> Completion:
        """Generate one completion and say how it ended; text is cut after the first stop string."""
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        prompt = self.prompt_ids(messages)
        input_ids = torch.tensor([prompt], dtype=torch.long, device=self.device)
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": max_new_tokens,
            "stopping_criteria": StoppingCriteriaList([StopOnStrings(self.tokenizer, len(prompt), stop)]),
            "pad_token_id": self._pad_id,
            "do_sample": self.temperature > 0.0,
        }
        if self.temperature > 0.0:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=0)
        else:
            # Greedy: clear sampling knobs a checkpoint's generation_config may carry, so no warnings.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with self._lock:
            call = self._calls
            self._calls += 1
            try:
                # Seeded: a forked RNG, so the process-wide one is left as it was. Unseeded: the
                # process RNG itself, which must advance or every call would repeat one sample.
                seeded = self.seed is not None and self.temperature > 0.0
                rng = torch.random.fork_rng(devices=self._rng_devices()) if seeded else contextlib.nullcontext()
                with torch.inference_mode(), rng:
                    if seeded and self.seed is not None:
                        torch.manual_seed(self.seed + call)
                    output = self.model.generate(**kwargs)
            except (RuntimeError, ValueError) as exc:
                # The exception text can quote tensors built from the prompt: report only its type.
                raise PolicyError(f"local generation failed ({type(exc).__name__})") from None
        new_ids: list[int] = output[0, len(prompt) :].tolist()
        raw = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, found = cut_at_first_stop(raw, stop)
        if found is not None:
            reason: FinishReason = "stop"
        elif new_ids and new_ids[-1] in self._eos_ids:
            reason = "eos"
        else:
            reason = "length"
        return Completion(text=text, finish_reason=reason, stop=found, completion_tokens=len(new_ids))

    def complete(self, messages: Messages, stop: Sequence[str], max_new_tokens: int) -> str:
        """:meth:`generate`'s text."""
        return self.generate(messages, stop, max_new_tokens).text

    def _rng_devices(self) -> list[int]:
        if self.device.type == "cuda":
            return [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        return []
