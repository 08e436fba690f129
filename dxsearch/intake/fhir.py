"""Reading FHIR R4B / R5 Bundles: the one place that decides what of a patient's record is read.

Every bundle the system meets (a request to the API, a CDS Hooks prefetch, a case file given to
``dxsearch diagnose``, a user's export indexed by ``corpus-builder``, the shipped phenopackets on their
way into the index) is validated here with ``fhir.resources`` and reduced to a :class:`ParsedPatient`:
codes, sex, age and findings only. Names, identifiers, birth dates, addresses, telecoms and free-text
notes are never copied out; identifiers are kept only to derive a keyed pseudonym. The writer of
bundles and the maker of indexed patient documents live in ``corpus_builder.fhir_bundles``.

What is read:

* Findings: an ``Observation`` coded in HPO is a finding, observed unless its value is false or a coded
  "absent"/"negative", or its interpretation is NEG/ND; other Observations become findings in words.
* Age: a ``Patient.extension`` (:data:`AGE_EXTENSION_URL`) holding an ISO 8601 duration, a LOINC age
  Observation (30525-0, 21612-7), or ``birthDate`` plus a reference date.
* Publication: ``Patient.meta.source`` = ``https://pubmed.ncbi.nlm.nih.gov/<n>/``.
* Diagnoses: ``Condition`` resources coded with OMIM / Orphanet / ICD-10 / SNOMED / Mondo systems.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, Literal

from fhir.resources import get_fhir_model_class as _r5_model_class
from fhir.resources.R4B import get_fhir_model_class as _r4b_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dxsearch.cases import Case, Finding, Sex, normalise_sex
from dxsearch.intake.demographics import MAX_AGE_YEARS, check_age
from dxsearch.pseudonym import Pseudonymiser

FhirVersion = Literal["R4B", "R5"]
AGE_EXTENSION_URL = "urn:dxsearch:fhir:extension:age-iso8601"
#: System URIs seen in the wild (normalised: lower case, no scheme, no trailing slash) -> prefix.
_SYSTEM_TO_PREFIX: dict[str, str] = {
    "omim.org": "OMIM",
    "www.omim.org": "OMIM",
    "www.orpha.net": "ORPHA",
    "orpha.net": "ORPHA",
    "www.orpha.net/ordo": "ORPHA",
    "www.orphadata.com": "ORPHA",
    "hl7.org/fhir/sid/icd-10-cm": "ICD10CM",
    "hl7.org/fhir/sid/icd-10": "ICD10",
    "snomed.info/sct": "SNOMED",
    "www.nlm.nih.gov/research/umls": "UMLS",
    "loinc.org": "LOINC",
    "purl.obolibrary.org/obo/mondo.owl": "MONDO",
    "purl.obolibrary.org/obo/mondo": "MONDO",
}
_HPO_SYSTEMS = {
    "purl.obolibrary.org/obo/hp.owl",
    "purl.obolibrary.org/obo/hp",
    "human-phenotype-ontology.org",
    "www.human-phenotype-ontology.org",
    "hpo.jax.org",
}
_AGE_LOINC = {"30525-0", "21612-7"}
_LOINC_SYSTEM = "loinc.org"
_UCUM_AGE_UNITS = {"a": "Y", "mo": "M", "wk": "W", "d": "D"}
_ABSENT_SNOMED = {"2667000", "260385009", "410594000"}
_ABSENT_WORDS = {"absent", "negative", "not present", "not detected", "not observed", "not seen", "excluded", "no"}
_NEGATIVE_INTERPRETATIONS = {"NEG", "ND"}
#: v3 ObservationInterpretation "N" (Normal) and its words: of an HPO-coded finding, that it is not there; of a
#: measurement, a normal result, which is no finding.
_NORMAL_INTERPRETATIONS = {"N"}
_NORMAL_WORDS = {"normal", "within normal limits", "wnl"}
#: v3 ObservationInterpretation codes (and their words) that say which way a measurement is off.
_DIRECTIONS = {
    "H": "high",
    "HH": "high",
    "HU": "high",
    ">": "high",
    "L": "low",
    "LL": "low",
    "LU": "low",
    "<": "low",
    "A": "abnormal",
    "AA": "abnormal",
}
_DIRECTION_WORDS = {
    "high": "high",
    "critical high": "high",
    "above high normal": "high",
    "low": "low",
    "critical low": "low",
    "below low normal": "low",
    "abnormal": "abnormal",
    "critical abnormal": "abnormal",
}
_SKIPPED_STATUSES = {"entered-in-error", "cancelled"}
#: Condition.verificationStatus codes that leave the condition a possibility, not a fact of the patient.
_UNCONFIRMED = {"unconfirmed", "provisional", "differential"}
#: Condition.clinicalStatus codes of a condition the patient had, and no longer has.
_PAST = {"inactive", "resolved", "remission"}
ISO_DURATION = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T[0-9HMS.]*)?$")
_HPO_CODE = re.compile(r"^(?:HP[:_])?(\d{7})$")
_PUBMED_SOURCE = re.compile(r"^https?://(?:www\.)?pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/?$")
#: Bundle.type codes (http://hl7.org/fhir/bundle-type; R5 adds subscription-notification).
BUNDLE_TYPES: dict[FhirVersion, frozenset[str]] = {
    "R4B": frozenset(
        {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history"}
        | {"searchset", "collection"}
    ),
    "R5": frozenset(
        {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history"}
        | {"searchset", "collection", "subscription-notification"}
    ),
}
#: Patient.gender codes (http://hl7.org/fhir/administrative-gender), the same in R4B and R5.
ADMINISTRATIVE_GENDERS = frozenset({"male", "female", "other", "unknown"})
_IDENTIFIER_USE_ORDER = {"usual": 0, "official": 1, None: 2, "secondary": 3, "temp": 4, "old": 5}


class BundleError(ValueError):
    """A bundle could not be read; ``path`` points into it, e.g. ``entry[3].resource.code``.

    ``problems`` lists every ``(path, reason with the offending value)`` that validation
    found, so a validator can show them all; ``reason`` names no value (it reaches API
    responses and index manifests, where patient data must not).
    """

    def __init__(self, path: str, reason: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.problems = problems


class BundleTooLargeError(BundleError):
    """A bundle with more entries than the reader was told to read (``limit``); nothing of it was validated."""

    def __init__(self, entries: int, limit: int) -> None:
        super().__init__("entry", f"the bundle has {entries} entries, more than the {limit} this reader accepts")
        self.entries = entries
        self.limit = limit


class ParsedCondition(BaseModel):
    """A diagnosis as codes (CURIEs) and a display name."""

    model_config = ConfigDict(frozen=True)

    label: str
    codes: tuple[str, ...] = ()
    hpo_id: str | None = Field(default=None, description="The HPO coding, when the Condition is coded as a phenotype.")
    refuted: bool = False
    unconfirmed: bool = Field(default=False, description="verificationStatus unconfirmed, provisional or differential.")
    past: bool = Field(default=False, description="clinicalStatus inactive, resolved or in remission.")
    entry_index: int | None = Field(default=None, description="The Bundle entry it was read from.")


class ParsedPatient(BaseModel):
    """What a bundle says about one patient, reduced to what may be indexed (plus keys for a pseudonym).

    ``identifiers``, ``resource_id`` and ``bundle_id`` are kept only so that a
    pseudonym can be derived; they are excluded from ``repr`` so that they do
    not end up in logs by accident.
    """

    model_config = ConfigDict(frozen=True)

    entry_index: int
    identifiers: tuple[tuple[str, str], ...] = Field(default=(), repr=False)
    resource_id: str | None = Field(default=None, repr=False)
    bundle_id: str | None = Field(default=None, repr=False)
    content_hash: str = Field(repr=False)
    sex: Sex = "unknown"
    age: str | None = None
    findings: tuple[Finding, ...] = ()
    finding_codes: tuple[tuple[str, ...], ...] = Field(
        default=(), description="Per finding: the codes (CURIEs) of its Observation's code and value, HPO aside."
    )
    finding_entries: tuple[int, ...] = Field(default=(), description="Per finding: its Bundle entry index.")
    finding_paths: tuple[str, ...] = Field(
        default=(),
        description="Per finding: the element it was read from (``entry[3].resource``, "
        "``entry[3].resource.component[1]``).",
    )
    finding_directions: tuple[tuple[str, str] | None, ...] = Field(
        default=(),
        description="Per finding: (what its Observation measured, 'high' | 'low' | 'abnormal') when its "
        "interpretation says which way the value is off, else None.",
    )
    conditions: tuple[ParsedCondition, ...] = ()
    ignored: tuple[tuple[int, str], ...] = Field(
        default=(), description="(entry index, why) of this patient's resources that became no finding or condition."
    )
    publication: str | None = Field(default=None, description="PMID:n when meta.source is a PubMed URL.")
    fhir_version: FhirVersion

    def to_case(self, case_id: str) -> Case:
        """The ``Case`` a diagnostic system may see (no diagnosis); ``case_id`` should be a pseudonym."""
        return Case(case_id=case_id, sex=self.sex, age=self.age, findings=self.findings)

    def pseudonym(self, pseudonymiser: Pseudonymiser, namespace: str) -> str:
        """Pseudonym of the preferred identifier (system + value), else of bundle + resource id, else of content.

        Never the raw identifier: it is PHI. ``namespace`` keeps pseudonyms of different origins (an API
        request, an indexed corpus) apart; the same patient in one namespace always gets the same one.
        """
        if self.identifiers:
            system, value = self.identifiers[0]
            return pseudonymiser.pseudonym(value, f"{namespace}|identifier|{system}")
        if self.bundle_id and self.resource_id:
            return pseudonymiser.pseudonym(f"{self.bundle_id}/{self.resource_id}", f"{namespace}|resource")
        return pseudonymiser.pseudonym(self.content_hash, f"{namespace}|content")


class ParsedBundle(BaseModel):
    """A validated bundle: its FHIR version and the patients it describes."""

    model_config = ConfigDict(frozen=True)

    fhir_version: FhirVersion
    bundle_type: str
    patients: tuple[ParsedPatient, ...]
    ignored: tuple[tuple[int, str], ...] = Field(
        default=(), description="(entry index, why) of entries about no patient, or of types not read."
    )


def fhir_model_class(version: FhirVersion) -> Callable[[str], type[FHIRAbstractModel]]:
    """The ``fhir.resources`` model-class getter of one FHIR version (R5 or R4B)."""
    return _r5_model_class if version == "R5" else _r4b_model_class


def parse_bundle(
    payload: Mapping[str, Any] | str | bytes,
    *,
    fhir_version: FhirVersion | Literal["auto"] = "auto",
    reference_date: date | None = None,
    max_entries: int | None = None,
    today: date | None = None,
) -> ParsedBundle:
    """Validate a Bundle with ``fhir.resources`` and extract each Patient's indexable content.

    ``auto`` tries R5, then R4B; content valid in both is reported as R5 (it
    reads the same). When neither validates, the error of the version with
    fewer errors is raised (ties go to R4B, the common EHR export).

    Age from ``birthDate`` needs a reference date: ``reference_date``, else the
    bundle ``timestamp``, else the latest date on the patient's observations or
    conditions, else ``today``. An index build passes no ``today``, so the age stays
    unknown there: "today" would make a rebuild give different documents on
    different days; the intake of a patient being diagnosed passes today's date.

    ``max_entries`` bounds the work: a bundle with more entries raises :class:`BundleTooLargeError`
    before any validation (validating is what costs, some milliseconds per entry).
    """
    data = _as_mapping(payload)
    resource_type = data.get("resourceType")
    if resource_type != "Bundle":
        raise BundleError("resourceType", f"resourceType is {resource_type!r}, expected 'Bundle'")
    too_large = entry_cap_error(data, max_entries)
    if too_large is not None:
        raise too_large
    versions: tuple[FhirVersion, ...] = ("R5", "R4B") if fhir_version == "auto" else (fhir_version,)
    failures: list[tuple[FhirVersion, BundleError, int]] = []
    for version in versions:
        try:
            validated = _validate(data, version)
        except _VersionError as exc:
            failures.append((version, exc.error, exc.count))
            continue
        return _extract(validated, version, reference_date, today)
    if len(failures) == 1:
        raise failures[0][1]
    best_version, best, _ = min(failures, key=lambda item: (item[2], item[0] != "R4B"))
    others = ", ".join(v for v, _, _ in failures if v != best_version)
    raise BundleError(best.path, f"{best.reason} (as {best_version}; also invalid as {others})", best.problems)


def entry_cap_error(data: Mapping[str, Any], max_entries: int | None) -> BundleTooLargeError | None:
    """The :class:`BundleTooLargeError` :func:`parse_bundle` raises for ``data``, or None when it raises none.

    Why apart from :func:`parse_bundle`: the check counts and validates nothing, so whoever holds the
    parsed JSON can refuse an over-cap bundle at once, where it was parsed (the API does it in the process
    that parses big bodies, :mod:`api.body_process`), and the bundle's objects go no further.
    """
    if max_entries is None or data.get("resourceType") != "Bundle":
        return None
    entries = data.get("entry")
    if isinstance(entries, list) and len(entries) > max_entries:
        return BundleTooLargeError(len(entries), max_entries)
    return None


class _VersionError(Exception):
    def __init__(self, error: BundleError, count: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.count = count


def _as_mapping(payload: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    try:
        loaded = json.loads(payload)
    except UnicodeDecodeError as exc:
        raise BundleError("<root>", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BundleError("<root>", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(loaded, dict):
        raise BundleError("<root>", f"top-level JSON is {type(loaded).__name__}, expected a Bundle object")
    return loaded


def _validate(data: Mapping[str, Any], version: FhirVersion) -> FHIRAbstractModel:
    """Validate with the version's models; unknown resource types are caught first (fhir_core KeyErrors)."""
    model_class = fhir_model_class(version)
    entries = data.get("entry")
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            name = resource.get("resourceType")
            where = f"entry[{index}].resource.resourceType"
            if not isinstance(name, str):
                raise _VersionError(BundleError(where, "resource has no resourceType"), 1)
            try:
                model_class(name)
            except (KeyError, ValueError):
                raise _VersionError(BundleError(where, f"unknown {version} resource type {name!r}"), 1) from None
    try:
        return model_class("Bundle").model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = tuple((_json_path(error["loc"]), _error_reason(error, with_value=True)) for error in errors)
        reason = _error_reason(first := errors[0], with_value=False)
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        raise _VersionError(BundleError(_json_path(first["loc"]), reason, problems), len(errors)) from None
    except (KeyError, TypeError, ValueError) as exc:  # fhir_core raises these for some malformed shapes
        raise _VersionError(BundleError("<root>", _one_line(f"{type(exc).__name__}: {exc}")), 1) from None


def _plain(value: Any) -> Any:
    """A validated model as plain JSON-like data (None and primitive extensions dropped).

    Reading the validated objects (not the raw payload) matters: the library
    coerces, e.g. ``"valueBoolean": "false"`` to ``False``. This walk is some
    ten times faster than the library's FHIR serialiser, which dominated the
    cost of converting thousands of bundles.
    """
    if isinstance(value, BaseModel):
        return {
            key: _plain(item)
            for key, item in value.__dict__.items()
            if item is not None and not key.endswith("__ext") and key != "fhir_comments"
        }
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _json_path(loc: Sequence[int | str]) -> str:
    """``('entry', 3, 'resource', 'code')`` -> ``entry[3].resource.code``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType" if path else "resourceType"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            path += f".{part}" if path else part
    return path or "<root>"


def _error_reason(error: Mapping[str, Any], *, with_value: bool) -> str:
    """A pydantic error as one line, optionally with the offending value (``... (got 17)``)."""
    reason = _one_line(str(error["msg"]))
    if with_value and "input" in error and error.get("type") != "missing":  # a missing field's input is its parent
        reason += f" (got {offending_value(error['input'])})"
    return reason


def offending_value(value: Any, limit: int = 80) -> str:
    """A short, JSON-like rendering of a value that failed validation."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.replace("``", "'").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _extract(
    bundle: FHIRAbstractModel, version: FhirVersion, reference_date: date | None, today: date | None = None
) -> ParsedBundle:
    bundle_type = getattr(bundle, "type", None)
    if bundle_type is not None and str(bundle_type) not in BUNDLE_TYPES[version]:
        raise BundleError(
            "type", f"{offending_value(str(bundle_type))} is not a {version} Bundle.type code (such as 'collection')"
        )
    entries: list[dict[str, Any]] = []
    for entry in getattr(bundle, "entry", None) or []:
        plain: dict[str, Any] = _plain(entry)
        if entry.resource is not None:
            plain["resource"]["resourceType"] = entry.resource.get_resource_type()
        entries.append(plain)
    patients: dict[int, dict[str, Any]] = {}
    references: dict[str, int] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Patient":
            continue
        patients[index] = resource
        if entry.get("fullUrl"):
            references[str(entry["fullUrl"])] = index
        if resource.get("id"):
            # relative references ("Patient/1") name the resource id, whatever the fullUrl
            references.setdefault(f"Patient/{resource['id']}", index)

    owned: dict[int, list[tuple[int, dict[str, Any]]]] = {index: [] for index in patients}
    ignored: list[tuple[int, str]] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        if kind == "Patient":
            continue
        if kind not in {"Observation", "Condition"}:
            ignored.append(
                (index, f"{kind or 'an entry without a resource'}: not read (only Patient, Observation, Condition)")
            )
            continue
        owner = _owner(resource, index, references, patients)
        if owner is not None:
            owned[owner].append((index, resource))
        else:
            ignored.append((index, f"{kind} about no patient of this bundle: not read"))

    timestamp = getattr(bundle, "timestamp", None)
    bundle_date = timestamp.date() if isinstance(timestamp, datetime) else None
    parsed = tuple(
        _patient(
            index,
            patients[index],
            owned[index],
            bundle_id=getattr(bundle, "id", None),
            version=version,
            reference_date=reference_date or bundle_date,
            today=today,
        )
        for index in sorted(patients)
    )
    return ParsedBundle(
        fhir_version=version,
        bundle_type=str(getattr(bundle, "type", "")),
        patients=parsed,
        ignored=tuple(ignored),
    )


def _owner(
    resource: dict[str, Any], index: int, references: dict[str, int], patients: dict[int, dict[str, Any]]
) -> int | None:
    """The entry index of the Patient a resource is about, None if it is about something else.

    A patient reference that resolves to no Patient in the bundle is an error:
    silently dropping the finding would misrepresent the patient.
    """
    reference = (resource.get("subject") or {}).get("reference")
    if reference is None:
        if len(patients) == 1:
            only: int = next(iter(patients))
            return only
        if not patients:
            return None
        raise BundleError(f"entry[{index}].resource.subject", "no subject, and the bundle has several patients")
    owner = references.get(str(reference))
    typed = re.search(r"([A-Z][A-Za-z]+)/[^/]+$", str(reference))
    if owner is None and typed is not None:
        if typed.group(1) != "Patient":
            return None  # about a Group, Device, Location...: not a patient record
        owner = references.get(typed.group(0))
    if owner is None:
        raise BundleError(
            f"entry[{index}].resource.subject.reference", "does not resolve to a Patient entry in this bundle"
        )
    return owner


def _patient(
    index: int,
    resource: dict[str, Any],
    owned: list[tuple[int, dict[str, Any]]],
    *,
    bundle_id: str | None,
    version: FhirVersion,
    reference_date: date | None,
    today: date | None = None,
) -> ParsedPatient:
    gender = resource.get("gender")
    if gender is not None and gender not in ADMINISTRATIVE_GENDERS:
        raise BundleError(
            f"entry[{index}].resource.gender", "Patient.gender must be one of male, female, other, unknown"
        )
    identifiers = _identifiers(resource.get("identifier") or [])
    age = _age_from_extensions(resource, index)
    findings: list[Finding] = []
    finding_codes: list[tuple[str, ...]] = []
    finding_entries: list[int] = []
    finding_directions: list[tuple[str, str] | None] = []
    conditions: list[ParsedCondition] = []
    ignored: list[tuple[int, str]] = []
    latest: date | None = None
    finding_paths: list[str] = []
    first_entry: dict[Finding, str] = {}  # finding -> element it was first read from: linear de-duplication
    for entry_index, item in owned:
        for key in ("effectiveDateTime", "issued", "recordedDate", "onsetDateTime"):
            latest = max(filter(None, [latest, _date_of(item.get(key))]), default=None)
        if item.get("resourceType") == "Condition":
            condition = _condition(item)
            if condition is not None:
                conditions.append(condition.model_copy(update={"entry_index": entry_index}))
            else:
                ignored.append((entry_index, "Condition entered in error, or with no code or text: not read"))
            continue
        if item.get("status") in _SKIPPED_STATUSES:
            ignored.append((entry_index, f"Observation with status {item.get('status')}: not read"))
            continue
        observed_age = _age_from_observation(item, entry_index)
        if observed_age is not None:
            age = age or observed_age
            ignored.append((entry_index, "an age Observation: read as the patient's age, not a finding"))
            continue
        for suffix, part in _parts(item, entry_index, ignored):
            where = f"entry[{entry_index}].resource{suffix}"
            finding, why_not = _finding(part)
            if finding is None:
                ignored.append((entry_index, f"{why_not}{' (' + suffix[1:] + ')' if suffix else ''}"))
            elif finding in first_entry:  # repeated observations: one finding
                ignored.append((entry_index, f"repeats the finding of {first_entry[finding]}: counted once"))
            else:
                first_entry[finding] = where if suffix else f"entry[{entry_index}]"
                findings.append(finding)
                finding_codes.append(_codes(part.get("code"), part.get("valueCodeableConcept")))
                finding_entries.append(entry_index)
                finding_paths.append(where)
                direction = _direction(part)
                name = _concept_label(part.get("code"))
                directed = (name, direction) if direction and name and finding.hpo_id is None else None
                finding_directions.append(directed)
    if age is None and resource.get("birthDate"):
        counted_from = reference_date or latest or today
        age = _age_from_birth_date(str(resource["birthDate"]), counted_from)
        if age is None:
            ignored.append((index, _no_age_from_birth_date(counted_from)))
    canonical = json.dumps([resource, *(item for _, item in owned)], sort_keys=True, ensure_ascii=False)
    source_match = _PUBMED_SOURCE.match(str((resource.get("meta") or {}).get("source") or ""))
    return ParsedPatient(
        entry_index=index,
        identifiers=identifiers,
        resource_id=resource.get("id"),
        bundle_id=bundle_id,
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        sex=normalise_sex(resource.get("gender")),
        age=age,
        findings=tuple(findings),
        finding_codes=tuple(finding_codes),
        finding_entries=tuple(finding_entries),
        finding_paths=tuple(finding_paths),
        finding_directions=tuple(finding_directions),
        conditions=tuple(conditions),
        ignored=tuple(ignored),
        publication=f"PMID:{source_match.group(1)}" if source_match else None,
        fhir_version=version,
    )


def _identifiers(raw: Iterable[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """(system, value) pairs, preferred first: usual, official, unspecified, secondary, temp, old."""
    usable = [item for item in raw if item.get("value")]
    usable.sort(key=lambda item: _IDENTIFIER_USE_ORDER.get(item.get("use"), 2))
    return tuple((str(item.get("system") or ""), str(item["value"])) for item in usable)


def _age_from_extensions(resource: dict[str, Any], index: int) -> str | None:
    for number, extension in enumerate(resource.get("extension") or []):
        if extension.get("url") != AGE_EXTENSION_URL:
            continue
        value = extension.get("valueString")
        try:
            if not isinstance(value, str):
                raise ValueError("no valueString")
            return check_age(value)
        except ValueError:
            raise BundleError(
                f"entry[{index}].resource.extension[{number}].valueString",
                f"age extension must hold an ISO 8601 duration such as P5Y2M, of at most {MAX_AGE_YEARS} years",
            ) from None
    return None


def _age_from_observation(observation: dict[str, Any], index: int) -> str | None:
    codings = (observation.get("code") or {}).get("coding") or []
    if not any(_system_key(c.get("system")) == _LOINC_SYSTEM and c.get("code") in _AGE_LOINC for c in codings):
        return None
    quantity = observation.get("valueQuantity") or {}
    unit = _UCUM_AGE_UNITS.get(str(quantity.get("code") or quantity.get("unit") or "a"))
    value = quantity.get("value")
    if unit is None or not isinstance(value, int | float) or value < 0:
        return None
    if value > MAX_AGE_YEARS * {"Y": 1, "M": 12, "W": 53, "D": 366}[unit]:
        raise BundleError(f"entry[{index}].resource.valueQuantity.value", f"an age of more than {MAX_AGE_YEARS} years")
    return f"P{int(value)}{unit}"


def _age_from_birth_date(birth_date: str, reference: date | None) -> str | None:
    """Whole years (and months under 2 years); partial dates count from their earliest day."""
    if reference is None:
        return None
    parts = [int(p) for p in birth_date[:10].split("-")]
    born = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    if born > reference:
        return None
    months = (reference.year - born.year) * 12 + reference.month - born.month
    if reference.day < born.day:
        months -= 1
    years, rest = divmod(months, 12)
    if years >= 2:
        return f"P{years}Y"
    if months >= 1:
        return f"P{years}Y{rest}M"
    return f"P{(reference - born).days}D"


def _no_age_from_birth_date(counted_from: date | None) -> str:
    if counted_from is None:
        return "Patient.birthDate: no date in the bundle to count the age from, age not read"
    return f"Patient.birthDate is after {counted_from.isoformat()}, the date the age is counted from: age not read"


def _date_of(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _system_key(system: object) -> str:
    text = str(system or "").strip().lower()
    return re.sub(r"^https?://", "", text).rstrip("/")


def _hpo_coding(concept: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """(HP:nnnnnnn, display) of the first HPO coding in a CodeableConcept."""
    for coding in (concept or {}).get("coding") or []:
        code = str(coding.get("code") or "")
        match = _HPO_CODE.match(code)
        is_hpo_system = _system_key(coding.get("system")) in _HPO_SYSTEMS
        if match and (is_hpo_system or code.startswith("HP:")):
            return f"HP:{match.group(1)}", coding.get("display")
    return None


def _display_or_text(concept: dict[str, Any]) -> str | None:
    """A CodeableConcept's words: its first coding's display, else its text."""
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    return str(concept["text"]) if concept.get("text") else None


def _concept_label(concept: dict[str, Any] | None) -> str | None:
    """A CodeableConcept's words, else its first code with its system ("sct 271611007")."""
    concept = concept or {}
    words = _display_or_text(concept)
    if words is not None:
        return words
    for coding in concept.get("coding") or []:
        if coding.get("code"):
            system = _system_key(coding.get("system")).rsplit("/", 1)[-1] or "code"
            return f"{system} {coding['code']}"
    return None


#: Words for the v3 ObservationInterpretation codes a coding may carry without a display.
_INTERPRETATION_WORDS = {**_DIRECTIONS, "N": "normal", "NEG": "negative", "POS": "positive", "ND": "not detected"}


def _coded_word(concept: dict[str, Any] | None) -> str | None:
    """A short word for a coded value (an interpretation, a dataAbsentReason): its display, text, or code.

    Why not :func:`_concept_label`: that names a code without a display by its system ("v3-observation-
    interpretation h"), which reads as noise in a finding's label; an interpretation code is read as its word.
    """
    concept = concept or {}
    words = _display_or_text(concept)
    if words is not None:
        return words
    for coding in concept.get("coding") or []:
        code = str(coding.get("code") or "")
        if code:
            return _INTERPRETATION_WORDS.get(code, code)
    return None


def _interpretations(observation: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(code, words) of each interpretation coding, then ("", text) of its concept, words trimmed and lower case:
    the one walk the readers of negation, normality and direction share."""
    for concept in observation.get("interpretation") or []:
        for coding in concept.get("coding") or []:
            yield str(coding.get("code") or ""), str(coding.get("display") or "").strip().lower()
        yield "", str(concept.get("text") or "").strip().lower()


def _is_negative(observation: dict[str, Any]) -> bool:
    if observation.get("valueBoolean") is False:
        return True
    if any(
        code in _NEGATIVE_INTERPRETATIONS or words in _ABSENT_WORDS for code, words in _interpretations(observation)
    ):
        return True
    if str(observation.get("valueString") or "").strip().lower() in _ABSENT_WORDS:
        return True
    value = observation.get("valueCodeableConcept")
    if value is not None and _hpo_coding(value) is None:
        for coding in value.get("coding") or []:
            if _system_key(coding.get("system")) == "snomed.info/sct" and coding.get("code") in _ABSENT_SNOMED:
                return True
        label = (_concept_label(value) or "").strip().lower()
        if label in _ABSENT_WORDS:
            return True
    return False


def _direction(observation: dict[str, Any]) -> str | None:
    """'high', 'low' or 'abnormal' when the Observation's interpretation says so (code or words), else None."""
    for code, words in _interpretations(observation):
        direction = _DIRECTIONS.get(code) or _DIRECTION_WORDS.get(words)
        if direction:
            return direction
    return None


def _finding(observation: dict[str, Any]) -> tuple[Finding | None, str]:
    """An HPO-coded Observation (in code, or in value) -> HPO finding; any other -> label: value.

    Or no finding, and why: an Observation (or component) with a ``dataAbsentReason`` holds no value (a
    finding "asked, unknown" is not a finding present); a measurement interpreted as normal names nothing.
    """
    absent_reason = observation.get("dataAbsentReason")
    if absent_reason is not None and not _has_value(observation):
        why = _coded_word(absent_reason) or "no value"
        return None, f"Observation with no value (dataAbsentReason: {why.lower()}): not read"
    excluded = _is_negative(observation)
    hpo = _hpo_coding(observation.get("code")) or _hpo_coding(observation.get("valueCodeableConcept"))
    if hpo is not None:
        hpo_id, display = hpo
        label = display or (observation.get("code") or {}).get("text") or hpo_id
        return Finding(label=str(label), hpo_id=hpo_id, excluded=excluded or _is_normal(observation)), ""
    name = _concept_label(observation.get("code"))
    if name is None:
        return None, "Observation with no code or text to read"
    if not excluded and _is_normal(observation):
        return None, f"{name}: a normal result, no finding"
    value = _value_text(observation)
    label = f"{name}: {value}" if value else name
    return Finding(label=label, hpo_id=None, excluded=excluded), ""


def _parts(
    observation: dict[str, Any], entry_index: int, ignored: list[tuple[int, str]]
) -> list[tuple[str, dict[str, Any]]]:
    """(path suffix, element) of what an Observation says: itself and its components.

    A panel (a code that is no HPO finding, no value: "Blood pressure panel") says it in its components
    only. An HPO finding's components qualify it ("Frequency: daily"): read only those that are findings
    themselves (HPO-coded) or measurements off one way; the others are listed as qualifiers not read.
    """
    components = observation.get("component") or []
    finding_itself = _hpo_coding(observation.get("code")) or _hpo_coding(observation.get("valueCodeableConcept"))
    parts: list[tuple[str, dict[str, Any]]] = []
    if not components or finding_itself is not None or _has_value(observation):
        parts.append(("", observation))
    for number, component in enumerate(components):
        suffix = f".component[{number}]"
        if finding_itself is not None and _hpo_coding(component.get("code")) is None and _direction(component) is None:
            ignored.append((entry_index, f"a qualifier of the finding ({suffix[1:]}): not read"))
            continue
        parts.append((suffix, component))
    return parts


def _has_value(observation: dict[str, Any]) -> bool:
    return any(key.startswith("value") for key in observation)


def _is_normal(observation: dict[str, Any]) -> bool:
    """Whether the interpretation says normal (v3 "N", or its words), and nothing says abnormal beside it."""
    said_normal = any(
        code in _NORMAL_INTERPRETATIONS or words in _NORMAL_WORDS for code, words in _interpretations(observation)
    )
    return said_normal and _direction(observation) is None


def _value_text(observation: dict[str, Any]) -> str | None:
    """A readable value; free text (valueString) and dates are left out on purpose (PHI)."""
    text: str | None = None
    if "valueQuantity" in observation:
        quantity = observation["valueQuantity"]
        unit = quantity.get("unit") or quantity.get("code") or ""
        comparator = quantity.get("comparator") or ""
        text = f"{comparator}{_number(quantity.get('value'))} {unit}".strip()
    elif "valueCodeableConcept" in observation:
        text = _concept_label(observation["valueCodeableConcept"])
    elif "valueInteger" in observation:
        text = str(observation["valueInteger"])
    elif "valueBoolean" in observation:
        text = None  # carried by ``excluded``
    elif "valueRange" in observation:
        low = (observation["valueRange"].get("low") or {}).get("value")
        high = (observation["valueRange"].get("high") or {}).get("value")
        unit = (observation["valueRange"].get("high") or observation["valueRange"].get("low") or {}).get("unit")
        text = f"{_number(low)}–{_number(high)} {unit or ''}".strip()
    interpretations = [label for label in (_coded_word(c) for c in observation.get("interpretation") or []) if label]
    if interpretations and text:
        text += f" ({', '.join(interpretations).lower()})"
    return text


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "?" if value is None else str(value)


def _codes(*concepts: dict[str, Any] | None) -> tuple[str, ...]:
    """CURIEs of the codings of CodeableConcepts in systems the reader knows, in order, once each."""
    codes: list[str] = []
    for concept in concepts:
        for coding in (concept or {}).get("coding") or []:
            curie = _coding_curie(coding)
            if curie is not None and curie not in codes:
                codes.append(curie)
    return tuple(codes)


def _condition(resource: dict[str, Any]) -> ParsedCondition | None:
    verification = {c.get("code") for c in (resource.get("verificationStatus") or {}).get("coding") or []}
    clinical = {c.get("code") for c in (resource.get("clinicalStatus") or {}).get("coding") or []}
    if "entered-in-error" in verification:
        return None
    concept = resource.get("code") or {}
    codes: list[str] = []
    for coding in concept.get("coding") or []:
        curie = _coding_curie(coding)
        if curie is not None and curie not in codes:
            codes.append(curie)
    hpo = _hpo_coding(concept)
    # Coded in HPO without a display: the id, which the intake names by its term (not "hp.owl HP:0001250").
    label = (hpo[1] or concept.get("text") or hpo[0]) if hpo is not None else _concept_label(concept)
    if label is None:
        return None
    return ParsedCondition(
        label=label,
        codes=tuple(codes),
        hpo_id=hpo[0] if hpo is not None else None,
        refuted="refuted" in verification,
        unconfirmed=bool(verification & _UNCONFIRMED),
        past=bool(clinical & _PAST),
    )


def _coding_curie(coding: dict[str, Any]) -> str | None:
    code = str(coding.get("code") or "").strip()
    if not code:
        return None
    prefix = _SYSTEM_TO_PREFIX.get(_system_key(coding.get("system")))
    if prefix is None:
        return None
    local = re.sub(rf"^(?:{prefix}[:_]|Orphanet_)", "", code, flags=re.IGNORECASE)
    return f"{prefix}:{local}"
