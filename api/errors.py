"""One error shape for every 4xx/5xx the API sends: ``{"detail": message, "request_id": id, ...}``.

Why one shape: clients (the viewer, an EHR's CDS client, scripts) show ``detail`` to a person and quote
``request_id`` to an operator, who finds the matching log line by it. Messages say what was wrong with the
request in words; they never echo request values back into logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request, status
from starlette.responses import JSONResponse
from starlette.types import Scope

#: Scope key holding the request id (set by :class:`api.logging.RequestContextMiddleware`).
REQUEST_ID_KEY = "dxsearch.request_id"
#: Scope key holding the caller's own ``X-Request-ID``, when it sent a well-formed one.
CLIENT_REQUEST_ID_KEY = "dxsearch.client_request_id"


def not_unicode_message(surrogate: str, what: str = "the text") -> str:
    """Why ``what`` holding the lone ``surrogate`` is refused, naming its code point, never the text around it.

    Why refuse: such text has no UTF-8 form, so it cannot be pseudonymised, logged or committed to the audit
    log (each encodes it), and it failed deep inside those as a 500 or a traceback.
    """
    return (
        f"{what} holds a lone UTF-16 surrogate (\\u{ord(surrogate):04x}), which is not valid Unicode: send text as "
        "UTF-8, and a character beyond U+FFFF as a surrogate pair"
    )


def request_id_of(scope: Scope) -> str:
    """The request id of this request ("unknown" only if the context middleware did not run)."""
    value = scope.get(REQUEST_ID_KEY)
    return value if isinstance(value, str) else "unknown"


def client_request_id_of(scope: Scope) -> str | None:
    """The caller's own request id (kept beside the server's, never used as it), or None."""
    value = scope.get(CLIENT_REQUEST_ID_KEY)
    return value if isinstance(value, str) else None


def error_response(
    scope: Scope, status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error response in the API's one shape."""
    body: dict[str, Any] = {"detail": message, "request_id": request_id_of(scope), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


async def single_valued_query(request: Request) -> None:
    """Refuse a query parameter given twice (422): no route takes a list, and which one wins is a guess."""
    params = request.query_params
    for name in params:
        if len(params.getlist(name)) > 1:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"query parameter '{name[:64]}' is given more than once"
            )


def _query_names(dependant: Any) -> list[str]:
    """The query parameters a route (its dependencies included) reads, by the names a caller sends."""
    names = [str(getattr(field, "alias", None) or field.name) for field in getattr(dependant, "query_params", ())]
    for dependency in getattr(dependant, "dependencies", ()):
        names.extend(_query_names(dependency))
    return list(dict.fromkeys(names))


async def known_query_only(request: Request) -> None:
    """Refuse a query parameter the route does not read (422 naming it and those it reads).

    Why: an unknown parameter is ignored by default, so a misspelt filter (``evidence_id=`` for
    ``evidence=``) answers with everything, as if it had been applied.
    """
    accepted = _query_names(getattr(request.scope.get("route"), "dependant", None))
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in accepted]
    if not unknown:
        return
    listed = ", ".join(f"'{name[:64]}'" for name in unknown[:5])
    takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no query parameters"
    plural = "s" if len(unknown) > 1 else ""
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown query parameter{plural} {listed} for this route; {takes}"
    )
