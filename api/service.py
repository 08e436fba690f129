"""The diagnosis service behind the routes: warm-up, one diagnosis under a timeout, and its audit record.

Why a class apart from FastAPI: the order of a diagnosis is the API's central promise and is easier to
read (and test) in one place: the case is prepared, the policy runs in a worker thread under
``policy_timeout_s``, the trace is appended to the audit log, and only a committed record lets a response
go out. A failed append is a 503 with no diagnosis; a timeout is a 504 and writes nothing (no decision
was made, and the abandoned run's result is discarded).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from anyio import to_thread

from api.heap import freeze_warm_heap
from api.keys import Principal
from api.logging import get_logger
from api.screening import screen_trace
from audit import AuditEntry, AuditRecord, AuditStore, CheckpointSigner, Diagnosis, open_store
from dxsearch.agent import Trace, diagnose
from dxsearch.cases import Case, Finding
from dxsearch.env import DiagnosticEnv
from dxsearch.episode import Budget, Exchange
from dxsearch.intake import InputAccount, IntakeLimits, PreparedCase
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.context_lookup import get_context_lookup
from dxsearch.knowledge.disease_equivalents import get_disease_equivalents
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.next_steps import NextStepsPlanner
from dxsearch.policies.base import Policy, PolicyError
from dxsearch.policies.catalog import (
    configured_policy_name,
    index_knowledge,
    index_retriever,
    make_policy,
    retriever_for,
)
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import CURRENT
from dxsearch.settings import Settings

T = TypeVar("T")
ReadyState = Literal["starting", "ready", "failed"]

#: The case every warm-up runs: one common, unambiguous finding, never audited.
WARM_UP_CASE = Case(case_id="warm-up", findings=(Finding(label="Tall stature", hpo_id="HP:0000098"),))


class ServiceUnavailableError(RuntimeError):
    """The service cannot answer now (warming up, warm-up failed, audit log unavailable): a 503."""


class PolicyTimeoutError(RuntimeError):
    """The policy did not finish within ``policy_timeout_s``: a 504."""


class SerialisedPolicy:
    """A policy whose turns run one at a time, for policies that keep unsynchronised caches.

    The evidence baseline memoises per-case scores in a plain dict; its turns are CPU-bound Python, so
    serialising them costs little, while retrieval (tantivy, FAISS, the encoder release the GIL) still
    overlaps between requests.
    """

    def __init__(self, policy: Policy) -> None:
        self.inner = policy
        self.name = policy.name
        self.version = policy.version
        self.model_id: str | None = getattr(policy, "model_id", None)
        self._lock = threading.Lock()

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        with self._lock:
            return self.inner.next_turn(case, history)


class _Cancellable:
    """One request's view of the policy: once its request has timed out, the next turn stops the run.

    A timed-out run cannot be killed (it is a thread), but it can be told to stop at its next turn, so an
    overloaded server does not keep spending CPU on answers nobody will receive.
    """

    def __init__(self, policy: Policy, cancelled: threading.Event) -> None:
        self.inner = policy
        self.name = policy.name
        self.version = policy.version
        self.model_id: str | None = getattr(policy, "model_id", None)
        self._cancelled = cancelled

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        if self._cancelled.is_set():
            raise PolicyError("the request timed out; run abandoned")
        return self.inner.next_turn(case, history)


def default_policy(settings: Settings, index: EmbeddedIndex | None = None) -> tuple[Policy, Budget, str]:
    """The configured policy, the budget its card asks for, and its retriever, from the one policy factory.

    Given the index it will play against, it ranks with that index's disease knowledge (its manifest's
    excluded publications dropped).
    """
    name = configured_policy_name(settings)
    policy, budget = make_policy(name, settings, knowledge=index_knowledge(index) if index is not None else None)
    return policy, budget, retriever_for(name)


def _guarded(policy: Policy) -> Policy:
    """Serialise every policy that does not declare itself ``thread_safe`` (the LLM policy does)."""
    return policy if getattr(policy, "thread_safe", False) else SerialisedPolicy(policy)


def open_audit_store(settings: Settings) -> AuditStore:
    """The audit store the settings name, signing checkpoints when a signing key is configured.

    A configured key path that does not exist yet gets a fresh key (development); deployments provision
    the key and give auditors its public half.
    """
    signer = None
    if settings.audit_signing_key is not None:
        signer = CheckpointSigner.from_pem_or_generate(settings.audit_signing_key)
    return open_store(
        settings.audit_url,
        signer=signer,
        checkpoint_every=settings.audit_checkpoint_every if signer is not None else None,
        checkpoint_file=settings.audit_checkpoint_file if signer is not None else None,
    )


def passage_hash(text: str) -> str:
    """``sha256:<hex>`` of a passage's UTF-8 text: what a decision saw, compared later with the index's text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_version(trace: Trace) -> str:
    """``policy@version``, the model version recorded in the audit log (LLM versions name the checkpoint)."""
    return f"{trace.policy.name}@{trace.policy.version}"


@dataclass(frozen=True, slots=True)
class Diagnosed:
    trace: Trace
    trace_json: dict[str, Any]
    record: AuditRecord


@dataclass(eq=False, slots=True)
class Serving:
    """Everything a diagnosis reads from one index generation, built together and swapped as one.

    A request takes one ``Serving`` (:meth:`DiagnosisService.serving`) and reads index, policy, budget,
    knowledge and next steps from it alone, so a reload between two of its steps cannot give it the old
    index with the new policy. ``users`` counts the requests (and runs) holding it; a retired set's index
    is closed when the last of them lets go.
    """

    index: EmbeddedIndex
    policy: Policy
    budget: Budget
    retriever: str
    knowledge: HpoKnowledge
    next_steps: NextStepsPlanner
    owns_index: bool
    users: int = 0
    retired: bool = False
    closed: bool = False


class DiagnosisService:
    """Owns the index, the policy and the audit store of one app; see the module docstring for the order.

    Index reload: when the service opened the index itself (``settings.index``), a watcher thread started
    after warm-up calls :meth:`reload_if_changed` every ``index_reload_interval_s``; a newly published
    generation is opened and warmed beside the live one, then swapped in whole (:class:`Serving`). An
    injected index is the caller's and is never replaced.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pseudonymiser: Pseudonymiser,
        index: EmbeddedIndex | None = None,
        policy: Policy | None = None,
        audit_store: AuditStore | None = None,
        freeze_heap: bool = False,
    ) -> None:
        """``freeze_heap``: once warm, exempt what warm-up loaded from garbage collection (:mod:`api.heap`).

        Process-wide, so only the serving process asks for it (:mod:`api.serve`).
        """
        self.settings = settings
        self._freeze_heap = freeze_heap
        self.pseudonymiser = pseudonymiser
        self._index = index  # injected: the caller's, never reloaded nor closed here
        self._policy: Policy | None = _guarded(policy) if policy is not None else None  # injected: kept on reload
        self._serving: Serving | None = None  # the live set; a reload replaces it whole, never field by field
        self._swap_lock = threading.Lock()  # guards _serving and every Serving's users/retired/closed
        self._reload_lock = threading.Lock()  # one reload at a time (the watcher, or a test calling it)
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None
        self.reload_error: str | None = None  # why the last reload failed, until one succeeds
        self._audit_store = audit_store
        self._owns_store = audit_store is None
        self._executor = ThreadPoolExecutor(max_workers=settings.policy_workers, thread_name_prefix="dxsearch-policy")
        self.state: ReadyState = "starting"
        self.reason = "warming up: loading the index and the policy"

    # -- lifecycle -------------------------------------------------------------------------------------

    def open_audit_store(self) -> None:
        """Open the configured audit store (at startup: a server that cannot audit must not start)."""
        if self._audit_store is None:
            self._audit_store = open_audit_store(self.settings)

    def _load(self, index: EmbeddedIndex | None) -> Serving:
        """Open ``index`` (the live generation of ``settings.index`` when None) and build what reads it.

        Nothing here is visible to requests until the caller publishes the result.
        """
        owns_index = index is None
        opened = index if index is not None else EmbeddedIndex(self.settings.index, self.settings)
        try:
            if self._policy is not None:
                policy, budget, retriever = self._policy, Budget(), "hybrid"
            else:
                built, budget, retriever = default_policy(self.settings, opened)
                policy = _guarded(built)
            knowledge = index_knowledge(opened)  # read from the manifest once, not per request
            next_steps = NextStepsPlanner.for_index(opened, knowledge)
        except BaseException:
            if owns_index:
                opened.close()
            raise
        return Serving(opened, policy, budget, retriever, knowledge, next_steps, owns_index)

    def _warm_up(self, serving: Serving) -> None:
        """Run the unaudited warm-up case on ``serving``; raises if the policy reports an error."""
        trace = self._run(WARM_UP_CASE, serving=serving)
        if trace.error is not None:  # e.g. the LLM server is unreachable: not ready, and say why
            raise RuntimeError(f"the policy failed on the warm-up case ({trace.error})")

    def warm(self) -> None:
        """Open the index, build the policy and run one unaudited diagnosis, so the first request is fast.

        Runs in a background thread at startup; ``/readyz`` answers 503 until it has finished. With
        ``freeze_heap`` the heap is frozen last, before ready is announced: its full collection (about a
        second) then delays no request. Once ready, the index watcher starts (see the class docstring).
        """
        log = get_logger()
        try:
            serving = self._load(self._index)
            try:
                get_term_lookup()
                get_context_lookup()  # modes of inheritance and onsets in notes: built or read back once, here
                get_second_reader()  # its index is built (once) and loaded here, not on the first note
                get_disease_equivalents()  # the auditor's diagnosis filter: ~4 s, here rather than on a first query
                self._warm_up(serving)
            except BaseException:
                self._close_index(serving)
                raise
            with self._swap_lock:
                self._serving = serving
            frozen = freeze_warm_heap() if self._freeze_heap else 0
        except Exception as exc:
            self.state = "failed"
            # Configuration errors (missing index, bad checkpoint) say what is wrong without any case data.
            self.reason = f"warm-up failed: {type(exc).__name__}: {exc}"
            retry = self._retry_warm_up()
            log.error("warm_up_failed", error_type=type(exc).__name__, retry_in_s=retry)
            return
        self.state = "ready"
        self.reason = "ready"
        log.info("ready", index_version=serving.index.version, policy=serving.policy.name, heap_objects_frozen=frozen)
        self._start_watcher()

    def _retry_warm_up(self) -> float | None:
        """After a failed warm-up, run it again in ``warm_up_retry_s`` (on a thread of its own), so an API
        started before its index was built, or before Elasticsearch or the model server was up, becomes
        ready once they are, without a restart. Seconds until the retry, or None when there is none (retry
        off, an injected index, or the service closed)."""
        delay = self.settings.warm_up_retry_s
        if delay <= 0 or self._index is not None or self._stopped.is_set():
            return None

        def again() -> None:
            if not self._stopped.wait(delay):
                self.warm()

        threading.Thread(target=again, name="dxsearch-warm-up-retry", daemon=True).start()
        return delay

    def _start_watcher(self) -> None:
        interval = self.settings.index_reload_interval_s
        if interval <= 0 or self._index is not None or self._stopped.is_set():
            return
        self._watcher = threading.Thread(target=self._watch, args=(interval,), name="dxsearch-index-watch", daemon=True)
        self._watcher.start()

    def _watch(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            try:
                self.reload_if_changed()
            except Exception as exc:  # never let the watcher die: the next tick tries again
                get_logger().error("index_watch_failed", error_type=type(exc).__name__)

    def reload_if_changed(self) -> bool:
        """Serve the generation ``CURRENT`` names if it is not the live one; True when it was swapped in.

        One watcher tick. The new generation is opened, its policy built and the warm-up case run beside
        the live set (a second index in memory meanwhile); only then is it published, in one assignment
        under the swap lock. On any failure the live set keeps serving, ``reload_error`` says why (shown by
        ``/readyz``, which stays 200) and the next tick tries again.
        """
        with self._reload_lock:
            live = self._serving
            if live is None or not live.owns_index or self._stopped.is_set():
                return False
            log = get_logger()
            pointer = live.index.index_dir / CURRENT
            try:
                named = pointer.read_text(encoding="utf-8").strip()
            except OSError as exc:
                self._reload_failed(live, "?", exc)
                return False
            if named == live.index.generation.name:
                self.reload_error = None
                return False
            started = time.monotonic()
            try:
                fresh = self._load(None)
                try:
                    self._warm_up(fresh)
                except BaseException:
                    self._close_index(fresh)
                    raise
            except Exception as exc:
                self._reload_failed(live, named, exc)
                return False
            if fresh.index.generation.name == live.index.generation.name:  # CURRENT moved back meanwhile
                self._close_index(fresh)
                return False
            with self._swap_lock:
                stopped = self._stopped.is_set()  # closed while loading: publish nothing
                if not stopped:
                    self._serving = fresh  # the swap: one assignment; a request holds the old or the new set
                retiring = fresh if stopped else live
                retiring.retired = True
                idle = retiring.users == 0
            if idle:  # else the last request holding it closes it (Serving, DiagnosisService.serving)
                self._close_index(retiring)
            if stopped:
                return False
            self.reload_error = None
            replaced = {"previous_index_version": live.index.version, "previous_generation": live.index.generation.name}
            del live, retiring  # no reference of ours keeps the old set alive through the collection below
            frozen = 0
            if self._freeze_heap:
                # Thaw, collect (the old set's cycles too, once no request holds it), freeze the new set: one
                # full collection, ~1 s. A set still held by a request now is frozen again; only its cycles,
                # if any, then outlive it (api.heap).
                gc.unfreeze()
                frozen = freeze_warm_heap()
            log.info(
                "index_reloaded",
                index_version=fresh.index.version,
                generation=fresh.index.generation.name,
                load_ms=round((time.monotonic() - started) * 1000, 1),
                heap_objects_frozen=frozen,
                **replaced,
            )
            return True

    def _reload_failed(self, live: Serving, named: str, exc: Exception) -> None:
        # The message (paths, a backend's reason) goes to /readyz as the warm-up reason does; the log gets
        # names and types only, never text that could quote a case.
        self.reload_error = f"loading generation {named} failed: {type(exc).__name__}: {exc}"
        get_logger().error(
            "index_reload_failed",
            generation=named,
            error_type=type(exc).__name__,
            serving_index_version=live.index.version,
            serving_generation=live.index.generation.name,
        )

    def _close_index(self, serving: Serving) -> None:
        """Close ``serving``'s index once (only one this service opened itself)."""
        with self._swap_lock:
            if serving.closed or not serving.owns_index:
                return
            serving.closed = True
        serving.index.close()

    def close(self) -> None:
        """Stop the watcher and the workers; close what this service opened itself (injected objects belong to
        the caller)."""
        self._stopped.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_store and self._audit_store is not None:
            self._audit_store.close()
        with self._reload_lock:  # a reload in progress finishes (and closes what it opened) first
            serving = self._serving
        if serving is not None:
            self._close_index(serving)

    # -- accessors -------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def require_ready(self) -> None:
        if not self.ready:
            raise ServiceUnavailableError(self.reason)

    def live(self) -> Serving:
        """The live set now, for one read that needs no more (``/readyz``); a request holds :meth:`serving`."""
        serving = self._serving
        if serving is None:
            raise ServiceUnavailableError(self.reason)
        return serving

    @contextmanager
    def serving(self, serving: Serving | None = None) -> Iterator[Serving]:
        """Hold the live set (or ``serving``) for one request: it is not closed before the request lets go.

        Every step of a request reads from the set it holds, so one request never mixes generations.
        """
        with self._swap_lock:
            held = serving if serving is not None else self._serving
            if held is None:
                raise ServiceUnavailableError(self.reason)
            if held.closed:
                raise ServiceUnavailableError("the index this request started on has been closed; retry")
            held.users += 1
        try:
            yield held
        finally:
            with self._swap_lock:
                held.users -= 1
                idle = held.retired and held.users == 0
            if idle:
                self._close_index(held)

    @property
    def index(self) -> EmbeddedIndex:
        serving = self._serving
        if serving is not None:
            return serving.index
        if self._index is None:
            raise ServiceUnavailableError(self.reason)
        return self._index

    @property
    def policy(self) -> Policy:
        serving = self._serving
        if serving is not None:
            return serving.policy
        if self._policy is None:
            raise ServiceUnavailableError(self.reason)
        return self._policy

    @property
    def budget(self) -> Budget:
        """The episode budget every diagnosis is played under (a trained checkpoint's card, else the default)."""
        serving = self._serving
        return serving.budget if serving is not None else Budget()

    @property
    def retriever(self) -> str:
        """The retriever the policy's environment searches with."""
        serving = self._serving
        return serving.retriever if serving is not None else "hybrid"

    @property
    def audit_store(self) -> AuditStore:
        if self._audit_store is None:
            raise ServiceUnavailableError("the audit log is not open")
        return self._audit_store

    # -- one diagnosis ---------------------------------------------------------------------------------

    def _run(
        self,
        case: Case,
        cancelled: threading.Event | None = None,
        account: InputAccount | None = None,
        serving: Serving | None = None,
    ) -> Trace:
        # Held for the whole run: a run abandoned by a timeout keeps its index open until it stops.
        with self.serving(serving) as live:
            index = live.index
            env = DiagnosticEnv(index_retriever(index, live.retriever), live.budget)
            policy = live.policy if cancelled is None else _Cancellable(live.policy, cancelled)
            return diagnose(
                case,
                policy,
                env,
                index_version=index.version,
                pseudonymiser=self.pseudonymiser,
                resolve_chunk=index.store.chunk,
                input_account=account,
                knowledge=live.knowledge,
                next_steps=live.next_steps,
            )

    @property
    def intake_limits(self) -> IntakeLimits:
        """The caps on what one request may ask of the intake (bundle entries, findings), from the settings."""
        return IntakeLimits.from_settings(self.settings)

    def deadline(self) -> float:
        """The ``time.monotonic()`` by which one diagnosis, intake included, must be done."""
        return time.monotonic() + self.settings.policy_timeout_s

    async def prepare(self, prepare: Callable[[], T], deadline: float) -> T:
        """Read the case in a worker thread, within the diagnosis deadline (:class:`PolicyTimeoutError` after).

        The same workers as the policy's, so reading competes for the same bounded pool. A read that
        overruns cannot be interrupted; it is bounded by :attr:`intake_limits`, and its result dropped.
        """
        future = self._executor.submit(contextvars.copy_context().run, prepare)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=self._remaining(deadline))
        except TimeoutError:
            future.cancel()
            raise PolicyTimeoutError(
                f"the diagnosis did not finish within {self.settings.policy_timeout_s:g} s (reading the case)"
            ) from None

    def _remaining(self, deadline: float | None) -> float:
        if deadline is None:
            return self.settings.policy_timeout_s
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PolicyTimeoutError(f"the diagnosis did not finish within {self.settings.policy_timeout_s:g} s")
        return remaining

    async def run_policy(
        self,
        case: Case,
        account: InputAccount | None = None,
        deadline: float | None = None,
        serving: Serving | None = None,
    ) -> Trace:
        """Diagnose ``case`` in a worker thread; :class:`PolicyTimeoutError` at ``deadline``.

        ``deadline`` (``time.monotonic()``) is the one deadline of the request, intake included; without
        one the policy gets ``policy_timeout_s``. The time spent queued for a worker counts: under overload
        requests fail fast with 504 instead of piling up. A run that times out stops at its next turn, and
        its result is dropped. ``serving``: the set the request holds (:meth:`serving`); else the live one.
        """
        timeout = self._remaining(deadline)
        context = contextvars.copy_context()
        cancelled = threading.Event()
        future = self._executor.submit(context.run, self._run, case, cancelled, account, serving)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=timeout)
        except TimeoutError:
            cancelled.set()
            future.cancel()
            raise PolicyTimeoutError(
                f"the diagnosis did not finish within {self.settings.policy_timeout_s:g} s"
            ) from None
        except asyncio.CancelledError:  # the request itself was cancelled (client gone, shutdown)
            cancelled.set()
            raise

    def record(
        self,
        trace: Trace,
        prepared: PreparedCase,
        principal: Principal,
        request_id: str,
        client_request_id: str | None = None,
        serving: Serving | None = None,
    ) -> Diagnosed:
        """Append the decision to the audit log; returns once the record is committed.

        ``request_id`` is the server's; the caller's own ``X-Request-ID`` is kept beside it in the trace.
        ``serving``: the set the trace was made with (passage hashes are read from its index); else the live one.

        Findings-list words the intake did not understand are kept out of the record and the response, as a
        note's words are (:func:`api.screening.screen_trace`): the returned ``Diagnosed`` holds the screened trace.

        Raises :class:`ServiceUnavailableError` when the append fails, so the caller sends no diagnosis.
        """
        trace = screen_trace(trace)
        with self.serving(serving) as live:
            index = live.index
            trace_json = cast(dict[str, Any], json.loads(trace.model_dump_json()))
            trace_json["passage_hashes"] = self._passage_hashes(trace, index)
        if client_request_id is not None:
            trace_json["client_request_id"] = client_request_id
        evidence_docs: list[str] = []
        for diagnosis in trace.diagnoses:
            for link in diagnosis.evidence:
                if link.doc_id not in evidence_docs:
                    evidence_docs.append(link.doc_id)
        entry = AuditEntry(
            trace=trace_json,
            request_id=request_id,
            actor_role=principal.role.value,
            actor_id=principal.actor_id,
            model_version=model_version(trace),
            index_version=trace.index_version or index.version,
            outcome=trace.outcome,
            patient_pseudonym=trace.case.pseudonym if prepared.identified else None,
            diagnoses=tuple(Diagnosis(name=d.name, code=d.code) for d in trace.diagnoses),
            evidence_ids=tuple(evidence_docs),
        )
        try:
            record = self.audit_store.append(entry)
        except Exception as exc:
            get_logger().error("audit_append_failed", error_type=type(exc).__name__)
            raise ServiceUnavailableError(
                "the audit log could not record this decision, so no diagnosis is returned; retry later"
            ) from None
        return Diagnosed(trace=trace, trace_json=trace_json, record=record)

    def _passage_hashes(self, trace: Trace, index: EmbeddedIndex) -> dict[str, str]:
        """The hash of every passage the decision was shown, so a later change of the index is visible."""
        hashes: dict[str, str] = {}
        store = index.store
        for retrieval in trace.retrievals:
            if retrieval.evidence_id in hashes:
                continue
            chunk = store.chunk(retrieval.evidence_id)
            if chunk is not None:
                hashes[retrieval.evidence_id] = passage_hash(chunk.text)
        return hashes

    async def in_thread(self, function: Callable[[], T]) -> T:
        """Run a blocking call (intake, audit append, audit queries) off the event loop."""
        return await to_thread.run_sync(function)
