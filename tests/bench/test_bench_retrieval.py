"""The retrieval benchmark keeps running: a tiny configuration on the small real index."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_retrieval.py"


def test_bench_writes_table_json_with_ratios(small_index: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_retrieval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "bench.json"
    assert (
        module.main(
            [
                "--index",
                str(small_index),
                "--out",
                str(out),
                "--scale",
                "3",
                "--queries",
                "3",
                "--embed-sample",
                "5",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert set(result["sizes"]) == {"1x", "3x"}
    assert result["sizes"]["3x"]["build"]["documents"] == 3 * result["sizes"]["1x"]["build"]["documents"]
    for size in result["sizes"].values():
        assert set(size["query"]) == {"lexical", "dense", "hybrid"}
        assert size["query"]["lexical"]["p50_ratio_vs_lexical"] == 1.0
    assert result["encoder"]["statements_per_s"] > 0
