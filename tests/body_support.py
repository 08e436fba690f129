"""Models of the request-body tests (tests/api/test_body.py), in a module the body worker process can import.

Why apart: :mod:`api.body_process` sends the model class to its worker by reference (module and name), and
the worker cannot import a test module (the ``tests`` name is not importable there as pytest imports it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=5)


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Item] = Field(max_length=3)
    note: str | None = None
