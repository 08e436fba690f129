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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from corpus_builder.sources.base import Reject
from corpus_builder.sources.files import sources_for_path
from dxsearch.corpus import Document
from dxsearch.intake.fhir import FhirVersion
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


def validate_path(
    path: Path, *, settings: Settings | None = None, fhir_version: FhirVersion | Literal["auto"] = "auto"
) -> ValidationReport:
    """Check a file or directory the way ``build --source PATH`` would read it (bundles as ``fhir_version``)."""
    kinds: Counter[str] = Counter()
    rejects: list[Reject] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for item in sources_for_path(path, settings=settings, fhir_version=fhir_version).iter_items():
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


def explain_path(
    path: Path, *, settings: Settings | None = None, fhir_version: FhirVersion | Literal["auto"] = "auto"
) -> list[RecordExplanation]:
    """What each record under ``path`` becomes (files a build reads; rejects are ``validate_path``'s to tell)."""
    from corpus_builder.sources.files import RECORD_SUFFIXES, SUPPORTED_SUFFIXES, decode_text, read_checked
    from dxsearch.settings import get_settings

    limit = (settings or get_settings()).max_input_bytes
    explained: list[RecordExplanation] = []
    for file in _files(path):
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
        explained.extend(_explain_records(file, suffix, text, fhir_version))
    return explained


def _files(path: Path) -> list[Path]:
    """The files under ``path`` a build reads, in order (hidden ones never)."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))


def _explain_records(
    file: Path, suffix: str, text: str, fhir_version: FhirVersion | Literal["auto"] = "auto"
) -> Iterator[RecordExplanation]:
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
            yield from _explain_bundle(location, payload, fhir_version)
        elif isinstance(payload, dict) and "phenotypes" in payload:
            yield _explain_row(location, payload)


def _explain_bundle(
    location: str, payload: dict[str, Any], fhir_version: FhirVersion | Literal["auto"] = "auto"
) -> Iterator[RecordExplanation]:
    from corpus_builder.fhir_bundles import indexed_findings
    from dxsearch.intake.fhir import BundleError, parse_bundle

    try:
        parsed = parse_bundle(payload, fhir_version=fhir_version)
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
    from dxsearch.knowledge.term_lookup import get_term_lookup

    warnings: list[str] = []
    unread = _unread_keys(row)
    if unread:  # dropped without a word, a user test found ("gender": "M": sex unknown); diagnose says so too
        warnings.append(f"key(s) not read, ignored: {', '.join(unread)}")
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
    for index, phenotype in enumerate(row.get("phenotypes") or []):
        if not isinstance(phenotype, dict):
            continue
        hpo_id, label = phenotype.get("id"), str(phenotype.get("label") or phenotype.get("id") or "")
        findings.append((label, hpo_id, bool(phenotype.get("excluded"))))
        current = knowledge.current_id(hpo_id) if isinstance(hpo_id, str) else None
        if isinstance(hpo_id, str) and current is None:
            warnings.append(f"{hpo_id} is not a term of the HPO release DxSearch uses: the row is refused")
        elif current is not None and current != hpo_id:
            warnings.append(f"{hpo_id} is obsolete or an alternative id of {current}: indexed as given")
        elif hpo_id is None and label:
            lookup = get_term_lookup()
            term = lookup.lookup(label)
            where = f"phenotypes.{index} {label!r}"
            if term is not None:
                warnings.append(
                    f"{where} has no HPO id: its label names {term} ({knowledge.term_name(term)}); a build needs "
                    f'the id in the row ("id": "{term}"); dxsearch diagnose reads the label alone'
                )
            else:
                warnings.append(f"{where} has no HPO id, and no HPO term has this name{_did_you_mean(label)}")
    disease = row.get("disease") if isinstance(row.get("disease"), dict) else None
    return RecordExplanation(
        location=location,
        kind="case (phenopacket row)",
        sex=sex,
        age=age if isinstance(age, str) else None,
        findings=tuple(findings),
        diagnoses=(_disease_text(disease),) if disease else (),
        warnings=tuple(warnings),
    )


def _disease_text(disease: dict[str, Any]) -> str:
    """``OMIM:310200 Duchenne muscular dystrophy``; a disease without an id says so ("diagnosis None ..." did)."""
    return f"{disease.get('id') or '(no id)'} {disease.get('label') or '(no label)'}"


def _unread_keys(row: dict[str, Any]) -> list[str]:
    """The keys of a phenopacket row a build does not read (``gender``, ``phenotypes[1].negated``)."""
    from dxsearch.cases import PhenopacketRow

    read = {"id", "label", "excluded"}
    unread = [key for key in row if key not in PhenopacketRow.model_fields]
    for number, phenotype in enumerate(row.get("phenotypes") or []):
        if isinstance(phenotype, dict):
            unread += [f"phenotypes[{number}].{key}" for key in phenotype if key not in read]
    return unread


def _did_you_mean(label: str) -> str:
    """``; did you mean 'Hypertelorism' (HP:0000316)?`` for a label spelt close to a term's name or synonym, else ""."""
    from dxsearch.knowledge.hpo import get_hpo_knowledge
    from dxsearch.knowledge.term_lookup import get_term_lookup

    knowledge = get_hpo_knowledge()
    named = ", ".join(f"{knowledge.term_name(term)!r} ({term})" for term in get_term_lookup().close_terms(label))
    return f"; did you mean {named}?" if named else ""


def validate_case_rows(path: Path, *, settings: Settings) -> tuple[ValidationReport, list[RecordExplanation]]:
    """Check a JSONL case file as ``dxsearch diagnose --case`` reads it: each row through the same intake.

    A case to diagnose needs no ``disease`` (one given is never read) and its phenotypes may be labels alone
    (:class:`dxsearch.cases.CaseRow`); what diagnose refuses (an unknown HPO id, a line over the API's request
    limit) is a problem, and what it reads differently from what was written (keys not read, a sex normalised,
    a label naming no term) a warning. ``diagnose`` reads a file's first row only: later rows are said to be so.
    """
    from dxsearch.cases import CaseFileError, iter_numbered_case_rows, normalise_sex
    from dxsearch.intake import CaseInput, IntakeError, IntakeLimits, intake
    from dxsearch.knowledge.term_lookup import normalise
    from dxsearch.pseudonym import Pseudonymiser

    limits = IntakeLimits.from_settings(settings)
    pseudonymiser = Pseudonymiser(settings.pseudonym_key)
    rejects: list[Reject] = []
    explained: list[RecordExplanation] = []
    for number, row in iter_numbered_case_rows(path, max_line_bytes=settings.max_request_bytes):
        location = f"{path}:{number}"
        if isinstance(row, CaseFileError):
            rejects.append(Reject(source="case file", location=location, reason=row.reason))
            continue
        try:
            prepared = intake(
                CaseInput.model_validate(row.intake_fields()),
                pseudonymiser=pseudonymiser,
                fallback_id=path.stem,
                limits=limits,
            )
        except IntakeError as exc:
            rejects.append(Reject(source="case file", location=location, reason=exc.message))
            continue
        warnings: list[str] = []
        if explained or rejects:
            warnings.append("dxsearch diagnose --case reads a file's first row only: give this case its own file")
        unread = row.unread_keys()
        if unread:
            warnings.append(f"key(s) not read, ignored: {', '.join(unread)}")
        if row.sex and normalise_sex(row.sex) != row.sex:
            warnings.append(f"sex {row.sex!r} read as {normalise_sex(row.sex)}")
        for mapped in prepared.account.mapped:  # a label read as a term of another name: say which
            if (
                mapped.given
                and mapped.path.startswith("findings[")
                and normalise(mapped.given) != normalise(mapped.label)
            ):
                where = mapped.path.replace("findings[", "phenotypes[", 1)
                warnings.append(f"{where} {mapped.given!r} read as {mapped.hpo_id} ({mapped.label})")
        for item in prepared.account.not_understood:
            where = item.path.replace("findings[", "phenotypes[", 1)  # the intake's name of a row's phenotypes
            said = f"{where} {item.given!r}" if item.given is not None else where
            hint = _did_you_mean(item.given) if item.given and item.category == "not_understood" else ""
            warnings.append(f"{said}: {item.reason}{hint}")
        answer = "disease" in (row.model_extra or {})
        ignored = ("disease: the answer, never read by dxsearch diagnose",) if answer else ()
        explained.append(
            RecordExplanation(
                location=location,
                kind="case to diagnose",
                sex=prepared.case.sex,
                age=prepared.case.age,
                findings=tuple((f.label, f.hpo_id, f.excluded) for f in prepared.case.findings),
                ignored=ignored,
                warnings=tuple(warnings),
            )
        )
    report = ValidationReport(
        path=str(path),
        documents=len(explained),
        by_kind={"case": len(explained)} if explained else {},
        rejects=tuple(rejects),
    )
    return report, explained
