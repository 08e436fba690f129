"""`dxsearch diagnose` and `dxsearch read` refuse an input over the API's request limit, unread, in one line.

A user test: a case row of 5 MB ran for minutes (killed) while the API refused the same in 6 ms (413). The command
lines take the limit from the one Settings object (DXSEARCH_MAX_REQUEST_BYTES), per case line, note line and file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxsearch.cli import app
from dxsearch.settings import get_settings

runner = CliRunner()
LIMIT = 2048
SAID = f"over the {LIMIT:,}-byte limit (DXSEARCH_MAX_REQUEST_BYTES, the API's request limit); not read"


@pytest.fixture(autouse=True)
def _small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DXSEARCH_MAX_REQUEST_BYTES", str(LIMIT))
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("DXSEARCH_MAX_REQUEST_BYTES")
    get_settings.cache_clear()


def _row(case_id: str, text: str) -> str:
    return json.dumps({"case_id": case_id, "text": text})


def test_a_case_line_over_the_limit_is_one_line_naming_file_line_and_limit(tmp_path: Path) -> None:
    case = tmp_path / "big.jsonl"
    line = _row("big", "Tall stature. " * 200)
    case.write_text(line + "\n")
    result = runner.invoke(app, ["diagnose", "-c", str(case), "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 2, result.output
    (said,) = result.stderr.strip().splitlines()
    assert said == f"error: {case}:1: the line is {len(line):,} bytes, {SAID}"
    assert result.stdout == ""


def test_a_json_case_file_over_the_limit_is_refused_from_its_size(tmp_path: Path) -> None:
    case = tmp_path / "big.json"
    case.write_text(json.dumps({"text": "Tall stature. " * 200}))
    result = runner.invoke(app, ["diagnose", "-c", str(case), "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 2, result.output
    (said,) = result.stderr.strip().splitlines()
    assert said == f"error: {case}: the file is {case.stat().st_size:,} bytes, {SAID}"


def test_a_line_at_the_limit_is_read_and_only_the_first_row_counts(tmp_path: Path) -> None:
    """The limit is of one line, its line break aside; rows after the first are counted, the long one refused."""
    case = tmp_path / "rows.jsonl"
    first = _row("ok", "x")
    exact = _row("exact", "a" * (LIMIT - len(_row("exact", ""))))
    assert len(exact.encode()) == LIMIT
    case.write_text(f"{exact}\r\n{first}\n")
    result = runner.invoke(app, ["diagnose", "-c", str(case), "--index", str(tmp_path / "no-index")])
    assert "over the" not in result.stderr  # read (then the missing index stops it)
    assert f"{tmp_path / 'no-index'}" in result.stderr and result.exit_code == 2


def test_read_refuses_a_note_line_over_the_limit_and_reads_the_others(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    long = json.dumps({"doc_id": "long", "text": "Seizures. " * 300})
    notes.write_text(
        json.dumps({"doc_id": "a", "text": "Arachnodactyly."})
        + "\n"
        + long
        + "\n"
        + json.dumps({"doc_id": "b", "text": "Seizures."})
        + "\n"
    )
    out = tmp_path / "accounts.jsonl"
    result = runner.invoke(app, ["read", "--notes", str(notes), "--json", str(out)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {notes}:2: the line is {len(long):,} bytes, {SAID}"]
    assert [json.loads(line)["doc_id"] for line in out.read_text().splitlines()] == ["a", "b"]
