"""Tables derived from the HPO release files, kept on disk so that a process reads them instead of re-deriving.

Why: every ``dxsearch diagnose`` used to parse ``phenotype.hpoa`` (270k rows, filtered by the index's
excluded publications) and build the phenotype scorer's matrices before it could rank one case: seconds
of work whose result only changes when a release file, the exclusion list or the deriving code changes.
A file here is named by a digest of exactly those inputs (:func:`cache_key`), so a stale table is never
read: a new release, another exclusion list or an edit of the deriving modules names another file, and
the old one is simply never opened again (the directory is safe to delete at any time).

The directory is ``Settings.derived_dir`` (``share/dxsearch/derived`` of the environment), the one the
second reader's slim index already lives in. Files are pickles: they hold named tuples and sparse
matrices that JSON cannot, and load ~5x faster than the rows parse. They are written by this code, into
the environment, beside the installed packages, and trusted like them; never point ``derived_dir`` at a
directory others can write to.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TypeVar

__all__ = ["DerivedCache", "cache_key", "code_digest", "file_digest", "gc_paused"]

T = TypeVar("T")

#: Bumped when the way files are written changes (part of every key).
CACHE_FORMAT = 1
#: Files kept per kind of table, most recently used first: enough for a few exclusion lists and for the
#: checkouts that share one environment, while files of superseded code or releases do not pile up.
KEEP_PER_KIND = 6


@lru_cache(maxsize=64)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of a file's bytes; memoised per (path, size, mtime) within a process."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of the file's content (what the tables are derived from, not where it lies or when it was copied)."""
    stat = path.stat()
    return _digest(path.resolve(), stat.st_size, stat.st_mtime_ns)


def code_digest(modules: Iterable[ModuleType]) -> str:
    """sha256 over the source of the modules that derive a table: editing one of them invalidates its files.

    Safer than a hand-bumped version number, which an edit of the deriving code can forget.
    """
    sha = hashlib.sha256()
    for module in modules:
        source = getattr(module, "__file__", None)
        sha.update(module.__name__.encode())
        if source is not None:
            sha.update(file_digest(Path(source)).encode())
    return sha.hexdigest()


def cache_key(parts: Mapping[str, str]) -> str:
    """A short digest naming everything a table depends on (sorted by name, so order never matters)."""
    sha = hashlib.sha256(f"format={CACHE_FORMAT}".encode())
    for name in sorted(parts):
        sha.update(f"\0{name}={parts[name]}".encode())
    return sha.hexdigest()[:24]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Cyclic garbage collection off for the block (as it was before, after it).

    For building or unpickling a large object graph without cycles: collection passes over hundreds of
    thousands of fresh objects would cost several times the work itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class DerivedCache:
    """Reads a derived table from its file, or builds it and writes the file (temp file, then rename).

    ``directory=None`` turns the cache off (every call builds). A directory that cannot be written costs
    a build per process, with one note on stderr; a file that cannot be read is rebuilt and replaced. Reading
    a file marks it used; writing one removes the least recently used files of its kind beyond
    ``KEEP_PER_KIND``.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def path(self, kind: str, key: str) -> Path | None:
        """Where the table ``kind`` with this key lives (``None`` when the cache is off)."""
        return None if self.directory is None else self.directory / f"{kind}-{key}.pickle"

    def load_or_build(self, kind: str, key: str, build: Callable[[], T]) -> T:
        path = self.path(kind, key)
        if path is None:
            return build()
        if path.is_file():
            try:
                with path.open("rb") as handle, gc_paused():
                    loaded: T = pickle.load(handle)
                with suppress(OSError):  # a read-only directory: the file is still good, only its age is off
                    os.utime(path)
                return loaded
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError) as exc:
                print(f"dxsearch: derived table {path.name} unreadable ({exc}); rebuilding it", file=sys.stderr)
        with gc_paused():  # deriving makes as many long-lived objects as loading does
            table = build()
        self._write(path, table)
        self._prune(kind)
        return table

    def _prune(self, kind: str) -> None:
        if self.directory is None:
            return
        with suppress(OSError):
            files = sorted(self.directory.glob(f"{kind}-*.pickle"), key=lambda f: f.stat().st_mtime, reverse=True)
            for stale in files[KEEP_PER_KIND:]:
                stale.unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, table: object) -> None:
        partial: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=path.parent, suffix=".partial", delete=False) as out:
                partial = Path(out.name)
                pickle.dump(table, out, protocol=pickle.HIGHEST_PROTOCOL)
            partial.replace(path)
        except OSError as exc:
            if partial is not None:
                partial.unlink(missing_ok=True)
            note = f"dxsearch: derived table {path.name} not cached ({exc}); built for this process only"
            print(note, file=sys.stderr)
