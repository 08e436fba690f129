"""The dependencies every protected route declares: authenticate the key, rate-limit it, admit its role.

Keys and roles themselves live in :mod:`api.keys`; this module only wires them into FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.keys import Principal, Role
from api.limits import UNKNOWN_KEYS, RateLimiter, body_cost
from api.logging import log_fields
from api.state import services_of

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token: `Authorization: Bearer <key>`.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative header).")


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller, admits only ``roles`` and rate-limits its key.

    401 for a missing or unknown key, 403 for a known key whose role is not admitted, 429 when the key's
    bucket is empty. The role is checked before a token is spent (a refused call costs the key nothing);
    missing and unknown keys all draw on one shared bucket (:data:`api.limits.UNKNOWN_KEYS`), so guessing
    keys is throttled like any caller. A request with a big body costs more tokens (:func:`api.limits.body_cost`),
    charged from its ``Content-Length`` before the body is read. The role and actor id are added to the
    request's log line.
    """
    allowed = frozenset(roles)
    allowed_text = ", ".join(sorted(r.value for r in allowed))

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header_key: Annotated[str | None, Depends(_api_key_header)],
    ) -> Principal:
        services = services_of(request)
        settings = services.settings
        cost = body_cost(request.scope, settings.rate_limit_body_unit_bytes, settings.max_request_bytes)
        presented = bearer.credentials if bearer is not None else header_key
        challenge = {"WWW-Authenticate": "Bearer"}
        principal = services.keyring.authenticate(presented) if presented else None
        if principal is None:
            _throttle(services.rate_limiter, UNKNOWN_KEYS, cost, settings.rate_limit_body_unit_bytes)
            if not presented:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                    headers=challenge,
                )
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", headers=challenge)
        fields = log_fields(request.scope)
        fields["role"] = principal.role.value
        fields["actor_id"] = principal.actor_id
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role '{principal.role.value}' may not use this route (allowed: {allowed_text})",
            )
        _throttle(services.rate_limiter, principal.key_digest, cost, settings.rate_limit_body_unit_bytes)
        return principal

    return dependency


def _throttle(limiter: RateLimiter, bucket: str, cost: int, unit_bytes: int) -> None:
    """Spend ``cost`` tokens of ``bucket``; 429 with ``Retry-After`` when there are not enough."""
    wait_s = limiter.acquire(bucket, cost)
    if wait_s > 0:
        retry = max(1, int(wait_s + 0.999))
        who = "unauthenticated requests" if bucket == UNKNOWN_KEYS else "this key"
        charged = limiter.cost_cap(cost)
        why = f" (this request counts as {charged}: one per {unit_bytes:,} bytes of body)" if charged > 1 else ""
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {limiter.per_minute} requests per minute exceeded for {who}{why}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )


#: Route dependencies by who may call: ``principal: Clinical`` in a signature authenticates and authorises.
Clinical = Annotated[Principal, Depends(require_roles(Role.CLINICIAN, Role.ADMIN))]
TraceReader = Annotated[Principal, Depends(require_roles(Role.CLINICIAN, Role.AUDITOR, Role.ADMIN))]
Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
AnyRole = Annotated[Principal, Depends(require_roles(*Role))]
