"""The one vocabulary of the corpus: documents, their chunks, and evidence.

Every part of the system speaks in these types: the corpus builder produces
``Document`` and ``Chunk``; retrievers return ``Evidence``; the agent cites
evidence ids; the audit log stores them. Ids are derived from the source (an
OMIM number, a pseudonymised patient identifier, a content hash), never from
build order, so a rebuild yields the same ids and old audit records resolve.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVIDENCE_SEPARATOR = "#"
_DOC_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*:[A-Za-z0-9_.:\-]+$")


class DocumentKind(StrEnum):
    """What a document is; retrieval filters on it."""

    PATIENT_RECORD = "patient_record"
    DISEASE_KNOWLEDGE = "disease_knowledge"
    GUIDELINE = "guideline"


class DocumentMetadata(BaseModel):
    """Provenance and codes of a document.

    ``codes`` are CURIEs (``OMIM:154700``, ``ORPHA:558``, ``ICD10CM:Q87.4``,
    ``HP:0001166``) so that diagnoses can be matched by code, not by string.
    """

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="Registered source name, e.g. 'hpo-diseases'.")
    licence: str = Field(description="Licence of the source material, as recorded in the manifest.")
    codes: tuple[str, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)


class Document(BaseModel):
    """A unit of source material: one disease, one patient, one guideline section set."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: DocumentKind
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    metadata: DocumentMetadata

    @field_validator("id")
    @classmethod
    def _id_is_stable_curie(cls, value: str) -> str:
        if not _DOC_ID_PATTERN.match(value):
            raise ValueError(
                f"document id {value!r} must look like 'prefix:local' (lowercase prefix, no '#' or spaces)"
            )
        return value

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON form; the manifest hashes these to version the corpus."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def diagnosis_codes(codes: tuple[str, ...]) -> tuple[str, ...]:
    """The disease codes among a document's codes: what a diagnosis can be matched and cited by.

    Phenotype terms (``HP:``) describe findings, not diagnoses, so they are left out.
    """
    return tuple(code for code in codes if not code.startswith("HP:"))


def chunk_id(doc_id: str, ordinal: int) -> str:
    """The evidence id of a chunk: ``doc_id#ordinal``."""
    return f"{doc_id}{EVIDENCE_SEPARATOR}{ordinal}"


def split_evidence_id(evidence_id: str) -> tuple[str, int]:
    """Inverse of :func:`chunk_id`; raises ``ValueError`` on a malformed id."""
    doc_id, sep, ordinal = evidence_id.rpartition(EVIDENCE_SEPARATOR)
    if not sep or not doc_id or not ordinal.isdigit():
        raise ValueError(f"malformed evidence id {evidence_id!r}; expected 'doc_id#n'")
    return doc_id, int(ordinal)


class Chunk(BaseModel):
    """A retrievable span of a document; ``text == document.text[start:end]``."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    ordinal: int = Field(ge=0)
    text: str = Field(min_length=1)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    section: str | None = Field(default=None, description="Heading path for guideline sections.")

    @model_validator(mode="after")
    def _span_is_ordered(self) -> Chunk:
        if self.end <= self.start:
            raise ValueError(f"chunk span [{self.start}, {self.end}) is empty or reversed")
        return self

    @property
    def id(self) -> str:
        return chunk_id(self.doc_id, self.ordinal)


class Evidence(BaseModel):
    """One retrieved passage: what was found, by which retriever, at what score and rank."""

    model_config = ConfigDict(frozen=True)

    evidence_id: str
    doc_id: str
    kind: DocumentKind
    title: str
    text: str
    score: float
    rank: int = Field(ge=1)
    retriever: str
    codes: tuple[str, ...] = Field(
        default=(), description="Diagnosis codes of the source document (OMIM/ORPHA/ICD-10; no HPO terms)."
    )
    component_ranks: dict[str, int] = Field(
        default_factory=dict, description="For fused results: the rank each member retriever gave."
    )


def normalise_name(name: str) -> str:
    """Case, punctuation and spacing folded: 'Marfan Syndrome' == 'marfan syndrome'."""
    kept = "".join(ch if ch.isalnum() else " " for ch in name.casefold())
    return " ".join(kept.split())
