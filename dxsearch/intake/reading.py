"""From what a caller sends (a note, findings, a FHIR Bundle) to one ``Case``: the one reading of every input.

Why one place: every entry point (``POST /v1/diagnose``, the CDS Hooks service, ``dxsearch diagnose``)
must make the same decisions. Identifiers become keyed pseudonyms before anything else sees them,
findings get HPO ids where their words say which term they mean, markup in labels is refused, and a case
with no observed finding is refused rather than diagnosed as nothing. Policies receive the case as read
here and do not resolve terms again. Everything here is synchronous and CPU-bound (FHIR validation, term
extraction), so the API runs it in a worker thread.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.cases import YEARS_PER_UNIT, Case, Finding, Sex, duration_years
from dxsearch.intake.account import (
    NO_LOINC_DIRECTION_TERM,
    NO_LOINC_MAPPING,
    NOT_A_FINDING,
    NOT_A_FINDING_POSSIBLE,
    NOT_A_FINDING_RULED_OUT,
    EntryCategory,
    InputAccount,
    ItemIn,
    MappedItem,
    NotUnderstood,
    Reading,
    given_term_id,
    label_conflict,
    label_says,
    read_by_words,
    read_items,
    read_text,
)
from dxsearch.intake.demographics import check_age, read_demographics
from dxsearch.intake.directions import measured
from dxsearch.intake.fhir import (
    BundleError,
    BundleTooLargeError,
    ParsedPatient,
    entry_cap_error,
    parse_bundle,
)
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.context_lookup import case_onset
from dxsearch.knowledge.hpo import HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.term_lookup import Assertion, TermLookup, get_term_lookup
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.settings import Settings

#: Pseudonym namespace of patient identifiers given to intake (the trace pseudonymises the result again).
PATIENT_NAMESPACE = "api|patient"
MARKUP_MESSAGE = "finding labels may not contain '<' or '>': findings are data, and markup in them is refused"
CONTROL_MESSAGE = (
    "finding labels may not contain control characters (such as NUL) or bidirectional overrides "
    "(U+202A-U+202E, U+2066-U+2069): they hide or reorder what a reader of the label sees"
)
#: Control characters (whitespace aside: it is collapsed) and the bidi embedding, override and isolate marks.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_HPO_ID = re.compile(r"^HP:\d{7}$")

CaseSource = Literal["text", "findings", "bundle"]


def check_label(label: str) -> str:
    """A finding label with whitespace collapsed; empty, markup-bearing or hiding labels are refused.

    Labels are spliced verbatim into the agent's tagged action grammar (``<match>…</match>``), so a
    label holding ``<`` or ``>`` is refused rather than escaped. Control characters (NUL among them)
    and bidirectional overrides are refused too: they make a label read differently on screen, in an
    audit record and to the policy (a "Trojan Source" label).
    """
    collapsed = " ".join(label.split())
    if not collapsed:
        raise ValueError("finding label is empty")
    if "<" in collapsed or ">" in collapsed:
        raise ValueError(MARKUP_MESSAGE)
    if _HIDDEN.search(collapsed):
        raise ValueError(CONTROL_MESSAGE)
    return collapsed


class IntakeError(ValueError):
    """The input cannot become a case; ``status`` is the HTTP status, ``path`` points into a bundle."""

    def __init__(self, message: str, *, status: int = 422, path: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path
        self.reason = reason


class NoFindingsError(IntakeError):
    """The case has no observed finding: a 422 for ``/v1/diagnose``, no card for CDS Hooks, exit 2 on the CLI."""


class FindingInput(BaseModel):
    """One finding as given: words, optionally its HPO id, possibly excluded (looked for and absent)."""

    model_config = ConfigDict(frozen=True)

    label: str = ""
    hpo_id: str | None = None
    excluded: bool = False


class CaseInput(BaseModel):
    """A case as exactly one of a free note, a list of findings, or a FHIR Bundle, with optional demographics.

    ``patient_id`` is the patient's identifier (PHI): only its keyed pseudonym is kept.
    """

    model_config = ConfigDict(frozen=True)

    text: str | None = None
    findings: tuple[FindingInput, ...] | None = None
    bundle: Mapping[str, Any] | bytes | None = None
    sex: Sex | None = None
    age: str | None = Field(default=None, description="ISO 8601 duration, e.g. P14Y.")
    patient_id: str | None = None


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """How much one input may ask of the reader: bundle entries, and findings in the case.

    Why: reading costs per entry (FHIR validation) and per finding (term lookup, then every policy
    turn), so an unbounded input is unbounded work. The ``*_setting`` fields name what raises a cap.
    """

    max_bundle_entries: int | None = None
    max_findings: int | None = None
    entries_setting: str = "DXSEARCH_MAX_BUNDLE_ENTRIES"
    findings_setting: str = "DXSEARCH_MAX_CASE_FINDINGS"

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeLimits:
        """The caps the settings give (``DXSEARCH_MAX_BUNDLE_ENTRIES``, ``DXSEARCH_MAX_CASE_FINDINGS``): the API's,
        and the command lines' too, so that a case the API refuses is refused on the command line."""
        return cls(max_bundle_entries=settings.max_bundle_entries, max_findings=settings.max_case_findings)

    def check_findings(self, count: int, *, path: str | None = None) -> None:
        """A 422 naming the cap when a case would hold more than ``max_findings`` findings."""
        if self.max_findings is not None and count > self.max_findings:
            raise IntakeError(
                f"the case has {count} findings; this server reads at most {self.max_findings} "
                f"({self.findings_setting})",
                path=path,
                reason=f"more than {self.max_findings} findings",
            )


NO_LIMITS = IntakeLimits()


@dataclass(frozen=True, slots=True)
class PreparedCase:
    """A case ready for a policy, and the account of the input it was read from.

    ``identified`` says whether the case id stands for a real patient. ``account`` lists every input item
    as mapped or not understood (:mod:`dxsearch.intake.account`); it is PHI-free and goes into the trace.
    """

    case: Case
    source: CaseSource
    identified: bool
    account: InputAccount


def intake(
    payload: CaseInput, *, pseudonymiser: Pseudonymiser, fallback_id: str, limits: IntakeLimits = NO_LIMITS
) -> PreparedCase:
    """The case ``payload`` describes, with findings resolved to HPO terms and its account; raises :class:`IntakeError`.

    ``fallback_id`` names the case when the input identifies no patient (the API passes its request id).
    ``limits`` bounds the work (bundle entries, findings); an input over a cap is refused, the cap named.
    """
    if payload.bundle is not None:
        return case_from_bundle(payload.bundle, pseudonymiser=pseudonymiser, limits=limits)
    limits.check_findings(len(payload.findings or ()), path="findings")
    if payload.age is not None:
        try:
            check_age(payload.age)
        except ValueError as exc:
            raise IntakeError(str(exc), path="age") from None
    if payload.patient_id is not None:
        case_id = pseudonymiser.pseudonym(payload.patient_id, PATIENT_NAMESPACE)
    else:
        case_id = fallback_id
    lookup, knowledge = get_term_lookup(), get_hpo_knowledge()
    items = [_item(item, f"findings[{index}]") for index, item in enumerate(payload.findings or ())]
    # The age items and the note state milestones against: the caller's, else the note's ("2-year-old").
    age = payload.age or (read_demographics(payload.text).age if payload.text is not None else None)
    readings = [read_items(items, lookup, knowledge, age=age)]
    _refuse_contradictions(readings[0], payload.findings or ())
    if payload.text is not None:
        readings.append(read_text(payload.text, lookup, knowledge, get_second_reader(), age=payload.age))
    limits.check_findings(sum(len(reading.findings) for reading in readings))
    source: CaseSource = "text" if payload.text is not None else "findings"
    # Age and sex the caller gave win; else the first reading that found them in words ("14-year-old boy").
    age, age_from, age_span = payload.age, "given" if payload.age is not None else None, None
    sex, sex_from, sex_span = payload.sex, "given" if payload.sex is not None else None, None
    for reading in readings:
        read = reading.demographics
        if age is None and read.age is not None:
            age, age_from, age_span = read.age, reading.demographics_path, read.age_span
        if sex is None and read.sex is not None:
            sex, sex_from, sex_span = read.sex, reading.demographics_path, read.sex_span
    # What the words say and is not used (another age or sex was given, or read first) is said in the account: the
    # field wins, being the structured value, but "Newborn girl" sent with sex male was taken in silence (a user test).
    overruled = _overruled(readings, age=(age, age_from), sex=(sex, sex_from))
    case = Case(
        case_id=case_id,
        sex=sex or "unknown",
        age=age,
        findings=tuple(_unique(f for reading in readings for f in reading.findings)),
        text=payload.text,
        inheritance=tuple(dict.fromkeys(mode for reading in readings for mode in reading.inheritance)),
        onset=case_onset(reading.onset for reading in readings if reading.onset is not None),
    )
    account = InputAccount(
        source=source,
        mapped=tuple(m for reading in readings for m in reading.mapped),
        not_understood=(*(n for reading in readings for n in reading.not_understood), *overruled),
        age=case.age,
        age_from=age_from,
        age_span=age_span,
        sex=case.sex,
        sex_from=sex_from,
        sex_span=sex_span,
    )
    _require_observed(case, source, account.mapped, account.not_understood)
    return PreparedCase(case, source, identified=payload.patient_id is not None, account=account)


def _overruled(
    readings: Sequence[Reading],
    *,
    age: tuple[str | None, str | None],
    sex: tuple[Sex | None, str | None],
) -> list[NotUnderstood]:
    """Account entries for an age or sex the words state that disagrees with the one the case takes (``age`` and
    ``sex``: the value used and where it came from, ``given`` for a field of the input), at the words' span."""
    entries: list[NotUnderstood] = []
    for reading in readings:
        read, path = reading.demographics, reading.demographics_path
        if path is None:
            continue
        given = reading.demographics_given
        said = "the note says" if path == "text" else f"{path} says"
        (age_used, age_from), (sex_used, sex_from) = age, sex
        if read.age is not None and age_used is not None and path != age_from and not _ages_agree(read.age, age_used):
            what = f"the age given ({age_used})" if age_from == "given" else f"the age of {age_from} ({age_used})"
            reason = f"{said} age {read.age}; {what} is used"
            entries.append(NotUnderstood(path=path, span=read.age_span, given=given, reason=reason))
        if read.sex is not None and sex_used is not None and path != sex_from and read.sex != sex_used:
            what = f"the sex given ({sex_used})" if sex_from == "given" else f"the sex of {sex_from} ({sex_used})"
            reason = f"{said} {read.sex}; {what} is used"
            entries.append(NotUnderstood(path=path, span=read.sex_span, given=given, reason=reason))
    return entries


def _ages_agree(said: str, used: str) -> bool:
    """Whether an age the words state and the age used may be one age, each read at its precision: "14-year-old"
    (P14Y) is anything from 14 to 15 years, so P14Y6M agrees with it; a newborn (P0D) is up to 28 days old."""
    said_years, used_years = duration_years(said), duration_years(used)
    if said_years is None or used_years is None:
        return said == used

    def within(age: str, years: float, other: float) -> bool:
        step = 28 / 365.25 if age == "P0D" else _PRECISION_YEARS.get(age.rstrip("0123456789.")[-1:], 0.0)
        return years - 1e-9 <= other < years + step - 1e-9

    return within(said, said_years, used_years) or within(used, used_years, said_years)


#: How much an ISO 8601 age written to its last unit leaves open ("P14Y": a year; "P3M": a month), in years.
_PRECISION_YEARS = {unit: YEARS_PER_UNIT[unit] for unit in "YMWD"} | {"H": YEARS_PER_UNIT["h"], "S": 0.0}


def _refuse_contradictions(reading: Reading, entered: Sequence[FindingInput]) -> None:
    """Refuse a findings list that enters one term both present and excluded (perhaps by two of its ids, an
    alternative id and its term, or two synonyms): the case would otherwise keep one of them in silence."""
    said: dict[str, tuple[str, Assertion]] = {}
    for item in reading.mapped:
        if item.kind != "finding" or item.assertion not in ("present", "absent"):
            continue
        earlier = said.setdefault(item.hpo_id, (item.path, item.assertion))
        if earlier[1] != item.assertion and earlier[0] != item.path:
            present, absent = (earlier[0], item.path) if earlier[1] == "present" else (item.path, earlier[0])
            raise IntakeError(
                f"{_entered(present, entered)} (present) and {_entered(absent, entered)} (excluded) are the same "
                f"finding, {item.label} ({item.hpo_id}): enter it once, present or excluded",
                path=absent,
            )


def _entered(path: str, entered: Sequence[FindingInput]) -> str:
    """``findings[2] 'HP:0000404'``: a findings-list path with what the caller entered there."""
    index = int(path[len("findings[") : -1]) if path.startswith("findings[") and path.endswith("]") else None
    if index is None or index >= len(entered):
        return path
    given = entered[index].hpo_id or entered[index].label
    return f"{path} {given!r}"


def _item(item: FindingInput, path: str) -> ItemIn:
    """A finding as entered, checked: a known HPO id, a label without markup and naming no other term than the
    id's; a bare HPO id as label is an id."""
    label, hpo_id = item.label, item.hpo_id
    said: Assertion | None = None
    if hpo_id is None and _HPO_ID.match(label):
        hpo_id, label = label, ""
    if label:
        try:
            label = check_label(label)
        except ValueError as exc:
            raise IntakeError(str(exc)) from None
    if hpo_id is not None:
        knowledge = get_hpo_knowledge()
        # An alternative id HPO merged into another term reads as that term; an id it does not know is refused.
        known, unknown = given_term_id(hpo_id, knowledge)
        if known is None:
            raise IntakeError(f"unknown HPO term {unknown} (not in the HPO release DxSearch uses)")
        if not label:
            label = knowledge.term_name(known)
        conflict = label_conflict(label, known, get_term_lookup(), knowledge)
        if conflict is not None and read_by_words(label, hpo_id, get_term_lookup(), knowledge):
            conflict = None  # "Low-set ears" with HP:0000368, retired "Low-set, posteriorly rotated ears": a part of it
        if conflict is not None:
            raise IntakeError(f"{path}: {conflict}", path=path, reason=conflict)
        if _typed_beside(label, get_term_lookup()):
            # What the words said of it is kept before they are ("Priscilla has no seizures": absent; code review).
            said = label_says(label, known, get_term_lookup(), knowledge)
            label = knowledge.term_name(known)
    if not label:
        raise IntakeError("finding label is empty")
    # The id as given: an obsolete one is read as its replacement by ``read_items``, which says so in the account.
    return ItemIn(label=label, hpo_id=hpo_id, excluded=item.excluded, assertion=said)


def _typed_beside(label: str, lookup: TermLookup) -> bool:
    """Whether a label given with an HPO id holds, beside the terms it names, words no HPO name uses or a number
    of 3+ digits ("Priscilla Vandermeer's tall stature" with HP:0000098, "Arachnodactyly (MRN 3141592)").

    The id says what the finding is; such words may be anything typed into the wrong box (a name, a record
    number), so the item is named by its term instead, and its words are kept nowhere, as a label without an
    id is read (:func:`dxsearch.intake.account.read_items`). A user test found these labels stored word for
    word in the append-only audit log while the same words without an id were screened out.
    """
    if lookup.lookup(label) is not None:
        return False  # the whole label is a name of a term
    covered = [(m.start, m.end) for m in lookup.mentions(label)]
    return any(not any(a <= start < b for a, b in covered) for start, _ in lookup.unknown_words(label))


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in order, one per term: a later finding of a term already kept is dropped, unless the kept
    one is excluded and the later one observed, which then takes its place.

    Why: a record may say a finding both ways (an EHR bundle's Observation "absent" at one visit and
    "present" at another; a note's "no seizures at first; seizures from age 3"): present wins, as the
    reading of a note decides, and the account keeps both. A findings list that does so is refused before.
    """
    kept: list[Finding] = []
    where: dict[str, int] = {}
    for finding in findings:
        if finding.hpo_id is None:
            kept.append(finding)
            continue
        at = where.get(finding.hpo_id)
        if at is None:
            where[finding.hpo_id] = len(kept)
            kept.append(finding)
        elif kept[at].excluded and not finding.excluded:
            kept[at] = finding
    return kept


def _require_observed(
    case: Case, source: CaseSource, mapped: Sequence[MappedItem] = (), not_understood: Sequence[NotUnderstood] = ()
) -> None:
    """Refuses a case without an observed finding, in words that say what was read.

    Why: a note of negations ("No seizures. No microcephaly."), of possibilities or of relatives' findings was
    read, as such; telling the clinician nothing was recognised would send them looking for a spelling fault
    that is not there. A relative's diagnosis no term names ("Father has NF1") counts as a relative's.

    A note in which nothing was understood at all ("Doing well.", "xyzzy plugh") is not refused: it is a case
    without findings, its words listed as not understood, which the policies answer with "insufficient evidence"
    and a reason, audited like any answer, as a findings list of words nobody can read is.
    """
    if case.observed:
        return
    if source != "text":
        raise NoFindingsError("the case has no observed finding: give at least one finding that is present")
    said = Counter(m.assertion for m in mapped if m.kind == "finding" and m.assertion not in ("present", "historical"))
    said["absent"] = len(case.excluded)
    said["family_history"] += sum(1 for n in not_understood if n.category == "of_a_relative")
    ways = [f"{_ASSERTION_WORDS[a]} ({n})" for a, n in sorted(said.items(), key=lambda an: -an[1]) if n]
    if ways:
        raise NoFindingsError(
            f"the text names findings only as {' or '.join(ways)}: name at least one observed finding"
        )


#: How a refusal says what a note's findings were, when none was observed.
_ASSERTION_WORDS = {"absent": "absent", "uncertain": "uncertain", "family_history": "a relative's"}


def bundle_refusal(payload: Mapping[str, Any], limits: IntakeLimits) -> IntakeError | None:
    """The 413 :func:`case_from_bundle` raises for ``payload``'s entry count, or None; counts, validates nothing.

    Why: a bundle over the entry cap can be refused as soon as it is parsed, in the process that parsed it
    (:mod:`api.body_process`), with the very error the intake would raise, instead of its objects being
    handed on to be refused later.
    """
    too_large = entry_cap_error(payload, limits.max_bundle_entries)
    return None if too_large is None else _too_many_entries(too_large, limits)


def _too_many_entries(exc: BundleTooLargeError, limits: IntakeLimits) -> IntakeError:
    return IntakeError(
        f"the bundle has {exc.entries} entries; this server reads at most {exc.limit} ({limits.entries_setting})",
        status=413,
        path="entry",
        reason=f"more than {exc.limit} entries",
    )


def case_from_bundle(
    payload: Mapping[str, Any] | bytes, *, pseudonymiser: Pseudonymiser, limits: IntakeLimits = NO_LIMITS
) -> PreparedCase:
    """The case of a Bundle holding exactly one Patient; its id is a pseudonym of the patient's identifiers.

    A bundle of more than ``limits.max_bundle_entries`` entries is a 413 (refused before validation), one
    whose patient has more than ``limits.max_findings`` distinct findings a 422; each message names the cap.
    """
    try:
        # A bundle that dates nothing counts the patient's age from today: the patient is being seen now.
        parsed = parse_bundle(payload, max_entries=limits.max_bundle_entries, today=date.today())
    except BundleTooLargeError as exc:
        raise _too_many_entries(exc, limits) from None
    except BundleError as exc:
        raise IntakeError(
            f"malformed FHIR bundle at {exc.path}: {exc.reason}", path=exc.path, reason=exc.reason
        ) from None
    if len(parsed.patients) != 1:
        raise IntakeError(
            f"the bundle must describe exactly one Patient, it has {len(parsed.patients)}",
            path="entry",
            reason="expected exactly one Patient resource",
        )
    patient = parsed.patients[0]
    limits.check_findings(len(patient.findings), path="entry")
    for index, finding in enumerate(patient.findings):
        try:
            check_label(finding.label)
        except ValueError as exc:
            entry = patient.finding_entries[index] if index < len(patient.finding_entries) else patient.entry_index
            path = patient.finding_paths[index] if index < len(patient.finding_paths) else f"entry[{entry}].resource"
            raise IntakeError(f"{exc} (at {path})", path=path, reason=str(exc)) from None
    reading, history = _read_patient(patient)
    ignored = tuple(
        NotUnderstood(path=item.path, reason=item.reason, category=item.category)
        for item in sorted([*parsed.ignored_items, *patient.ignored_items], key=lambda i: (i.entry_index, i.reason))
    )
    case = patient.to_case(patient.pseudonym(pseudonymiser, PATIENT_NAMESPACE)).model_copy(
        update={
            "findings": tuple(_unique(reading.findings)),
            "inheritance": reading.inheritance,
            "onset": reading.onset,
        }
    )
    account = InputAccount(
        source="bundle",
        mapped=reading.mapped,
        not_understood=reading.not_understood + history + ignored,
        age=case.age,
        # counted to today (nothing in the bundle dated it): said so, not "bundle" (a user test's Fabry bundle)
        age_from=None if case.age is None else "today" if patient.age_counted_to == "today" else "bundle",
        sex=case.sex,
        sex_from="bundle" if case.sex != "unknown" else None,
    )
    _require_observed(case, "bundle", account.mapped)
    return PreparedCase(case, "bundle", identified=True, account=account)


def _read_patient(patient: ParsedPatient) -> tuple[Reading, tuple[NotUnderstood, ...]]:
    """A bundle patient's Observations and Conditions read into findings, and the Conditions that are history.

    An Observation without an HPO coding is mapped through the cross-references ``hp.obo`` carries from
    its SNOMED CT / UMLS / ICD-10 codes, else by its words; a LOINC-coded measurement that maps to nothing
    is reported as such. A Condition coded (or named) as an HPO phenotype is a finding (absent if refuted);
    one naming a diagnosis is history, listed as not a finding.
    """
    lookup, knowledge = get_term_lookup(), get_hpo_knowledge()
    items: list[ItemIn] = []
    paths: list[str] = []
    loinc_only: dict[str, str] = {}  # path -> why its LOINC measurement maps to no term
    for index, finding in enumerate(patient.findings):
        path = patient.finding_paths[index] if index < len(patient.finding_paths) else f"bundle.findings[{index}]"
        codes = patient.finding_codes[index] if index < len(patient.finding_codes) else ()
        directed = patient.finding_directions[index] if index < len(patient.finding_directions) else None
        # The bundle's reader has tried the codes' cross-references and the direction of a value (fhir.py).
        items.append(ItemIn(label=finding.label, hpo_id=finding.hpo_id, excluded=finding.excluded))
        paths.append(path)
        if codes and all(code.startswith("LOINC:") for code in codes):
            loinc_only[path] = (
                NO_LOINC_MAPPING
                if directed is None
                else NO_LOINC_DIRECTION_TERM.format(measurement=measured(directed[0]), direction=directed[1])
            )
    history: list[NotUnderstood] = []
    for index, condition in enumerate(patient.conditions):
        entry = condition.entry_index
        path = condition.path or (f"entry[{entry}].resource" if entry is not None else f"bundle.conditions[{index}]")
        # The bundle's reader decided what the Condition names (fhir.py); reading its words again here made an
        # OMIM-coded "Hypertrophic cardiomyopathy" a finding for the API and a diagnosis for the index.
        term_id = given_term_id(condition.hpo_id, knowledge)[0] if condition.hpo_id else None
        if term_id is None:
            diagnosis: tuple[str, EntryCategory] = (
                (NOT_A_FINDING_RULED_OUT, "ruled_out_diagnosis")
                if condition.refuted
                else (NOT_A_FINDING_POSSIBLE, "possible_diagnosis")
                if condition.unconfirmed
                else (NOT_A_FINDING, "diagnosis")
            )
            reason, category = diagnosis
            history.append(NotUnderstood(path=path, given=condition.label, reason=reason, category=category))
            continue
        # Refuted: absent. Unconfirmed (provisional, a differential): a possibility, kept in the account only.
        # Resolved or inactive: the patient's history, a finding all the same.
        said: Assertion | None = "uncertain" if condition.unconfirmed else "historical" if condition.past else None
        # The id as given: ``read_items`` reads an obsolete one as its replacement and says so.
        given = condition.hpo_id
        items.append(ItemIn(condition.label, given, excluded=condition.refuted, assertion=said))
        paths.append(path)
    reading = read_items(items, lookup, knowledge, paths=paths, split_lists=False, age=patient.age)
    missed = tuple(
        entry.model_copy(update={"reason": loinc_only[entry.path]}) if entry.path in loinc_only else entry
        for entry in reading.not_understood
    )
    labelled = tuple(
        f.model_copy(update={"label": _coded_label(f, knowledge, lookup)}) if f.hpo_id else f for f in reading.findings
    )
    return replace(reading, findings=labelled, not_understood=missed), tuple(history)


def _coded_label(finding: Finding, knowledge: HpoKnowledge, lookup: TermLookup) -> str:
    """The label of a bundle finding: its display or text, or its HPO term's name when the words are only the id
    or name another term ("Seizure" on a coding of HP:0001166): in FHIR the code is what counts, and the case
    must not search one finding's words while scoring another's. The account keeps the words as given
    (``given``), beside the term's name, so the disagreement stays visible."""
    hpo_id = finding.hpo_id
    if hpo_id is None or not knowledge.has_term(hpo_id):
        return finding.label
    if finding.label == hpo_id or label_conflict(finding.label, hpo_id, lookup, knowledge) is not None:
        return knowledge.term_name(hpo_id)
    return finding.label
