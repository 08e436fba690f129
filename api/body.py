"""A route's JSON body, read once its dependencies have admitted the caller, and parsed off the event loop.

Why not a FastAPI body parameter: FastAPI reads, ``json.loads`` and validates a declared body on the event
loop before any dependency runs, so every caller, one without a key or over its rate limit included,
could make the server parse up to ``max_request_bytes`` (a 1 MiB FHIR bundle is some 100,000 objects,
~6 ms of ``json.loads`` holding the loop; issue 16, ``bench/bench_bundle_latency.py``). A route that
takes the ``Request`` and awaits :func:`read_body` parses only what its dependencies (key, role, rate
limit) let through, and in a worker thread; :func:`body_openapi` documents the model as its body.

Errors are FastAPI's own :class:`RequestValidationError`, built as FastAPI builds them, so the app's
handler answers exactly as for a body parameter: malformed JSON 400, invalid fields 422 (``body.…``
locations), in the one error shape of :mod:`api.errors`. Where FastAPI says less, it says more: a body
that is not UTF-8 or is nested too deeply is a 400 saying which (FastAPI: "There was an error parsing the
body"), and a string holding a lone UTF-16 surrogate, which JSON's ``\\u`` escapes allow and FastAPI lets
through, is a 422 at its location (it crashed the pseudonymiser and the audit log's encoder with a 500).

A route may pass a *screen*: a check of the validated body that returns the error its route would raise
later anyway (``/v1/diagnose``: a bundle over the entry cap, :func:`api.schemas.diagnose_refusal`). It runs
where the body was parsed, and the route gets a :class:`Refused` in place of the body; for big bodies that
is the separate process of :mod:`api.body_process`, so the serving process never builds the objects of a
body it is going to refuse.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, Protocol, TypeVar, overload

import orjson
from anyio import to_thread
from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.errors import not_unicode_message
from dxsearch.lone_surrogates import lone_surrogate

ModelT = TypeVar("ModelT", bound=BaseModel)
#: A check of a validated body: the error its route would raise for it later, or None. Module-level
#: functions (or partials of them) only: it is pickled to the process that parses big bodies.
Screen = Callable[[ModelT], Exception | None]


@dataclass(frozen=True, slots=True)
class Refused:
    """A body its route's screen refused where it was parsed: raise ``error`` where the route would have."""

    error: Exception

    def raise_(self) -> NoReturn:
        raise self.error


class BodyParser(Protocol):
    """Where bodies are parsed: :class:`api.body_process.BodyParser` (big ones in a low-priority process)."""

    async def parse(
        self, raw: bytes, content_type: str | None, model: type[ModelT], screen: Screen[ModelT] | None = None
    ) -> ModelT | Refused: ...


@overload
async def read_body(request: Request, model: type[ModelT], *, parser: BodyParser | None = None) -> ModelT: ...


@overload
async def read_body(
    request: Request, model: type[ModelT], screen: Screen[ModelT], *, parser: BodyParser | None = None
) -> ModelT | Refused: ...


async def read_body(
    request: Request, model: type[ModelT], screen: Screen[ModelT] | None = None, *, parser: BodyParser | None = None
) -> ModelT | Refused:
    """The request's body as ``model`` (or its screen's :class:`Refused`), parsed off the event loop.

    Where: by ``parser``, else by the app's (:class:`api.body_process.BodyParser`: big bodies in a
    low-priority process), else in a worker thread (an app not made by :func:`api.app.create_app`).
    """
    raw = await request.body()  # bounded by api.limits.BodySizeLimitMiddleware
    content_type = request.headers.get("content-type")
    parser = parser or _parser_of(request)
    if parser is not None:
        return await parser.parse(raw, content_type, model, screen)
    return await to_thread.run_sync(partial(parse_screened, raw, content_type, model, screen))


def _parser_of(request: Request) -> BodyParser | None:
    services = getattr(request.app.state, "services", None)
    return getattr(services, "body_parser", None)


def parse_screened(
    raw: bytes, content_type: str | None, model: type[ModelT], screen: Screen[ModelT] | None
) -> ModelT | Refused:
    """:func:`parse_body`, then ``screen``: the body, or :class:`Refused` with the error the screen found."""
    body = parse_body(raw, content_type, model)
    error = screen(body) if screen is not None else None
    return body if error is None else Refused(error)


def parse_body(raw: bytes, content_type: str | None, model: type[ModelT]) -> ModelT:
    """``raw`` as FastAPI reads a body parameter: JSON only under a JSON ``Content-Type``, else bytes.

    FastAPI's strict content type: a body without a JSON media type is not parsed, and is then refused
    by the model like any other non-object; an empty body is a missing one; a body that cannot be
    decoded at all is a 400 saying why (not UTF-8, nested too deeply), malformed JSON one saying where.
    """
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    value: Any = raw
    if _is_json(content_type):
        try:
            value = _loads(raw)
        except json.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([error], body=exc.doc) from None
        except _NotUnicodeError as exc:
            raise RequestValidationError([exc.error]) from None
        except UnicodeDecodeError as exc:  # json.loads reads UTF-16 and UTF-32 too, when the bytes say so
            encoding = "UTF-8" if exc.encoding.startswith("utf-8") else f"valid {exc.encoding.upper()}"
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"the request body is not {encoding} ({exc.reason} at byte {exc.start}): send JSON encoded as UTF-8",
            ) from None
        except RecursionError:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "the request body's JSON is nested too deeply to read (arrays or objects about a thousand levels "
                "deep): a request is a JSON object a few levels deep",
            ) from None
        except Exception as exc:  # anything else json.loads may raise: say that, and what
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"the request body could not be read as JSON ({type(exc).__name__})"
            ) from None
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=value) from None


#: A translation table keeping the ASCII digits as ``0`` and turning every other byte into a space.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
#: 19 digits in a row: the shortest integer that may not fit in 64 bits.
_LONG_DIGIT_RUN = b"0" * 19


def _loads(raw: bytes) -> Any:
    """``json.loads(raw)``, through orjson when it gives the same: what FastAPI parses, as FastAPI fails.

    Why orjson: the parse runs for every admitted body (issue 16), and orjson parses a 1 MB bundle in
    ~3 ms against ~18 ms for ``json.loads`` (collector off, loaded machine). Where the two differ,
    ``json.loads`` decides, so answers and error messages are unchanged: whatever orjson refuses (NaN,
    1e400, lone surrogates, UTF-16 or UTF-32 text, a byte order mark, nesting past 1024 levels, malformed
    JSON) is parsed again by ``json.loads``, which accepts it or raises the very error FastAPI would; and a
    body with 19 digits in a row (in a number or a string alike) never goes to orjson, which reads an
    integer past 64 bits as a float where ``json.loads`` keeps it exact. The scan costs ~1 ms per MB.

    What ``json.loads`` parsed is then searched for a lone surrogate (:class:`_NotUnicodeError`): only it can
    let one through (orjson refuses them), so the common body, parsed by orjson, is never walked.
    """
    if _LONG_DIGIT_RUN not in raw.translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    value = json.loads(raw)
    _refuse_lone_surrogates(value)
    return value


class _NotUnicodeError(Exception):
    """A string (or an object key) of the body holds a lone surrogate; ``error`` is its validation error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["msg"])
        self.error = error


def _refuse_lone_surrogates(value: Any) -> None:
    """Raise :class:`_NotUnicodeError` at the first string or key (in document order) holding a lone surrogate.

    Its location is the string's (``body.text``, ``body.bundle.entry[4].resource.code.text``; a key's is
    its object's), typed ``string_unicode`` as pydantic types the same refusal of a constrained string
    (``findings[0].label``, ``patient_id``). Neither the text nor the key is quoted: it is patient data,
    and a lone surrogate in an answer could not even be encoded.
    """
    # A node's path is a link to its parent's (parent, key), unrolled only for the one refused: copying the whole
    # path at every node cost nodes x depth (a 400 KB body 900 deep: 4 s; code review).
    stack: list[tuple[_PathLink, Any]] = [(None, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            found = lone_surrogate(node)
            message = not_unicode_message(found) if found else None
        elif isinstance(node, dict):
            found = next((hit for key in node if (hit := lone_surrogate(key))), None)
            message = not_unicode_message(found, "a key of this object") if found else None
            stack.extend(reversed([((path, key), item) for key, item in node.items()]))
        elif isinstance(node, list):
            message = None
            stack.extend(reversed([((path, index), item) for index, item in enumerate(node)]))
        else:
            message = None
        if message is not None:
            loc = ("body", *_unrolled(path))
            raise _NotUnicodeError({"type": "string_unicode", "loc": loc, "msg": message, "input": None})


#: A location as a chain of links: ``None`` (the body), or (the parent's link, this key or index).
_PathLink = tuple[Any, int | str] | None


def _unrolled(link: _PathLink) -> tuple[int | str, ...]:
    """The keys and indices from the body down to ``link``'s node."""
    keys: list[int | str] = []
    while link is not None:
        link, key = link
        keys.append(key)
    return tuple(reversed(keys))


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json``, parameters allowed (what FastAPI parses as JSON)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the route's required JSON body, as a body parameter would.

    The model's schema goes inline, its nested models under ``$defs`` with references to
    ``#/components/schemas/``; :func:`api.openapi.install_openapi` moves them all to the components, so
    the document is the one FastAPI writes for a ``body: Model`` parameter.
    """
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": True}}
