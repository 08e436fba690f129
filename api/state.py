"""What one app instance holds (settings, key ring, rate limiter, diagnosis service), reachable from requests.

Why on ``app.state`` rather than module globals: tests (and a process serving two configurations) build
several apps side by side, each with its own index, policy and audit store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from dxsearch.settings import Settings

if TYPE_CHECKING:
    from api.body_process import BodyParser
    from api.keys import KeyRing
    from api.limits import RateLimiter
    from api.service import DiagnosisService


@dataclass(frozen=True, slots=True)
class AppServices:
    settings: Settings
    keyring: KeyRing
    rate_limiter: RateLimiter
    diagnosis: DiagnosisService
    body_parser: BodyParser


def services_of(connection: HTTPConnection) -> AppServices:
    """The services of the app serving this request."""
    services = connection.app.state.services
    if not isinstance(services, AppServices):
        raise RuntimeError("app.state.services is not set: build the app with api.app.create_app")
    return services
