"""DESIGN's arrows hold: the import-linter contracts in pyproject.toml pass, and they say what DESIGN says.

`make lint` runs `lint-imports` too; running it here means a wrong arrow fails the test suite (and CI)
instead of waiting for a reviewer.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_the_import_contracts_pass() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_contracts_name_exactly_the_two_upward_reaches() -> None:
    contracts = _contracts()
    layers = contracts["layers"]["layers"]
    assert isinstance(layers, list)
    # 1. the command lines sit on top (the composition root) ...
    assert set(layers[0].replace(" ", "").split("|")) == {"dxsearch.cli", "audit.cli"}
    # ... and nothing imports them.
    assert set(contracts["command-lines"]["forbidden_modules"]) == {"dxsearch.cli", "corpus_builder.cli", "audit.cli"}
    # 2. the trainer is the only part of dxsearch above rewards; everything else of dxsearch is below it.
    position = {name: i for i, layer in enumerate(layers) for name in layer.replace(" ", "").split("|")}
    assert position["dxsearch.train"] < position["rewards"]
    reaching = {"dxsearch.cli", "dxsearch.train"}
    below = [name for name in position if name.startswith("dxsearch.") and name not in reaching]
    assert below and all(position[name] > position["rewards"] for name in below)
    # rewards sees only the protocol and vocabulary layers; audit sees nothing else of the project.
    assert {"dxsearch.evaluation", "dxsearch.policies", "dxsearch.env", "dxsearch.train"} <= set(
        contracts["rewards-vocabulary"]["forbidden_modules"]
    )
    assert set(contracts["audit-alone"]["forbidden_modules"]) == {"dxsearch", "corpus_builder", "rewards", "api"}
    assert contracts["no-file-circles"]["type"] == "acyclic_siblings"


def test_every_dxsearch_module_is_in_a_layer() -> None:
    """A new top-level module of dxsearch must be placed in the layers, or nothing constrains its imports."""
    layers = _contracts()["layers"]["layers"]
    assert isinstance(layers, list)
    placed = {name for layer in layers for name in layer.replace(" ", "").split("|")}
    package = ROOT / "dxsearch"
    modules = {f"dxsearch.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"dxsearch.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert modules - placed == set()


def test_tests_mirror_the_packages() -> None:
    """Every folder of tests/ is the folder of a package (or bench/), so a module's tests are found by its path.

    Folders named ``data`` hold a test's input files (e.g. a FHIR bundle) and are exempt.
    """
    tests = ROOT / "tests"
    strays = [
        folder.relative_to(tests).as_posix()
        for folder in tests.rglob("*")
        if folder.is_dir()
        and folder.name not in {"__pycache__", "data"}
        and not (ROOT / folder.relative_to(tests)).is_dir()
    ]
    assert strays == []
