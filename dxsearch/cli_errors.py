"""The bad-input contract every command line of the project shares: one line on stderr, exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from dxsearch.settings import Settings, get_settings

stderr = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the exit to raise (code 2)."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def settings_or_fail() -> Settings:
    """The process settings, or a one-line error naming the bad ``DXSEARCH_*`` variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"invalid DXSEARCH_{str(first['loc'][0]).upper()}: {first['msg']}") from None


def one_line_errors(app: typer.Typer, *errors: type[Exception]) -> None:
    """Make every command of ``app`` report ``errors`` as the one-line exit 2, wherever they are raised.

    For failures that can surface deep inside a command (a search backend that goes down in the middle
    of an evaluation), so no command can forget them and print a traceback instead.
    """
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = _reporting(command.callback, errors)


def _reporting(callback: Callable[..., Any], errors: tuple[type[Exception], ...]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except errors as exc:
            raise fail(str(exc)) from None

    return run
