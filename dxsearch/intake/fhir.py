"""Reading FHIR R4B / R5 Bundles: the one place that decides what of a patient's record is read.

Every bundle the system meets (a request to the API, a CDS Hooks prefetch, a case file given to
``dxsearch diagnose``, a user's export indexed by ``corpus-builder``, the shipped phenopackets on their
way into the index) is validated here with ``fhir.resources`` and reduced to a :class:`ParsedPatient`:
codes, sex, age and findings only. Names, identifiers, birth dates, addresses, telecoms and free-text
notes are never copied out; identifiers are kept only to derive a keyed pseudonym. The writer of
bundles and the maker of indexed patient documents live in ``corpus_builder.fhir_bundles``.

What is read, the same for a case and for the index (a Condition the API reads as Scoliosis is no diagnosis
of an indexed patient):

* Findings: an ``Observation`` coded in HPO is a finding, observed unless its value is false or a coded
  "absent"/"negative" ("Known absent", "Absence findings"), or its interpretation is NEG/ND/NR; uncertain
  (not in the case) when its interpretation is IND/E or its value "possible". One coded in SNOMED CT, UMLS or
  ICD-10 is the term ``hp.obo`` cross-references; a measurement interpreted high / low (or off its own
  ``referenceRange``) is the term :data:`LOINC_TERMS` names, else the term HPO's phrasing names
  (:mod:`dxsearch.intake.directions`); other Observations become findings in words.
* Conditions: one coded in HPO, cross-referenced by ``hp.obo`` or whose words name HPO terms is a finding of
  the patient; one coded in OMIM / Orphanet / Mondo, or naming a disease HPO annotates, is a diagnosis; any
  other is listed as not understood, with why.
* Not the patient's, not read, each with why: an Observation whose ``focus`` is someone else (a fetus), one with
  no result yet (status registered) or cancelled, a Condition whose words speak of a relative. Contained
  Observations and Conditions about the patient are read (``entry[3].resource.contained[0]``); other contained
  resources are listed. A finding said present and absent keeps present, and the account says so
  (:func:`_settle_contradictions`). An abated Condition with no clinicalStatus is history.
* Age: a ``Patient.extension`` (:data:`AGE_EXTENSION_URL`) holding an ISO 8601 duration, a LOINC age
  Observation (30525-0, 21612-7), or ``birthDate`` plus a reference date (the date of death, when given; else the
  bundle's timestamp; else the latest clinical date: an Observation's, a Condition's, an Encounter's start); a
  birth year or month alone gives an age no more exact than it is. The Patient entry is itself one item of the
  account: what it gave (sex, age, and what the age was counted to), so that every entry is accounted for.
* Conditions coded in ICD-10: linked to a disease only when the Disease Ontology lists the code for one disease, or
  the words name one of those it lists (E75.2 is listed for 16: linked to none, and the account says so).
* Publication: ``Patient.meta.source`` = ``https://pubmed.ncbi.nlm.nih.gov/<n>/``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from fhir.resources import get_fhir_model_class as _r5_model_class
from fhir.resources.R4B import get_fhir_model_class as _r4b_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dxsearch.cases import Case, Finding, Sex, normalise_sex
from dxsearch.intake.account import EntryCategory
from dxsearch.intake.demographics import MAX_AGE_YEARS, check_age
from dxsearch.lone_surrogates import lone_surrogate
from dxsearch.pseudonym import Pseudonymiser

if TYPE_CHECKING:
    from dxsearch.knowledge.term_lookup import ExtractedTerm, TermLookup

FhirVersion = Literal["R4B", "R5"]
#: What an age from ``Patient.birthDate`` was counted to (:attr:`ParsedPatient.age_counted_to`).
AgeCountedTo = Literal["death", "reference", "timestamp", "clinical", "today"]
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
#: SNOMED CT values that say a finding is not there: Absent, Negative, Definitely NOT present, Known absent,
#: Absence findings, No, None, Not detected.
_ABSENT_SNOMED = {"2667000", "260385009", "410594000", "410516002", "272519000", "373067005", "260413007", "260415000"}
_ABSENT_WORDS = {
    "absent",
    "negative",
    "not present",
    "not detected",
    "not observed",
    "not seen",
    "not found",
    "excluded",
    "no",
    "none",
    "known absent",
    "absence findings",
    "definitely not present",
}
#: v3 ObservationInterpretation codes of a negative result: Negative, Not detected, Non-reactive.
_NEGATIVE_INTERPRETATIONS = {"NEG", "ND", "NR"}
#: ... of a result that says neither yes nor no: Indeterminate, Equivocal. Of a finding: uncertain, not present.
_UNCERTAIN_INTERPRETATIONS = {"IND", "E"}
#: SNOMED CT values (Possible diagnosis, Probable diagnosis, Suspected) and words of a finding not known either way.
_UNCERTAIN_SNOMED = {"60022001", "2931005", "415684004"}
_UNCERTAIN_WORDS = {
    "indeterminate",
    "equivocal",
    "possible",
    "probable",
    "suspected",
    "uncertain",
    "possible diagnosis",
    "probable diagnosis",
}
#: SNOMED CT Unknown, and words of a value that is none: the question was asked, the answer not known.
_UNKNOWN_SNOMED = {"261665006"}
_UNKNOWN_WORDS = {"unknown", "not known", "asked but unknown", "asked-unknown"}
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
#: Measurements HPO names in words of their own, by LOINC code and direction: (HPO id, HPO name). Why a table:
#: HPO's phrasing of a value off ("decreased X", :mod:`dxsearch.intake.directions`) names no term for a body
#: measurement or vital sign ("decreased head circumference by tape measure" is Microcephaly, "increased body
#: temperature" Fever), and no LOINC-to-HPO table ships in a package registry. Each id and name is checked
#: against hp.obo by a test.
LOINC_TERMS: dict[tuple[str, str], tuple[str, str]] = {
    **{
        (code, direction): term
        for code in ("8287-5", "9843-4")  # Head occipital-frontal circumference (by tape measure)
        for direction, term in (("low", ("HP:0000252", "Microcephaly")), ("high", ("HP:0000256", "Macrocephaly")))
    },
    **{
        (code, direction): term
        for code in ("8302-2", "8306-3", "3137-7")  # Body height (lying; measured)
        for direction, term in (("low", ("HP:0004322", "Short stature")), ("high", ("HP:0000098", "Tall stature")))
    },
    **{
        (code, direction): term
        for code in ("29463-7", "3141-9")  # Body weight (measured)
        for direction, term in (
            ("low", ("HP:0004325", "Decreased body weight")),
            ("high", ("HP:0004324", "Increased body weight")),
        )
    },
    ("39156-5", "low"): ("HP:0045082", "Decreased body mass index"),  # Body mass index
    ("39156-5", "high"): ("HP:0031418", "Increased body mass index"),
    **{
        (code, direction): term
        for code in ("8310-5", "8331-1", "8328-7")  # Body temperature (oral, axillary)
        for direction, term in (("low", ("HP:0002045", "Hypothermia")), ("high", ("HP:0001945", "Fever")))
    },
    ("8867-4", "low"): ("HP:0001662", "Bradycardia"),  # Heart rate
    ("8867-4", "high"): ("HP:0001649", "Tachycardia"),
    ("9279-1", "low"): ("HP:0046507", "Bradypnea"),  # Respiratory rate
    ("9279-1", "high"): ("HP:0002789", "Tachypnea"),
    ("8480-6", "low"): ("HP:0500105", "Decreased systolic blood pressure"),  # Systolic blood pressure
    ("8480-6", "high"): ("HP:0004421", "Elevated systolic blood pressure"),
    ("8462-4", "low"): ("HP:0500104", "Decreased diastolic blood pressure"),  # Diastolic blood pressure
    ("8462-4", "high"): ("HP:0005117", "Elevated diastolic blood pressure"),
    ("2708-6", "low"): ("HP:0012418", "Hypoxemia"),  # Oxygen saturation in arterial blood
    ("59408-5", "low"): ("HP:0012418", "Hypoxemia"),  # ... by pulse oximetry
    **{
        (code, direction): term
        # Glucose in blood, in serum or plasma (mass, moles), fasting, capillary by glucometer
        for code in ("2339-0", "2345-7", "15074-8", "14749-6", "1558-6", "41653-7")
        for direction, term in (("low", ("HP:0001943", "Hypoglycemia")), ("high", ("HP:0003074", "Hyperglycemia")))
    },
    ("4548-4", "high"): ("HP:0040217", "Elevated hemoglobin A1c"),  # Hemoglobin A1c
    # Laboratory results HPO names in words of their own, not "increased X in urine" (found by a user test of a
    # Fabry bundle, 2026-11-28: each was listed as not understood).
    ("2888-6", "high"): ("HP:0000093", "Proteinuria"),  # Protein [Mass/volume] in Urine
    **{
        (code, "low"): ("HP:0012213", "Decreased glomerular filtration rate")
        # Glomerular filtration rate/1.73 sq M.predicted in Serum or Plasma: by Creatinine-based formula (MDRD),
        # by Creatinine-based formula (CKD-EPI), among non-blacks and among blacks (MDRD), by the CKD-EPI 2021 formula
        for code in ("33914-3", "62238-1", "48642-3", "48643-1", "98979-8")
    },
    # Alpha galactosidase [Enzymatic activity/mass] in Leukocytes: the enzyme is alpha-galactosidase A (GLA), whose
    # deficiency HPO names (its comment: Fabry disease)
    ("24086-8", "low"): ("HP:0034864", "Decreased alpha-galactosidase A activity"),
}
#: Observation.status codes of an Observation that holds no result of the patient, and why: entered in error,
#: cancelled, or none yet (registered; R5's specimen-in-process and cannot-be-obtained). Preliminary, final, amended,
#: corrected and appended results are read.
_SKIPPED_STATUSES = {
    "entered-in-error": "",
    "cancelled": "",
    "registered": " (no result yet)",
    "specimen-in-process": " (no result yet)",
    "cannot-be-obtained": " (its result could not be obtained)",
}
#: Condition.verificationStatus codes that leave the condition a possibility, not a fact of the patient.
_UNCONFIRMED = {"unconfirmed", "provisional", "differential"}
#: Condition.clinicalStatus codes of a condition the patient had, and no longer has.
_PAST = {"inactive", "resolved", "remission"}
#: Code systems whose codes name diseases (never phenotypes): a Condition coded in one is a diagnosis.
_DISEASE_PREFIXES = frozenset({"OMIM", "ORPHA", "MONDO"})
#: Last words of a name that name a diagnosis, when the name is no disease HPO annotates ("Foo-Bar syndrome").
_DIAGNOSIS_WORDS = frozenset({"syndrome", "disease", "disorder"})
#: Encounter statuses of a visit not (yet) made: its start is no date the patient was seen (R4B and R5).
_NOT_YET_HAPPENED = frozenset({"planned"})
#: Resource types the reader says more of than "not read" when it meets them.
_NOT_READ = {
    "FamilyMemberHistory": "FamilyMemberHistory: a relative's history, not the patient's findings; this reader "
    "does not read family history from it (only Patient, Observation, Condition)",
}
ISO_DURATION = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T[0-9HMS.]*)?$")


class IgnoredItem(BaseModel):
    """A resource of a bundle, or a part of one, read into no finding or condition: where, why, and what kind of
    account entry it makes (:attr:`dxsearch.intake.account.NotUnderstood.category`).

    The path is built where the reason is written, never parsed back out of it: the account named the panel
    ("Blood pressure panel: not used") for its normal diastolic part while its systolic part was read, and the
    viewer labels an item by its path.
    """

    model_config = ConfigDict(frozen=True)

    entry_index: int = Field(description="Its Bundle entry index (a contained resource's is its container's).")
    path: str = Field(
        description="The element it is about: ``entry[12].resource``, ``entry[12].resource.component[1]``, "
        "``entry[12].resource.contained[0]``."
    )
    reason: str
    category: EntryCategory = "not_understood"


def _aside(
    entry_index: int, reason: str, path: str | None = None, category: EntryCategory = "not_understood"
) -> IgnoredItem:
    """An :class:`IgnoredItem` of entry ``entry_index``; ``path`` the element it is about, by default its resource."""
    where = path if path is not None else f"entry[{entry_index}].resource"
    return IgnoredItem(entry_index=entry_index, path=where, reason=reason, category=category)


_HPO_CODE = re.compile(r"^(?:HP[:_])?(\d{7})$", re.IGNORECASE)  # "hp:0001166" too, in an HPO system
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
    """A Condition as codes (CURIEs) and a display name: a diagnosis, or a phenotype (``hpo_id``) with a status.

    An HPO-coded Observation the record leaves uncertain (interpretation indeterminate, value "possible") is one
    too (``resource_type`` Observation, ``unconfirmed``): a possibility, read as a provisional Condition is.
    """

    model_config = ConfigDict(frozen=True)

    label: str
    codes: tuple[str, ...] = ()
    hpo_id: str | None = Field(
        default=None,
        description="The phenotype it names: its HPO coding, the term hp.obo cross-references from its code, or the "
        "term its words name.",
    )
    resource_type: Literal["Condition", "Observation"] = "Condition"
    refuted: bool = False
    unconfirmed: bool = Field(default=False, description="verificationStatus unconfirmed, provisional or differential.")
    past: bool = Field(default=False, description="clinicalStatus inactive, resolved or in remission.")
    entry_index: int | None = Field(default=None, description="The Bundle entry it was read from.")
    path: str | None = Field(
        default=None,
        description="Where in its entry, when not the entry's resource itself: a contained one "
        "(``entry[3].resource.contained[0]``).",
    )


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
    ignored_items: tuple[IgnoredItem, ...] = Field(
        default=(), description="This patient's resources (or parts of them) that became no finding or condition."
    )
    publication: str | None = Field(default=None, description="PMID:n when meta.source is a PubMed URL.")
    fhir_version: FhirVersion
    age_counted_to: AgeCountedTo | None = Field(
        default=None,
        description="When the age was counted from Patient.birthDate, the date it was counted to: the date of death, "
        "the reference date given to the reader, the bundle's timestamp, the latest clinical date of the patient's "
        "entries (an Observation, a Condition, an Encounter's start), or today (nothing in the bundle dated it).",
    )

    def to_case(self, case_id: str) -> Case:
        """The ``Case`` a diagnostic system may see (no diagnosis); ``case_id`` should be a pseudonym."""
        return Case(case_id=case_id, sex=self.sex, age=self.age, findings=self.findings)

    @property
    def ignored(self) -> tuple[tuple[int, str], ...]:
        """(entry index, why) of each of :attr:`ignored_items`."""
        return tuple((item.entry_index, item.reason) for item in self.ignored_items)

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
    ignored_items: tuple[IgnoredItem, ...] = Field(
        default=(), description="Entries about no patient, of types not read, or contained resources not read."
    )

    @property
    def ignored(self) -> tuple[tuple[int, str], ...]:
        """(entry index, why) of each of :attr:`ignored_items`."""
        return tuple((item.entry_index, item.reason) for item in self.ignored_items)


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
    reads the same). When neither validates, the errors of the version whose
    elements the bundle uses are raised (an ``actualPeriod`` is R5's), else of
    the version with fewer errors (ties go to R4B, the common EHR export); every
    problem is listed in ``BundleError.problems``, in one pass.

    Age from ``birthDate`` needs a reference date: ``reference_date``, else the
    bundle ``timestamp``, else the latest date on the patient's observations,
    conditions or encounters (``period.start``, R5 ``actualPeriod.start``), else ``today``
    (:attr:`ParsedPatient.age_counted_to` says which). An index build passes no ``today``, so the age stays
    unknown there: "today" would make a rebuild give different documents on
    different days; the intake of a patient being diagnosed passes today's date.

    ``max_entries`` bounds the work: a bundle with more entries raises :class:`BundleTooLargeError`
    before any validation (validating is what costs, some milliseconds per entry).
    """
    data = _as_mapping(payload)
    resource_type = data.get("resourceType")
    if resource_type is None:
        raise BundleError("resourceType", 'no resourceType: a FHIR Bundle says "resourceType": "Bundle"')
    if resource_type != "Bundle":
        raise BundleError("resourceType", f"resourceType is {resource_type!r}, expected 'Bundle'")
    too_large = entry_cap_error(data, max_entries)
    if too_large is not None:
        raise too_large
    versions: tuple[FhirVersion, ...] = ("R5", "R4B") if fhir_version == "auto" else (fhir_version,)
    failures: list[tuple[FhirVersion, _VersionError]] = []
    for version in versions:
        try:
            validated = _validate(data, version)
        except _VersionError as exc:
            failures.append((version, exc))
            continue
        return _extract(validated, version, reference_date, today)
    if len(failures) == 1:
        raise failures[0][1].error
    best_version, best, spoken = _version_meant(failures)
    others = ", ".join(v for v, _ in failures if v != best_version)
    said = f"as {best_version}, {spoken}" if spoken else f"as {best_version}"
    raise BundleError(best.error.path, f"{best.error.reason} ({said}; also invalid as {others})", best.error.problems)


def _version_meant(failures: Sequence[tuple[FhirVersion, _VersionError]]) -> tuple[FhirVersion, _VersionError, str]:
    """(the version a bundle valid in none was written in, its errors, why that one) to report it against.

    The version whose elements it uses: an element one version does not have and the other accepts (an R5
    Encounter's ``actualPeriod``) says which it is, and its errors are the ones to fix (a user test's R5 bundle was
    reported against R4B, "actualPeriod is not an element of a FHIR R4B Encounter", and its R5 errors never shown).
    Else the version with fewer errors, ties to R4B (the common EHR export).
    """
    meant = []
    for version, failure in failures:
        others = [other for v, other in failures if v != version]
        # Elements another version refuses as not its own, and this one accepts: this version's elements.
        own = [path for other in others for path in other.extra if path not in {p for p, _ in failure.error.problems}]
        if own and not failure.extra:
            meant.append((version, failure, own))
    if len(meant) == 1:
        version, failure, own = meant[0]
        shown = ", ".join(sorted(own, key=_path_order)[:3]) + (", ..." if len(own) > 3 else "")
        return version, failure, f"the version whose elements it uses ({shown})"
    version, failure = min(failures, key=lambda item: (item[1].count, item[0] != "R4B"))
    return version, failure, ""


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
    def __init__(self, error: BundleError, count: int, extra: frozenset[str] = frozenset()) -> None:
        super().__init__(str(error))
        self.error = error
        self.count = count
        #: Paths of elements the version does not have (an R5 Encounter's ``actualPeriod``, read as R4B).
        self.extra = extra


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
    """Validate with the version's models, listing every problem in one pass (a user test fixed one, ran again, and
    met the next, three times over): entries with no or an unknown resourceType (fhir_core raises a KeyError on
    them, so they are set aside and the rest validated without them), what the models refuse, a Bundle.type and a
    Patient.gender that are no code of the version."""
    model_class = fhir_model_class(version)
    found: list[tuple[str, str, str]] = []  # (path, reason with the value, reason without)
    extra: set[str] = set()  # paths of elements this version does not have ("actualPeriod" in R4B)
    checked: Mapping[str, Any] = data
    entries = data.get("entry")
    if isinstance(entries, list):
        set_aside: set[int] = set()
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            name = resource.get("resourceType")
            where = f"entry[{index}].resource.resourceType"
            if not isinstance(name, str):
                found.append((where, "resource has no resourceType", "resource has no resourceType"))
                set_aside.add(index)
                continue
            try:
                model_class(name)
            except (KeyError, ValueError):
                why = f"unknown {version} resource type {name!r}"
                found.append((where, why, why))
                set_aside.add(index)
                continue
            gender = resource.get("gender") if name == "Patient" else None
            if isinstance(gender, str) and gender not in ADMINISTRATIVE_GENDERS:
                why = "Patient.gender must be one of male, female, other, unknown"
                found.append((f"entry[{index}].resource.gender", f"{why} (got {offending_value(gender)})", why))
        if set_aside:
            kept = [
                {key: value for key, value in entry.items() if key != "resource"} if k in set_aside else entry
                for k, entry in enumerate(entries)
            ]
            checked = {**data, "entry": kept}
    bundle_type = data.get("type")
    if isinstance(bundle_type, str) and bundle_type not in BUNDLE_TYPES[version]:
        why = f"{offending_value(bundle_type)} is not a {version} Bundle.type code (such as 'collection')"
        found.append(("type", why, why))
    validated: FHIRAbstractModel | None = None
    try:
        validated = model_class("Bundle").model_validate(checked)
    except ValidationError as exc:
        for error in exc.errors():
            path = _json_path(error["loc"])
            if error.get("type") == "extra_forbidden":
                extra.add(path)
            reason = _error_reason(error, data, version, with_value=False)
            found.append((path, _error_reason(error, data, version, with_value=True), reason))
    except (KeyError, TypeError, ValueError):  # fhir_core raises these for some malformed shapes
        found.append(("<root>", "the JSON is not shaped as a FHIR Bundle", "the JSON is not shaped as a FHIR Bundle"))
    if not found and validated is not None:
        return validated
    found.sort(key=lambda problem: _path_order(problem[0]))
    path, _, reason = found[0]
    if len(found) > 1:
        reason += f" (and {len(found) - 1} more error{'s' if len(found) > 2 else ''})"
    problems = tuple((where, why) for where, why, _ in found)
    raise _VersionError(BundleError(path, reason, problems), len(found), frozenset(extra))


def _path_order(path: str) -> tuple[tuple[int, int | str], ...]:
    """A problem's path as a sort key: in the order of the bundle (entry[2] before entry[10])."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[\[\].]+", path) if part)


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
    """``('entry', 3, 'resource', 'code')`` -> ``entry[3].resource.code`` (the library's ``root`` left out)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType" if path else "resourceType"
        elif part != "root" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            path += f".{part}" if path else part
    return path or "<root>"


#: What a JSON value is, in the words a message about it uses.
_JSON_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true or false"),
    (int, "a number"),
    (float, "a number"),
    (Decimal, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)
#: FHIR primitive types whose format the library checks by a pattern, and an example of each.
_FORMATS = {
    "Decimal": "a number",
    "DateTime": "a FHIR dateTime, such as 2024-06-01 or 2024-06-01T09:30:00Z",
    "Date": "a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD",
    "Instant": "a FHIR instant, such as 2024-06-01T09:30:00Z",
    "Time": "a FHIR time, such as 09:30:00",
    "Uri": "a URI",
    "Url": "a URL",
    "Code": "a FHIR code: no leading or trailing spaces",
    "Id": "a FHIR id: letters, digits, '-' and '.', at most 64",
    "Integer": "a whole number",
    "PositiveInt": "a whole number above 0",
    "UnsignedInt": "a whole number, 0 or more",
}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    return next((word for kind, word in _JSON_KINDS if isinstance(value, kind)), "another kind of value")


def _error_reason(error: Mapping[str, Any], data: Mapping[str, Any], version: str, *, with_value: bool) -> str:
    """A validation error as one line in plain words, which element is wrong and how; optionally with the
    offending value (``... (got 17)``). The library's own messages ("Value is expected from the instance of
    Quantity, but got type <class 'int'>", "Invalid JSON: trailing characters") name its internals, not the
    bundle's mistake."""
    reason = _plain_reason(error, data, version)
    quotable = not _has_lone_surrogate(error.get("input"))  # patient text, and it has no UTF-8 form to print
    if with_value and quotable and "input" in error and not str(error.get("type", "")).endswith("missing"):
        reason += f" (got {offending_value(error['input'])})"  # a missing field's input is its parent
    return reason


def _plain_reason(error: Mapping[str, Any], data: Mapping[str, Any], version: str) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    loc = [part for part in error.get("loc", ()) if part != "root"]
    element = _json_path(loc).rsplit(".", 1)[-1] if loc else "the bundle"
    got = _json_kind(error.get("input"))
    if kind in {"model_validation_format", "model_type", "dict_type", "model_attributes_type", "json_invalid"}:
        model = ctx.get("model_class")
        return f"{element} must be a JSON object{f' (a FHIR {model})' if model else ''}, not {got}"
    if kind == "list_type":
        given = error.get("input")
        if isinstance(given, list):  # the library's answer to a null item: "must be an array, not an array"
            nulls = [index for index, item in enumerate(given) if item is None]
            where = f"{element}[{nulls[0]}]" if nulls else "an item of it"
            return f"{element} must be a JSON array of values: {where} is null (remove it)"
        return f"{element} must be a JSON array ([...]), not {got}"
    if kind == "extra_forbidden":
        return f"{element} is not an element of a FHIR {version} {_resource_type_at(data, loc[:-1])}"
    if kind.endswith("missing"):
        return f"{element} is required and missing"
    if kind in {"bool_type", "bool_parsing"}:
        return f"{element} must be a valid boolean, true or false, not {got}"
    if kind in {"string_type", "string_unicode"}:
        if _has_lone_surrogate(error.get("input")):  # a string, and yet refused: "must be a string, not a string"
            return f"{element} holds a lone UTF-16 surrogate, which is not valid Unicode: send text as UTF-8"
        return f"{element} must be a string, not {got}"
    if kind.startswith(("int_", "float_", "decimal_")):
        return f"{element} must be a number, not {got}"
    message = " ".join(str(error.get("msg", "")).split()).removeprefix("Value error, ")
    pattern = re.match(r"(\w+) value string does not match spec regex", message)
    if pattern is not None:
        return f"{element} must be {_FORMATS.get(pattern.group(1), 'a FHIR ' + pattern.group(1))}, not {got}"
    choices = re.search(r"from this list \[([^\]]*)\], but got multiple", message)
    if choices is not None:
        listed = [name.strip(" '") for name in choices.group(1).split(",")]
        given = error.get("input")
        present = [name for name in listed if isinstance(given, dict) and name in given] or listed
        owner = _resource_type_at(data, loc)
        return f"{owner} holds more than one of {', '.join(present)}: give one"
    # Anything else: the library's words, without its type names ("<class 'int'>").
    return _one_line(f"{element}: " + re.sub(r"<class '(\w+)'>", r"\1", message))


def _has_lone_surrogate(value: object) -> bool:
    """Whether ``value`` is a string holding a lone UTF-16 surrogate (JSON's ``"\\udfff"`` unpaired)."""
    return isinstance(value, str) and lone_surrogate(value) is not None


def _resource_type_at(data: Mapping[str, Any], loc: Sequence[int | str]) -> str:
    """The FHIR name of the element at ``loc``: "Observation" for a resource, "Observation.code" inside one."""
    name = "Bundle"
    node: Any = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and isinstance(node.get("resourceType"), str):
            name = node["resourceType"]
        elif isinstance(part, str):
            name += f".{part}"
    return name


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
            for number, inner in enumerate(getattr(entry.resource, "contained", None) or []):
                plain["resource"]["contained"][number]["resourceType"] = inner.get_resource_type()
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

    owned: dict[int, list[tuple[int, dict[str, Any], str]]] = {index: [] for index in patients}
    encounters: dict[int, list[tuple[date, str]]] = {}  # patient -> (start, element) of each of its Encounters
    ignored: list[IgnoredItem] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        owner: int | None = index if kind == "Patient" else None
        if kind not in {"Observation", "Condition", "Patient"}:
            why = f"{kind or 'an entry without a resource'}: not read (only Patient, Observation, Condition)"
            if any(
                inner.get("resourceType") in {"Observation", "Condition"} for inner in resource.get("contained") or []
            ):
                why += "; the Observations and Conditions it contains are read, each on its own (contained[n])"
            if kind is not None and resource.get("subject") is not None:
                owner = _owner(resource, index, references, patients, strict=False)
            started = _encounter_start(resource) if kind == "Encounter" else None
            if started is not None and resource.get("status") in _NOT_YET_HAPPENED:
                why += f"; its start ({started[1]}) is not counted: the Encounter is {resource.get('status')}"
            elif started is not None and owner is not None and _withdrawn(resource) is None:
                encounters.setdefault(owner, []).append((started[0], f"{started[1]} of entry[{index}]"))
                why += f"; its start ({started[1]}) is a clinical date the age may be counted to"
            ignored.append(_aside(index, _NOT_READ.get(str(kind), why)))
        elif kind != "Patient":
            owner = _owner(resource, index, references, patients)
            about_another = _focus_elsewhere(resource, owner, references)
            if owner is None:
                ignored.append(_aside(index, f"{kind} about no patient of this bundle: not read"))
            elif about_another is not None:
                ignored.append(_aside(index, about_another))
            else:
                owned[owner].append((index, resource, ""))
        withdrawn = _withdrawn(resource) or (
            _focus_elsewhere(resource, owner, references) if kind == "Observation" else None
        )
        for number, inner in enumerate(resource.get("contained") or []):
            where = f"entry[{index}].resource.contained[{number}]"
            if withdrawn is not None:  # what a withdrawn or another's resource holds is no finding of the patient
                ignored.append(
                    _aside(index, f"contained[{number}]: not read, since its container is {withdrawn}", where)
                )
                continue
            read, why_not = _contained(inner, owner, index, references, patients)
            if read is not None:
                owned[read].append((index, inner, f".contained[{number}]"))
            else:
                ignored.append(_aside(index, f"contained[{number}]: {why_not}", where))

    timestamp = getattr(bundle, "timestamp", None)
    bundle_date = timestamp.date() if isinstance(timestamp, datetime) else None
    reference = (
        (reference_date, "the reference date given to the reader")
        if reference_date is not None
        else (bundle_date, "the bundle's timestamp")
        if bundle_date is not None
        else None
    )
    parsed = tuple(
        _patient(
            index,
            patients[index],
            owned[index],
            bundle_id=getattr(bundle, "id", None),
            version=version,
            reference=reference,
            today=today,
            encounters=encounters.get(index, []),
        )
        for index in sorted(patients)
    )
    return ParsedBundle(
        fhir_version=version,
        bundle_type=str(getattr(bundle, "type", "")),
        patients=parsed,
        ignored_items=tuple(ignored),
    )


def _withdrawn(resource: dict[str, Any]) -> str | None:
    """Why a resource's contents are withdrawn, else None: entered in error or cancelled (its ``status``, or a
    Condition's ``verificationStatus``). A code review found a withdrawn report's contained result read."""
    status = resource.get("status")
    if status in ("entered-in-error", "cancelled"):
        return f"{status} ({resource.get('resourceType')}.status)"
    if "entered-in-error" in _status_codes(resource.get("verificationStatus")):  # as a Condition's own is read
        return "entered-in-error (verificationStatus)"
    return None


def _focus_elsewhere(resource: dict[str, Any], owner: int | None, references: dict[str, int]) -> str | None:
    """Why an Observation is not read when its ``focus`` is someone or something other than its patient (a fetus,
    a relative, a donor, a specimen), else None. FHIR: the focus is what the Observation is about when that is
    not the subject; a finding of a fetus is no finding of the mother. A focus on the patient itself, or on a
    BodyStructure (a part of the patient), leaves it the patient's."""
    for focus in resource.get("focus") or []:
        reference = str(focus.get("reference") or "")
        if owner is not None and references.get(reference) == owner:
            continue
        typed = re.search(r"([A-Z][A-Za-z]+)/[^/]+$", reference)
        if typed is not None and typed.group(1) == "BodyStructure":
            continue
        what = f"a {typed.group(1)}" if typed is not None else "another resource"
        if reference in references:
            what = "another Patient of this bundle"
        return (
            f"{resource.get('resourceType')} whose focus is {what}, not the patient (a fetus, a relative, a "
            "donor...): not a finding of the patient, not read"
        )
    return None


def _contained(
    inner: dict[str, Any],
    container_owner: int | None,
    index: int,
    references: dict[str, int],
    patients: dict[int, dict[str, Any]],
) -> tuple[int | None, str]:
    """(the patient a contained Observation or Condition is read for, "") or (None, why it is not read).

    A contained Observation or Condition (a DiagnosticReport's results, sent inside it) is read as a bundle entry
    is, when it is about the patient: its own subject, or, with none, its container's. Any other contained
    resource (a Patient, a Practitioner, a Medication) is listed as not read: a contained Patient is no patient
    of the bundle, and nothing of it is read.
    """
    kind = inner.get("resourceType")
    if kind == "Patient":
        return None, "a contained Patient: not read (only the bundle's Patient entries are its patients)"
    if kind not in {"Observation", "Condition"}:
        return None, f"a contained {kind or 'resource'}: not read (only Observation and Condition are read)"
    owner = container_owner
    if (inner.get("subject") or {}).get("reference") is not None:
        owner = _owner(inner, index, references, patients, strict=False)
    if owner is None:
        return None, f"a contained {kind} about no patient of this bundle: not read"
    elsewhere = _focus_elsewhere(inner, owner, references)
    if elsewhere is not None:
        return None, f"a contained {elsewhere}"
    return owner, ""


def _owner(
    resource: dict[str, Any],
    index: int,
    references: dict[str, int],
    patients: dict[int, dict[str, Any]],
    *,
    strict: bool = True,
) -> int | None:
    """The entry index of the Patient a resource is about, None if it is about something else.

    A patient reference that resolves to no Patient in the bundle is an error:
    silently dropping the finding would misrepresent the patient. Not ``strict`` (a resource the reader does not
    read, a contained one), such a reference is about no patient of the bundle: None.
    """
    if not strict:
        try:
            return _owner(resource, index, references, patients)
        except BundleError:
            return None
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
    owned: list[tuple[int, dict[str, Any], str]],
    *,
    bundle_id: str | None,
    version: FhirVersion,
    reference: tuple[date, str] | None,
    today: date | None = None,
    encounters: Sequence[tuple[date, str]] = (),
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
    ignored: list[IgnoredItem] = []
    # The latest clinical date (its date, and what gave it): the age from birthDate is counted to it when the bundle
    # has no timestamp. An Encounter's start counts (period.start in R4B, actualPeriod.start in R5): a user test
    # found a bundle dated only by its Encounter counted to today (P39Y, where the patient was 37 at the visit).
    # Only a date between the birth and today counts (a code review found a planned visit in 2031 counted to).
    born = _earliest_birth(resource.get("birthDate"))
    latest_possible = today if today is not None else date.today()

    def happened(dated: date) -> bool:
        return dated <= latest_possible and (born is None or dated >= born)

    latest: tuple[date, str] | None = max((e for e in encounters if happened(e[0])), default=None)
    age_said: str | None = "an age extension (Patient.extension)" if age is not None else None
    finding_paths: list[str] = []
    first_entry: dict[Finding, str] = {}  # finding -> element it was first read from: linear de-duplication
    vocabulary = _Vocabulary()
    said_at = (0, "")  # where the last resource's reasons start in ``ignored``, and whether it was contained
    for entry_index, item, inner in owned:
        _say_contained(ignored, *said_at)
        said_at = (len(ignored), inner)
        base = f"entry[{entry_index}].resource{inner}"
        for key in ("effectiveDateTime", "issued", "recordedDate", "onsetDateTime"):
            dated = _date_of(item.get(key))
            if dated is not None and happened(dated) and (latest is None or dated > latest[0]):
                latest = (dated, f"{item.get('resourceType')}.{key} of {base.removesuffix('.resource')}")
        if item.get("resourceType") == "Condition":
            read, why_not = _conditions(item, vocabulary)
            conditions.extend(
                condition.model_copy(update={"entry_index": entry_index, "path": base if inner else None})
                for condition in read
            )
            if why_not is not None:
                ignored.append(_aside(entry_index, why_not, base))
            continue
        status = item.get("status")
        if status in _SKIPPED_STATUSES:
            why = f"Observation with status {status}{_SKIPPED_STATUSES[status]}: not read"
            ignored.append(_aside(entry_index, why, base))
            continue
        observed_age = _age_from_observation(item, entry_index)
        if observed_age is not None:
            if age is None:
                age, age_said = observed_age, f"the age Observation of {base.removesuffix('.resource')}"
            why = "an age Observation: read as the patient's age, not a finding"
            ignored.append(_aside(entry_index, why, base, "age_source"))
            continue
        for suffix, part in _parts(item, entry_index, base, ignored):
            where = f"{base}{suffix}"
            finding, why_not, uncertain = _finding(part, vocabulary)
            if finding is not None and uncertain and finding.hpo_id is not None and not suffix:
                # An HPO finding the record leaves open (indeterminate, "possible"): read as a provisional Condition.
                codes = _codes(part.get("code"), part.get("valueCodeableConcept"))
                possible = ParsedCondition(
                    label=finding.label,
                    codes=codes,
                    hpo_id=finding.hpo_id,
                    unconfirmed=True,
                    entry_index=entry_index,
                    path=base if inner else None,
                    resource_type="Observation",
                )
                conditions.append(possible)
            elif finding is not None and uncertain:
                why = "an indeterminate result, neither present nor absent: not read"
                ignored.append(_aside(entry_index, f"{why}{' (' + suffix[1:] + ')' if suffix else ''}", where))
            elif finding is None:
                ignored.append(_aside(entry_index, f"{why_not}{' (' + suffix[1:] + ')' if suffix else ''}", where))
            elif finding in first_entry:  # repeated observations: one finding
                why = f"repeats the finding of {first_entry[finding]}: counted once"
                ignored.append(_aside(entry_index, why, where, "repeat"))
            else:
                first_entry[finding] = where if suffix or inner else f"entry[{entry_index}]"
                findings.append(finding)
                finding_codes.append(_codes(part.get("code"), part.get("valueCodeableConcept")))
                finding_entries.append(entry_index)
                finding_paths.append(where)
                direction = _direction(part)
                name = _concept_label(part.get("code"))
                directed = (name, direction) if direction and name and finding.hpo_id is None else None
                finding_directions.append(directed)
    _say_contained(ignored, *said_at)
    dropped_findings, dropped_conditions, contradicted = _settle_contradictions(findings, finding_paths, conditions)
    ignored.extend(contradicted)
    if dropped_findings:
        kept = [k for k in range(len(findings)) if k not in dropped_findings]
        findings, finding_codes = [findings[k] for k in kept], [finding_codes[k] for k in kept]
        finding_entries, finding_paths = [finding_entries[k] for k in kept], [finding_paths[k] for k in kept]
        finding_directions = [finding_directions[k] for k in kept]
    conditions = [c for k, c in enumerate(conditions) if k not in dropped_conditions]
    # What the Patient entry gave, said in one account item: every entry of the bundle is in the account once.
    notes: list[str] = []
    category: EntryCategory = "age_source"
    counted_to: AgeCountedTo | None = None
    if age is None and resource.get("birthDate"):
        died = _date_of(resource.get("deceasedDateTime"))
        # Which date the age is counted to: the date of death, else the date given to the reader or the bundle's
        # timestamp, else the latest clinical date of the patient's entries (an Observation's, a Condition's, an
        # Encounter's start), else today (the intake of a patient being seen; an index build passes no today).
        source: tuple[date, AgeCountedTo, str] | None = None
        if died is not None:
            source = (died, "death", "the date of death (Patient.deceasedDateTime)")
        elif reference is not None:
            source = (
                reference[0],
                "reference" if reference[1].startswith("the reference") else "timestamp",
                reference[1],
            )
        elif latest is not None:
            source = (latest[0], "clinical", f"the latest clinical date in the bundle ({latest[1]})")
        elif today is not None:
            source = (today, "today", "today (no date in the bundle to count the age to)")
        counted_from = source[0] if source is not None else None
        birth_date = str(resource["birthDate"])
        if died is None and resource.get("deceasedBoolean") is True:
            age = None
            notes.append(_DIED_WHEN_UNKNOWN)
            category = "not_understood"
        else:
            age, why = _age_from_birth_date(birth_date, counted_from)
            if age is None:
                notes.append(why or _no_age_from_birth_date(counted_from))
                category = "not_understood"
            else:
                assert source is not None and counted_from is not None
                counted_to = source[1]
                age_said = f"Patient.birthDate, counted to {counted_from.isoformat()}: {source[2]}"
                if why:  # said at the precision its birth date allows
                    notes.append(why)
            if age is not None and died is not None:
                notes.append(f"Patient.deceasedDateTime: the age is the age at death ({age}), not today's")
    sex = normalise_sex(resource.get("gender"))
    said_sex = f"sex {sex} (Patient.gender)" if sex != "unknown" else "no sex (no Patient.gender)"
    said_age = f"age {age} (from {age_said})" if age is not None else "no age"
    notes.insert(
        0,
        f"the Patient: read for sex and age only, giving {said_sex} and {said_age}; its names, identifiers (kept "
        "only to derive a pseudonym), contact details and other elements are not read",
    )
    ignored.append(_aside(index, "; ".join(notes), category=category))
    # Entries only (contained resources are inside them): the hash, and so a pseudonym, is what it always was.
    entries = [item for _, item, inner in owned if not inner]
    canonical = json.dumps([resource, *entries], sort_keys=True, ensure_ascii=False)
    source_match = _PUBMED_SOURCE.match(str((resource.get("meta") or {}).get("source") or ""))
    return ParsedPatient(
        entry_index=index,
        identifiers=identifiers,
        resource_id=resource.get("id"),
        bundle_id=bundle_id,
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        sex=sex,
        age=age,
        age_counted_to=counted_to,
        findings=tuple(findings),
        finding_codes=tuple(finding_codes),
        finding_entries=tuple(finding_entries),
        finding_paths=tuple(finding_paths),
        finding_directions=tuple(finding_directions),
        conditions=tuple(conditions),
        ignored_items=tuple(ignored),
        publication=f"PMID:{source_match.group(1)}" if source_match else None,
        fhir_version=version,
    )


def _say_contained(ignored: list[IgnoredItem], mark: int, inner: str) -> None:
    """Prefix the reasons a contained resource (``inner`` ".contained[n]") added to ``ignored`` from ``mark`` on
    with where it is in its entry ("contained[0]: ..."): a reader of the reason alone would take the entry index
    for its container's. (Their paths say where already.)"""
    if inner:
        ignored[mark:] = [item.model_copy(update={"reason": f"{inner[1:]}: {item.reason}"}) for item in ignored[mark:]]


def _settle_contradictions(
    findings: Sequence[Finding], finding_paths: Sequence[str], conditions: Sequence[ParsedCondition]
) -> tuple[set[int], set[int], list[IgnoredItem]]:
    """(findings to drop, conditions to drop, where and why of each) where the record says one finding both
    present and absent: an Observation or a refuted Condition says absent what another Observation or Condition says
    present (or had: resolved, inactive).

    The rule, the one every reader of a bundle follows (a case, the index, ``validate --explain``), since all read
    this reader's :class:`ParsedPatient`: **present is kept, the absent statement is not read, and the account says
    so** ("contradicts entry[4], which says present"). Why present: a record holds statements made at different
    times, by different people; a finding seen at any time is part of the patient's phenotype (a resolved one is
    read as history, a finding all the same), and one examination that did not find it (a scoliosis corrected,
    a murmur not heard that day) does not undo it. It is the rule a note is read by ("no seizures at first;
    seizures from age 3" has seizures). Why not "uncertain" (neither): that would drop a finding a clinician
    recorded, and an index patient would lose it too. Unconfirmed statements (provisional, indeterminate) are no
    side of a contradiction: they say neither. Only the same HPO term counts; a broader or narrower one says
    something else.
    """
    present: dict[str, tuple[str, bool]] = {}  # term -> (where it is said present, whether only as past)
    for path, finding in zip(finding_paths, findings, strict=False):
        if finding.hpo_id is not None and not finding.excluded and finding.hpo_id not in present:
            place = path.removesuffix(".resource") if path.endswith("].resource") else path
            present[finding.hpo_id] = (place, False)
    for condition in conditions:
        said = condition.hpo_id is not None and not condition.refuted and not condition.unconfirmed
        if said and condition.hpo_id not in present and condition.entry_index is not None:
            place = condition.path or f"entry[{condition.entry_index}]"
            present[str(condition.hpo_id)] = (place, condition.past)

    def why(label: str, hpo_id: str) -> str:
        place, past = present[hpo_id]
        says = "it was present (resolved or inactive)" if past else "present"
        named = hpo_id if label == hpo_id else f"{label} ({hpo_id})"
        return (
            f"says {named} is absent: contradicts {place}, which says {says}; kept: present (a finding recorded at "
            "any time is part of the patient's phenotype), this statement not read"
        )

    dropped_findings: set[int] = set()
    dropped_conditions: set[int] = set()
    notes: list[IgnoredItem] = []
    for k, finding in enumerate(findings):
        if finding.hpo_id in present and finding.excluded:
            dropped_findings.add(k)
            element = finding_paths[k] if k < len(finding_paths) else None
            entry = re.match(r"entry\[(\d+)\]", element) if element is not None else None
            at = int(entry.group(1)) if entry else -1
            notes.append(_aside(at, why(finding.label, finding.hpo_id), element, "contradicted"))
    for k, condition in enumerate(conditions):
        if condition.hpo_id in present and condition.refuted and condition.entry_index is not None:
            dropped_conditions.add(k)
            reason = why(condition.label, condition.hpo_id)
            notes.append(_aside(condition.entry_index, reason, condition.path, "contradicted"))
    return dropped_findings, dropped_conditions, notes


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


#: Why a dead patient's age is not read when the bundle does not say when they died.
_DIED_WHEN_UNKNOWN = (
    "Patient.deceasedBoolean is true and no date of death is given: the age at death is unknown, age not read "
    "(counting to today would age the patient past death)"
)


def _age_from_birth_date(birth_date: str, reference: date | None) -> tuple[str | None, str]:
    """(the age at ``reference``, "") or (an age, why it is said as it is) or (None, why not, or "" for no date).

    Whole years from 2 years on, years and months below, days under a month. A partial birth date says no more
    than it knows: a birth month ("2020-05") is counted from its middle (within half a month) and no age in
    days is said; a birth year ("2020") from its middle (within half a year), in whole years only, and no age
    under 2 years is said from it (a birth year cannot tell 3 months from 11). The reason says so.
    """
    if reference is None:
        return None, ""
    parts = [int(p) for p in birth_date[:10].split("-")]
    precision = len(parts)  # 1: a year, 2: a month, 3: a day
    born = date(parts[0], parts[1] if precision > 1 else 7 if precision == 1 else 1, parts[2] if precision > 2 else 1)
    if precision == 2:
        born = born.replace(day=15)
    earliest = date(parts[0], parts[1] if precision > 1 else 1, parts[2] if precision > 2 else 1)
    if earliest > reference:
        return None, ""
    born = min(born, reference)
    months = (reference.year - born.year) * 12 + reference.month - born.month
    if reference.day < born.day:
        months -= 1
    years, rest = divmod(months, 12)
    if precision == 1:
        said = f"Patient.birthDate gives only a year ({parts[0]})"
        if years < 2:
            return None, f"{said}: too young for a year alone to say the age, age not read"
        return f"P{years}Y", f"{said}: age counted from its middle, in whole years (within half a year)"
    if precision == 2:
        said = f"Patient.birthDate gives only a month ({birth_date[:7]})"
        if months < 1:
            return None, f"{said}: too young for a month alone to say the age, age not read"
        age = f"P{years}Y" if years >= 2 else f"P{years}Y{rest}M"
        return age, f"{said}: age counted from its middle{', in whole months' if years < 2 else ''}"
    if years >= 2:
        return f"P{years}Y", ""
    if months >= 1:
        return f"P{years}Y{rest}M", ""
    return f"P{(reference - born).days}D", ""


def _earliest_birth(birth_date: object) -> date | None:
    """The earliest day ``Patient.birthDate`` allows (its first day, of a month or year alone), else None."""
    if not isinstance(birth_date, str):
        return None
    try:
        parts = [int(p) for p in birth_date[:10].split("-")]
        return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except (ValueError, IndexError):
        return None


def _no_age_from_birth_date(counted_from: date | None) -> str:
    if counted_from is None:
        return "Patient.birthDate: no date in the bundle to count the age from, age not read"
    return f"Patient.birthDate is after {counted_from.isoformat()}, the date the age is counted from: age not read"


def _encounter_start(encounter: dict[str, Any]) -> tuple[date, str] | None:
    """(the date an Encounter started, the element saying it): ``actualPeriod.start`` (R5), else ``period.start``
    (R4B), else None."""
    for key in ("actualPeriod", "period"):
        started = _date_of((encounter.get(key) or {}).get("start"))
        if started is not None:
            return started, f"Encounter.{key}.start"
    return None


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
_INTERPRETATION_WORDS = {
    **_DIRECTIONS,
    "N": "normal",
    "NEG": "negative",
    "POS": "positive",
    "ND": "not detected",
    "NR": "non-reactive",
    "IND": "indeterminate",
    "E": "equivocal",
}


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


def _value_says(observation: dict[str, Any], snomed: set[str], words: set[str]) -> bool:
    """Whether the Observation's value says one of ``words`` (its valueString, or a valueCodeableConcept that is no
    HPO term, by a SNOMED CT code of ``snomed`` or by a display or text)."""
    if str(observation.get("valueString") or "").strip().lower() in words:
        return True
    value = observation.get("valueCodeableConcept")
    if value is None or _hpo_coding(value) is not None:
        return False
    for coding in value.get("coding") or []:
        if _system_key(coding.get("system")) == "snomed.info/sct" and str(coding.get("code")) in snomed:
            return True
        if str(coding.get("display") or "").strip().lower() in words:
            return True
    return str(value.get("text") or "").strip().lower() in words


def _is_negative(observation: dict[str, Any]) -> bool:
    if observation.get("valueBoolean") is False:
        return True
    if any(
        code in _NEGATIVE_INTERPRETATIONS or words in _ABSENT_WORDS for code, words in _interpretations(observation)
    ):
        return True
    return _value_says(observation, _ABSENT_SNOMED, _ABSENT_WORDS)


def _is_uncertain(observation: dict[str, Any]) -> bool:
    """Whether the record leaves the finding open: an indeterminate or equivocal result, a "possible" value."""
    if any(
        code in _UNCERTAIN_INTERPRETATIONS or words in _UNCERTAIN_WORDS for code, words in _interpretations(observation)
    ):
        return True
    return _value_says(observation, _UNCERTAIN_SNOMED, _UNCERTAIN_WORDS)


def _interpreted(observation: dict[str, Any]) -> str | None:
    """'high', 'low' or 'abnormal' when the Observation's interpretation says so (code or words), else None."""
    for code, words in _interpretations(observation):
        direction = _DIRECTIONS.get(code) or _DIRECTION_WORDS.get(words)
        if direction:
            return direction
    return None


def _direction(observation: dict[str, Any]) -> str | None:
    """Which way the value is off: as its interpretation says, else as its reference range places it."""
    interpreted = _interpreted(observation)
    if interpreted is not None:
        return interpreted
    placed = _against_range(observation)
    return placed[0] if placed is not None and placed[0] != "normal" else None


def _against_range(observation: dict[str, Any]) -> tuple[str, str] | None:
    """('high' | 'low' | 'normal', words saying so) of a valueQuantity against the Observation's referenceRange.

    Only where the record leaves nothing to guess: no interpretation (the laboratory's own word wins), a number
    without a comparator, exactly one range with a low or a high, for every patient (no ``appliesTo`` or
    ``age``), of the normal kind, in the value's unit. Anything else: None, and the value names nothing.
    """
    if observation.get("interpretation"):
        return None
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("comparator"):
        return None
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    ranges = [r for r in observation.get("referenceRange") or [] if r.get("low") or r.get("high")]
    if len(ranges) != 1 or ranges[0].get("appliesTo") or ranges[0].get("age"):
        return None
    reference = ranges[0]
    if {str(c.get("code")) for c in (reference.get("type") or {}).get("coding") or []} - {"normal"}:
        return None  # a therapeutic or treatment range says nothing of normal
    unit = _unit(quantity)
    low, high = reference.get("low") or {}, reference.get("high") or {}
    if any(unit and _unit(bound) and _unit(bound) != unit for bound in (low, high) if bound):
        return None
    low_value, high_value = low.get("value"), high.get("value")
    shown_unit = f" {quantity.get('unit') or quantity.get('code')}" if unit else ""
    if low_value is not None and high_value is not None:
        shown = f"{_number(low_value)}–{_number(high_value)}{shown_unit}"
    elif high_value is not None:
        shown = f"up to {_number(high_value)}{shown_unit}"
    else:
        shown = f"from {_number(low_value)}{shown_unit}"
    if isinstance(high_value, int | float) and value > high_value:
        return "high", f"above the reference range, {shown}"
    if isinstance(low_value, int | float) and value < low_value:
        return "low", f"below the reference range, {shown}"
    return "normal", f"within the reference range, {shown}"


def _unit(quantity: dict[str, Any]) -> str:
    return str(quantity.get("code") or quantity.get("unit") or "").strip().lower()


def _finding(observation: dict[str, Any], vocabulary: _Vocabulary) -> tuple[Finding | None, str, bool]:
    """An HPO-coded Observation (in code, or in value) -> HPO finding; any other -> label: value, with the HPO term
    its codes or its value off one way name (:meth:`_Vocabulary.observed`), if any. Third: whether the record
    leaves the finding open (indeterminate, "possible"): uncertain, not present.

    Or no finding, and why: an Observation (or component) with a ``dataAbsentReason`` or a value "unknown" holds no
    value (a finding "asked, unknown" is not a finding present); a measurement interpreted as normal, or within
    its reference range, names nothing.
    """
    absent_reason = observation.get("dataAbsentReason")
    if absent_reason is not None and not _has_value(observation):
        why = _coded_word(absent_reason) or "no value"
        return None, f"Observation with no value (dataAbsentReason: {why.lower()}): not read", False
    if _value_says(observation, _UNKNOWN_SNOMED, _UNKNOWN_WORDS):
        return None, "Observation whose value is unknown (asked, not known): not read", False
    excluded = _is_negative(observation)
    uncertain = not excluded and _is_uncertain(observation)
    code = observation.get("code") or {}
    hpo = _hpo_coding(code) or _hpo_coding(observation.get("valueCodeableConcept"))
    if hpo is not None:
        hpo_id, display = hpo
        # Free text beside a code may hold anything (a name): it labels the finding only if HPO's words are all it has.
        label = display or vocabulary.plain(code.get("text")) or hpo_id
        return Finding(label=str(label), hpo_id=hpo_id, excluded=excluded or _is_normal(observation)), "", uncertain
    name = _concept_label(code)
    if name is None:
        return None, "Observation with no code or text to read", False
    placed = _against_range(observation)
    if not excluded and placed is not None and placed[0] == "normal":
        return None, f"{name}: {placed[1]}, a normal result, no finding", False
    if not excluded and _is_normal(observation):
        return None, f"{name}: a normal result, no finding", False
    value = _value_text(observation)
    label = f"{name}: {value}" if value else name
    term = vocabulary.observed(observation, name, _direction(observation), valued=value is not None)
    return Finding(label=label, hpo_id=term, excluded=excluded), "", uncertain


def _parts(
    observation: dict[str, Any], entry_index: int, base: str, ignored: list[IgnoredItem]
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
            ignored.append(_aside(entry_index, f"a qualifier of the finding, not read ({suffix[1:]})", base + suffix))
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
    return said_normal and _interpreted(observation) is None


def _value_text(observation: dict[str, Any]) -> str | None:
    """A readable value; free text (valueString) and dates are left out on purpose (PHI).

    A direction read from the reference range, not from an interpretation, says so: "3.1 mg/dL (high: above
    the reference range, 0.6–1.0 mg/dL)".
    """
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
    placed = _against_range(observation)
    if placed is not None and text:
        text += f" ({placed[0]}: {placed[1]})"
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


def _status_codes(concept: dict[str, Any] | None) -> set[str]:
    """The codes (and text) of a Condition's clinicalStatus or verificationStatus, lower case."""
    concept = concept or {}
    said = {str(coding.get("code") or "").strip().lower() for coding in concept.get("coding") or []}
    said.add(str(concept.get("text") or "").strip().lower())
    return said - {""}


def _conditions(resource: dict[str, Any], vocabulary: _Vocabulary) -> tuple[list[ParsedCondition], str | None]:
    """What a Condition says of the patient, or why it is read into nothing.

    Coded in HPO, cross-referenced by ``hp.obo`` from a code, or named in words HPO uses ("Scoliosis"; "Dislocated
    lens in both eyes", one condition per term its words name): a phenotype. Coded in OMIM, Orphanet or Mondo, or
    named as a disease HPO annotates ("Marfan syndrome"): a diagnosis. Anything else was not understood, and the
    reason says what was tried. Refuted, unconfirmed (provisional, differential) and past (inactive, resolved,
    remission) are kept beside it; entered in error, it is not read. A Condition with an ``abatement[x]`` and no
    clinicalStatus is past: FHIR says an abated condition is resolved, inactive or in remission (invariant con-4),
    so a date, age, period or words of its abatement say the patient no longer has it. A clinicalStatus given wins.
    Words that speak of a relative ("Father has Marfan syndrome") make it no finding and no diagnosis of the
    patient, whatever its code: a Condition's subject is the patient, but its words say whose it is.
    """
    verification = _status_codes(resource.get("verificationStatus"))
    clinical = _status_codes(resource.get("clinicalStatus"))
    if "entered-in-error" in verification:
        return [], "Condition entered in error (verificationStatus): not read"
    abated = not clinical and any(key.startswith("abatement") for key in resource)
    refuted, unconfirmed = "refuted" in verification, bool(verification & _UNCONFIRMED)
    past = bool(clinical & _PAST) or abated
    concept = resource.get("code") or {}
    codes = _codes(concept)
    text = str(concept["text"]) if concept.get("text") else None
    display = next((str(c["display"]) for c in concept.get("coding") or [] if c.get("display")), None)

    def condition(label: str, hpo_id: str | None = None, said: str = "present") -> ParsedCondition:
        return ParsedCondition(
            label=label,
            codes=codes,
            hpo_id=hpo_id,
            refuted=refuted or said == "absent",
            unconfirmed=unconfirmed or said == "uncertain",
            past=past or said == "historical",
        )

    words = [w for w in (display, text) if w]
    if any(vocabulary.of_a_relative(w) for w in words):
        return [], CONDITION_OF_A_RELATIVE
    hpo = _hpo_coding(concept)
    if hpo is not None:
        # Coded in HPO without a display: the id, which the intake names by its term (not "hp.owl HP:0001250").
        return [condition(hpo[1] or vocabulary.plain(text) or hpo[0], hpo[0])], None
    label = _concept_label(concept)
    if label is None:
        return [], "Condition with no code or text: not read"
    if any(code.split(":", 1)[0] in _DISEASE_PREFIXES for code in codes):
        return [condition(label)], None  # a diagnosis
    term = vocabulary.by_codes(codes) or next(filter(None, (vocabulary.term(w) for w in words)), None)
    if term is not None:
        return [condition(display or vocabulary.plain(text) or term, term)], None
    # An ICD-10 code of one disease the Disease Ontology joins to OMIM or Orphanet (or of one its words name): a
    # diagnosis, linked to it. Before a disease named in words, so that "Marfan syndrome" on Q87.4 is linked too.
    diseases, shared = vocabulary.icd_diseases(codes, words)
    if diseases:
        codes = (*codes, *(code for code in diseases if code not in codes))
        return [condition(label)], None
    if any(vocabulary.names_disease(w) for w in words):
        return [condition(label)], None  # a diagnosis, named
    for said in words:
        named = vocabulary.mentions(said)
        own = [(label, term_id, assertion) for label, term_id, assertion in named if assertion != "family_history"]
        if own:
            return [condition(label, term_id, assertion) for label, term_id, assertion in own], None
        if named:
            return [], CONDITION_OF_A_RELATIVE
    return [], _not_understood(concept, codes, refuted=refuted, unconfirmed=unconfirmed, shared=shared)


def _not_understood(
    concept: dict[str, Any],
    codes: Sequence[str],
    *,
    refuted: bool,
    unconfirmed: bool,
    shared: tuple[str, int] = ("", 0),
) -> str:
    """Why a Condition was read into nothing: what its codes and its words were tried for (no value of them but the
    codes, which name no patient); ``shared`` (an ICD-10 code, n) when the code is listed for n diseases."""
    tried: list[str] = []
    if shared[1] > 1:
        tried.append(
            f"its code ICD-10 {shared[0]} is ambiguous: the Disease Ontology lists it for {shared[1]} diseases, so "
            "it names none of them alone and is linked to none (its words name none of them either)"
        )
    if codes:
        tried.append(
            f"hp.obo cross-references no HPO term from its code{'s' if len(codes) > 1 else ''} {', '.join(codes)}"
        )
    elif any(coding.get("code") for coding in concept.get("coding") or []):
        systems = sorted({str(c.get("system") or "no system") for c in concept.get("coding") or [] if c.get("code")})
        tried.append(f"its code is in a system this reader does not know ({', '.join(systems)})")
    tried.append(
        "its words name no HPO term nor a disease HPO annotates" if _display_or_text(concept) else "it has no words"
    )
    status = " (refuted)" if refuted else " (unconfirmed)" if unconfirmed else ""
    return f"a Condition not understood{status}: {', and '.join(tried)}; not read"


#: Why a Condition whose words speak of a relative ("Father has Marfan syndrome") is read into nothing.
CONDITION_OF_A_RELATIVE = (
    "a Condition said of a relative: not a finding nor a diagnosis of the patient (a relative's history belongs in "
    "FamilyMemberHistory), not read"
)


class _Vocabulary:
    """The HPO dictionary and the names of the diseases HPO annotates, read when a bundle first needs them.

    A bundle coded in HPO with displays and in OMIM or Orphanet (the shipped phenopackets) never needs them, so
    building the index from those loads nothing. Every reader of a bundle (a case, the index, ``validate
    --explain``) reads codes and words through this one vocabulary, so they read a bundle alike.
    """

    def __init__(self) -> None:
        self._lookup: TermLookup | None = None

    @property
    def lookup(self) -> TermLookup:
        if self._lookup is None:
            from dxsearch.knowledge.term_lookup import get_term_lookup

            self._lookup = get_term_lookup()
        return self._lookup

    def plain(self, text: str | None) -> str | None:
        """``text`` when every word of it is one HPO names use (a clinician's words for a finding), else None:
        free text beside a code may be anything typed into the wrong box ("Jane Doe's seizures")."""
        if not text or self.lookup.unknown_words(text):
            return None
        return text

    def by_codes(self, codes: Iterable[str]) -> str | None:
        """The first phenotype term ``hp.obo`` cross-references from one of ``codes`` (ICD-10-CM read as ICD-10)."""
        crossed = [code.replace("ICD10CM:", "ICD10:", 1) for code in codes if code.split(":", 1)[0] in _XREF_PREFIXES]
        return next(filter(None, (self.lookup.by_code(code) for code in crossed)), None)

    def term(self, words: str) -> str | None:
        """The term whose name or synonym ``words`` are, whole."""
        return self.lookup.lookup(words)

    def observed(self, observation: dict[str, Any], name: str, direction: str | None, *, valued: bool) -> str | None:
        """The term an Observation that is not coded in HPO names: by a code ``hp.obo`` cross-references; a value off
        one way by :data:`LOINC_TERMS`, by the laboratory's words (:data:`dxsearch.intake.labs.LAB_TERMS`,
        "Hypoglycemia"), else by HPO's phrasing ("elevated circulating creatinine concentration"); one without a
        value by its words, when they are a term's name ("Scoliosis")."""
        term = self.by_codes(_codes(observation.get("code"), observation.get("valueCodeableConcept")))
        if term is None and direction in ("high", "low"):
            loinc = [
                str(coding.get("code"))
                for coding in (observation.get("code") or {}).get("coding") or []
                if _system_key(coding.get("system")) == _LOINC_SYSTEM
            ]
            named = next(
                (LOINC_TERMS[(code, direction)][0] for code in loinc if (code, direction) in LOINC_TERMS), None
            )
            term = named or _lab_term(name, direction)
        if term is None and direction is not None:
            from dxsearch.intake.directions import by_direction

            term = by_direction(self.lookup, name, direction)
        if term is None and not valued:
            term = self.term(name)
        return term

    def names_disease(self, words: str) -> bool:
        """Whether ``words`` name a disease: one HPO annotates (its name, or the name before its subtype: "Ehlers-Danlos
        syndrome" for "Ehlers-Danlos syndrome, classic type"), or a name ending "syndrome", "disease", "disorder"."""
        from dxsearch.knowledge.term_lookup import normalise

        said = normalise(words)
        return bool(said) and (said in _disease_names() or said.split()[-1] in _DIAGNOSIS_WORDS)

    def of_a_relative(self, words: str) -> bool:
        """Whether ``words`` speak of a relative ("Father has Marfan syndrome", "FHx: deafness"), by the note
        reader's family cues (:func:`dxsearch.knowledge.term_lookup.speaks_of_a_relative`); not when they are,
        whole, the name of a term or of a disease HPO annotates ("Twin pregnancy", "Cousin syndrome")."""
        from dxsearch.knowledge.term_lookup import normalise, speaks_of_a_relative

        if not speaks_of_a_relative(words):
            return False
        return self.term(words) is None and normalise(words) not in _disease_names()

    def icd_diseases(self, codes: Sequence[str], words: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, int]]:
        """(the OMIM and Orphanet ids of the disease an ICD-10(-CM) code names, ("", 0)), by the Disease Ontology's
        cross-references (offline, shipped with the knowledge), or ((), (code, n)) when the code is listed for
        ``n`` > 1 diseases and the words name none of them.

        A code names a disease when every Disease Ontology term listing it has the same OMIM / Orphanet ids ("Q87.4",
        Marfan syndrome), or when the words name one of them. A code the ontology lists for several diseases
        ("E75.2", Other sphingolipidosis: 16 of them, Gaucher's, Niemann-Pick, hypomyelinating leukodystrophies) is
        linked to none: a user test found E75.2 given for Fabry disease read as the first of them. Its category
        ("E84" for "E84.9") counts only when the words name that disease ("Cystic fibrosis, unspecified"): a
        category may group several. Words naming another disease link none: a code review found Q87.4 with
        "Ehlers-Danlos syndrome" linked to Marfan syndrome.
        """
        icd = [code.split(":", 1)[1] for code in codes if code.split(":", 1)[0] in ("ICD10", "ICD10CM")]
        if not icd:
            return (), ("", 0)
        from dxsearch.knowledge.disease_ontology import get_disease_ontology
        from dxsearch.knowledge.term_lookup import normalise

        said = {normalise(w.split(",")[0]) for w in words}
        shared = ("", 0)
        for code in icd:
            category = code.split(".")[0]
            listed: set[tuple[str, ...]] = set()  # the distinct id sets of the terms listing the code
            listed_names: set[str] = set()  # their names and exact synonyms, normalised
            named: list[tuple[str, ...]] = []
            for term in get_disease_ontology().terms():
                if not (term.omim or term.orpha):
                    continue
                ids = (*term.omim, *term.orpha)
                by_words = normalise(term.name) in said
                if f"ICD10CM:{code}" in term.icd10cm:
                    listed.add(ids)
                    listed_names.update(normalise(name) for name in (term.name, *term.exact_synonyms))
                if by_words and (f"ICD10CM:{code}" in term.icd10cm or f"ICD10CM:{category}" in term.icd10cm):
                    named.append(ids)
            if len(set(named)) == 1:
                return named[0], ("", 0)
            diseases_said = {w for w in said if w and (w in _disease_names() or w.split()[-1] in _DIAGNOSIS_WORDS)}
            if len(listed) == 1 and not (diseases_said - listed_names):
                return next(iter(listed)), ("", 0)
            if len(listed) > 1 and not shared[1]:
                shared = (code, len(listed))
        return (), shared

    def mentions(self, words: str) -> list[tuple[str, str, str]]:
        """(words, term, assertion) of each term ``words`` mention, once per term (the mention saying most of the
        patient). The words are all of ``words`` when they name one term and hold no word HPO names do not use;
        else the mention's own ("Jane Doe's tall stature" is "tall stature"), as a findings-list item is read."""
        from dxsearch.knowledge.term_lookup import ASSERTION_ORDER

        best: dict[str, ExtractedTerm] = {}
        for mention in self.lookup.mentions(words):
            kept = best.get(mention.term_id)
            if kept is None or ASSERTION_ORDER[mention.assertion] < ASSERTION_ORDER[kept.assertion]:
                best[mention.term_id] = mention
        covered = [(m.start, m.end) for m in best.values()]
        leftover = any(not any(a <= start < b for a, b in covered) for start, _ in self.lookup.unknown_words(words))
        whole = len(best) == 1 and not leftover
        return [(words if whole else m.label, m.term_id, m.assertion) for m in best.values()]


#: Code prefixes ``hp.obo`` cross-references (``TermLookup.by_code``).
_XREF_PREFIXES = frozenset({"SNOMED", "UMLS", "ICD10", "ICD10CM"})


def _lab_term(name: str, direction: str) -> str | None:
    """The term a laboratory result off one way names where HPO has a word of its own (Hypoglycemia)."""
    from dxsearch.intake.directions import measured
    from dxsearch.intake.labs import LAB_TERMS

    analyte = measured(name)
    return next((term for (said, way), term in LAB_TERMS.items() if said == analyte and way == direction), None)


@lru_cache(maxsize=1)
def _disease_names() -> frozenset[str]:
    """The names of the diseases HPO annotates, normalised; with the name before a subtype ("Ehlers-Danlos
    syndrome, classic type", "Short QT syndrome 2")."""
    from dxsearch.knowledge.hpo import get_hpo_knowledge
    from dxsearch.knowledge.term_lookup import normalise

    names: set[str] = set()
    for rows in get_hpo_knowledge().tables.annotations.values():
        if not rows:
            continue
        name = rows[0].disease_name
        head = name.split(",")[0]
        for form in (name, head, re.sub(r"\s+(?:type\s+)?[0-9]+[A-Za-z]?$", "", head)):
            key = normalise(form)
            if len(key) >= 4 and any(c.isalpha() for c in key):
                names.add(key)
    return frozenset(names)


def _coding_curie(coding: dict[str, Any]) -> str | None:
    code = str(coding.get("code") or "").strip()
    if not code:
        return None
    prefix = _SYSTEM_TO_PREFIX.get(_system_key(coding.get("system")))
    if prefix is None:
        return None
    local = re.sub(rf"^(?:{prefix}[:_]|Orphanet_)", "", code, flags=re.IGNORECASE)
    return f"{prefix}:{local}"
