"""An LLM policy: the chat transcript in, one raw turn out, over a local or an HTTP backend.

The policy never repairs what the model wrote: it only cuts the completion at the
first closing tag (a turn ends there; anything after it would be a second action
the model was not asked for) and hands the text to the environment, which judges
it with :func:`dxsearch.protocol.parse_turn`. Malformed output is a scored
outcome, not an error; :class:`PolicyError` is kept for a backend that cannot
answer at all.

Two backends share :class:`TextBackend`: :class:`TransformersBackend` runs any
causal LM from a local directory (tests, the local trainer, small deployments),
:class:`OpenAIChatBackend` talks to an OpenAI-compatible server such as vLLM.
Neither ever downloads anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
import structlog
import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from dxsearch.cases import Case
from dxsearch.policies.base import Exchange, PolicyError
from dxsearch.policies.prompt import SYSTEM_PROMPT, build_messages, prompt_version
from dxsearch.protocol import CLOSING_TAGS, Action

_log = structlog.get_logger(__name__)

FinishReason = Literal["stop", "eos", "length"]
Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Completion:
    """One completion with how it ended; ``text`` includes the stop string when one ended it.

    ``finish_reason`` is ``stop`` (a stop string), ``eos`` (the model's end token) or
    ``length`` (``max_new_tokens`` reached): traces and trainers need to tell them apart.
    """

    text: str
    finish_reason: FinishReason
    stop: str | None = None
    completion_tokens: int | None = None


@runtime_checkable
class TextBackend(Protocol):
    """Chat completion that stops at (and keeps) the first stop string; ``model_id``/``version`` go into traces."""

    model_id: str
    version: str

    def complete(self, messages: Messages, stop: Sequence[str], max_new_tokens: int) -> str:
        """The completion text up to and including the first stop string, nothing after it."""
        ...


def cut_at_first_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """``text`` up to and including the earliest stop string, and that string (``None`` if none occurs)."""
    best: tuple[int, int, str] | None = None
    for candidate in stop:
        if not candidate:
            continue
        index = text.find(candidate)
        if index >= 0:
            key = (index, -len(candidate), candidate)
            if best is None or key < best:
                best = key
    if best is None:
        return text, None
    index, _, found = best
    return text[: index + len(found)], found


class LlmPolicy:
    """A :class:`~dxsearch.policies.base.Policy` over any :class:`TextBackend`.

    ``version`` combines the backend's model id and version with the system prompt's hash, so a
    trace pins both the checkpoint and the prompt it was given.

    ``thread_safe``: callers may run turns from several threads at once without serialising them.
    The policy holds no state of its own, and its backends synchronise (the local model holds a
    lock) or are stateless (an HTTP client).
    """

    thread_safe: bool = True

    def __init__(
        self,
        backend: TextBackend,
        name: str = "llm",
        max_new_tokens: int = 512,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        self.backend = backend
        self.model_id = backend.model_id
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.version = f"{backend.model_id}@{backend.version}+prompt.{prompt_version(system_prompt)}"

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        """The raw next turn, cut after its closing tag; malformed text is returned as it is."""
        messages = build_messages(case, history, self.system_prompt)
        text = self.backend.complete(messages, CLOSING_TAGS, self.max_new_tokens)
        return cut_at_first_stop(text, CLOSING_TAGS)[0]


def _sampling_suffix(temperature: float, top_p: float, seed: int | None) -> str:
    """Empty for greedy decoding (the checkpoint alone decides the output), else the sampling settings."""
    if temperature == 0.0:
        return ""
    return f"+T{temperature:g}p{top_p:g}s{seed if seed is not None else 'none'}"


def _check_sampling(temperature: float, top_p: float) -> None:
    if not temperature >= 0.0:
        raise ValueError("temperature must be >= 0 (0 is greedy)")
    if not 0.0 < top_p <= 1.0:
        raise ValueError("top_p must be in (0, 1]")


# -- local transformers backend ------------------------------------------------------------------

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
        _check_sampling(temperature, top_p)
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
        _check_sampling(temperature, top_p)
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
        self.version = self.checkpoint + _sampling_suffix(temperature, top_p, seed)
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


# -- OpenAI-compatible HTTP backend ---------------------------------------------------------------


class _RetryableStatusError(Exception):
    """A 429 or 5xx answer: the server may recover, so the call is retried."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    content: str | None = None


class _Choice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: _Message
    finish_reason: str | None = None
    # vLLM: the stop string that ended generation, a stop token id, or null for EOS.
    stop_reason: str | int | None = None


class _Usage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    completion_tokens: int | None = None


class _ChatResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    choices: list[_Choice]
    usage: _Usage | None = None


_OPENING_ACTION = re.compile(r"<(" + "|".join(a.value for a in Action) + r")>")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RetryableStatusError | httpx.TransportError)


def _describe(exc: BaseException) -> str:
    """A one-line reason without request content (prompts hold patient findings)."""
    if isinstance(exc, _RetryableStatusError):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"connection failed ({type(exc).__name__})"


class OpenAIChatBackend:
    """``/v1/chat/completions`` of an OpenAI-compatible server (vLLM), with retries and timeouts.

    The API strips the stop string from the content; vLLM reports it as ``stop_reason`` and
    it is put back, so both backends return the turn with its closing tag. Servers that do not
    report ``stop_reason`` get the closing tag of the turn's opening tag, when that is one of
    the stop strings. 429, 5xx, timeouts and connection errors are retried with exponential
    backoff; what still fails becomes a :class:`PolicyError` with a one-line reason.

    The server cannot prove which weights it serves: pass ``revision`` (e.g. the checkpoint
    fingerprint of the served directory) to have it recorded as the version.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        revision: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        _check_sampling(temperature, top_p)
        if timeout_s <= 0 or max_retries < 0 or backoff_initial_s < 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("timeout_s > 0, max_retries >= 0 and 0 <= backoff_initial_s <= backoff_max_s required")
        base = base_url.rstrip("/")
        self.endpoint = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
        self.model_id = model
        self.version = (revision or "unpinned") + _sampling_suffix(temperature, top_p, seed)
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.max_retries = max_retries
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers, transport=transport)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAIChatBackend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def generate(self, messages: Messages, stop: Sequence[str], max_new_tokens: int) -> Completion:
        """One chat completion, retried on transient failures, with the stop string restored."""
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        payload: dict[str, Any] = {
            "model": self.model_id,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_new_tokens,
            "stop": list(stop),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": 1,
        }
        if self.seed is not None:
            payload["seed"] = self.seed
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self._backoff_initial_s, max=self._backoff_max_s),
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._log_retry,
            reraise=False,
        )
        try:
            response = retrying(self._post, payload)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            reason = _describe(last) if last is not None else "unknown error"
            raise PolicyError(f"chat completion failed after {self.max_retries + 1} attempts: {reason}") from None
        return self._read(response, stop)

    def complete(self, messages: Messages, stop: Sequence[str], max_new_tokens: int) -> str:
        """:meth:`generate`'s text."""
        return self.generate(messages, stop, max_new_tokens).text

    def _post(self, payload: dict[str, Any]) -> httpx.Response:
        response = self._client.post(self.endpoint, json=payload)
        if response.status_code == 429 or response.status_code >= 500:
            raise _RetryableStatusError(response.status_code)
        if response.status_code != 200:
            # The body may echo the request; only the status is reported.
            raise PolicyError(f"chat completion rejected: HTTP {response.status_code}")
        return response

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        _log.warning(
            "chat completion retry",
            endpoint=self.endpoint,
            attempt=state.attempt_number,
            reason=_describe(exc) if exc is not None else "unknown",
            wait_s=round(state.upcoming_sleep, 3),
        )

    def _read(self, response: httpx.Response, stop: Sequence[str]) -> Completion:
        try:
            parsed = _ChatResponse.model_validate_json(response.content)
        except ValidationError:
            raise PolicyError("chat completion response is malformed") from None
        if not parsed.choices:
            raise PolicyError("chat completion response has no choices")
        choice = parsed.choices[0]
        tokens = parsed.usage.completion_tokens if parsed.usage is not None else None
        content = choice.message.content or ""
        text, found = cut_at_first_stop(content, stop)
        if found is not None:  # the server kept the stop string (e.g. include_stop_str_in_output)
            return Completion(text, "stop", found, tokens)
        if choice.finish_reason == "length":
            return Completion(content, "length", None, tokens)
        if choice.finish_reason != "stop":
            raise PolicyError(f"chat completion ended with finish_reason={choice.finish_reason!r}")
        if "stop_reason" in choice.model_fields_set:
            if isinstance(choice.stop_reason, str) and choice.stop_reason in stop:
                return Completion(content + choice.stop_reason, "stop", choice.stop_reason, tokens)
            return Completion(content, "eos", None, tokens)
        # No stop_reason reported: "stop" means a stop string or EOS; the turn's tag decides.
        opening = _OPENING_ACTION.search(content)
        closing = f"</{opening.group(1)}>" if opening else None
        if closing is not None and closing in stop:
            return Completion(content + closing, "stop", closing, tokens)
        return Completion(content, "eos", None, tokens)
