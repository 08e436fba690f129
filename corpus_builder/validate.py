"""``corpus-builder validate FILE``: run a file through the real source, index nothing.

Validation is the same code path as a build (same checks, same FHIR
validation, same document construction), so "validate says ok" means "build
will accept it"; only the index is not written. Documents are counted, not
kept, so a large directory validates in constant memory (ids aside).

``--explain`` (:func:`explain_path`) says what each record becomes: the findings indexed (with their HPO
id, or none), diagnoses, sex and age, the resources read into nothing and why, and warnings on values
the build normalises ("sex 'M' read as male", an age computed from a birth date, an obsolete HPO id).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from corpus_builder.sources.base import Reject
from corpus_builder.sources.files import sources_for_path
from dxsearch.corpus import Document
from dxsearch.settings import Settings


class ValidationReport(BaseModel):
    """What a build would make of a path: documents that pass, and every reject with its location."""

    model_config = ConfigDict(frozen=True)

    path: str
    documents: int = Field(description="Documents that passed every check.")
    by_kind: dict[str, int] = Field(default_factory=dict)
    rejects: tuple[Reject, ...] = ()
    duplicate_ids: tuple[str, ...] = Field(
        default=(),
        description="Ids produced more than once (same patient identifier, or the same guideline twice); "
        "a build keeps one document per id.",
    )

    @property
    def ok(self) -> bool:
        """True when there is something to index and nothing was rejected."""
        return self.documents > 0 and not self.rejects

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.by_kind.items())) or "none"
        return f"{self.documents} document(s) ok ({kinds}), {len(self.rejects)} rejected"


def validate_path(path: Path, *, settings: Settings | None = None) -> ValidationReport:
    """Check a file or directory the way ``build --source PATH`` would read it."""
    kinds: Counter[str] = Counter()
    rejects: list[Reject] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for item in sources_for_path(path, settings=settings).iter_items():
        if isinstance(item, Document):
            kinds[item.kind.value] += 1
            if item.id in seen and item.id not in duplicates:
                duplicates.append(item.id)
            seen.add(item.id)
        else:
            rejects.append(item)
    return ValidationReport(
        path=str(path),
        documents=sum(kinds.values()),
        by_kind=dict(kinds),
        rejects=tuple(rejects),
        duplicate_ids=tuple(duplicates),
    )


class RecordExplanation(BaseModel):
    """What one record (a bundle's patient, a case row, a guideline) becomes in the index, and what was not read.

    ``findings`` are ``(label, HPO id or None, excluded)`` as indexed; ``diagnoses`` the Conditions or the
    gold diagnosis (``code label``); ``ignored`` the resources read into nothing, with why; ``warnings``
    the values the build normalises or cannot use ("sex 'M' read as male").
    """

    model_config = ConfigDict(frozen=True)

    location: str
    kind: str
    sex: str | None = None
    age: str | None = None
    findings: tuple[tuple[str, str | None, bool], ...] = ()
    diagnoses: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The explanation for people: a head line, then one indented line per item."""
        head = f"{self.location}: {self.kind}"
        if self.kind != "guideline":
            head += f" (sex {self.sex}, age {self.age or 'unknown'})"
        out = [head]
        for label, hpo_id, excluded in self.findings:
            out.append(f"  {'excluded' if excluded else 'finding '} {hpo_id or '(no HPO id)':<11} {label}")
        out.extend(f"  diagnosis {diagnosis}" for diagnosis in self.diagnoses)
        out.extend(f"  ignored  {item}" for item in self.ignored)
        out.extend(f"  warning  {warning}" for warning in self.warnings)
        return out


def explain_path(path: Path, *, settings: Settings | None = None) -> list[RecordExplanation]:
    """What each record under ``path`` becomes (files a build reads; rejects are ``validate_path``'s to tell)."""
    from corpus_builder.sources.files import RECORD_SUFFIXES, SUPPORTED_SUFFIXES, decode_text, read_checked
    from dxsearch.settings import get_settings

    limit = (settings or get_settings()).max_input_bytes
    files = (
        sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))
        if path.is_dir()
        else [path]
    )
    explained: list[RecordExplanation] = []
    for file in files:
        suffix = file.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            continue
        if suffix not in RECORD_SUFFIXES:
            explained.append(RecordExplanation(location=str(file), kind="guideline"))
            continue
        try:
            text = decode_text(read_checked(file, limit))
        except ValueError:
            continue  # validate_path reports it
        explained.extend(_explain_records(file, suffix, text))
    return explained


def _explain_records(file: Path, suffix: str, text: str) -> Iterator[RecordExplanation]:
    if suffix == ".json":
        lines = [(str(file), text)]
    else:
        lines = [(f"{file}:{n}", line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    for location, raw in lines:
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and payload.get("resourceType") == "Bundle":
            yield from _explain_bundle(location, payload)
        elif isinstance(payload, dict) and "phenotypes" in payload:
            yield _explain_row(location, payload)


def _explain_bundle(location: str, payload: dict[str, Any]) -> Iterator[RecordExplanation]:
    from corpus_builder.fhir_bundles import indexed_findings
    from dxsearch.intake.fhir import BundleError, parse_bundle

    try:
        parsed = parse_bundle(payload)
    except BundleError:
        return  # validate_path reports it
    entries = payload.get("entry") or []
    for patient in parsed.patients:
        resource = (entries[patient.entry_index] or {}).get("resource") or {}
        warnings: list[str] = []
        if resource.get("gender") in (None, "unknown"):
            warnings.append("Patient.gender absent or unknown: sex unknown")
        if resource.get("birthDate") and patient.age is not None:
            warnings.append(
                f"age {patient.age} computed from birthDate (at the bundle's timestamp, else its latest clinical "
                "date; a build never counts from today, so a rebuild gives the same documents)"
            )
        # The codes a case maps through hp.obo (SNOMED CT, UMLS, ICD-10) are mapped here too: ``parse_bundle`` reads
        # them for every reader, so the index and a case read a bundle alike and nothing is left to warn of.
        # An unconfirmed Condition (or an uncertain Observation) coded in HPO is neither a finding nor a diagnosis of
        # the indexed patient: say so.
        possible = {
            (
                c.entry_index,
                f"an {'uncertain' if c.resource_type == 'Observation' else 'unconfirmed'} {c.resource_type} "
                f"({c.label}): a possibility, not indexed",
            )
            for c in patient.conditions
            if c.hpo_id is not None and c.unconfirmed and not c.refuted and c.entry_index is not None
        }
        ignored = sorted({*parsed.ignored, *patient.ignored, *possible})
        yield RecordExplanation(
            location=f"{location}#entry[{patient.entry_index}]",
            kind=f"patient record (FHIR {patient.fhir_version})",
            sex=patient.sex,
            age=patient.age,
            findings=tuple((f.label, f.hpo_id, f.excluded) for f in indexed_findings(patient)),
            diagnoses=tuple(
                f"{' '.join(c.codes) or '(no code)'} {c.label}"
                + (" (refuted)" if c.refuted else " (unconfirmed: not indexed as a diagnosis)" if c.unconfirmed else "")
                for c in patient.conditions
                if c.hpo_id is None
            ),
            ignored=tuple(f"entry[{index}]: {why}" for index, why in ignored),
            warnings=tuple(warnings),
        )


def _explain_row(location: str, row: dict[str, Any]) -> RecordExplanation:
    from dxsearch.cases import normalise_sex
    from dxsearch.intake.demographics import check_age
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    warnings: list[str] = []
    given_sex = row.get("sex")
    sex = normalise_sex(given_sex if isinstance(given_sex, str) else None)
    if isinstance(given_sex, str) and given_sex != sex:
        if sex == "unknown" and given_sex.strip().lower() not in ("unknown", "unknown_sex"):
            warnings.append(f"sex {given_sex!r} not recognised: read as unknown")
        else:
            warnings.append(f"sex {given_sex!r} read as {sex}")
    age = row.get("age")
    if isinstance(age, str):
        try:
            check_age(age)
        except ValueError:
            warnings.append(f"age {age!r} is not an ISO 8601 duration (P14Y, P2Y6M): a case read from it is refused")
    knowledge = get_hpo_knowledge()
    findings: list[tuple[str, str | None, bool]] = []
    for phenotype in row.get("phenotypes") or []:
        if not isinstance(phenotype, dict):
            continue
        hpo_id, label = phenotype.get("id"), str(phenotype.get("label") or phenotype.get("id") or "")
        findings.append((label, hpo_id, bool(phenotype.get("excluded"))))
        current = knowledge.current_id(hpo_id) if isinstance(hpo_id, str) else None
        if isinstance(hpo_id, str) and current is None:
            warnings.append(f"{hpo_id} is not in the HPO release this build uses")
        elif current is not None and current != hpo_id:
            warnings.append(f"{hpo_id} is obsolete or an alternative id of {current}: indexed as given")
    disease = row.get("disease") if isinstance(row.get("disease"), dict) else None
    return RecordExplanation(
        location=location,
        kind="case (phenopacket row)",
        sex=sex,
        age=age if isinstance(age, str) else None,
        findings=tuple(findings),
        diagnoses=(f"{disease.get('id')} {disease.get('label')}",) if disease else (),
        warnings=tuple(warnings),
    )
