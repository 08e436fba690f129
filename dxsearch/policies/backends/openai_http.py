"""The HTTP backend: ``/v1/chat/completions`` of an OpenAI-compatible server such as vLLM.

httpx with tenacity's retries; no torch, no transformers: a policy served through vLLM does not
load them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from dxsearch.policies.backends.base import Completion, Messages, check_sampling, cut_at_first_stop, sampling_suffix
from dxsearch.policies.base import PolicyError, PolicyUnavailableError
from dxsearch.protocol import Action

_log = structlog.get_logger(__name__)


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


#: Stop strings an OpenAI-compatible API takes at most: OpenAI's limit, and vLLM's default
#: (``VLLM_MAX_STOP_STRINGS``); more is an HTTP 400 on every request.
MAX_STOP_STRINGS = 4


def stops_to_send(stop: Sequence[str]) -> list[str]:
    """The stop strings a request carries: ``stop`` itself, or, past :data:`MAX_STOP_STRINGS`, the prefix all
    of them share (the protocol's five closing tags share ``</``). Generation then stops at any of them,
    and the reply is completed with the closing tag of the turn's opening tag."""
    if len(stop) <= MAX_STOP_STRINGS:
        return list(stop)
    shared = os.path.commonprefix(list(stop))  # noqa: RUF071 - a character prefix is meant, not a path
    if not shared:
        raise ValueError(f"more than {MAX_STOP_STRINGS} stop strings with no common prefix: {list(stop)!r}")
    return [shared]


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
        check_sampling(temperature, top_p)
        if timeout_s <= 0 or max_retries < 0 or backoff_initial_s < 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("timeout_s > 0, max_retries >= 0 and 0 <= backoff_initial_s <= backoff_max_s required")
        base = base_url.rstrip("/")
        self.endpoint = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
        self.model_id = model
        self.version = (revision or "unpinned") + sampling_suffix(temperature, top_p, seed)
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
        sent = stops_to_send(stop)
        payload: dict[str, Any] = {
            "model": self.model_id,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_new_tokens,
            "stop": sent,
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
            raise PolicyUnavailableError(
                f"chat completion failed after {self.max_retries + 1} attempts: {reason}"
            ) from None
        return self._read(response, stop, sent)

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

    def _read(self, response: httpx.Response, stop: Sequence[str], sent: Sequence[str]) -> Completion:
        """The completion of a response to a request that carried ``sent`` for the stop strings ``stop``."""
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
        shared = sent[0] if list(sent) != list(stop) else None
        if shared is not None and shared in content:  # the server kept the shared prefix: cut before it
            content = content[: content.index(shared)]
        elif choice.finish_reason == "length":
            return Completion(content, "length", None, tokens)
        elif choice.finish_reason != "stop":
            raise PolicyError(f"chat completion ended with finish_reason={choice.finish_reason!r}")
        elif "stop_reason" in choice.model_fields_set and choice.stop_reason != shared:
            if isinstance(choice.stop_reason, str) and choice.stop_reason in stop:
                return Completion(content + choice.stop_reason, "stop", choice.stop_reason, tokens)
            return Completion(content, "eos", None, tokens)
        # No stop_reason reported: "stop" means a stop string or EOS; the turn's tag decides.
        opening = _OPENING_ACTION.search(content)
        closing = f"</{opening.group(1)}>" if opening else None
        if closing is not None and closing in stop:
            return Completion(content + closing, "stop", closing, tokens)
        return Completion(content, "eos", None, tokens)
