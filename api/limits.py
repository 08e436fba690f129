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

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

#: Methods whose body the limit reads and buffers (others carry none worth reading).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by ``Content-Length`` and by bytes actually read.

    The body is read here, bounded, and replayed to the app: nothing downstream (JSON parsing, FHIR
    validation) ever sees more than ``max_bytes``, and a client that lies about ``Content-Length`` or
    streams chunked data is cut off as soon as it passes the limit. With ``body_timeout_s``, a body not
    wholly received that long after the app started reading it is a 408 (a slow client holds no worker).
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
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await error_response(scope, 400, "Content-Length is not a number")(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await error_response(scope, 413, self._too_large)(scope, receive, send)
                    return
        chunks: list[bytes] = []
        size = 0
        deadline = None if self.body_timeout_s is None else time.monotonic() + self.body_timeout_s
        while True:
            try:
                message = await (
                    receive() if deadline is None else asyncio.wait_for(receive(), deadline - time.monotonic())
                )
            except TimeoutError:
                slow = f"request body not received within {self.body_timeout_s:g} s"
                await error_response(scope, 408, slow, headers={"Connection": "close"})(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await error_response(scope, 413, self._too_large)(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body once, then defers to the server (disconnects)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


#: The one bucket every missing or unknown key draws on (key digests are hex, so it cannot collide with one).
UNKNOWN_KEYS = "unknown-keys"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by API-key digest: ``per_minute`` tokens of burst, refilled at ``per_minute``/60 s.

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

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until a token is available."""
        if self.per_minute == 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), updated=now)
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate
