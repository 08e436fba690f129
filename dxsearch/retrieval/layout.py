"""On-disk layout of an index directory, and how a build becomes visible atomically.

    INDEX_DIR/
      CURRENT                    name of the live generation (replaced atomically)
      generations/<name>/        manifest.json, chunks.sqlite, lexical/, dense/
      generations/.building-*/   a build in progress (ignored by readers, swept later)
      .lock                      held by the one writer at a time

Readers follow ``CURRENT``; a build writes a whole new generation and only then
swaps ``CURRENT`` (write temp -> fsync -> rename -> fsync dir). A build killed at
any point leaves ``CURRENT`` naming the previous, complete generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CURRENT = "CURRENT"
GENERATIONS = "generations"
MANIFEST = "manifest.json"
BUILDING_PREFIX = ".building-"


class IndexNotFoundError(FileNotFoundError):
    """The directory holds no published index generation."""


class LockHeldError(RuntimeError):
    """Another writer is building into the same index directory."""


class EmbedderRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    dim: int
    quantized: bool
    normalized: bool = True


class IndexManifest(BaseModel):
    """What a generation is: the contract between the builder and every reader."""

    model_config = ConfigDict(extra="allow")

    build_id: str
    created_at: str
    index_version: str  # short hash of corpus hash + embedder + chunking: "which index answered"
    corpus_hash: str
    embedder: EmbedderRecord
    chunk_max_chars: int
    counts: dict[str, Any]
    sources: list[dict[str, Any]]
    rejects: dict[str, Any]
    versions: dict[str, str]
    timings_s: dict[str, float] = {}
    parent: str | None = None
    peak_rss_mb: float | None = None
    index_format: str | None = None
    excluded_publications: list[str] = Field(
        default=[],
        description="PMIDs left out of the index: no patient record of theirs, and no HPO annotation row citing "
        "them behind any disease card or ranking (leave-publication-out). Readers rank with the same exclusions.",
    )
    knowledge: dict[str, Any] = Field(
        default={}, description="The annotation table the index was built from: release, rows kept and dropped."
    )
    backend: str = Field(
        default="embedded",
        description="Where the BM25 side lives: 'embedded' (tantivy, in the generation) or 'elasticsearch'.",
    )
    dense_index: str = Field(
        default="flat",
        description="The FAISS index of the dense side: 'flat' (exact) or 'ivf' (inverted lists, approximate; "
        "Settings.dense_index). Indexes built before the field existed are flat.",
    )
    dense_ivf_lists: int | None = Field(default=None, description="Inverted lists of an 'ivf' dense index.")
    dense_ivf_storage: str | None = Field(
        default=None,
        description="How an 'ivf' dense index stores its vectors: 'float16' or 'float32' (IVF-Flat; what an "
        "'ivf' index without this field is).",
    )
    elasticsearch: dict[str, Any] | None = Field(
        default=None, description="The Elasticsearch index of this generation and the alias moved to it."
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def current_generation(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexNotFoundError(
            f"{index_dir} holds no index (no {CURRENT} file); build one with `corpus-builder build --out {index_dir}`"
        )
    generation = index_dir / GENERATIONS / pointer.read_text(encoding="utf-8").strip()
    if not (generation / MANIFEST).is_file():
        raise IndexNotFoundError(f"{pointer} names {generation.name}, which has no {MANIFEST}")
    return generation


def read_manifest(generation: Path) -> IndexManifest:
    return IndexManifest.model_validate_json((generation / MANIFEST).read_text(encoding="utf-8"))


def new_generation_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def start_generation(index_dir: Path, name: str) -> Path:
    """A fresh, invisible directory for a build."""
    building = index_dir / GENERATIONS / f"{BUILDING_PREFIX}{name}"
    building.mkdir(parents=True, exist_ok=False)
    return building


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory of a generation, so CURRENT never names torn files after a crash."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(root)


def publish_generation(index_dir: Path, building: Path, manifest: IndexManifest) -> Path:
    """Write the manifest, flush the generation, make it final, then point ``CURRENT`` at it."""
    write_atomically(building / MANIFEST, manifest.model_dump_json(indent=2).encode("utf-8"))
    _fsync_tree(building)
    final = building.with_name(building.name.removeprefix(BUILDING_PREFIX))
    building.rename(final)
    _fsync_dir(final.parent)
    write_atomically(index_dir / CURRENT, f"{final.name}\n".encode())
    return final


def sweep(index_dir: Path, keep: int = 2, on_remove: Callable[[Path], None] | None = None) -> list[str]:
    """Remove abandoned builds and all but the newest ``keep`` published generations (never CURRENT).

    ``on_remove`` is called with each generation directory before it is deleted (a backend that keeps
    part of a generation elsewhere removes it there); if it raises, that directory is kept for a later
    sweep."""
    root = index_dir / GENERATIONS
    if not root.is_dir():
        return []
    live = (index_dir / CURRENT).read_text(encoding="utf-8").strip() if (index_dir / CURRENT).is_file() else None
    removed: list[str] = []
    published = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    stale = [n for n in published[:-keep] if n != live] if keep > 0 else [n for n in published if n != live]
    abandoned = [p.name for p in root.iterdir() if p.name.startswith(BUILDING_PREFIX)]
    for name in stale + abandoned:
        if on_remove is not None:
            try:
                on_remove(root / name)
            except Exception:  # never fail a build over cleaning up an older one
                continue
        shutil.rmtree(root / name, ignore_errors=True)
        removed.append(name)
    return removed


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer per index directory; a second concurrent build fails fast instead of interleaving."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeldError(f"another build holds the lock on {index_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
