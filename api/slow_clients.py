"""Slow clients are cut off: a deadline for the request head, enforced in uvicorn's HTTP/1.1 protocol.

Why here: uvicorn has a keep-alive timeout between requests but none while a request head arrives, and
every byte received cancels the keep-alive timer, so a client that sends one header byte every few
seconds holds a connection (and, with enough of them, every connection) forever: slowloris.
:func:`protocol_with_header_timeout` gives uvicorn a protocol that closes a connection whose request line
and headers are not complete ``header_timeout_s`` after the connection opened (or after the previous
response, on a kept-alive connection). The body has its own deadline in the app
(:class:`api.limits.BodySizeLimitMiddleware`), and the number of connections and requests in flight is
capped by uvicorn's ``limit_concurrency`` (503 past it).

Why httptools (``uvicorn[standard]``), not h11: h11 parses every request, body bytes included, in pure
Python while holding the GIL; a client streaming 1 MB bodies cost every other request time on the one
event loop (issue 16, ``bench/bench_bundle_latency.py``). httptools parses in C.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request head (:attr:`header_timeout_s`)."""

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _serving(self) -> bool:
        """A request whose head is complete is being served (its own deadlines apply, not this one)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._serving() and not self.transport.is_closing():
            self.logger.info("request head not received within %.1f s: connection closed", self.header_timeout_s)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request head on this kept-alive connection (unless a pipelined one is already served).
        if not self.transport.is_closing() and not self._serving():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def protocol_with_header_timeout(header_timeout_s: float) -> type[HeaderTimeoutProtocol]:
    """A protocol class for ``uvicorn.run(http=...)`` that cuts off heads slower than ``header_timeout_s``."""
    if header_timeout_s <= 0:
        raise ValueError(f"header_timeout_s must be > 0, got {header_timeout_s}")
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": header_timeout_s})
