"""Access events: every read of an audit record (and every pseudonym lookup) is itself a record of the log.

Why in the same log rather than a side table: a read that leaves no trace in the tamper-evident log can
be denied later, and a side table could be edited without breaking anything. An access event is an
ordinary :class:`~audit.models.AuditEntry`, chained, hashed and checkpointed like a decision, told apart
by its reserved ``outcome`` (:data:`ACCESS_OUTCOME`); its opaque ``trace`` holds what was accessed, how
and why (:class:`AccessEvent`). The record layout (and so every hash) is unchanged, so old logs, both
stores and the verifier need nothing new.

Who read is the event's ``actor_role`` and ``actor_id`` (the keyed pseudonym of the API key, never the
key); whose records were read is ``patient_pseudonym`` when one patient's were, and the record ids in the
event. Exports render an access event as a FHIR ``AuditEvent`` with action ``R`` (:mod:`audit.export`).

The filters of a search (what an access event records of it) are checked here too, once for the API and
the ``audit`` command line (:func:`search_filter`): the same values are refused with the same words, and a
patient identifier given where a pseudonym belongs never reaches the log.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from audit.canonical import JsonObject, JsonValue
from audit.errors import AuditError, InvalidEntryError
from audit.models import ACCESS_OUTCOME as ACCESS_OUTCOME
from audit.models import (
    MAX_DIAGNOSIS_EQUIVALENTS,
    AuditEntry,
    AuditQuery,
    AuditRecord,
    Diagnosis,
    RecordKind,
    SortOrder,
    considered_diagnoses,
    fold,
)
from audit.times import TimeFormatError, parse_instant

#: ``trace.event`` of an access event.
ACCESS_EVENT = "access"
#: ``model_version`` and ``index_version`` of access events: no model or index made them.
NOT_A_DECISION = "none"

#: What was accessed: one record (``read``), a page of a search (``search``), an export, the lookup of a
#: patient's pseudonym (``pseudonym-lookup``), a verification of the log (``verify``: its chain, checkpoints
#: or proofs, of which no record's content goes out), or a route that reads no record (``operation``: a
#: diagnosis, a CDS Hooks call; recorded only when the caller's role is refused it).
AccessAction = Literal["read", "search", "export", "pseudonym-lookup", "verify", "operation"]
#: Why: a clinician's own decision (``treatment``), an auditor's review (``audit``), or break-glass.
AccessPurpose = Literal["treatment", "audit", "break-glass"]
ACCESS_ACTIONS: tuple[str, ...] = ("read", "search", "export", "pseudonym-lookup", "verify", "operation")
ACCESS_PURPOSES: tuple[str, ...] = ("treatment", "audit", "break-glass")

#: Shortest break-glass reason: a reason has to say something ("emergency" alone is not a reason).
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One access, as stored in the event's ``trace``.

    ``records`` are the record ids read, in the order returned; ``filters`` the query that selected them
    (search and export), so an auditor can see what was asked, not only what came back. ``denied`` marks an
    attempt that was refused (a clinician asking for another's decision without break-glass, or a key whose
    role may not use the route at all): nothing was returned, and ``records`` names what was asked for when
    it is known; an auditor asks about exactly these.
    """

    action: AccessAction
    purpose: AccessPurpose
    records: Sequence[str] = ()
    route: str | None = None
    reason: str | None = None
    filters: JsonObject = field(default_factory=dict)
    denied: bool = False

    def __post_init__(self) -> None:
        if self.action not in ACCESS_ACTIONS:
            raise InvalidEntryError(f"access action must be one of {', '.join(ACCESS_ACTIONS)}, got {self.action!r}")
        if self.purpose not in ACCESS_PURPOSES:
            raise InvalidEntryError(f"access purpose must be one of {', '.join(ACCESS_PURPOSES)}, got {self.purpose!r}")
        if self.purpose == "break-glass":
            _recordable_reason(self.reason)
        object.__setattr__(self, "records", tuple(self.records))

    def to_json(self) -> JsonObject:
        body: dict[str, JsonValue] = {
            "event": ACCESS_EVENT,
            "action": self.action,
            "purpose": self.purpose,
            "records": list(self.records),
            "filters": dict(self.filters),
        }
        if self.route is not None:
            body["route"] = self.route
        if self.reason is not None:
            body["reason"] = self.reason
        if self.denied:  # only then: events before this field existed hash and read as they were
            body["denied"] = True
        return body

    @classmethod
    def from_record(cls, record: AuditRecord) -> AccessEvent | None:
        """The access event a record holds, or None for a decision."""
        if not is_access(record):
            return None
        trace = record.trace
        records = trace.get("records")
        filters = trace.get("filters")
        action = str(trace.get("action", "read"))
        purpose = str(trace.get("purpose", "audit"))
        return cls(
            action=action if action in ACCESS_ACTIONS else "read",  # type: ignore[arg-type]
            purpose=purpose if purpose in ACCESS_PURPOSES else "audit",  # type: ignore[arg-type]
            records=[str(r) for r in records] if isinstance(records, list) else [],
            route=str(trace["route"]) if isinstance(trace.get("route"), str) else None,
            reason=str(trace["reason"]) if isinstance(trace.get("reason"), str) else None,
            filters=filters if isinstance(filters, dict) else {},
            denied=trace.get("denied") is True,
        )


#: Words a break-glass reason may start a sentence with or capitalise without naming anyone, beside the
#: clinical vocabulary the caller passes (HPO's words, in the API): the common English of a stated reason.
_COMMON_WORDS_TEXT = """
    a about above access accident acute admission admitted admit after afternoon again against ago all also am
    an and another any are as asked at attending available away back be because been before being below between
    bed both but by call called came can care case cases check clinic clinical clinician colleague come consult
    consultant continuity continuing cover covering critical current currently day days decision decisions
    department deteriorated deteriorating diagnosis did discharge do doctor does dr during each early emergency
    evening every family few first follow following for from further given had handover has have he her here him
    his hospital how i if ill immediate immediately in inpatient into is it its last late later life made make
    may me medical midnight morning most mr mrs ms much must my need needed needs new night no not note now of
    off office on on-call once one only or other our out outpatient over overnight own past patient patients
    plan please previous prior professor prompt question reason record records referral referred reply result
    results review reviewing round rounds safety same saw second see seen service shift she should since so some
    soon specialist staff still sudden surgery surgical team than that the their them then there these they this
    those through today tomorrow tonight transfer transferred transport treating treatment trust unavailable
    under unwell until up urgent urgently us use used was ward we week weekend were what when where which while
    who why will with within without work would yesterday you your monday tuesday wednesday thursday friday
    saturday sunday cardiology neurology oncology paediatrics pediatrics obstetrics surgery radiology
    anaesthetics anesthesia anaesthesia nephrology gastroenterology haematology hematology genetics psychiatry
    dermatology ophthalmology orthopaedics orthopedics urology endocrinology rheumatology respiratory medicine
    nurse nursing registrar resident fellow intern physician paramedic ambulance theatre theater unit
"""
COMMON_WORDS: frozenset[str] = frozenset(_COMMON_WORDS_TEXT.split())
#: Capitalised words of up to this many letters written all in capitals may be abbreviations (ED, ICU, MRN) ...
MAX_ABBREVIATION_LETTERS = 5
#: ... when they are one of these, of a care setting or a role: "Patient JONES collapsed" wrote a surname in
#: capitals, as notes do, and five capitals passed as an abbreviation (a code review).
CARE_ABBREVIATIONS = frozenset(
    {"ED", "ER", "AE", "ICU", "PICU", "NICU", "HDU", "CCU", "ITU", "OR", "GP", "ENT", "MDT", "OPD", "IPD", "MRN"}
    | {"EHR", "EMR", "CT", "MRI", "ECG", "EKG", "EEG", "IV", "DNR", "DNACPR", "RN", "MD", "NP", "PA", "SHO"}
    | {"SPR", "FY", "CNS", "OOH", "ASAP", "STAT", "PM", "AM", "UK", "US", "NHS", "VA", "CPR", "RRT", "MET"}
)
#: A date: "1-2-90", "01/02/1990", "1.2.90".
_DATE = re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
#: A phone number: 7 or more digits in groups joined by spaces, dots, dashes, slashes or brackets.
_PHONE = re.compile(r"\+?\(?\d[\d\s().\-/]{5,}\d")
_DIGIT_RUN = re.compile(r"\d{3,}")
_WORD = re.compile(r"[^\W\d_]+")


def check_reason(reason: str | None, vocabulary: Container[str] = frozenset()) -> str:
    """A break-glass reason given now: words, at least :data:`MIN_REASON_CHARS`, no control characters, and
    nothing that likely identifies a patient (:func:`identifying_content`).

    Stricter than what an access event may hold (:func:`_recordable_reason`): a tab or a line break inside
    the reason is refused too (they were let through, though the rule is one line of words), and so is a
    likely identifier, since the log is append-only and a name or an MRN written there stays for good
    (a user test stored "Emergency: patient <name> MRN <number> collapsed in ED" word for word). Events
    recorded before must still read back (export, verify). Whitespace around the reason is dropped, not refused.
    ``vocabulary`` is the casefolded words of a clinical vocabulary (HPO's names, synonyms and definitions):
    a capitalised word found neither there nor in :data:`COMMON_WORDS` is taken for a name.
    """
    stripped = _recordable_reason(reason)
    if any(unicodedata.category(c) == "Cc" for c in stripped):
        raise InvalidEntryError(
            "a break-glass reason may not hold control characters (a tab or a line break included): "
            "give it as one line of words"
        )
    found = identifying_content(stripped, vocabulary)
    if found is not None:
        raise InvalidEntryError(
            f"a break-glass reason is kept for good in the audit log and must not identify a patient; this one "
            f"holds {found}. Say why you need the record now (e.g. 'patient transferred to my care tonight'), "
            "not who it is about: the record already names the patient by pseudonym"
        )
    return stripped


def identifying_content(text: str, vocabulary: Container[str] = frozenset()) -> str | None:
    """What kind of likely identifier ``text`` holds, in words that never quote it; None when it holds none.

    Looked for: an e-mail address, a phone-like number (7 or more digits in groups), a run of 3 or more
    digits (an MRN, a date, a bed or room number), a date, and a capitalised word that is neither an abbreviation
    of a care setting or role (:data:`CARE_ABBREVIATIONS`: ED, ICU, MRN) nor a word of ``vocabulary`` or
    :data:`COMMON_WORDS` (a name; in capitals too, "JONES"). Lower-case names go unseen: this is a screen, not a
    proof.
    """
    if _EMAIL.search(text):
        return "an e-mail address"
    for phone in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in phone.group())
        if digits >= 7 and (digits < len(phone.group()) or phone.group().startswith("+")):  # grouped, or +
            return "a phone number"
    if _DIGIT_RUN.search(text):
        return "a number of 3 or more digits (an identifier such as an MRN, a date or a room number)"
    if _DATE.search(text):
        return "a date (a date of birth identifies a patient)"
    for position, match in enumerate(_WORD.finditer(text), start=1):
        word = match.group()
        if word == word.casefold() or word in CARE_ABBREVIATIONS:
            continue
        folded = word.casefold()
        if word.isupper() and len(word) <= MAX_ABBREVIATION_LETTERS and folded in vocabulary:
            continue  # an abbreviation HPO uses (ASD, VSD)
        if folded not in COMMON_WORDS and folded not in vocabulary:
            return (
                f"a capitalised word (word {position}) that is neither a clinical term nor common English, "
                "likely a name"
            )
    return None


def _recordable_reason(reason: str | None) -> str:
    """A reason an access event may hold, stripped: long enough, not too long, no hidden characters.

    Tabs and line breaks pass here: events appended before :func:`check_reason` refused them hold some.
    """
    if reason is None or len(reason.strip()) < MIN_REASON_CHARS:
        raise InvalidEntryError(f"a break-glass reason of at least {MIN_REASON_CHARS} characters is required")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidEntryError(f"a break-glass reason is at most {MAX_REASON_CHARS} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\t\n" for c in reason):
        raise InvalidEntryError("a break-glass reason may not hold control or bidi-override characters")
    return reason.strip()


def access_entry(
    event: AccessEvent,
    *,
    request_id: str,
    actor_role: str,
    actor_id: str,
    patient_pseudonym: str | None = None,
) -> AuditEntry:
    """The entry that records ``event`` by this actor (append it before the data goes out)."""
    return AuditEntry(
        trace=event.to_json(),
        request_id=request_id,
        actor_role=actor_role,
        actor_id=actor_id,
        model_version=NOT_A_DECISION,
        index_version=NOT_A_DECISION,
        outcome=ACCESS_OUTCOME,
        patient_pseudonym=patient_pseudonym,
    )


def is_access(record: AuditRecord) -> bool:
    """True for an access event, False for a decision."""
    return record.outcome == ACCESS_OUTCOME and record.trace.get("event") == ACCESS_EVENT


# -- search filters ----------------------------------------------------------------------------------------
#
# An auditor's search is checked here, once, for the API (``GET /v1/traces``, ``/v1/audit/export``) and the
# ``audit export`` command line alike, so both refuse the same values with the same words (422, exit 2) and
# match the same records. The filters are what an access event records: a value that must not be stored (a
# patient identifier where a pseudonym belongs) is refused before anything is appended.

#: What a decision's ``outcome`` can be (``dxsearch.agent.Outcome``; a test keeps the two equal).
DECISION_OUTCOMES: tuple[str, ...] = ("diagnosed", "insufficient_evidence", "no_diagnosis")
#: What an outcome filter may ask for: a decision's outcome, or ``access`` for access events.
OUTCOMES: tuple[str, ...] = (*DECISION_OUTCOMES, ACCESS_OUTCOME)
#: Hex digits of a patient pseudonym (``dxsearch.pseudonym.Pseudonymiser``'s length; a test keeps them equal).
PSEUDONYM_DIGITS = 20
#: A patient pseudonym as records carry it.
PSEUDONYM_PATTERN = f"^[0-9a-f]{{{PSEUDONYM_DIGITS}}}$"
_PSEUDONYM = re.compile(f"[0-9a-f]{{{PSEUDONYM_DIGITS}}}")
#: Between an evidence id's document id and its chunk ordinal (``omim:154700#0``); never in a document id.
EVIDENCE_SEPARATOR = "#"
#: A document id as decisions cite them, ``prefix:local`` (``omim:154700``, ``gl:…``, ``pt:…``): the pattern of
#: ``dxsearch.corpus.Document.id`` (the audit package imports nothing of dxsearch; a test keeps the two equal).
DOCUMENT_ID_PATTERN = r"[a-z][a-z0-9_]*:[A-Za-z0-9_.:\-]+"
_DOCUMENT_ID = re.compile(DOCUMENT_ID_PATTERN)


class FilterError(AuditError, ValueError):
    """A search filter that is malformed or can never match: a 422 in the API, exit 2 on the command line.

    The message says what is wanted and never quotes a patient filter's value (it may be an identifier).
    """


class DiagnosisExpansion(Protocol):
    """What a diagnosis filter stands for (``dxsearch.knowledge.disease_equivalents.Equivalence``)."""

    @property
    def codes(self) -> tuple[str, ...]: ...

    def keys(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """A checked search: the query for the store, and the filters as asked, for the access event."""

    query: AuditQuery
    described: dict[str, JsonValue]


def check_patient(patient: str, name: str = "patient") -> str:
    """``patient`` when it is a pseudonym as records carry it; else :class:`FilterError`, quoting nothing.

    Why refuse: a search by an identifier (an MRN) finds nothing, since records hold only pseudonyms, and
    the access event would keep the identifier in the append-only log for good.
    """
    if _PSEUDONYM.fullmatch(patient) is None:
        raise FilterError(
            f"{name} must be a patient pseudonym ({PSEUDONYM_DIGITS} lowercase hexadecimal digits, as records "
            "carry it), not a patient identifier: map an identifier (an MRN) to its pseudonym first with "
            "POST /v1/audit/pseudonym"
        )
    return patient


def evidence_document(evidence: str, name: str = "evidence") -> str:
    """The document id an evidence filter asks for: ``omim:154700`` for ``omim:154700#0`` or ``omim:154700``.

    Records index the documents their evidence came from, so a passage's evidence id finds its document's
    decisions. A value that is neither a document id (:data:`DOCUMENT_ID_PATTERN`) nor one with ``#n`` after
    it (``bogus``, ``doc#first``) can never match: :class:`FilterError`, not an empty page.
    """
    document, separator, ordinal = evidence.partition(EVIDENCE_SEPARATOR)
    if _DOCUMENT_ID.fullmatch(document) is None or (separator and not (ordinal.isascii() and ordinal.isdigit())):
        raise FilterError(f"{name} must be a document id such as omim:154700 or an evidence id such as omim:154700#0")
    return document


def check_outcome(outcome: str, name: str = "outcome") -> str:
    """``outcome`` when a record can have it; else :class:`FilterError` naming the outcomes there are."""
    if outcome not in OUTCOMES:
        raise FilterError(f"{name} must be one of {', '.join(OUTCOMES)} (in lower case)")
    return outcome


def search_filter(
    *,
    expand_diagnosis: Callable[[str], DiagnosisExpansion],
    count: Callable[[AuditQuery], int],
    since: str | None = None,
    until: str | None = None,
    patient: str | None = None,
    diagnosis: str | None = None,
    evidence: str | None = None,
    model_version: str | None = None,
    outcome: str | None = None,
    request_id: str | None = None,
    trace_id: str | None = None,
    kind: RecordKind | None = None,
    order: SortOrder = "desc",
    limit: int = 50,
    cursor: str | None = None,
    names: Mapping[str, str] | None = None,
) -> SearchFilter:
    """The query an auditor's filters make, checked; :class:`FilterError` for a value that can never match.

    Refused: a time without a zone, ``since`` not before ``until``, a patient that is not a pseudonym, an
    evidence id that is not ``doc_id#n``, an outcome no record has (or a decision's outcome with
    ``kind="access"``), and a diagnosis that is neither a code nor a whole disease name HPO, the Disease
    Ontology (``expand_diagnosis``) or some decision in the log (``count``) gives. ``kind`` None asks for
    decisions and access events alike; ``outcome="access"`` asks for access events. ``names`` says how the
    caller's interface calls each filter (``{"since": "--since"}``), for the messages. ``request_id`` finds the
    records of a request by the server's id or the client's own ``X-Request-ID`` (as a decision's trace keeps it),
    ``trace_id`` the decision whose trace has that id.

    A diagnosis is expanded to its equivalent codes and names (``ORPHA:558`` finds ``OMIM:154700``): the
    expansion is computed here, the access event records the filter as asked.
    """
    called = dict(names or {})

    def name(field_name: str) -> str:
        return called.get(field_name, field_name)

    if patient is not None:
        check_patient(patient, name("patient"))
    if outcome is not None:
        check_outcome(outcome, name("outcome"))
    document = evidence_document(evidence, name("evidence")) if evidence is not None else None
    if outcome == ACCESS_OUTCOME and kind == "decision":
        kind = "access"
    if outcome is not None and outcome != ACCESS_OUTCOME and kind == "access":
        raise FilterError(f"{name('outcome')} '{outcome}' is not an access event's (access events have 'access')")
    try:
        query = AuditQuery(
            since=parse_instant(since, name("since")) if since is not None else None,
            until=parse_instant(until, name("until")) if until is not None else None,
            patient_pseudonym=patient,
            diagnosis=diagnosis,
            evidence_id=document,
            model_version=model_version,
            outcome=outcome,
            any_request_id=request_id,
            trace_id=trace_id,
            kind=kind,
            order=order,
            limit=limit,
            cursor=cursor,
        )
    except TimeFormatError as exc:
        raise FilterError(str(exc)) from None
    except InvalidEntryError as exc:  # an empty or over-long request or trace id
        raise FilterError(str(exc)) from None
    except ValueError as exc:  # since not before until, a malformed cursor: nothing could match
        raise FilterError(str(exc)) from None
    if diagnosis is not None:
        query = _with_equivalents(query, diagnosis, expand_diagnosis, count, name("diagnosis"))
    asked: tuple[tuple[str, JsonValue], ...] = (
        ("since", since),
        ("until", until),
        ("patient", patient),
        ("diagnosis", diagnosis),
        ("evidence", document),
        ("model_version", model_version),
        ("outcome", outcome),
        ("request_id", None if request_id is None else recordable_id(request_id)),
        ("trace_id", None if trace_id is None else recordable_id(trace_id)),
        ("kind", kind or "all"),
        ("order", order),
        ("limit", limit),
        ("cursor", cursor),
    )
    return SearchFilter(query=query, described={key: value for key, value in asked if value is not None})


#: Ids the server makes (a request id: 32 hex digits; a record or trace id: a UUID), recorded as asked.
_SERVER_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def recordable_id(value: str) -> str:
    """How an access event records an id it was asked for: as given when the server made it, else its digest.

    Why: a client's own ``X-Request-ID`` is whatever the client sent (a user test sent an MRN); searching by it
    must not write it into the append-only log once more. The digest still tells which value was asked.
    """
    if _SERVER_ID.fullmatch(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _with_equivalents(
    query: AuditQuery,
    diagnosis: str,
    expand: Callable[[str], DiagnosisExpansion],
    count: Callable[[AuditQuery], int],
    name: str,
) -> AuditQuery:
    """``query`` finding ``diagnosis`` or any equivalent; :class:`FilterError` for a name nothing knows.

    A name matches whole, so a partial one ("Marfan") would find nothing, silently: unless HPO or the
    Disease Ontology knows it, or some decision gives it, it is refused.
    """
    found = expand(diagnosis)
    # Codes come first in the keys, so the (theoretical) cut drops names, never a code.
    expanded = replace(query, diagnosis_equivalents=found.keys()[:MAX_DIAGNOSIS_EQUIVALENTS])
    if found.codes:  # a code (even one HPO and DO lack), or a name they know
        return expanded
    if count(AuditQuery(diagnosis=diagnosis, kind="decision")) == 0:
        raise FilterError(
            f"{name} must be a code such as OMIM:154700 or ORPHA:558, or a whole disease name as HPO, the "
            "Disease Ontology or a decision gives it; nothing names a diagnosis like this"
        )
    return expanded


#: How a record matched a diagnosis filter: among the diagnoses it answered with, or among the candidates an
#: abstention considered (and named to the clinician) without answering.
DiagnosisMatch = Literal["answered", "considered"]


def diagnosis_match(record: AuditRecord, query: AuditQuery) -> DiagnosisMatch | None:
    """Whether ``record`` carries ``query``'s diagnosis (or an equivalent) as an answer or as a considered
    candidate; None without a diagnosis filter, or for a record that matched neither way."""
    keys = set(query.diagnosis_keys())
    if not keys:
        return None

    def named(diagnoses: Sequence[Diagnosis]) -> bool:
        return any(fold(d.name) in keys or (d.code is not None and fold(d.code) in keys) for d in diagnoses)

    if named(record.diagnoses):
        return "answered"
    if record.outcome != ACCESS_OUTCOME and named(considered_diagnoses(record.trace)):
        return "considered"
    return None
