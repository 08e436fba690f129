"""The dependencies every protected route declares: authenticate the key, rate-limit it, admit its role.

Keys and roles themselves live in :mod:`api.keys`; this module only wires them into FastAPI. It also appends
access events to the audit log (:func:`record_access`): the reads the audit routes grant, and every call a
key's role is refused (403), so an auditor sees who tried to read the audit trail or another role's data.
A request without a known key (401) is not recorded: anyone could send those, and so fill the log. The role is
checked before the query is (:func:`after_role_check`), so a refused role is a recorded 403 even when its query
string would have been a 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import request_id_of
from api.keys import Principal, Role
from api.limits import UNKNOWN_KEYS, RateLimiter, body_cost
from api.logging import get_logger, log_fields
from api.state import services_of
from audit import AuditRecord
from audit.access import ACCESS_OUTCOME, AccessAction, AccessEvent, AccessPurpose, access_entry

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token: `Authorization: Bearer <key>`.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative header).")
#: Prefix of the rate-limit bucket a key's role refusals draw on (:func:`refusal_bucket`).
_REFUSED = "refused:"
#: Scope keys: the query checks a route put off until its role check (:func:`after_role_check`), and that check's
#: admission of the caller, after which a query check runs at once.
_DEFERRED_CHECKS = "dxsearch.deferred_query_checks"
_ADMITTED = "dxsearch.role_admitted"

#: A check of a request's query string that refuses it with an :class:`HTTPException` (:mod:`api.errors`).
QueryCheck = Callable[[Request], Awaitable[None]]
#: A route's refusal of an admitted role for what its query string asks (before that query is checked): the 403's
#: detail, or None to admit it (:func:`require_roles`).
RoleRefusal = Callable[[Request, Principal], str | None]
#: Every role check :func:`require_roles` made, compared by identity: how a route is seen to have one.
_ROLE_CHECKS: list[Callable[..., Awaitable[Principal]]] = []


def require_roles(
    *roles: Role, attempt: AccessAction = "operation", refuses: RoleRefusal | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller, admits only ``roles`` and rate-limits its key.

    401 for a missing or unknown key, 403 for a known key whose role is not admitted, 429 when the key's
    bucket is empty. The role is checked before a token is spent (a refused call costs the key's budget
    nothing, only a token of its refusal bucket); missing and unknown keys all draw on one shared bucket
    (:data:`api.limits.UNKNOWN_KEYS`), so guessing keys is throttled like any caller. A request with a big body
    costs more tokens (:func:`api.limits.body_cost`), charged from its ``Content-Length`` before the body is read.
    The role and actor id are added to the request's log line.

    A refused role is recorded before the 403 goes out, as an access event with ``denied`` (:func:`record_refusal`;
    ``attempt`` is what the route would have done: ``read``, ``search``, ``export``, ...). Such refusals draw on
    a bucket of their own per key (:func:`refusal_bucket`): a key cannot append to the log faster than its rate
    limit by calling routes it may not use (a 429 then, not recorded, like every throttled request), and a
    misconfigured client's refusals do not spend the budget of its allowed calls.

    The query checks the route put off (:func:`after_role_check`: a repeated or unknown query parameter, a 422)
    run once the role is admitted, before a token is spent, so only a caller holding the role learns of them.

    ``refuses`` refuses an admitted role what the raw query string asks for (a clinician asking a search for
    access events, :func:`access_events_for_auditors`), before any query check: the refusal is the 403 a refused
    role gets, recorded as one (:func:`record_refusal`), whatever else the query holds. Why: the check ran in the
    route, after the query's, so a clinician asking for access events with a bad parameter got a 422 (and
    learnt which parameters the auditor's search takes) instead of the recorded 403.
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
            # One token whatever the body: the body of a refused call is never read.
            _throttle(services.rate_limiter, refusal_bucket(principal), 1, settings.rate_limit_body_unit_bytes)
            denial = await record_refusal(request, principal, attempt)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role '{principal.role.value}' may not use this route (allowed: {allowed_text})",
                headers=access_headers(denial),
            )
        refused = refuses(request, principal) if refuses is not None else None
        if refused is not None:
            _throttle(services.rate_limiter, refusal_bucket(principal), 1, settings.rate_limit_body_unit_bytes)
            denial = await record_refusal(request, principal, attempt)
            raise HTTPException(status.HTTP_403_FORBIDDEN, refused, headers=access_headers(denial))
        await _run_deferred_checks(request)
        _throttle(services.rate_limiter, principal.key_digest, cost, settings.rate_limit_body_unit_bytes)
        return principal

    _ROLE_CHECKS.append(dependency)
    return dependency


def after_role_check(check: QueryCheck) -> QueryCheck:
    """``check`` as a route or router dependency that waits for the route's role check (:func:`require_roles`).

    Why: FastAPI runs route and router dependencies before those of the route's signature, where the role check
    is; a query check there answered a key refused the route with a 422 instead of the recorded 403, so its
    attempt left no trace and the 422 told it which query parameters the route takes. Put off, the check runs
    once the role is admitted: a refused caller gets the 403 (recorded) and learns nothing of the parameters, a
    caller holding the role still gets the 422. A route without a role check (the probes) runs it at once.
    """

    async def deferred(request: Request) -> None:
        scope = request.scope
        if scope.get(_ADMITTED) or not _has_role_check(getattr(scope.get("route"), "dependant", None)):
            await check(request)
            return
        scope.setdefault(_DEFERRED_CHECKS, []).append(check)

    return deferred


def _has_role_check(dependant: Any) -> bool:
    """Whether a route's dependencies, at any depth, include a role check: only then can a query check wait for it
    (a check put off on a route without one would never run)."""
    subs = getattr(dependant, "dependencies", ())
    return any(any(sub.call is made for made in _ROLE_CHECKS) or _has_role_check(sub) for sub in subs)


async def _run_deferred_checks(request: Request) -> None:
    """Run the query checks the route put off until its role check (:func:`after_role_check`), in their order;
    from now on a query check of this request runs at once."""
    request.scope[_ADMITTED] = True
    for check in request.scope.pop(_DEFERRED_CHECKS, ()):
        await check(request)


#: The 403's detail for a clinician asking a search for access events (:func:`access_events_for_auditors`).
ACCESS_EVENTS_REFUSED = "access events are for auditors"


def access_events_for_auditors(request: Request, principal: Principal) -> str | None:
    """Refuse a clinician a search that asks for access events (``kind=access`` or ``outcome=access``, among any
    values given): read from the raw query string, before its parameters are checked, so that asking is the
    same recorded 403 with good parameters or bad. Other roles are admitted (their query is checked next)."""
    if principal.role is not Role.CLINICIAN:
        return None
    query = request.query_params
    if "access" in query.getlist("kind") or ACCESS_OUTCOME in query.getlist("outcome"):
        return ACCESS_EVENTS_REFUSED
    return None


def refusal_bucket(principal: Principal) -> str:
    """The rate-limit bucket the role refusals of ``principal``'s key draw on (see :func:`require_roles`)."""
    return _REFUSED + principal.key_digest


def _throttle(limiter: RateLimiter, bucket: str, cost: int, unit_bytes: int) -> None:
    """Spend ``cost`` tokens of ``bucket``; 429 with ``Retry-After`` when there are not enough."""
    wait_s = limiter.acquire(bucket, cost)
    if wait_s > 0:
        retry = max(1, int(wait_s + 0.999))
        if bucket == UNKNOWN_KEYS:
            who = "unauthenticated requests"
        elif bucket.startswith(_REFUSED):
            who = "this key's requests refused for its role"
        else:
            who = "this key"
        charged = limiter.cost_cap(cost)
        why = f" (this request counts as {charged}: one per {unit_bytes:,} bytes of body)" if charged > 1 else ""
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {limiter.per_minute} requests per minute exceeded for {who}{why}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )


# -- access events -----------------------------------------------------------------------------------------


def access_purpose(principal: Principal) -> AccessPurpose:
    """Why a role reads: a clinician for a patient's care (``treatment``), any other role for ``audit``."""
    return "treatment" if principal.role is Role.CLINICIAN else "audit"


async def record_access(
    request: Request,
    principal: Principal,
    action: AccessAction,
    purpose: AccessPurpose,
    records: list[AuditRecord],
    *,
    reason: str | None = None,
    filters: dict[str, Any] | None = None,
    patient_pseudonym: str | None = None,
    denied: bool = False,
) -> AuditRecord:
    """Append the access event of this read; 503 (nothing returned) when the log cannot take it.

    ``denied``: the read was refused (403) and ``records`` is what was asked for; the attempt is recorded all
    the same, since a refused read is what an auditor asks about. Who read is the key's actor id (the keyed
    pseudonym of its digest, :class:`api.keys.Principal`), never the key; the route is its template
    (``/v1/traces/{audit_id}``), so no value a client put in the path reaches the log through it.
    """
    service = services_of(request).diagnosis
    if patient_pseudonym is None:
        patients = {r.patient_pseudonym for r in records}
        if len(patients) == 1:
            patient_pseudonym = patients.pop()
    route = getattr(request.scope.get("route"), "path", None)
    event = AccessEvent(
        action=action,
        purpose=purpose,
        records=[r.record_id for r in records],
        route=route if isinstance(route, str) else None,
        reason=reason,
        filters=filters or {},
        denied=denied,
    )
    entry = access_entry(
        event,
        request_id=request_id_of(request.scope),
        actor_role=principal.role.value,
        actor_id=principal.actor_id,
        patient_pseudonym=patient_pseudonym,
    )
    store = service.audit_store
    try:
        recorded = await service.in_thread(lambda: store.append(entry))
    except Exception as exc:
        get_logger().error("audit_access_append_failed", error_type=type(exc).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the audit log could not record this read, so nothing is returned; retry later",
            headers={"Retry-After": "5"},
        ) from None
    log_fields(request.scope)["access_audit_seq"] = recorded.seq
    return recorded


async def record_refusal(request: Request, principal: Principal, attempt: AccessAction) -> AuditRecord:
    """Record that ``principal``'s role was refused this route: an access event with ``denied``, no records.

    What was attempted is the route (its template) and ``attempt``; nothing the client sent is kept: not the
    query (its filters are checked only once a caller is admitted, and a refused one may hold a patient
    identifier, as an unchecked ``patient=MRN`` would), not the path's values, not the body (never read).
    """
    return await record_access(request, principal, attempt, access_purpose(principal), [], denied=True)


def access_headers(access: AuditRecord) -> dict[str, str]:
    """The header naming the access event a response was recorded as, ``X-Audit-Access-Id``: on every audited read,
    and on a recorded 403 (its ``denied`` event), so that each response names its own event."""
    return {"X-Audit-Access-Id": access.record_id}


#: Route dependencies by who may call: ``principal: Clinical`` in a signature authenticates and authorises.
#: Each names what its routes do, for the access event of a refused role: ``TraceReader`` reads one record,
#: ``TraceSearcher`` searches, ``AuditExporter`` exports, ``PseudonymLookup`` maps an identifier,
#: ``LogVerifier`` verifies the log (its chain, checkpoints and proofs), ``BreakGlassReader`` reads another
#: clinician's decision; ``Clinical`` and ``Auditor`` are routes that read no record (``operation``).
Clinical = Annotated[Principal, Depends(require_roles(Role.CLINICIAN, Role.ADMIN))]
BreakGlassReader = Annotated[Principal, Depends(require_roles(Role.CLINICIAN, Role.ADMIN, attempt="read"))]
TraceReader = Annotated[Principal, Depends(require_roles(Role.CLINICIAN, Role.AUDITOR, Role.ADMIN, attempt="read"))]
TraceSearcher = Annotated[
    Principal,
    Depends(
        require_roles(Role.CLINICIAN, Role.AUDITOR, Role.ADMIN, attempt="search", refuses=access_events_for_auditors)
    ),
]
Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
AuditExporter = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN, attempt="export"))]
PseudonymLookup = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN, attempt="pseudonym-lookup"))]
LogVerifier = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN, attempt="verify"))]
AnyRole = Annotated[Principal, Depends(require_roles(*Role))]
