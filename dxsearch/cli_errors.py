"""The bad-input contract every command line of the project shares: one line on stderr, exit code 2."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from dxsearch.settings import Settings, get_settings

stderr = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the exit to raise (code 2)."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def settings_or_fail() -> Settings:
    """The process settings, or a one-line error naming the bad ``DXSEARCH_*`` variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"invalid DXSEARCH_{str(first['loc'][0]).upper()}: {first['msg']}") from None
