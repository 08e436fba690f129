"""The OpenAPI document, with the API's one error shape on every 4xx and 5xx it can send.

Request bodies a route reads itself (:mod:`api.body`) are documented as FastAPI documents a body
parameter: the model among the components, the operation referring to it.

Why post-process: FastAPI documents a 422 of its own shape (``{"detail": [{"loc": [...], ...}]}``) and
nothing else, while every error this API sends is :func:`api.errors.error_response`'s
``{"detail": message, "request_id": id, ...}``. A client generated from the schema (or a contract test
such as schemathesis) must see what is sent: each operation lists the errors it can answer with, all
pointing at one ``Error`` schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = {"$ref": "#/components/schemas/Error"}

#: The one error body (see :mod:`api.errors`); ``errors`` lists a 422's fields, ``path`` and ``reason``
#: name where an input was refused (FHIR element path, intake reason).
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "request_id"],
    "properties": {
        "detail": {"type": "string", "description": "What was wrong, in words."},
        "request_id": {"type": "string", "description": "The server's id of the request (also X-Request-ID)."},
        "errors": {
            "type": "array",
            "description": "Each invalid field of a 422 (values left out: they are clinical data).",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}, "type": {"type": "string"}},
            },
        },
        "path": {"type": "string", "description": "Where in the input the problem is (e.g. a FHIR element path)."},
        "reason": {"type": "string", "description": "Why the input was refused, as a short code or phrase."},
    },
}

_DESCRIPTIONS = {
    400: "Malformed request (JSON, header or identifier)",
    401: "Missing or unknown API key",
    403: "The key's role may not use this route, or the record is not the caller's",
    404: "Not found",
    412: "Precondition failed",
    413: "Body over the size limit",
    422: "Invalid request (fields named in `errors`)",
    429: "Rate limit exceeded (see Retry-After)",
    500: "Internal error (the request id names it in the logs)",
    503: "Not ready, or the audit log could not record the request",
    504: "The request did not finish in time",
}


def _codes_of(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error codes an operation can answer with, besides those it declares itself."""
    codes = {500}
    if operation.get("security"):
        codes |= {401, 403, 429}
    if operation.get("parameters") or operation.get("requestBody"):
        codes |= {400, 422}
    if method in ("post", "put", "patch"):
        codes |= {400, 413}
    if path.startswith(("/v1/", "/cds-services/")) and path != "/cds-services":
        codes.add(503)
    return codes


def _hoist_request_bodies(schema: dict[str, Any]) -> None:
    """Inline request-body schemas (:func:`api.body.body_openapi`) moved to the components, by title.

    What FastAPI does for a ``body: Model`` parameter: the model and its nested models become components,
    the operation refers to the model, and it may answer 422.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body = media.get("schema")
            if not isinstance(body, dict) or "$ref" in body or "title" not in body:
                continue
            for name, nested in body.pop("$defs", {}).items():
                components.setdefault(name, nested)
            components.setdefault(body["title"], body)
            media["schema"] = {"$ref": f"#/components/schemas/{body['title']}"}
            operation.setdefault("responses", {}).setdefault("422", {"description": "Validation Error"})


def _document_errors(schema: dict[str, Any]) -> None:
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for number in _codes_of(path, method, operation):
                responses.setdefault(str(number), {"description": _DESCRIPTIONS[number]})
            for code, response in responses.items():
                if code[0] in "45" and not (path == "/readyz" and code == "503"):
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA


def install_openapi(app: FastAPI) -> None:
    """Serve ``/openapi.json`` with the error shape documented on every operation (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _hoist_request_bodies(schema)
            _document_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
