"""``serve(host, port, settings)``: run the API with uvicorn (what ``dxsearch serve`` calls).

Why uvicorn's own access log is off: it writes the raw path and query string, which the API's own
request line (:mod:`api.logging`) deliberately leaves out in favour of the route template. Uvicorn's
other records (startup, shutdown) go through the same JSON handler as everything else.
"""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.logging import configure_logging
from dxsearch.settings import Settings, get_settings


class UnsafeSettingsError(RuntimeError):
    """The settings must not serve patients (a public or short pseudonym key, no audit signing key)."""


def require_safe(settings: Settings) -> None:
    """Refuse to serve with :meth:`Settings.serving_refusal`'s reason, unless in development mode."""
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
    configure_logging(level=logging.INFO)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,  # uvicorn's records propagate to the JSON handler of configure_logging
        log_level="info",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def app_factory() -> FastAPI:
    """For ``uvicorn --factory api.serve:app_factory`` (several workers): settings from the environment."""
    settings = get_settings()
    require_safe(settings)
    configure_logging(level=logging.INFO)
    return create_app(settings)
