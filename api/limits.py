"""Request limits: body size (before anything parses the body) and a per-key token-bucket rate limit.

Why in-process: one API process guards its own CPU. A token bucket per key allows a short burst (one
minute's worth) and then a steady rate, without a background task; state is a few floats per configured
key, so memory is bounded by the key ring. Several processes behind a load balancer each enforce the
limit on their own share; a shared limit would need a shared store (Redis), which the embedded default
does not have.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

#: Methods whose body the limit reads and buffers (others carry none worth reading).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyRefusedError(HTTPException):
    """A body over the size limit (413) or too slow to arrive (408), raised from the bounded ``receive``.

    An :class:`HTTPException` so that, raised inside a FastAPI route that reads its body, the app's own
    handler answers in the one error shape; :class:`BodySizeLimitMiddleware` answers it for any other app.
    The connection is closed after the answer: the rest of the body is not worth receiving.
    """

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail, headers={"Connection": "close"})


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by ``Content-Length`` and by bytes actually read.

    A ``Content-Length`` over the limit is refused before the app runs. Otherwise the app gets a bounded
    ``receive``: nothing downstream (JSON parsing, FHIR validation) ever sees more than ``max_bytes``, and a
    client that lies about ``Content-Length`` or streams chunked data is cut off as soon as it passes the
    limit. With ``body_timeout_s``, a body not wholly received that long after the app started reading it
    is a 408 (a slow client holds no worker).

    Why the body is not read here, before the app: the app reads it only once the caller's key, role and
    rate limit have admitted it (:mod:`api.body`), so a refused caller's body never reaches the app
    (uvicorn buffers about 64 KiB of it, then discards the rest as it arrives; issue 16: one client
    flooding 1 MB bodies slowed everyone else).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        self._too_large = f"request body is larger than the limit of {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            declared = declared_length(scope)
        except ValueError:
            await error_response(scope, 400, "Content-Length is not a number")(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await error_response(scope, 413, self._too_large)(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._bounded(receive), tracking_send)
        except BodyRefusedError as exc:
            if response_started:
                raise
            await error_response(scope, exc.status_code, exc.detail, headers=exc.headers)(scope, receive, send)

    def _bounded(self, receive: Receive) -> Receive:
        """``receive`` cut off past ``max_bytes`` (413) or ``body_timeout_s`` after the first read (408)."""
        size = 0
        deadline: float | None = None
        complete = False

        async def bounded() -> Message:
            nonlocal size, deadline, complete
            if complete:  # the body is in; what follows (a disconnect) has no deadline
                return await receive()
            if deadline is None and self.body_timeout_s is not None:
                deadline = time.monotonic() + self.body_timeout_s
            try:
                message = await (
                    receive() if deadline is None else asyncio.wait_for(receive(), deadline - time.monotonic())
                )
            except TimeoutError:
                raise BodyRefusedError(408, f"request body not received within {self.body_timeout_s:g} s") from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    raise BodyRefusedError(413, self._too_large)
                complete = not message.get("more_body", False)
            return message

        return bounded


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or None when it has none; ValueError when it is not a number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            length = int(value)
            if length < 0:
                raise ValueError("negative Content-Length")
            return length
    return None


def body_cost(scope: Scope, unit_bytes: int, max_bytes: int) -> int:
    """Rate-limit tokens a request costs: one per started ``unit_bytes`` of its body, at least one.

    Why: a token per request let a client send 1 MB bodies as often as small ones, and each costs the
    server its receiving and parsing (issue 16). The cost is known from ``Content-Length`` before the body
    is read; a body sent without one (chunked) is charged as the largest allowed, ``max_bytes``.
    ``unit_bytes == 0`` charges one token per request whatever its body.
    """
    if unit_bytes <= 0 or scope.get("method") not in _BODY_METHODS:
        return 1
    try:
        declared = declared_length(scope)
    except ValueError:
        declared = None
    size = max_bytes if declared is None else min(declared, max_bytes)
    return max(1, -(-size // unit_bytes))


#: The one bucket every missing or unknown key draws on (key digests are hex, so it cannot collide with one).
UNKNOWN_KEYS = "unknown-keys"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by API-key digest: ``per_minute`` tokens of burst, refilled at ``per_minute``/60 s.

    A request takes one token, or more for a big body (:func:`body_cost`).

    ``per_minute == 0`` turns limiting off. Thread-safe (a lock around a few float operations).
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError(f"per_minute must be >= 0, got {per_minute}")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def cost_cap(self, cost: int) -> int:
        """``cost`` bounded by the burst (one minute's tokens), so that any request can pass once refilled."""
        return max(1, min(cost, self.per_minute))

    def acquire(self, key: str, cost: int = 1) -> float:
        """Take ``cost`` tokens for ``key`` (see :meth:`cost_cap`): 0.0 if allowed, else the seconds to wait."""
        if self.per_minute == 0:
            return 0.0
        needed = float(self.cost_cap(cost))
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), updated=now)
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= needed:
                bucket.tokens -= needed
                return 0.0
            return (needed - bucket.tokens) / self._rate
