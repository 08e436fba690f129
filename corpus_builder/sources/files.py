"""Files a user supplies (``--source PATH``): FHIR bundles, phenopacket case files, guidelines.

=================  =============================================================
``.json``          one FHIR Bundle (R4B or R5)
``.ndjson``        one FHIR Bundle per line
``.jsonl``         phenopacket rows (first record has ``case_id`` + ``phenotypes``)
                   or FHIR Bundles (first record has ``resourceType``)
``.md .txt``       guideline (see :mod:`corpus_builder.sources.guidelines`)
``.html .htm``
``.pdf``
directory          every file below it, sorted by name; hidden files and
                   symlinked directories are skipped
=================  =============================================================

Cheap checks run before any parsing so that a bad file costs nothing and says
exactly what is wrong: missing or unreadable, empty, over
``max_input_bytes`` (rejected from its size alone, never read), binary (NUL
in the first 8 KiB), not UTF-8 (with the byte offset), truncated or invalid
JSON (with line and column), JSON that is not a Bundle, a bundle without a
Patient. Each problem is one ``Reject`` whose location is ``file``,
``file:line`` or ``file#entry[3].resource.code`` (``file:line#...`` in NDJSON).

One invalid resource rejects its whole bundle: a patient record silently
missing one finding (say, an excluded one) would misinform retrieval, so the
user is shown where the problem is and fixes the export instead.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from corpus_builder.fhir_bundles import patient_document
from corpus_builder.sources.base import Reject, Source, SourceInfo
from corpus_builder.sources.guidelines import (
    GUIDELINE_SUFFIXES,
    GuidelineError,
    guideline_from_pdf,
    guideline_from_text,
)
from corpus_builder.sources.phenopackets import labelled_case_document
from dxsearch.cases import PhenopacketRow
from dxsearch.corpus import Document
from dxsearch.intake.fhir import BundleError, FhirVersion, offending_value, parse_bundle
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.settings import Settings, get_settings

SOURCE_NAME = "files"
USER_LICENCE = "supplied by user"
#: Namespace of patient pseudonyms from user FHIR files: one per deployment unless told otherwise.
DEFAULT_ORIGIN = "user-files"
BINARY_PROBE_BYTES = 8192
RECORD_SUFFIXES = (".json", ".ndjson", ".jsonl")
SUPPORTED_SUFFIXES = (*RECORD_SUFFIXES, *GUIDELINE_SUFFIXES)
_PHENOPACKET_KEYS = {"case_id", "phenotypes"}


#: Why an HPO id the release does not know refuses a case row (``dxsearch diagnose`` and the API refuse it: 422).
UNKNOWN_ID = (
    "{term_id} is not a term of the HPO release DxSearch uses (dxsearch diagnose and the API refuse it; "
    "an index would hold a finding no case can match)"
)


def _unknown_terms(line: str, location: str) -> tuple[tuple[str, str], ...]:
    """A problem per phenotype of the row on ``line`` whose HPO id the release does not know (an alternative id is
    known), read from the raw JSON so that a row refused for another reason lists these too.

    Why: the build indexed such a row, whose finding no case can ever match, while ``dxsearch diagnose`` and the
    API refused the same id; ``corpus-builder validate`` only warned (a user test).
    """
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return ()
    phenotypes = row.get("phenotypes") if isinstance(row, dict) else None
    if not isinstance(phenotypes, list):
        return ()
    knowledge = get_hpo_knowledge()
    return tuple(
        (location, f"phenotypes.{index}.id: " + UNKNOWN_ID.format(term_id=term_id))
        for index, phenotype in enumerate(phenotypes)
        if isinstance(phenotype, dict)
        and isinstance(term_id := phenotype.get("id"), str)
        and term_id.startswith("HP:")
        and knowledge.current_id(term_id) is None
    )


class FileSource:
    """A file or a directory of files, as documents and rejects."""

    def __init__(
        self,
        path: Path,
        *,
        settings: Settings | None = None,
        origin_namespace: str = DEFAULT_ORIGIN,
        pseudonymiser: Pseudonymiser | None = None,
        fhir_version: FhirVersion | Literal["auto"] = "auto",
    ) -> None:
        self.path = path
        #: The FHIR version bundles are read as; "auto" tries R5, then R4B (:func:`parse_bundle`).
        self.fhir_version = fhir_version
        self._settings = settings or get_settings()
        self._origin = origin_namespace
        self._pseudonymiser = pseudonymiser or Pseudonymiser(self._settings.pseudonym_key)

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(
            name=SOURCE_NAME,
            description=f"user files at {self.path} (FHIR bundles, phenopacket JSONL, guidelines)",
            licence=USER_LICENCE,
        )

    def iter_items(self) -> Iterator[Document | Reject]:
        if self.path.is_dir():
            found = False
            for item in self._walk(self.path):
                found = True
                if isinstance(item, Reject):
                    yield item
                else:
                    yield from self._file(item)
            if not found:
                yield self._reject(self.path, "directory holds no files")
            return
        yield from self._file(self.path)

    # -- traversal ----------------------------------------------------------------------------------------

    def _walk(self, directory: Path) -> Iterator[Path | Reject]:
        try:
            children = sorted(directory.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            yield self._reject(directory, f"cannot list directory: {exc.strerror or exc}")
            return
        for child in children:
            if child.name.startswith("."):
                continue
            if child.is_dir():
                if not child.is_symlink():
                    yield from self._walk(child)
                continue
            yield child

    def _file(self, path: Path) -> Iterator[Document | Reject]:
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            expected = " ".join(SUPPORTED_SUFFIXES)
            yield self._reject(path, f"unsupported file type {suffix or '(no suffix)'!r}; expected one of {expected}")
            return
        try:
            data = read_checked(path, self._settings.max_input_bytes)
            if suffix == ".pdf":
                yield self._pdf(path, data)
                return
            text = decode_text(data)
        except InputFileError as exc:
            yield self._reject(path, exc.reason)
            return
        if not text.strip():
            yield self._reject(path, "empty file (whitespace only)")
        elif suffix == ".json":
            yield from self._json_bundle(path, text)
        elif suffix == ".ndjson":
            yield from self._ndjson(path, text)
        elif suffix == ".jsonl":
            yield from self._jsonl(path, text)
        else:
            yield self._guideline(path, text)

    # -- formats --------------------------------------------------------------------------------------------

    def _json_bundle(self, path: Path, text: str) -> Iterator[Document | Reject]:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            yield self._reject(path, json_error_reason(exc, text))
            return
        yield from self._bundle(payload, str(path))

    def _ndjson(self, path: Path, text: str) -> Iterator[Document | Reject]:
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            location = f"{path}:{number}"
            try:
                payload = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Reject(source=SOURCE_NAME, location=location, reason=json_error_reason(exc, line))
                continue
            yield from self._bundle(payload, location)

    def _jsonl(self, path: Path, text: str) -> Iterator[Document | Reject]:
        """Phenopacket rows or FHIR bundles, decided by the keys of the first JSON object in the file."""
        first: dict[str, Any] | None = None
        for line in text.split("\n"):
            try:
                candidate = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(candidate, dict):
                first = candidate
                break
        if first is not None and "resourceType" not in first:
            if not first.keys() >= _PHENOPACKET_KEYS:
                keys = ", ".join(sorted(first)[:8])
                yield self._reject(
                    path,
                    f"unrecognised JSONL: first record has keys [{keys}]; expected phenopacket rows "
                    "(case_id, phenotypes, disease) or FHIR Bundles (resourceType)",
                )
                return
            yield from self._phenopackets(path, text)
            return
        yield from self._ndjson(path, text)

    def _phenopackets(self, path: Path, text: str) -> Iterator[Document | Reject]:
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            location = f"{path}:{number}"
            try:
                row = PhenopacketRow.model_validate_json(line)
            except ValidationError as exc:
                errors = exc.errors()
                if errors[0]["type"] == "json_invalid":
                    yield Reject(source=SOURCE_NAME, location=location, reason=json_error_reason_from_line(line))
                    continue
                problems = (
                    *((location, _row_error(error, with_value=True)) for error in errors),
                    *_unknown_terms(line, location),
                )
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                yield Reject(
                    source=SOURCE_NAME,
                    location=location,
                    reason=_row_error(errors[0], with_value=False) + more,
                    problems=problems,
                )
                continue
            unknown = _unknown_terms(line, location)
            if unknown:
                more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
                yield Reject(source=SOURCE_NAME, location=location, reason=unknown[0][1] + more, problems=unknown)
                continue
            try:
                yield labelled_case_document(
                    row.to_labelled_case(),
                    source=SOURCE_NAME,
                    licence=USER_LICENCE,
                    pseudonymiser=self._pseudonymiser,
                )
            except BundleError as exc:
                yield _bundle_reject(exc, location)
            except ValueError as exc:
                yield Reject(source=SOURCE_NAME, location=location, reason=_one_line(str(exc)))

    def _bundle(self, payload: object, location: str) -> Iterator[Document | Reject]:
        problem = bundle_shape_problem(payload)
        if problem is not None:
            yield Reject(source=SOURCE_NAME, location=location, reason=problem)
            return
        assert isinstance(payload, dict)  # bundle_shape_problem checked it
        try:
            parsed = parse_bundle(payload, fhir_version=self.fhir_version)
        except BundleError as exc:
            yield _bundle_reject(exc, location)
            return
        for patient in parsed.patients:
            if not patient.findings and not patient.conditions:
                yield Reject(
                    source=SOURCE_NAME,
                    location=f"{location}#entry[{patient.entry_index}]",
                    reason="patient has no findings or conditions: nothing to index",
                )
                continue
            yield patient_document(
                patient,
                source=SOURCE_NAME,
                licence=USER_LICENCE,
                pseudonymiser=self._pseudonymiser,
                origin_namespace=self._origin,
                publication=patient.publication,  # only ever a PubMed id: public by definition
            )

    def _guideline(self, path: Path, text: str) -> Document | Reject:
        fmt = GUIDELINE_SUFFIXES[path.suffix.lower()]
        assert fmt != "pdf"
        try:
            return guideline_from_text(text, fmt=fmt, file_name=path.name, source=SOURCE_NAME)
        except GuidelineError as exc:
            return self._reject(path, exc.reason)

    def _pdf(self, path: Path, data: bytes) -> Document | Reject:
        if b"%PDF-" not in data[:1024]:
            return self._reject(path, "not a PDF (no %PDF- header in the first 1 KiB)")
        try:
            return guideline_from_pdf(data, file_name=path.name, source=SOURCE_NAME)
        except GuidelineError as exc:
            return self._reject(path, exc.reason)

    @staticmethod
    def _reject(path: Path, reason: str) -> Reject:
        return Reject(source=SOURCE_NAME, location=str(path), reason=reason)


def sources_for_path(
    path: Path,
    *,
    settings: Settings | None = None,
    origin_namespace: str = DEFAULT_ORIGIN,
    fhir_version: FhirVersion | Literal["auto"] = "auto",
) -> Source:
    """The source behind ``corpus-builder ... --source PATH`` (a file or a directory)."""
    return FileSource(path, settings=settings, origin_namespace=origin_namespace, fhir_version=fhir_version)


# -- checks usable on their own (an upload path can run the same ones) ----------------------------------


class InputFileError(ValueError):
    """A file fails a pre-parse check; ``reason`` is the one line a Reject shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_checked(path: Path, limit: int) -> bytes:
    """The file's bytes; ``InputFileError`` if missing, unreadable, not a file, empty or over ``limit``.

    The size is taken from ``stat``: an oversized file is refused without
    being read; and at most ``limit + 1`` bytes are ever read, in case it grew.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError("file not found") from None
    except OSError as exc:
        raise InputFileError(f"cannot read file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError("not a regular file")
    if info.st_size == 0:
        raise InputFileError("empty file")
    if info.st_size > limit:
        raise InputFileError(
            f"file is {info.st_size:,} bytes, over the {limit:,}-byte limit (max_input_bytes); not read"
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputFileError(f"file grew past the {limit:,}-byte limit (max_input_bytes) while being read")
    if not data:
        raise InputFileError("empty file")
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 text (a BOM is allowed); ``InputFileError`` if binary (NUL in the first 8 KiB), UTF-16 or bad."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError("UTF-16 text; save it as UTF-8")
    nul = data.find(b"\x00", 0, BINARY_PROBE_BYTES)
    if nul >= 0:
        raise InputFileError(f"binary file (NUL byte at offset {nul}); expected UTF-8 text")
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        raise InputFileError(f"not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line})") from None


def json_error_reason(exc: json.JSONDecodeError, text: str) -> str:
    """``truncated JSON: ...`` if input ran out mid-value, else ``invalid JSON: ...``, with line/column."""
    where = f"{exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return f"truncated JSON: input ends inside a value ({where})"
    return f"invalid JSON: {where}"


def json_error_reason_from_line(line: str) -> str:
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        return json_error_reason(exc, line)
    return "invalid JSON"


def bundle_shape_problem(payload: object) -> str | None:
    """Why parsed JSON cannot be a patient bundle, before the (costly) FHIR validation; None if it may be."""
    if not isinstance(payload, dict):
        kind = "an array" if isinstance(payload, list) else type(payload).__name__
        return f"top-level JSON is {kind}, expected a FHIR Bundle object"
    resource_type = payload.get("resourceType")
    if resource_type is None:
        return "JSON object has no resourceType, expected a FHIR Bundle"
    if resource_type != "Bundle":
        return f"resourceType is {resource_type!r}, expected 'Bundle'"
    entries = payload.get("entry")
    if not isinstance(entries, list) or not any(
        isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") == "Patient"
        for entry in entries
    ):
        return "bundle has no Patient entry"
    return None


def _bundle_reject(exc: BundleError, location: str) -> Reject:
    """A bundle that failed validation, with every problem when there were several."""
    problems = tuple((f"{location}#{path}", reason) for path, reason in exc.problems)
    return Reject(source=SOURCE_NAME, location=f"{location}#{exc.path}", reason=exc.reason, problems=problems)


def _row_error(error: Mapping[str, Any], *, with_value: bool) -> str:
    """One pydantic error of a case row as ``field: message``, optionally with ``(got value)``."""
    where = ".".join(str(p) for p in error["loc"]) or "<root>"
    reason = f"{where}: {_one_line(str(error['msg']))}"
    if with_value and "input" in error and error.get("type") != "missing":  # a missing field's input: its parent
        reason += f" (got {offending_value(error['input'])})"
    return reason


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
