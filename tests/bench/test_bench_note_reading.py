"""The note-reading bench keeps running: one repeat of a one-page note, its table and JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_note_reading.py"


def test_bench_reads_a_reproducible_note_and_reports(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_note_reading", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_note_reading"] = module
    spec.loader.exec_module(module)
    assert module.make_note(2) == module.make_note(2)
    assert len(module.make_note(2).split()) >= 1000
    out = tmp_path / "note.json"
    assert module.main(["--repeats", "1", "--pages", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["note_words"] >= 500 and result["findings"] > 5
    assert result["intake"]["runs"] == 1
