"""``serve(host, port, settings)``: run the API with uvicorn (what ``dxsearch serve`` calls).

Why uvicorn's own access log is off: it writes the raw path and query string, which the API's own
request line (:mod:`api.logging`) deliberately leaves out in favour of the route template. Uvicorn's
other records (startup, shutdown) go through the same JSON handler as everything else.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.app import create_app
from api.logging import configure_logging
from api.slow_clients import protocol_with_header_timeout
from dxsearch.settings import Settings, get_settings


class ServerLimits(BaseSettings):
    """How long a client may take to send a request, and how many may be served at once (environment).

    These cut off slow clients at the server itself; a fronting proxy should still terminate TLS, apply
    its own (tighter) header and body timeouts, and limit connections per client address (README).
    """

    model_config = SettingsConfigDict(env_prefix="DXSEARCH_", extra="ignore")

    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="A request line and headers not complete by then: connection closed."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="A request body not wholly received by then: 408."
    )
    max_concurrency: int = Field(
        default=64, ge=1, description="Connections and requests in flight at once; past it, 503 (uvicorn)."
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, le=300, description="Idle time before a kept-alive connection closes."
    )


class UnsafeSettingsError(RuntimeError):
    """The settings must not serve patients (a public or short pseudonym key, no audit signing key)."""


def server_limits() -> ServerLimits:
    """The limits from the environment; :class:`UnsafeSettingsError` naming the variable for a bad value."""
    try:
        return ServerLimits()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "DXSEARCH_" + str(first["loc"][0]).upper() if first.get("loc") else "a DXSEARCH_ limit"
        raise UnsafeSettingsError(f"{name}: {first['msg']}") from None


def require_safe(settings: Settings) -> None:
    """Refuse to serve with :meth:`Settings.serving_refusal`'s reasons (every secret missing), unless in development
    mode."""
    reason = settings.serving_refusal()
    if reason is not None:
        raise UnsafeSettingsError(reason)


def serve(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None) -> None:
    """Serve the API on ``host:port`` until interrupted (one process; JSON logs on stderr).

    Loopback by default: exposing the API beyond the machine is a deployment decision (TLS, a proxy).
    Raises :class:`UnsafeSettingsError` before anything starts when the settings must not serve.
    """
    settings = settings or get_settings()
    require_safe(settings)
    limits = server_limits()
    configure_logging(level=logging.INFO)
    app = create_app(settings, body_timeout_s=limits.body_timeout_s, freeze_heap=True, start_body_worker=True)
    uvicorn.run(app, host=host, port=port, **uvicorn_options(limits))


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """What ``uvicorn.run`` is given besides the app, host and port (also for tests that start a server)."""
    return {
        "http": protocol_with_header_timeout(limits.header_timeout_s),
        "limit_concurrency": limits.max_concurrency,
        "timeout_keep_alive": limits.keep_alive_s,
        "access_log": False,
        "log_config": None,  # uvicorn's records propagate to the JSON handler of configure_logging
        "log_level": "info",
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }


def app_factory() -> FastAPI:
    """For ``uvicorn --factory api.serve:app_factory`` (several workers): settings from the environment."""
    settings = get_settings()
    require_safe(settings)
    configure_logging(level=logging.INFO)
    # Header timeout and concurrency are the server's: pass --limit-concurrency and a proxy's timeouts.
    return create_app(settings, body_timeout_s=server_limits().body_timeout_s, freeze_heap=True, start_body_worker=True)
