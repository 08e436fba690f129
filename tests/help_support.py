"""What a Typer command line's ``--help`` must show whole, for the CLI tests of every package.

Why here: ``dxsearch`` and ``corpus-builder`` render help in Typer's markdown mode, and both test the same
promise (a paragraph on one line of a wide terminal, an example line for line, every option's help whole);
one check keeps the two from drifting apart.
"""

from __future__ import annotations

import inspect
import textwrap

import typer
from typer.testing import CliRunner


def help_commands(app: typer.Typer) -> list[str]:
    """The app's command names, and "" for the app's own help."""
    return ["", *sorted(typer.main.get_command(app).commands)]  # type: ignore[attr-defined]


def _help_blocks(help_text: str) -> tuple[list[str], list[list[str]]]:
    """A docstring's paragraphs (whitespace and backticks folded) and its indented examples, line for line."""
    paragraphs, examples = [], []
    for block in inspect.cleandoc(help_text).split("\n\n"):
        if all(line.startswith("    ") for line in block.splitlines()):
            examples.append(textwrap.dedent(block).splitlines())
        elif block.strip():
            paragraphs.append(" ".join(block.replace("`", "").split()))
    return paragraphs, examples


def assert_help_reads_whole(app: typer.Typer, command: str) -> None:
    """``command``'s ``--help`` at 1000 columns: each docstring paragraph on one line, each example line for line
    with its indentation, and every option's help text whole (nothing lost to the Markdown: ``*``, ``_``, a
    bracket)."""
    group = typer.main.get_command(app)
    shown = group.commands[command] if command else group  # type: ignore[attr-defined]
    assert shown.help
    result = CliRunner().invoke(app, [command, "--help"] if command else ["--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.output.splitlines()]
    flat = [" ".join(line.split()) for line in lines]
    paragraphs, examples = _help_blocks(shown.help)
    for paragraph in paragraphs:
        assert any(paragraph in line for line in flat), (command, paragraph)
    for example in examples:
        windows = ("\n".join(lines[i : i + len(example)]) for i in range(len(lines)))
        assert any(textwrap.dedent(window).splitlines() == example for window in windows), (command, example)
    for param in shown.params:
        if option_help := getattr(param, "help", None):
            assert any(" ".join(option_help.replace("`", "").split()) in line for line in flat), (command, param.name)


def assert_sentence_on_one_line(app: typer.Typer, command: str, sentence: str) -> None:
    """``sentence``, which the help once broke where its docstring's source line broke, is on one line of
    ``command``'s ``--help`` on a 200-column terminal (Typer's own wrapping leaves it whole there)."""
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert any(sentence in line for line in result.output.splitlines()), result.output
