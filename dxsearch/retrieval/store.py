"""The chunk store: documents and chunks of one index generation, in SQLite.

Both retrievers index a *row number* per chunk; this store turns rows back
into passages (title, text, kind) and serves documents for citation display.
SQLite keeps it one file, transactional and readable by any tool an auditor has.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dxsearch.corpus import Chunk, Document, DocumentKind, DocumentMetadata, Evidence, diagnosis_codes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    section TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS documents_kind ON documents(kind);
"""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk with what a passage needs from its document."""

    row: int
    chunk_id: str
    doc_id: str
    kind: DocumentKind
    title: str
    source: str
    text: str
    section: str | None
    codes: tuple[str, ...] = ()


class ChunkStore:
    """Read/write access to ``chunks.sqlite`` of one generation."""

    FILE_NAME = "chunks.sqlite"

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        path = directory / self.FILE_NAME
        if readonly:
            if not path.exists():
                raise FileNotFoundError(f"no chunk store at {path}")
            uri = f"{path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.executescript(_SCHEMA)
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    # -- writing -----------------------------------------------------------------------------

    def next_row(self) -> int:
        (value,) = self._db.execute("SELECT COALESCE(MAX(row), -1) + 1 FROM chunks").fetchone()
        return int(value)

    def content_hash(self, doc_id: str) -> str | None:
        found = self._db.execute("SELECT content_hash FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if found is None else str(found[0])

    def remove_document(self, doc_id: str) -> list[int]:
        """Delete a document and its chunks; returns the freed rows so indexes can drop them."""
        rows = [int(r[0]) for r in self._db.execute("SELECT row FROM chunks WHERE doc_id = ?", (doc_id,))]
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return rows

    def add(self, document: Document, chunks: Sequence[Chunk], first_row: int) -> None:
        self._db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                document.id,
                document.kind.value,
                document.title,
                document.text,
                document.metadata.source,
                document.metadata.model_dump_json(),
                document.content_hash(),
            ),
        )
        self._db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (first_row + i, c.id, c.doc_id, c.ordinal, c.start, c.end, c.section, c.text)
                for i, c in enumerate(chunks)
            ],
        )

    def commit(self) -> None:
        self._db.commit()

    # -- reading -----------------------------------------------------------------------------

    def ranked_evidence(self, scored: Sequence[tuple[float, int]], retriever: str) -> list[Evidence]:
        """``(score, row)`` hits, best first, as evidence ranked 1..n; a row the store no longer has (deleted
        between a commit and this read) is skipped, so a vanished passage is never cited."""
        stored = self.chunks_by_rows(row for _, row in scored)
        results: list[Evidence] = []
        for score, row in scored:
            chunk = stored.get(row)
            if chunk is None:
                continue
            results.append(
                Evidence(
                    evidence_id=chunk.chunk_id,
                    doc_id=chunk.doc_id,
                    kind=chunk.kind,
                    title=chunk.title,
                    text=chunk.text,
                    score=score,
                    rank=len(results) + 1,
                    retriever=retriever,
                    codes=chunk.codes,
                )
            )
        return results

    def chunks_by_rows(self, rows: Iterable[int]) -> dict[int, StoredChunk]:
        wanted = sorted(set(rows))
        found: dict[int, StoredChunk] = {}
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            marks = ",".join("?" * len(batch))
            query = (
                "SELECT c.row, c.chunk_id, c.doc_id, d.kind, d.title, d.source, c.text, c.section, "
                "json_extract(d.metadata, '$.codes') "
                f"FROM chunks c JOIN documents d USING (doc_id) WHERE c.row IN ({marks})"
            )
            for r in self._db.execute(query, batch):
                found[int(r[0])] = StoredChunk(
                    row=int(r[0]),
                    chunk_id=r[1],
                    doc_id=r[2],
                    kind=DocumentKind(r[3]),
                    title=r[4],
                    source=r[5],
                    text=r[6],
                    section=r[7],
                    codes=diagnosis_codes(tuple(json.loads(r[8]) or ())),
                )
        return found

    def document(self, doc_id: str) -> Document | None:
        r = self._db.execute(
            "SELECT doc_id, kind, title, text, metadata FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        if r is None:
            return None
        return Document(
            id=r[0],
            kind=DocumentKind(r[1]),
            title=r[2],
            text=r[3],
            metadata=DocumentMetadata.model_validate_json(r[4]),
        )

    def chunk(self, evidence_id: str) -> Chunk | None:
        r = self._db.execute(
            "SELECT doc_id, ordinal, text, start, end, section FROM chunks WHERE chunk_id = ?", (evidence_id,)
        ).fetchone()
        if r is None:
            return None
        return Chunk(doc_id=r[0], ordinal=r[1], text=r[2], start=r[3], end=r[4], section=r[5])

    def record_findings(self) -> Iterator[tuple[str, int, tuple[str, ...]]]:
        """(doc id, row of its first chunk, HPO ids of its observed findings) of every patient record, in id order:
        what similar-patient matching by meaning reads (a record's ``codes`` hold its diagnosis codes and its
        observed findings)."""
        query = (
            "SELECT d.doc_id, MIN(c.row), json_extract(d.metadata, '$.codes') FROM documents d "
            "JOIN chunks c USING (doc_id) WHERE d.kind = ? GROUP BY d.doc_id ORDER BY d.doc_id"
        )
        for doc_id, row, codes in self._db.execute(query, (DocumentKind.PATIENT_RECORD.value,)):
            yield doc_id, int(row), tuple(c for c in json.loads(codes or "[]") if c.startswith("HP:"))

    def document_hashes(self) -> Iterator[tuple[str, str]]:
        """(doc_id, content_hash) in id order: the input of the corpus version hash."""
        yield from self._db.execute("SELECT doc_id, content_hash FROM documents ORDER BY doc_id")

    def counts(self) -> dict[str, dict[str, int]]:
        documents = dict(self._db.execute("SELECT kind, COUNT(*) FROM documents GROUP BY kind").fetchall())
        chunks = dict(
            self._db.execute(
                "SELECT d.kind, COUNT(*) FROM chunks c JOIN documents d USING (doc_id) GROUP BY d.kind"
            ).fetchall()
        )
        (phenotype_terms,) = self._db.execute(
            "SELECT COUNT(DISTINCT j.value) FROM documents d, json_each(json_extract(d.metadata, '$.codes')) j "
            "WHERE d.kind = 'disease_knowledge' AND j.value LIKE 'HP:%'"
        ).fetchone()
        return {
            "documents": documents,
            "chunks": chunks,
            "phenotype_terms": {"disease_knowledge": phenotype_terms},
        }

    def doc_ids_by_code(self, code: str) -> list[str]:
        """Documents whose metadata lists ``code`` (e.g. ``OMIM:154700``)."""
        pattern = f'%"{code}"%'
        return [
            r[0]
            for r in self._db.execute("SELECT doc_id FROM documents WHERE metadata LIKE ? ORDER BY doc_id", (pattern,))
        ]

    def row_kinds(self) -> Iterator[tuple[int, DocumentKind]]:
        """(row, kind) of every live chunk: dense scoring filters kinds with one array lookup."""
        for row, kind in self._db.execute("SELECT c.row, d.kind FROM chunks c JOIN documents d USING (doc_id)"):
            yield int(row), DocumentKind(kind)
