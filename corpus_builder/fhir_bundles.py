"""FHIR Bundles in and out: the one path by which patient records become documents.

Every patient record the builder indexes (a user's FHIR export or a published
phenopacket) goes through :func:`parse_bundle` and :func:`patient_document`, so
there is exactly one place that decides what of a record may reach the index.
That place reads codes, sex, age and findings only: names, identifiers, birth
dates, addresses, telecoms and free-text notes are never copied into a
document; identifiers only feed a keyed pseudonym.

Encoding choices of :func:`case_to_bundle` (and what :func:`parse_bundle` reads):

* Bundle ``type`` is ``collection`` (no server semantics; a transaction would need
  ``request`` entries). ``fullUrl`` values are ``urn:uuid:`` UUIDv5s derived from
  the case id, so the same case always yields the same bundle.
* Findings: one ``Observation`` per finding, ``code`` = HPO coding,
  ``valueBoolean`` true when observed and false when explicitly excluded.
  On input an HPO finding is also excluded when its interpretation is NEG/ND or
  its value is a coded "absent"/"negative".
* Age: a ``Patient.extension`` (:data:`AGE_EXTENSION_URL`) with ``valueString``
  holding the ISO 8601 duration unchanged (``P5Y2M``); a quantity would lose
  the exact form. On input a LOINC age Observation (30525-0, 21612-7) or
  ``birthDate`` plus a reference date are also understood.
* Publication: ``Patient.meta.source`` = ``https://pubmed.ncbi.nlm.nih.gov/<n>/``.
* Diagnosis: a ``Condition`` (clinicalStatus active, verificationStatus
  confirmed, required by R5) coded with OMIM / Orphanet systems.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, Literal

from fhir.resources import get_fhir_model_class as _r5_model_class
from fhir.resources.R4B import get_fhir_model_class as _r4b_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dxsearch.cases import Case, Finding, LabelledCase, Sex, normalise_sex
from dxsearch.corpus import Document, DocumentKind, DocumentMetadata
from dxsearch.pseudonym import Pseudonymiser

FhirVersion = Literal["R4B", "R5"]

CASE_ID_SYSTEM = "urn:dxsearch:case-id"
AGE_EXTENSION_URL = "urn:dxsearch:fhir:extension:age-iso8601"
HPO_SYSTEM = "http://purl.obolibrary.org/obo/hp.owl"
OMIM_SYSTEM = "https://omim.org"
ORPHA_SYSTEM = "https://www.orpha.net"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/"
_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

#: CURIE prefix -> the system URI written by :func:`case_to_bundle`.
_PREFIX_TO_SYSTEM: dict[str, str] = {
    "OMIM": OMIM_SYSTEM,
    "ORPHA": ORPHA_SYSTEM,
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "SNOMED": "http://snomed.info/sct",
    "MONDO": "http://purl.obolibrary.org/obo/mondo.owl",
}
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
_ABSENT_WORDS = {"absent", "negative", "not present", "not detected", "excluded", "no"}
_NEGATIVE_INTERPRETATIONS = {"NEG", "ND"}
_SKIPPED_STATUSES = {"entered-in-error", "cancelled"}
_ISO_DURATION = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T[0-9HMS.]*)?$")
_HPO_CODE = re.compile(r"^(?:HP[:_])?(\d{7})$")
_PUBMED_SOURCE = re.compile(r"^https?://(?:www\.)?pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/?$")
_PMID = re.compile(r"^(?:PMID:)?(\d+)$")
_IDENTIFIER_USE_ORDER = {"usual": 0, "official": 1, None: 2, "secondary": 3, "temp": 4, "old": 5}
#: Ages at or above this many years are shown as "90 years or older" (HIPAA safe harbour).
_AGE_CAP_YEARS = 90


class BundleError(ValueError):
    """A bundle could not be read; ``path`` points into it, e.g. ``entry[3].resource.code``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ParsedCondition(BaseModel):
    """A diagnosis as codes (CURIEs) and a display name."""

    model_config = ConfigDict(frozen=True)

    label: str
    codes: tuple[str, ...] = ()
    refuted: bool = False


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
    conditions: tuple[ParsedCondition, ...] = ()
    publication: str | None = Field(default=None, description="PMID:n when meta.source is a PubMed URL.")
    fhir_version: FhirVersion

    def to_case(self, case_id: str) -> Case:
        """The ``Case`` a diagnostic system may see (no diagnosis); ``case_id`` should be a pseudonym."""
        return Case(case_id=case_id, sex=self.sex, age=self.age, findings=self.findings)


class ParsedBundle(BaseModel):
    """A validated bundle: its FHIR version and the patients it describes."""

    model_config = ConfigDict(frozen=True)

    fhir_version: FhirVersion
    bundle_type: str
    patients: tuple[ParsedPatient, ...]


# ---------------------------------------------------------------------------------------------------------
# LabelledCase -> Bundle


def case_to_bundle(labelled: LabelledCase, *, fhir_version: FhirVersion = "R4B") -> dict[str, Any]:
    """Encode a labelled case as a FHIR ``collection`` Bundle, validated by ``fhir.resources``.

    Building through the library's models means an invalid bundle fails here,
    at the producer, and the returned JSON is the library's own export.
    """
    model_class = _model_class_getter(fhir_version)
    case = labelled.case
    patient_url = _urn(case.case_id, "patient")
    subject = {"reference": patient_url}

    patient_fields: dict[str, Any] = {
        "identifier": [{"system": CASE_ID_SYSTEM, "value": case.case_id}],
        "gender": case.sex,
    }
    if case.age is not None:
        if not _ISO_DURATION.match(case.age):
            raise ValueError(f"case {case.case_id}: age {case.age!r} is not an ISO 8601 duration")
        patient_fields["extension"] = [{"url": AGE_EXTENSION_URL, "valueString": case.age}]
    if labelled.pmid is not None:
        match = _PMID.match(labelled.pmid.strip())
        if match is None:
            raise ValueError(f"case {case.case_id}: pmid {labelled.pmid!r} is not PMID:<digits>")
        patient_fields["meta"] = {"source": f"{PUBMED_URL}{match.group(1)}/"}

    entries: list[tuple[str, FHIRAbstractModel]] = [(patient_url, model_class("Patient")(**patient_fields))]
    for number, finding in enumerate(case.findings):
        code: dict[str, Any] = {"text": finding.label}
        if finding.hpo_id is not None:
            code["coding"] = [{"system": HPO_SYSTEM, "code": finding.hpo_id, "display": finding.label}]
        observation = model_class("Observation")(
            status="final", code=code, subject=subject, valueBoolean=not finding.excluded
        )
        entries.append((_urn(case.case_id, f"finding-{number}"), observation))

    condition = model_class("Condition")(
        clinicalStatus={"coding": [{"system": _CONDITION_CLINICAL, "code": "active"}]},
        verificationStatus={"coding": [{"system": _CONDITION_VERIFICATION, "code": "confirmed"}]},
        code={
            "coding": [_curie_to_coding(labelled.gold.id, labelled.gold.label)],
            "text": labelled.gold.label,
        },
        subject=subject,
    )
    entries.append((_urn(case.case_id, "diagnosis"), condition))

    bundle = model_class("Bundle")(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{CASE_ID_SYSTEM}:{case.case_id}")),
        type="collection",
        entry=[{"fullUrl": url, "resource": resource} for url, resource in entries],
    )
    exported: dict[str, Any] = json.loads(bundle.model_dump_json())
    return exported


def _urn(case_id: str, part: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{CASE_ID_SYSTEM}:{case_id}#{part}')}"


def _curie_to_coding(curie: str, display: str) -> dict[str, str]:
    prefix, sep, local = curie.partition(":")
    system = _PREFIX_TO_SYSTEM.get(prefix.upper())
    if not sep or not local or system is None:
        known = ", ".join(sorted(_PREFIX_TO_SYSTEM))
        raise ValueError(f"diagnosis {curie!r} is not a CURIE with a known prefix ({known})")
    return {"system": system, "code": local, "display": display}


def _model_class_getter(version: FhirVersion) -> Callable[[str], type[FHIRAbstractModel]]:
    return _r5_model_class if version == "R5" else _r4b_model_class


# ---------------------------------------------------------------------------------------------------------
# Bundle -> ParsedBundle


def parse_bundle(
    payload: Mapping[str, Any] | str | bytes,
    *,
    fhir_version: FhirVersion | Literal["auto"] = "auto",
    reference_date: date | None = None,
) -> ParsedBundle:
    """Validate a Bundle with ``fhir.resources`` and extract each Patient's indexable content.

    ``auto`` tries R5, then R4B; content valid in both is reported as R5 (it
    reads the same). When neither validates, the error of the version with
    fewer errors is raised (ties go to R4B, the common EHR export).

    Age from ``birthDate`` needs a reference date: ``reference_date``, else the
    bundle ``timestamp``, else the latest date on the patient's observations or
    conditions. Without one the age stays unknown: "today" would make a rebuild
    give different documents on different days.
    """
    data = _as_mapping(payload)
    resource_type = data.get("resourceType")
    if resource_type != "Bundle":
        raise BundleError("resourceType", f"resourceType is {resource_type!r}, expected 'Bundle'")
    versions: tuple[FhirVersion, ...] = ("R5", "R4B") if fhir_version == "auto" else (fhir_version,)
    failures: list[tuple[FhirVersion, BundleError, int]] = []
    for version in versions:
        try:
            validated = _validate(data, version)
        except _VersionError as exc:
            failures.append((version, exc.error, exc.count))
            continue
        return _extract(validated, version, reference_date)
    if len(failures) == 1:
        raise failures[0][1]
    best_version, best, _ = min(failures, key=lambda item: (item[2], item[0] != "R4B"))
    others = ", ".join(v for v, _, _ in failures if v != best_version)
    raise BundleError(best.path, f"{best.reason} (as {best_version}; also invalid as {others})")


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
    model_class = _model_class_getter(version)
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
        first = errors[0]
        reason = _one_line(str(first["msg"]))
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        raise _VersionError(BundleError(_json_path(first["loc"]), reason), len(errors)) from None
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


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.replace("``", "'").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _extract(bundle: FHIRAbstractModel, version: FhirVersion, reference_date: date | None) -> ParsedBundle:
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
    for index, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") not in {"Observation", "Condition"}:
            continue
        owner = _owner(resource, index, references, patients)
        if owner is not None:
            owned[owner].append((index, resource))

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
        )
        for index in sorted(patients)
    )
    return ParsedBundle(fhir_version=version, bundle_type=str(getattr(bundle, "type", "")), patients=parsed)


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
) -> ParsedPatient:
    identifiers = _identifiers(resource.get("identifier") or [])
    age = _age_from_extensions(resource, index)
    findings: list[Finding] = []
    conditions: list[ParsedCondition] = []
    latest: date | None = None
    for entry_index, item in owned:
        for key in ("effectiveDateTime", "issued", "recordedDate", "onsetDateTime"):
            latest = max(filter(None, [latest, _date_of(item.get(key))]), default=None)
        if item.get("resourceType") == "Condition":
            condition = _condition(item)
            if condition is not None:
                conditions.append(condition)
            continue
        if item.get("status") in _SKIPPED_STATUSES:
            continue
        observed_age = _age_from_observation(item)
        if observed_age is not None:
            age = age or observed_age
            continue
        finding = _finding(item, entry_index)
        if finding is not None and finding not in findings:  # repeated observations: one finding
            findings.append(finding)
    if age is None and resource.get("birthDate"):
        age = _age_from_birth_date(str(resource["birthDate"]), reference_date or latest)
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
        conditions=tuple(conditions),
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
        if not isinstance(value, str) or not _ISO_DURATION.match(value):
            raise BundleError(
                f"entry[{index}].resource.extension[{number}].valueString",
                "age extension must hold an ISO 8601 duration such as P5Y2M",
            )
        return value
    return None


def _age_from_observation(observation: dict[str, Any]) -> str | None:
    codings = (observation.get("code") or {}).get("coding") or []
    if not any(_system_key(c.get("system")) == _LOINC_SYSTEM and c.get("code") in _AGE_LOINC for c in codings):
        return None
    quantity = observation.get("valueQuantity") or {}
    unit = _UCUM_AGE_UNITS.get(str(quantity.get("code") or quantity.get("unit") or "a"))
    value = quantity.get("value")
    if unit is None or not isinstance(value, int | float) or value < 0:
        return None
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


def _concept_label(concept: dict[str, Any] | None) -> str | None:
    concept = concept or {}
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("code"):
            system = _system_key(coding.get("system")).rsplit("/", 1)[-1] or "code"
            return f"{system} {coding['code']}"
    return None


def _is_negative(observation: dict[str, Any]) -> bool:
    if observation.get("valueBoolean") is False:
        return True
    for concept in observation.get("interpretation") or []:
        for coding in concept.get("coding") or []:
            if coding.get("code") in _NEGATIVE_INTERPRETATIONS:
                return True
            if str(coding.get("display") or "").strip().lower() in _ABSENT_WORDS:
                return True
        if str(concept.get("text") or "").strip().lower() in _ABSENT_WORDS:
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


def _finding(observation: dict[str, Any], index: int) -> Finding | None:
    """An HPO-coded Observation (in code, or in value) -> HPO finding; any other -> label: value."""
    excluded = _is_negative(observation)
    hpo = _hpo_coding(observation.get("code")) or _hpo_coding(observation.get("valueCodeableConcept"))
    if hpo is not None:
        hpo_id, display = hpo
        label = display or (observation.get("code") or {}).get("text") or hpo_id
        return Finding(label=str(label), hpo_id=hpo_id, excluded=excluded)
    name = _concept_label(observation.get("code"))
    if name is None:
        return None
    value = _value_text(observation)
    label = f"{name}: {value}" if value else name
    return Finding(label=label, hpo_id=None, excluded=excluded)


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
    interpretations = [label for label in (_concept_label(c) for c in observation.get("interpretation") or []) if label]
    if interpretations and text:
        text += f" ({', '.join(interpretations).lower()})"
    return text


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "?" if value is None else str(value)


def _condition(resource: dict[str, Any]) -> ParsedCondition | None:
    verification = {c.get("code") for c in (resource.get("verificationStatus") or {}).get("coding") or []}
    if "entered-in-error" in verification:
        return None
    concept = resource.get("code") or {}
    codes: list[str] = []
    for coding in concept.get("coding") or []:
        curie = _coding_curie(coding)
        if curie is not None and curie not in codes:
            codes.append(curie)
    label = _concept_label(concept)
    if label is None:
        return None
    return ParsedCondition(label=label, codes=tuple(codes), refuted="refuted" in verification)


def _coding_curie(coding: dict[str, Any]) -> str | None:
    code = str(coding.get("code") or "").strip()
    if not code:
        return None
    prefix = _SYSTEM_TO_PREFIX.get(_system_key(coding.get("system")))
    if prefix is None:
        return None
    local = re.sub(rf"^(?:{prefix}[:_]|Orphanet_)", "", code, flags=re.IGNORECASE)
    return f"{prefix}:{local}"


# ---------------------------------------------------------------------------------------------------------
# ParsedPatient -> Document


def patient_document(
    parsed_patient: ParsedPatient,
    *,
    source: str,
    licence: str,
    pseudonymiser: Pseudonymiser,
    origin_namespace: str,
    publication: str | None = None,
) -> Document:
    """The indexable patient record: sex, age, findings, diagnoses, and a public PMID if given.

    The id is ``pt:<pseudonym>`` of the preferred identifier (system + value,
    within ``origin_namespace``), else of bundle id + Patient id, else of the
    content hash, so a rebuild gives the same id and nothing reversible.
    Only observed HPO ids and diagnosis CURIEs go into ``codes``: an excluded
    feature listed there would make a code filter match its opposite.
    """
    patient = parsed_patient
    observed = [f for f in patient.findings if not f.excluded]
    excluded = [f for f in patient.findings if f.excluded]
    diagnoses = [c for c in patient.conditions if not c.refuted]
    ruled_out = [c for c in patient.conditions if c.refuted]
    age_text = describe_age(patient.age)
    sex_text = patient.sex if patient.sex != "unknown" else "sex unknown"

    lines = [f"Sex: {patient.sex}", f"Age: {age_text}"]
    if observed:
        lines.append("Observed findings: " + "; ".join(f.label for f in observed))
    if excluded:
        lines.append("Excluded findings: " + "; ".join(f.label for f in excluded))
    if diagnoses:
        lines.append("Diagnosis: " + "; ".join(_condition_text(c) for c in diagnoses))
    if ruled_out:
        lines.append("Ruled out: " + "; ".join(_condition_text(c) for c in ruled_out))
    if publication:
        lines.append(f"Publication: {publication}")

    codes: list[str] = []
    for code in [*(c for d in diagnoses for c in d.codes), *(f.hpo_id for f in observed if f.hpo_id)]:
        if code not in codes:
            codes.append(code)
    extra: dict[str, Any] = {
        "sex": patient.sex,
        "age": _capped_age(patient.age),
        "fhir_version": patient.fhir_version,
        "observed_count": len(observed),
        "excluded_count": len(excluded),
        "excluded_hpo": [f.hpo_id for f in excluded if f.hpo_id],
    }
    if publication:
        extra["publication"] = publication
    return Document(
        id=f"pt:{_patient_pseudonym(patient, pseudonymiser, origin_namespace)}",
        kind=DocumentKind.PATIENT_RECORD,
        title=f"Patient record ({sex_text}, {age_text})",
        text="\n".join(lines),
        metadata=DocumentMetadata(source=source, licence=licence, codes=tuple(codes), extra=extra),
    )


def _patient_pseudonym(patient: ParsedPatient, pseudonymiser: Pseudonymiser, origin_namespace: str) -> str:
    if patient.identifiers:
        system, value = patient.identifiers[0]
        return pseudonymiser.pseudonym(value, f"{origin_namespace}|identifier|{system}")
    if patient.bundle_id and patient.resource_id:
        return pseudonymiser.pseudonym(f"{patient.bundle_id}/{patient.resource_id}", f"{origin_namespace}|resource")
    return pseudonymiser.pseudonym(patient.content_hash, f"{origin_namespace}|content")


def _condition_text(condition: ParsedCondition) -> str:
    return f"{condition.label} ({', '.join(condition.codes)})" if condition.codes else condition.label


def _duration_parts(age: str | None) -> tuple[int, int, int, int] | None:
    match = _ISO_DURATION.match(age or "")
    if match is None:
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return years, months, weeks, days


def _capped_age(age: str | None) -> str | None:
    parts = _duration_parts(age)
    if parts is None:
        return None
    return f"P{_AGE_CAP_YEARS}Y" if parts[0] >= _AGE_CAP_YEARS else age


def describe_age(age: str | None) -> str:
    """``P5Y2M`` -> ``5 years 2 months``; 90 and over -> ``90 years or older``; unknown -> ``age unknown``."""
    parts = _duration_parts(age)
    if parts is None:
        return "age unknown"
    years, months, weeks, days = parts
    if years >= _AGE_CAP_YEARS:
        return f"{_AGE_CAP_YEARS} years or older"
    words = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((years, "year"), (months, "month"), (weeks, "week"), (days, "day"))
        if n
    ]
    return " ".join(words) if words else "0 days"
