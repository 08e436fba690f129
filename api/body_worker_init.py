"""What the body worker process (:mod:`api.body_process`) runs first: its lower priority, and an end with its parent.

Why a module of its own, importing nothing of the project: a spawned worker imports its initializer's
module before the initializer runs, at the server's priority; the heavy imports (FastAPI, the body models)
come after, at the worker's.

Why the watchdog: a worker of a ``ProcessPoolExecutor`` waits on its call queue, whose write end it holds
too, so when the server dies without shutting its pool down (``kill -9``, out of memory) the worker never
sees the end of its input and would wait forever. It checks once a second that its parent is still the
process that started it, and exits when it is not.
"""

from __future__ import annotations

import os
import threading
import time

#: How often the worker checks that its parent is alive (seconds).
PARENT_CHECK_S = 1.0


def init_worker(niceness: int) -> None:
    """Lower this process's priority by ``niceness``; exit it once the process that started it is gone."""
    os.nice(niceness)
    parent = os.getppid()
    watchdog = threading.Thread(target=_exit_with, args=(parent,), name="dxsearch-body-worker-watchdog", daemon=True)
    watchdog.start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)  # the server is gone: nothing to answer, nothing to clean up
