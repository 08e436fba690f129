"""Store backends by URL scheme: every registered scheme opens its store, duplicates are refused, and
the package's import graph stays free of circles and of the optional psycopg."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import audit
from audit import AuditStore, StoreUrlError, open_store
from audit.backends import STORES, store_scheme
from audit.errors import RegistryError
from audit.registry import Registry

#: Every scheme a backend registers, with a URL of that scheme's form and the store it must open.
_SCHEMES = {
    "sqlite": ("sqlite", "SqliteAuditStore"),
    "postgresql": ("postgresql", "PostgresAuditStore"),
    "postgres": ("postgres", "PostgresAuditStore"),
    "postgresql+": ("postgresql+psycopg", "PostgresAuditStore"),
}


def test_the_registered_schemes_are_the_known_ones() -> None:
    assert STORES.names() == sorted(_SCHEMES)


@pytest.mark.parametrize("scheme", STORES.names())
def test_every_registered_scheme_resolves_and_opens_its_store(
    scheme: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url_scheme, store_class = _SCHEMES[scheme]
    if scheme == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        pg_url: str = request.getfixturevalue("pg_url")
        url = url_scheme + pg_url.removeprefix("postgresql")
    assert store_scheme(url) == scheme
    assert callable(STORES.get(scheme))
    with open_store(url) as store:
        assert isinstance(store, AuditStore) and type(store).__name__ == store_class
        assert store.head() is None


def test_a_duplicate_scheme_is_refused() -> None:
    original = STORES.get("sqlite")
    with pytest.raises(RegistryError, match="already registered"):
        STORES.register("sqlite")(original)
    assert STORES.get("sqlite") is original

    registry: Registry[Callable[[], int]] = Registry("thing")
    registry.register("a")(lambda: 1)
    with pytest.raises(RegistryError, match="'a' is already registered"):
        registry.register("a")(lambda: 2)
    assert registry.get("a")() == 1
    with pytest.raises(RegistryError, match="unknown thing 'b'; known: a"):
        registry.get("b")


def test_unregistered_schemes_are_refused() -> None:
    for url in ("mysql://x/y", "sqlite+pysqlite:///x.db", "postgres+psycopg://x/y", "audit.db"):
        assert store_scheme(url) is None
        with pytest.raises(StoreUrlError, match="unsupported audit store URL"):
            open_store(url)


def test_importing_audit_loads_no_backend_it_does_not_use() -> None:
    probe = (
        "import sys, audit; audit.open_store; "
        "print(sorted(m for m in ('psycopg', 'audit.postgres_store') if m in sys.modules))"
    )
    root = Path(audit.__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _audit_imports(path: Path) -> set[str]:
    """The audit modules ``path`` imports anywhere in it (functions and TYPE_CHECKING blocks included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "audit")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module == "audit":
                # ``from audit import x`` names a submodule or a name the package re-exports.
                package = Path(audit.__file__).parent
                for alias in node.names:
                    is_module = (package / f"{alias.name}.py").exists()
                    found.add(f"audit.{alias.name}" if is_module else "audit")
            elif node.module.split(".")[0] == "audit":
                found.add(node.module)
    return found


def test_no_audit_module_imports_a_module_that_imports_it_back() -> None:
    package = Path(audit.__file__).parent
    graph = {
        ("audit" if path.stem == "__init__" else f"audit.{path.stem}"): _audit_imports(path)
        for path in sorted(package.glob("*.py"))
    }

    def reaches(start: str, goal: str) -> bool:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(graph.get(module, ()))
        return False

    circles = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if reaches(b, a))
    assert circles == []
