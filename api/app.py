"""``create_app``: the FastAPI application, its middleware, error handlers and lifecycle.

Dependencies are injectable (``index``, ``policy``, ``audit_store``) so tests run the real components
side by side in one process; left out, each comes from the settings (``DXSEARCH_INDEX``,
``DXSEARCH_AUDIT_URL``, the configured policy). Startup opens the audit store at once (a server that
cannot audit must not start) and warms the index and policy in a background thread, so ``/healthz``
answers immediately and ``/readyz`` reports when diagnoses can be served.

Middleware, outermost first: request context (request id, access log, last-resort 500), then the body
size limit, so even a 413 carries a request id and a log line.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from api import audit_routes, cds, routes
from api.body_process import BodyParser
from api.errors import error_response
from api.keys import KeyRing
from api.limits import BodySizeLimitMiddleware, RateLimiter
from api.logging import RequestContextMiddleware, configure_logging, get_logger
from api.openapi import install_openapi
from api.schemas import DiagnoseRequest
from api.service import DiagnosisService, PolicyTimeoutError, ServiceUnavailableError
from api.state import AppServices
from api.viewer import mount_viewer
from audit import AuditStore
from dxsearch import __version__
from dxsearch.intake import IntakeError
from dxsearch.policies.base import Policy, PolicyUnavailableError
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.base import RetrievalUnavailableError
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings, get_settings

#: Validation errors listed in a 422 body (the message names the first few).
_MAX_LISTED_ERRORS = 20
#: The models of the routes' bodies (api.body): the body worker imports them as it starts.
_BODY_MODELS: tuple[type[BaseModel], ...] = (
    DiagnoseRequest,
    cds.CdsHookRequest,
    cds.CdsFeedbackRequest,
    audit_routes.BreakGlassRequest,
    audit_routes.PseudonymRequest,
)


def create_app(
    settings: Settings | None = None,
    *,
    index: EmbeddedIndex | None = None,
    policy: Policy | None = None,
    audit_store: AuditStore | None = None,
    body_timeout_s: float | None = None,
    freeze_heap: bool = False,
    start_body_worker: bool = False,
) -> FastAPI:
    """The API app. Injected ``index``, ``policy`` and ``audit_store`` stay the caller's (not closed here).

    ``body_timeout_s`` bounds how long a request body may take to arrive (408 after; see :mod:`api.serve`).
    ``freeze_heap`` exempts what warm-up loaded from garbage collection (:mod:`api.heap`); process-wide,
    so for the serving process only. ``start_body_worker`` starts the process that parses big bodies
    (:mod:`api.body_process`) at startup, not at the first big body: for the serving process, not for
    the many apps of the tests.
    """
    settings = settings or get_settings()
    if not structlog.is_configured():
        configure_logging()
    pseudonymiser = Pseudonymiser(settings.pseudonym_key)
    keyring = KeyRing.parse(settings.api_keys.get_secret_value() if settings.api_keys else None, pseudonymiser)
    # From here on the app holds keys as digests only: its copy of the settings forgets the raw keys.
    settings = settings.model_copy(update={"api_keys": None})
    service = DiagnosisService(
        settings,
        pseudonymiser=pseudonymiser,
        index=index,
        policy=policy,
        audit_store=audit_store,
        freeze_heap=freeze_heap,
    )

    # Big bodies are parsed in a low-priority process (api.body_process), which imports these models first.
    body_parser = BodyParser(
        settings.body_process_min_bytes,
        timeout_s=settings.policy_timeout_s,
        niceness=settings.body_process_niceness,
        models=_BODY_MODELS,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log = get_logger()
        service.open_audit_store()
        if start_body_worker:
            body_parser.start()
        if not len(keyring):
            log.warning("no_api_keys", detail="DXSEARCH_API_KEYS is empty: every authenticated route answers 401")
        warm_up = threading.Thread(target=service.warm, name="dxsearch-warm-up", daemon=True)
        warm_up.start()
        if settings.development:
            log.warning("development_mode", detail="DXSEARCH_DEVELOPMENT is set: never serve patients like this")
        log.info(
            "started",
            api_keys=len(keyring),
            audit_url_scheme=settings.audit_url.partition(":")[0],
            pseudonym_key_fingerprint=pseudonymiser.key_fingerprint(),
            development=settings.development,
        )
        try:
            yield
        finally:
            body_parser.close()
            service.close()

    app = FastAPI(
        title="DxSearch API",
        version=__version__,
        summary="Ranked differential diagnoses with cited evidence chains, every decision in an audit log.",
        lifespan=lifespan,
        # No Swagger UI: it loads from a CDN with no CSP. The schema is at /openapi.json for local tools.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = AppServices(
        settings=settings,
        keyring=keyring,
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
        diagnosis=service,
        body_parser=body_parser,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes, body_timeout_s=body_timeout_s)
    app.add_middleware(RequestContextMiddleware)  # added last: the outermost
    _add_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(audit_routes.router)
    app.include_router(cds.router)
    mount_viewer(app)  # the clinician viewer and auditor view at /viewer/
    install_openapi(app)  # every 4xx/5xx documented with the one error shape
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error in the one shape of :mod:`api.errors`."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request.scope, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        for error in errors:
            if error.get("type") == "json_invalid":
                reason = (error.get("ctx") or {}).get("error", "invalid JSON")
                where = error.get("loc", ())[-1] if error.get("loc") else "?"
                return error_response(request.scope, 400, f"malformed JSON body: {reason} (at character {where})")
        listed = [_describe(error) for error in errors[:_MAX_LISTED_ERRORS]]
        message = "invalid request: " + "; ".join(f"{item['loc']}: {item['msg']}" for item in listed[:3])
        return error_response(request.scope, 422, message, errors=listed)

    @app.exception_handler(IntakeError)
    async def intake_error(request: Request, exc: IntakeError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if exc.path is not None:
            extra["path"] = exc.path
        if exc.reason is not None:
            extra["reason"] = exc.reason
        return error_response(request.scope, exc.status, exc.message, **extra)

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(request: Request, exc: ServiceUnavailableError) -> JSONResponse:
        return error_response(request.scope, 503, str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(PolicyUnavailableError)
    async def model_unavailable(request: Request, exc: PolicyUnavailableError) -> JSONResponse:
        get_logger().error("policy_server_unavailable")
        return error_response(
            request.scope, 503, f"the policy's model server cannot answer: {exc}", headers={"Retry-After": "5"}
        )

    @app.exception_handler(RetrievalUnavailableError)
    async def search_unavailable(request: Request, exc: RetrievalUnavailableError) -> JSONResponse:
        get_logger().error("search_backend_unavailable")  # no message: a backend's reason may quote the query
        return error_response(request.scope, 503, f"the index cannot be searched: {exc}", headers={"Retry-After": "5"})

    @app.exception_handler(PolicyTimeoutError)
    async def timed_out(request: Request, exc: PolicyTimeoutError) -> JSONResponse:
        return error_response(request.scope, 504, str(exc))


def _describe(error: Any) -> dict[str, str]:
    """A validation error as ``{"loc": "body.findings[0].label", "msg": ..., "type": ...}``, input left out.

    The input is left out on purpose: it is the caller's clinical data, and error bodies get logged by
    proxies and clients.
    """
    loc = ""
    for part in error.get("loc", ()):
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    return {"loc": loc or "body", "msg": message, "type": str(error.get("type", "invalid"))}
