"""Bodies read by the route itself (api.body) are refused exactly as FastAPI refuses a body parameter.

Why compared with FastAPI rather than with fixed messages: the point of :mod:`api.body` is to move the
parsing after the dependencies and off the event loop without changing any answer, so each input goes to
two otherwise equal apps, one with ``body: Model``, one reading it with :func:`api.body.read_body`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from body_support import Order
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from api.body import body_openapi, read_body
from api.body_process import BodyParser
from api.openapi import install_openapi
from tests.api.helpers import worker_up


def _admitted(request: Request) -> None:
    if request.headers.get("x-key") != "ok":
        raise HTTPException(401, "no key")


def _apps(parser: BodyParser | None = None) -> tuple[TestClient, TestClient]:
    """FastAPI's body parameter, and :func:`read_body` (parsing in ``parser``, else in a thread)."""
    declared = FastAPI()
    read = FastAPI()

    @declared.post("/orders", name="create_order")
    async def with_parameter(body: Order, _: None = Depends(_admitted)) -> dict[str, Any]:
        return body.model_dump()

    @read.post("/orders", name="create_order", openapi_extra=body_openapi(Order))
    async def with_read_body(request: Request, _: None = Depends(_admitted)) -> dict[str, Any]:
        return (await read_body(request, Order, parser=parser)).model_dump()

    install_openapi(declared)
    install_openapi(read)
    return TestClient(declared), TestClient(read)


JSON = {"Content-Type": "application/json", "x-key": "ok"}
INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("valid", {"json": {"items": [{"label": "a"}]}, "headers": {"x-key": "ok"}}),
    ("malformed", {"content": b'{"items": [', "headers": JSON}),
    ("not UTF-8", {"content": b'{"note": "\xff"}', "headers": JSON}),
    ("nested too deep", {"content": b"[" * 100_000, "headers": JSON}),
    ("+json media type", {"content": b'{"items": []}', "headers": {**JSON, "Content-Type": "application/fhir+json"}}),
    ("no content type", {"content": b'{"items": []}', "headers": {"x-key": "ok"}}),
    ("text/plain", {"content": b'{"items": []}', "headers": {**JSON, "Content-Type": "text/plain"}}),
    ("empty", {"content": b"", "headers": JSON}),
    ("null", {"content": b"null", "headers": JSON}),
    ("a list", {"json": [1], "headers": JSON}),
    ("invalid fields", {"json": {"items": [{"label": ""}, {"label": "toolong"}, 3], "extra": 1}, "headers": JSON}),
    ("too many", {"json": {"items": [{"label": "a"}] * 4}, "headers": JSON}),
    # What orjson refuses and json.loads accepts or refuses in its own words (api.body._loads):
    ("a trailing comma", {"content": b'{"items": [],}', "headers": JSON}),
    ("an integer past 64 bits", {"content": b'{"items": [], "note": 18446744073709551616}', "headers": JSON}),
    ("a negative one", {"content": b'{"items": [], "note": -9223372036854775809}', "headers": JSON}),
    ("UTF-16", {"content": '{"items": [], "note": "ü"}'.encode("utf-16"), "headers": JSON}),
    ("a UTF-8 byte order mark", {"content": b'\xef\xbb\xbf{"items": []}', "headers": JSON}),
    ("nested past 1024 levels", {"content": b"[" * 1100 + b"]" * 1100, "headers": JSON}),
    ("no key, valid", {"json": {"items": []}}),
    ("no key, invalid fields", {"json": {"items": 3}}),
    # A pair is one character, parsed by json.loads here (19 digits in a row) and searched for lone ones:
    ("a surrogate pair", {"content": b'{"items": [], "note": "\\ud83d\\ude00 1234567890123456789"}', "headers": JSON}),
]
#: Where FastAPI answers "There was an error parsing the body", read_body says what is wrong (same status).
SAYS_MORE = {
    "not UTF-8": "the request body is not UTF-8 (invalid start byte at byte 10)",
    "nested too deep": "nested too deeply",
    "nested past 1024 levels": "nested too deeply",
}


def _same_answer(name: str, got: Any, expected: Any) -> None:
    """``got`` is FastAPI's answer ``expected``, but for the inputs of :data:`SAYS_MORE`, where it says more."""
    if name in SAYS_MORE:
        assert (got.status_code, expected.status_code) == (400, 400)
        assert expected.json() == {"detail": "There was an error parsing the body"}
        assert SAYS_MORE[name] in got.json()["detail"], got.json()
        return
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())


@pytest.mark.parametrize(("name", "kwargs"), INPUTS, ids=[i[0] for i in INPUTS])
def test_every_body_gets_the_answer_a_body_parameter_gets(name: str, kwargs: dict[str, Any]) -> None:
    declared, read = _apps()
    _same_answer(name, read.post("/orders", **kwargs), declared.post("/orders", **kwargs))


@pytest.fixture(scope="module")
def worker() -> Iterator[BodyParser]:
    """A body parser sending every non-empty body to its worker process, the worker up."""
    parser = BodyParser(min_bytes=1, timeout_s=60.0)
    parser.start()
    worker_up(parser)
    yield parser
    parser.close()


@pytest.mark.parametrize(("name", "kwargs"), INPUTS, ids=[i[0] for i in INPUTS])
def test_every_body_gets_the_same_answer_parsed_in_the_worker_process(
    worker: BodyParser, name: str, kwargs: dict[str, Any]
) -> None:
    declared, read = _apps(worker)
    answered = worker.worker_answers
    _same_answer(name, read.post("/orders", **kwargs), declared.post("/orders", **kwargs))
    admitted = kwargs.get("headers", {}).get("x-key") == "ok"
    sent = kwargs.get("content", b"x") != b""  # an empty body is refused before any parsing
    assert worker.worker_answers == answered + (admitted and sent)


@pytest.mark.parametrize("in_worker", [False, True], ids=["thread", "worker"])
@pytest.mark.parametrize(
    ("content", "loc"),
    [
        (b'{"items": [], "note": "tall \\udfff"}', "note"),
        (b'{"items": [{"label": "a\\ud800"}]}', "items.0.label"),
        (b'{"items": [], "note": "x", "\\udc00": 1}', ""),
    ],
)
def test_a_lone_surrogate_is_a_422_at_its_location_never_quoted(
    worker: BodyParser, in_worker: bool, content: bytes, loc: str
) -> None:
    # FastAPI lets one through in an unbounded string (the declared app answers 200 with it); a bounded one
    # it refuses as "unable to parse raw data as a unicode string". read_body refuses both, saying what it is.
    _, read = _apps(worker if in_worker else None)
    got = read.post("/orders", content=content, headers=JSON)
    assert got.status_code == 422, got.text
    [error] = got.json()["detail"]
    assert ".".join(str(part) for part in error["loc"]) == ".".join(filter(None, ("body", loc)))
    assert error["type"] == "string_unicode" and error["input"] is None
    assert "lone UTF-16 surrogate" in error["msg"] and "not valid Unicode" in error["msg"]


def test_the_body_is_parsed_only_once_the_dependencies_admit_the_caller() -> None:
    declared, read = _apps()
    malformed: dict[str, Any] = {"content": b'{"items": [', "headers": {"Content-Type": "application/json"}}
    assert declared.post("/orders", **malformed).status_code == 422  # FastAPI parses first
    assert read.post("/orders", **malformed).status_code == 401


def test_the_schema_documents_the_body_as_a_body_parameter_would() -> None:
    declared, read = _apps()
    assert read.app.openapi() == declared.app.openapi()  # type: ignore[attr-defined]
