"""Structured JSON logs for the API, and the middleware that writes one line per request.

Why a module of its own: what the API may log is a compliance question, so the answer lives in one
place. A request line carries the request id (also echoed in ``X-Request-ID``), the route *template*
(``/v1/traces/{audit_id}``, never the raw path or query string), method, status, duration, the caller's
role and pseudonymous actor id, and a few counts and outcomes the endpoint adds. It never carries
bodies, headers, client addresses, exception messages (a message can quote a patient's note) or any
value of a request: no names, identifiers, birth dates, note text or findings.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import CLIENT_REQUEST_ID_KEY, REQUEST_ID_KEY, error_response

LOGGER_NAME = "dxsearch.api"
#: Scope key of the per-request dict endpoints fill with loggable facts (role, actor id, outcome, ...).
LOG_FIELDS_KEY = "dxsearch.log_fields"
REQUEST_ID_HEADER = "X-Request-ID"
#: The caller's own request id, echoed under this header when it looks like an id (never used as ours).
CLIENT_REQUEST_ID_HEADER = "X-Client-Request-ID"
_PROBE_ROUTES = frozenset({"/healthz", "/readyz"})
#: Why a caller's own request id was not kept, sent back under this header (the id itself is never echoed then).
CLIENT_REQUEST_ID_REFUSED_HEADER = "X-Client-Request-ID-Refused"
#: A caller's own request id is kept only if it looks like an id (it is echoed and stored in the audit log).
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
#: Ids that are random by construction: a UUID (with or without its hyphens, a version digit where RFC 9562 puts
#: it) or a ULID, each holding a letter (32 or 26 digits are a number, a code review found).
_OPAQUE_ID = re.compile(
    r"(?=[0-9-]*[a-fA-F])[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[1-8][0-9a-fA-F]{3}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|(?=[0-9A-Za-z]*[A-HJKMNP-TV-Za-hjkmnp-tv-z])[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}"
)
#: Five digits in a row outside a UUID or ULID: a record number, a phone number or a date of birth may be one.
_DIGIT_RUN = re.compile(r"\d{5,}")
#: Keys no log event may carry, whatever a future caller passes: a last guard against PHI in logs.
_FORBIDDEN_KEYS = frozenset(
    {
        "text",
        "note",
        "findings",
        "finding",
        "label",
        "bundle",
        "name",
        "identifier",
        "birth_date",
        "birthDate",
        "patient_id",
        "body",
        "query_string",
        "path",
        "headers",
        "exc_info",
        "exception",
        "prefetch",
    }
)


def _drop_forbidden_keys(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Remove PHI-prone keys; an exception is reduced to its type (its message or traceback may quote a case)."""
    exc_info = event.get("exc_info")
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            event["error_type"] = type(exc_info).__name__
        elif isinstance(exc_info, tuple) and exc_info and exc_info[0] is not None:
            event["error_type"] = exc_info[0].__name__
    for key in _FORBIDDEN_KEYS.intersection(event):
        event.pop(key)
    return event


#: Marks the stdlib handler :func:`configure_logging` installs, so a second call replaces it.
_HANDLER_MARK = "_dxsearch_json_handler"


def configure_logging(*, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send structlog events, and stdlib records (uvicorn's), as one JSON object per line to ``stream``.

    ``stream`` defaults to stderr; tests pass a ``StringIO`` to grep what was written. The configuration
    is process-wide, so calling it again (a second app in one process) just redirects the stream.
    """
    target = stream if stream is not None else sys.stderr
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            _drop_forbidden_keys,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=target),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(target)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.processors.add_log_level, timestamper],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _drop_forbidden_keys,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def get_logger() -> Any:
    """The API's structlog logger (typed ``Any``: structlog's bound loggers are dynamically built)."""
    return structlog.get_logger(LOGGER_NAME)


def log_fields(scope: Scope) -> dict[str, Any]:
    """The mutable dict of loggable facts for this request; endpoints add role, actor id, outcome, ..."""
    fields = scope.get(LOG_FIELDS_KEY)
    if not isinstance(fields, dict):
        fields = {}
        scope[LOG_FIELDS_KEY] = fields
    return fields


def _route_template(scope: Scope) -> str:
    """The matched route's path template (the router records the route in the scope): ids never reach the log."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class RequestContextMiddleware:
    """Outermost middleware: request id, timing, security headers, the access line, and a last-resort 500.

    Pure ASGI (not ``BaseHTTPMiddleware``) so that it adds nothing to the body path and sees every
    response, including the 413 the body limit sends before the app runs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The server owns request ids: a client's id is kept beside ours (log line, audit trace, echo
        # header), never used as ours, so two clients (or one replaying an id) cannot share one.
        request_id = uuid.uuid4().hex
        client_request_id, refused = self._client_request_id(scope)
        scope[REQUEST_ID_KEY] = request_id
        fields = log_fields(scope)
        if client_request_id is not None:
            scope[CLIENT_REQUEST_ID_KEY] = client_request_id
            fields["client_request_id"] = client_request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        token = structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                if client_request_id is not None:
                    headers.append((CLIENT_REQUEST_ID_HEADER.lower().encode(), client_request_id.encode()))
                if refused is not None:
                    headers.append((CLIENT_REQUEST_ID_REFUSED_HEADER.lower().encode(), refused.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    # Responses carry clinical data: no shared or browser cache should keep them.
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Only the type: the message of an exception can quote a case.
            fields["error_type"] = type(exc).__name__
            if not response_started:
                await error_response(scope, 500, "internal error; the request id identifies it in the logs")(
                    scope, receive, send_with_headers
                )
            status = 500
        finally:
            duration_ms = round(1000 * (time.perf_counter() - started), 2)
            route = _route_template(scope)
            # Healthy probes every few seconds would drown the log: they go at debug level.
            quiet = route in _PROBE_ROUTES and status == 200
            emit = get_logger().debug if quiet else get_logger().info
            emit("request", method=scope.get("method"), route=route, status=status, duration_ms=duration_ms, **fields)
            structlog.contextvars.reset_contextvars(**token)

    @staticmethod
    def _client_request_id(scope: Scope) -> tuple[str | None, str | None]:
        """The caller's ``X-Request-ID`` if it is kept, else why not (``None, None``: none was sent).

        Kept ids are written to the log line and the audit log, which hold no PHI: "MRN12345678" is
        well-formed but may be the patient's record number, so an id with five digits in a row is kept only
        as a UUID or a ULID, which are random by construction.
        """
        for name, value in scope.get("headers", []):
            if name.lower() == REQUEST_ID_HEADER.lower().encode():
                candidate = bytes(value).decode("latin-1")
                if not _CLIENT_REQUEST_ID.fullmatch(candidate):
                    return None, "not an id: 8 to 64 letters, digits, '.', '_' or '-'"
                if _DIGIT_RUN.search(candidate) and not _OPAQUE_ID.fullmatch(candidate):
                    return None, (
                        "five or more digits in a row may be a patient identifier, and request ids are logged; "
                        "send a UUID or a ULID"
                    )
                return candidate, None
        return None, None
