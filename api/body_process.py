"""Big request bodies are parsed, validated and screened in one separate process at a lower CPU priority.

Why: parsing is CPU work the serving process cannot share well. A 1 MB FHIR bundle is ~100,000 Python
objects (orjson, then pydantic, then freeing them: ~10 ms of the server's CPU, much of it holding the GIL),
and a client that posts one as soon as the last is refused keeps a second core busy with it while the
small requests of everyone else wait (issue 16, ``bench/bench_bundle_latency.py``). Here bodies of at least
``body_process_min_bytes`` (``DXSEARCH_BODY_PROCESS_MIN_BYTES``) go to one worker process at a lower CPU
priority (``DXSEARCH_BODY_PROCESS_NICENESS``), so the operating system runs the serving process's threads
first; and the worker runs the route's screen (:mod:`api.body`) too, so a bundle over the entry cap comes
back as its small refusal, never as objects. An accepted body comes back pickled: unpickling costs about
what parsing did, so for those the gain is in priority only. Smaller bodies are parsed in a thread.

Why niceness 10 by default and not 19: at 19 the worker gets ~1.5% of a core the server keeps busy (CPU
weight 15 against 1,024), and on a saturated machine (load 7-9 on 2 cores) some refusals took 2-6 s,
past the issue's 2 s; at 10 (weight 110) small requests gained as much in the bench and refusals stayed
under 1.7 s (README, issue 16).

The answers are the in-thread path's: the worker runs the same :func:`api.body.parse_screened` and sends
back its result or its error (FastAPI's validation errors, the 400 for an undecodable body) to be raised
here. Anything else the worker does (it dies, it is killed, it does not answer within ``timeout_s``, its
result does not pickle) makes this request parse in a thread instead, as it would have without the
worker, and the next big body starts a fresh one: never a 500, never a hang.

Why ``spawn``: the serving process has threads (uvloop's, the policy's, torch's), and forking a threaded
process can deadlock the child; a spawned one starts clean. The serving process starts it at startup
(:func:`api.serve.serve`); other apps (tests) at their first big body, so one that never sees one never
pays for it. Until it is up (imports take seconds at its priority), big bodies are parsed in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from api.body import Refused, Screen, parse_screened
from api.body_worker_init import init_worker
from api.logging import get_logger

ModelT = TypeVar("ModelT", bound=BaseModel)
#: After the worker was lost, this long before another is started (a worker that cannot start, or dies
#: on every body, must not make the server spawn processes in a loop); big bodies parse in a thread meanwhile.
RESTART_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the worker sends back: the parsed body or :class:`Refused`, or the error to raise in its place."""

    value: Any = None
    validation_errors: list[Any] | None = None
    http_error: tuple[int, str] | None = None

    def result(self) -> Any:
        if self.validation_errors is not None:
            raise RequestValidationError(self.validation_errors)
        if self.http_error is not None:
            raise HTTPException(*self.http_error)
        return self.value


def _parse_in_worker(
    raw: bytes, content_type: str | None, model: type[ModelT], screen: Screen[ModelT] | None
) -> _Outcome:
    """:func:`api.body.parse_screened` in the worker, its errors as data (an exception may not pickle whole).

    The validation error's ``body`` (the parsed value, or the raw text) is left behind: the app's handler
    never reads it, and it would be the whole body sent back.
    """
    try:
        return _Outcome(value=parse_screened(raw, content_type, model, screen))
    except RequestValidationError as exc:
        return _Outcome(validation_errors=list(exc.errors()))
    except HTTPException as exc:
        return _Outcome(http_error=(exc.status_code, str(exc.detail)))


def _warm_up(models: tuple[type[BaseModel], ...]) -> int:
    """The worker's first call: its pid. Its argument, unpickled, has imported the models' modules."""
    del models
    return os.getpid()


def _log_started(started: Future[int]) -> None:
    """Say when the worker is up (from then on big bodies go to it), or why it is not."""
    if not started.cancelled() and started.exception() is None:
        get_logger().info("body_worker_started", pid=started.result())


class BodyParser:
    """Where a request body is parsed: from ``min_bytes`` on in the worker process, else in a thread.

    ``min_bytes`` 0 keeps every body in a thread. ``timeout_s`` bounds the wait for the worker (queue
    included), after which it is presumed stuck, killed, and the body parsed in a thread. ``niceness`` is
    added to this process's for the worker (:attr:`Settings.body_process_niceness` says how it was chosen).
    After a worker
    was lost, the next is started ``restart_after_s`` later at the earliest. ``models`` are those the
    routes parse: the worker imports their modules as it starts (seconds at its priority), so that no body
    waits for it; a model not named is imported with the first body of it.
    """

    def __init__(
        self,
        min_bytes: int,
        timeout_s: float,
        *,
        niceness: int = 10,
        models: tuple[type[BaseModel], ...] = (),
        restart_after_s: float = RESTART_AFTER_S,
    ) -> None:
        self.min_bytes = min_bytes
        self.niceness = niceness
        self.models = models
        self.timeout_s = timeout_s
        self.restart_after_s = restart_after_s
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[int] | None = None  # the worker's pid, once it is up
        self._lost_at = float("-inf")
        self._closed = False
        #: Bodies the worker has answered (parsed, refused or found invalid): what tests and operators see of it.
        self.worker_answers = 0

    async def parse(
        self, raw: bytes, content_type: str | None, model: type[ModelT], screen: Screen[ModelT] | None = None
    ) -> ModelT | Refused:
        """``raw`` as ``model`` or ``screen``'s :class:`Refused`, raising what :func:`api.body.parse_body` raises."""
        in_thread = partial(parse_screened, raw, content_type, model, screen)
        pool = self._worker_for(len(raw))
        if pool is None:
            return await to_thread.run_sync(in_thread)
        try:
            future = pool.submit(_parse_in_worker, raw, content_type, model, screen)
            outcome = await asyncio.wait_for(asyncio.wrap_future(future), timeout=self.timeout_s)
        except TimeoutError:
            self._lose(pool, f"no answer within {self.timeout_s:g} s", kill=True)
            return await to_thread.run_sync(in_thread)
        except BrokenProcessPool as exc:  # the worker died, or was killed (by the OS, an operator, a timeout)
            self._lose(pool, type(exc).__name__)
            return await to_thread.run_sync(in_thread)
        except Exception as exc:  # e.g. the result did not pickle: the worker is fine, this body parses here
            get_logger().warning("body_worker_failed", error_type=type(exc).__name__)
            return await to_thread.run_sync(in_thread)
        self.worker_answers += 1
        result: ModelT | Refused = outcome.result()
        return result

    def start(self) -> None:
        """Start the worker now rather than at the first big body (the serving process, at startup)."""
        if not self._closed and self.min_bytes > 0 and self._pool is None:
            self._start()

    def close(self) -> None:
        """Stop the worker (app shutdown); bodies are parsed in a thread from now on."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False)  # bodies already sent are still answered
            self._pool = None

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id once it is up, else None."""
        started = self._started
        if started is None or not started.done() or started.exception() is not None:
            return None
        return started.result()

    def _worker_for(self, size: int) -> ProcessPoolExecutor | None:
        """The worker's pool if a body of ``size`` bytes should go to it and it is up; else None (a thread).

        The first big body starts the worker (it is parsed in a thread meanwhile, as every big body is
        while the worker is starting or for :data:`RESTART_AFTER_S` after one was lost).
        """
        if self._closed or self.min_bytes <= 0 or size < self.min_bytes:
            return None
        if self._pool is None:
            if time.monotonic() - self._lost_at >= self.restart_after_s:
                self._start()
            return None
        started = self._started
        if started is None or not started.done():
            return None
        if started.exception() is not None:
            self._lose(self._pool, f"it did not start: {started.exception()!r}")
            return None
        return self._pool

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: this process has threads
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=init_worker, initargs=(self.niceness,)
        )
        self._pool = pool
        self._started = pool.submit(_warm_up, self.models)
        self._started.add_done_callback(_log_started)
        get_logger().info("body_worker_starting", min_bytes=self.min_bytes, niceness=self.niceness)

    def _lose(self, pool: ProcessPoolExecutor, why: str, *, kill: bool = False) -> None:
        """Drop ``pool`` (if still the current one), killing its worker if asked; the next start waits a little."""
        if pool is not self._pool:
            return  # another request already dropped it
        pid = self.worker_pid
        self._pool = None
        self._started = None
        self._lost_at = time.monotonic()
        if kill and pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it died on its own meanwhile
                os.kill(pid, signal.SIGKILL)
        pool.shutdown(wait=False)  # not cancelling: what it still holds fails as BrokenProcessPool, parsed here
        get_logger().warning("body_worker_lost", reason=why, restart_after_s=self.restart_after_s)
