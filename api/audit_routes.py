"""Reading the audit log: records by relationship, break-glass, auditors' search and export, pseudonym lookup.

Who reads what (issue 16 part 4):

* a clinician reads the decisions its own key made (the record's ``actor_id`` is the keyed pseudonym of
  the key that asked, never the key), and lists only those;
* a clinician reads another's decision only through ``POST /v1/traces/{audit_id}/break-glass`` with a
  stated reason;
* auditors and admins read and search everything.

Every read of a record, by anyone, is appended to the audit log as an access event
(:mod:`audit.access`, appended by :func:`api.auth.record_access`) *before* the data goes out: if the log
cannot record the read, nothing is returned (503). Listing the log is such a read; so are exports and
pseudonym lookups. A refused read is recorded too (``denied``): a clinician's on another's decision here, a
role's on a route it may not use in :mod:`api.auth`.

Filters are checked by :func:`audit.access.search_filter`, as ``audit export`` checks its options: one time
convention (:mod:`audit.times`: ISO 8601 with ``Z`` or an offset, a date with a zone; a naive time is a 422
that says what is wanted), and a 422 instead of an empty page for values that cannot match (an unknown
outcome, a diagnosis that is neither a code nor a name HPO, the Disease Ontology or any decision gives, an
evidence id that is not ``doc_id#n``). A patient filter must be a pseudonym: an identifier (an MRN) is a 422
pointing to ``POST /v1/audit/pseudonym``, refused before the access event, so the log never holds it. A
query parameter a route does not read (``evidence_id`` for ``evidence``) is a 422 naming those it does. A
diagnosis finds the decisions that carry it or any equivalent: ``ORPHA:558``, ``OMIM:154700`` and "Marfan
syndrome" find the same ones (:mod:`dxsearch.knowledge.disease_equivalents`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from api.auth import (
    ACCESS_EVENTS_REFUSED,
    AuditExporter,
    BreakGlassReader,
    PseudonymLookup,
    TraceReader,
    TraceSearcher,
    access_headers,
    access_purpose,
    after_role_check,
    record_access,
)
from api.body import body_openapi, read_body
from api.errors import known_query_only, single_valued_query
from api.keys import Role
from api.logging import log_fields
from api.schemas import JsonBody
from api.state import services_of
from audit import AuditQuery, AuditRecord
from audit.access import (
    ACCESS_OUTCOME,
    MAX_REASON_CHARS,
    MIN_REASON_CHARS,
    OUTCOMES,
    PSEUDONYM_PATTERN,
    FilterError,
    SearchFilter,
    check_reason,
    diagnosis_match,
    search_filter,
)
from audit.errors import InvalidEntryError
from audit.export import fhir_bundle
from audit.models import CONSIDERED_KEY, MAX_PAGE_SIZE, RECORD_ID_PATTERN
from audit.times import EXPECTED as TIME_EXPECTED
from dxsearch.agent import CASE_NAMESPACE
from dxsearch.intake.reading import PATIENT_NAMESPACE
from dxsearch.knowledge.disease_equivalents import get_disease_equivalents
from dxsearch.knowledge.hpo import HP_OBO
from dxsearch.knowledge.term_lookup import obo_stanzas
from dxsearch.settings import get_settings

#: The query is checked once the role is (api.auth.after_role_check): a refused role is a 403, recorded.
router = APIRouter(
    dependencies=[Depends(after_role_check(single_valued_query)), Depends(after_role_check(known_query_only))]
)

#: A record id as the schema documents it; the route checks it (:func:`_load`), to say what it must be in words.
AuditId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        description="The record's id (`audit_id` of a diagnosis), a lowercase UUID.",
        json_schema_extra={"pattern": f"^{RECORD_ID_PATTERN}$"},
    ),
]
_RECORD_ID = re.compile(RECORD_ID_PATTERN)
#: How the intake's ``source`` is shown in list rows.
_INPUT_TYPES = {"text": "note", "findings": "findings", "bundle": "fhir"}
#: Finding labels shown per list row (the count is always whole).
_MAX_ROW_LABELS = 20


#: Letters of a word, as :func:`audit.access.identifying_content` splits a reason into words.
_LETTERS = re.compile(r"[^\W\d_]+")


@functools.cache
def clinical_words() -> frozenset[str]:
    """Casefolded words of HPO's term names, synonyms and definitions (the local ``hp.obo``, ~1 s once).

    The clinical vocabulary a break-glass reason's capitalised words are checked against
    (:func:`audit.access.check_reason`): "Marfan", "Down" or "Seizure" are clinical words, a patient's name is not.
    """
    words: set[str] = set()
    for stanza in obo_stanzas(get_settings().hpo_data_dir / HP_OBO):
        texts = list(stanza.get("name", ()))
        for tag in ("synonym", "def"):  # the quoted text, without the scope and references after it
            texts.extend(value.split('"')[1] for value in stanza.get(tag, ()) if value.count('"') >= 2)
        for text in texts:
            words.update(word.casefold() for word in _LETTERS.findall(text))
    return frozenset(words)


# -- access events -----------------------------------------------------------------------------------------


def _with_access_header(body: dict[str, Any], access: AuditRecord) -> JSONResponse:
    return JSONResponse(body, headers=access_headers(access))


async def _load(request: Request, audit_id: str) -> AuditRecord:
    """The record ``audit_id`` names, by record id or else by the ``trace.trace_id`` of a decision (both UUIDs:
    a user handed the trace's id got a 404); 422 when it is no such id at all (a 404 would say it might be one)."""
    if _RECORD_ID.fullmatch(audit_id) is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "not an audit record id: records are named by a lowercase UUID such as "
            "0b9d3c8e-6f1a-4c2b-9e7d-5a4f3b2c1d0e (the `audit_id` of a diagnosis)",
        )
    service = services_of(request).diagnosis
    store = service.audit_store

    def find() -> AuditRecord | None:
        found = store.get(audit_id)
        if found is not None:
            return found
        by_trace = store.query(AuditQuery(trace_id=audit_id, kind="decision", limit=2)).records
        return by_trace[0] if len(by_trace) == 1 else None

    record = await service.in_thread(find)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no audit record with this id (as a record id or a trace id)")
    return record


# -- one record --------------------------------------------------------------------------------------------


@router.get(
    "/v1/traces/{audit_id}",
    tags=["audit"],
    summary="One audit record with its full trace (clinicians: their own decisions)",
    responses={
        403: {"description": "A clinician asked for a decision another key made (use break-glass)"},
        404: {"description": "No record with this id"},
        422: {"description": "Not a record id (records are named by UUIDs), or a query parameter it does not read"},
    },
)
async def get_trace(audit_id: AuditId, principal: TraceReader, request: Request) -> JSONResponse:
    """The record committed for a decision, trace included; the read is recorded as an access event.

    Clinicians read the decisions their own key made; another's is a 403 that names the break-glass
    route. Auditors and admins read every record, access events included (roles: clinician, auditor, admin).
    """
    record = await _load(request, audit_id)
    if principal.role is Role.CLINICIAN and (record.actor_id != principal.actor_id or record.outcome == ACCESS_OUTCOME):
        denial = await record_access(request, principal, "read", access_purpose(principal), [record], denied=True)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "clinicians read only the decisions their own key made; to read this one for a patient's care, "
            f"POST /v1/traces/{audit_id}/break-glass with a reason (the read is audited)",
            headers=access_headers(denial),
        )
    access = await record_access(request, principal, "read", access_purpose(principal), [record])
    return _with_access_header(record.to_json(), access)


class BreakGlassRequest(JsonBody):
    """Why a clinician needs a decision another key made; kept in the audit log with the read."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON_CHARS,
        max_length=MAX_REASON_CHARS,
        description=(
            "Why this record is needed now, in words (e.g. 'patient transferred to my care tonight'), never who it "
            "is about: a likely identifier (a name, a number of 3 or more digits, an e-mail address, a phone "
            "number) is refused, since the audit log keeps the reason for good."
        ),
    )


@router.post(
    "/v1/traces/{audit_id}/break-glass",
    tags=["audit"],
    summary="Break-glass: read a decision another clinician's key made, with a stated reason (audited)",
    responses={
        404: {"description": "No record with this id"},
        422: {"description": "No usable reason, or not a record id (records are named by UUIDs)"},
    },
    openapi_extra=body_openapi(BreakGlassRequest),
)
async def break_glass(audit_id: AuditId, principal: BreakGlassReader, request: Request) -> JSONResponse:
    """The record, read for a stated reason; the access event carries the reason (roles: clinician, admin).

    Every break-glass read is an access event with purpose ``break-glass`` (FHIR: purposeOfEvent ``BTG``)
    that auditors find with ``GET /v1/traces?kind=access``.
    """
    body = await read_body(request, BreakGlassRequest)  # once the caller is admitted (api.body)
    service = services_of(request).diagnosis
    vocabulary = await service.in_thread(clinical_words)
    try:
        reason = check_reason(body.reason, vocabulary)  # a likely patient identifier is refused: the log keeps it
    except InvalidEntryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    record = await _load(request, audit_id)
    if record.outcome == ACCESS_OUTCOME:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no decision with this id (access events are for auditors)")
    access = await record_access(request, principal, "read", "break-glass", [record], reason=reason)
    log_fields(request.scope)["break_glass"] = True
    return _with_access_header(record.to_json(), access)


# -- searching ---------------------------------------------------------------------------------------------


def _filter_error(exc: FilterError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


_TIME_HELP = f"ISO 8601 with a zone ({TIME_EXPECTED}); a time without a zone is refused."


async def search_filters(
    request: Request,
    since: Annotated[str | None, Query(max_length=64, description="Inclusive lower bound. " + _TIME_HELP)] = None,
    until: Annotated[str | None, Query(max_length=64, description="Exclusive upper bound. " + _TIME_HELP)] = None,
    patient: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description=(
                "Patient pseudonym, as records carry it; a patient identifier (an MRN) is refused: map it first "
                "with POST /v1/audit/pseudonym."
            ),
            json_schema_extra={"pattern": PSEUDONYM_PATTERN},
        ),
    ] = None,
    diagnosis: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=512,
            description=(
                "Diagnosis code (OMIM:154700, ORPHA:558) or disease name (whole, case-insensitive); finds decisions "
                "carrying it or an equivalent code or name (Disease Ontology cross-references, HPO labels), as a "
                "diagnosis or as a candidate an abstention considered; each row's `diagnosis_match` says which "
                "(`answered` or `considered`)."
            ),
        ),
    ] = None,
    evidence: Annotated[
        str | None,
        Query(min_length=1, max_length=512, description="Evidence document id (an evidence id `doc#n` works too)."),
    ] = None,
    model_version: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    outcome: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Outcome of a decision, or `access` for access events.",
            json_schema_extra={"enum": list(OUTCOMES)},
        ),
    ] = None,
    request_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description=(
                "A request's id: the server's (`request_id`, the `X-Request-ID` it answered with) or the client's own "
                "`X-Request-ID` as the decision's trace keeps it."
            ),
        ),
    ] = None,
    trace_id: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="The `trace.trace_id` of a decision (not its record id)."),
    ] = None,
    kind: Annotated[
        Literal["decision", "access", "all"],
        Query(description="Decisions (default), access events (reads of records), or all."),
    ] = "decision",
    order: Annotated[Literal["desc", "asc"], Query(description="Newest first (default) or oldest first.")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(max_length=32, pattern=r"^s\d+$")] = None,
) -> SearchFilter:
    """The query parameters shared by search and export, checked as ``audit export`` checks its options
    (:func:`audit.access.search_filter`): 422 for a value that is malformed or can never match."""
    service = services_of(request).diagnosis
    store = service.audit_store

    def check() -> SearchFilter:
        return search_filter(
            expand_diagnosis=lambda value: get_disease_equivalents().expand(value),
            count=store.count,
            since=since,
            until=until,
            patient=patient,
            diagnosis=diagnosis,
            evidence=evidence,
            model_version=model_version,
            outcome=outcome,
            request_id=request_id,
            trace_id=trace_id,
            kind=None if kind == "all" else kind,
            order=order,
            limit=limit,
            cursor=cursor,
        )

    try:
        return await service.in_thread(check)
    except FilterError as exc:
        raise _filter_error(exc) from None


SearchFilters = Annotated[SearchFilter, Depends(search_filters)]


def row_summary(trace: dict[str, Any]) -> dict[str, Any]:
    """What a list row shows of a decision without its trace: input type, findings count and labels, and the
    candidates an abstention considered (it answers with no diagnosis, but names these to the clinician)."""
    account = trace.get("input_account")
    source = account.get("source") if isinstance(account, dict) else None
    case = trace.get("case")
    findings = case.get("findings") if isinstance(case, dict) else None
    findings = [f for f in findings if isinstance(f, dict)] if isinstance(findings, list) else []
    observed = [str(f.get("label")) for f in findings if not f.get("excluded")]
    excluded = [str(f.get("label")) for f in findings if f.get("excluded")]
    considered = trace.get(CONSIDERED_KEY)
    considered = [c for c in considered if isinstance(c, dict)] if isinstance(considered, list) else []
    return {
        "considered": [{"code": c.get("code"), "name": c.get("name")} for c in considered[:_MAX_ROW_LABELS]],
        "input_type": _INPUT_TYPES.get(str(source)) if source is not None else None,
        "findings_count": len(observed),
        "excluded_count": len(excluded),
        "finding_labels": observed[:_MAX_ROW_LABELS],
        "excluded_labels": excluded[:_MAX_ROW_LABELS],
    }


@router.get(
    "/v1/traces",
    tags=["audit"],
    summary="Search the audit log, newest first (clinicians: their own decisions)",
    responses={422: {"description": "A filter value that is malformed or can never match"}},
)
async def list_traces(
    principal: TraceSearcher,
    request: Request,
    filters: SearchFilters,
    include_trace: Annotated[bool, Query(description="Include each record's full trace.")] = False,
) -> JSONResponse:
    """Records matching every filter, a page at a time; the page read is recorded as an access event.

    Each row carries ``summary`` (input type note/findings/fhir, findings count and labels, considered
    candidates) so a table can show them without the trace; with a diagnosis filter, ``diagnosis_match`` says
    whether the record answered with it or only considered it. Clinicians see only the decisions their own key
    made (roles: clinician, auditor, admin).
    """
    query = filters.query
    if principal.role is Role.CLINICIAN:
        # Asking for access events was refused by the role check already (api.auth.access_events_for_auditors,
        # before the query was checked); this holds should the query have come to ask for them otherwise.
        if query.kind == "access" or query.outcome == ACCESS_OUTCOME:
            denial = await record_access(
                request, principal, "search", access_purpose(principal), [], filters=filters.described, denied=True
            )
            raise HTTPException(status.HTTP_403_FORBIDDEN, ACCESS_EVENTS_REFUSED, headers=access_headers(denial))
        query = replace(query, actor_id=principal.actor_id, kind="decision")
    service = services_of(request).diagnosis
    page = await service.in_thread(lambda: service.audit_store.query(query))
    access = await record_access(
        request,
        principal,
        "search",
        access_purpose(principal),
        page.records,
        filters=filters.described,
        patient_pseudonym=query.patient_pseudonym,
    )
    records = []
    for record in page.records:
        item = record.to_json()
        item["summary"] = row_summary(record.trace) if record.outcome != ACCESS_OUTCOME else None
        if query.diagnosis is not None:
            item["diagnosis_match"] = diagnosis_match(record, query)
        if not include_trace:
            item.pop("trace", None)
        records.append(item)
    return _with_access_header({"records": records, "next_cursor": page.next_cursor}, access)


@router.get(
    "/v1/audit/export",
    tags=["audit"],
    summary="Export records as a FHIR R4B Bundle of AuditEvent (+ Provenance for decisions), a page at a time",
    responses={
        200: {"content": {"application/fhir+json": {}}, "description": "A FHIR collection Bundle"},
        422: {"description": "A filter value that is malformed or can never match"},
    },
)
async def export(principal: AuditExporter, request: Request, filters: SearchFilters) -> JSONResponse:
    """The records a search selects, as FHIR: a decision is an AuditEvent (action E) and a Provenance, an access
    event an AuditEvent (action R). The next page is ``link[relation=next]`` (roles: auditor, admin).
    """
    service = services_of(request).diagnosis
    query = filters.query
    page = await service.in_thread(lambda: service.audit_store.query(query))
    access = await record_access(
        request,
        principal,
        "export",
        "audit",
        page.records,
        filters=filters.described,
        patient_pseudonym=query.patient_pseudonym,
    )
    bundle = await service.in_thread(lambda: fhir_bundle(page.records))
    body: dict[str, Any] = bundle.model_dump(mode="json", exclude_none=True)
    if page.next_cursor is not None:
        next_query = {**filters.described, "cursor": page.next_cursor}
        url = request.url.replace_query_params(**{k: str(v) for k, v in next_query.items()})
        body["link"] = [{"relation": "next", "url": str(url)}]
    response = _with_access_header(body, access)
    response.headers["content-type"] = "application/fhir+json"
    return response


# -- patient pseudonyms ------------------------------------------------------------------------------------


class PseudonymRequest(JsonBody):
    """A patient identifier to map to the pseudonym decisions about that patient carry."""

    model_config = ConfigDict(extra="forbid")

    patient_id: str = Field(min_length=1, max_length=256, description="The identifier value (an MRN, ...).")
    system: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description=(
            "The FHIR identifier system it was sent under in a bundle (`Patient.identifier[0].system`); "
            "leave out for the `patient_id` of POST /v1/diagnose."
        ),
    )


@router.post(
    "/v1/audit/pseudonym",
    tags=["audit"],
    summary="Map a patient identifier to its pseudonym (auditors; the lookup is audited)",
    openapi_extra=body_openapi(PseudonymRequest),
)
async def pseudonym(principal: PseudonymLookup, request: Request) -> JSONResponse:
    """The pseudonym decisions about this patient carry, computed with the server's pseudonym key.

    The identifier is never stored or logged; the lookup is an access event holding only the pseudonym.
    Search with ``GET /v1/traces?patient=<pseudonym>`` (roles: auditor, admin).
    """
    body = await read_body(request, PseudonymRequest)  # once the caller is admitted (api.body)
    service = services_of(request).diagnosis
    pseudonymiser = service.pseudonymiser
    if body.system is None:
        case_id = pseudonymiser.pseudonym(body.patient_id, PATIENT_NAMESPACE)
    else:
        case_id = pseudonymiser.pseudonym(body.patient_id, f"{PATIENT_NAMESPACE}|identifier|{body.system}")
    found = pseudonymiser.pseudonym(case_id, CASE_NAMESPACE)
    decisions = await service.in_thread(
        lambda: service.audit_store.count(AuditQuery(patient_pseudonym=found, kind="decision"))
    )
    access = await record_access(
        request,
        principal,
        "pseudonym-lookup",
        "audit",
        [],
        filters={"system": body.system} if body.system is not None else {},
        patient_pseudonym=found,
    )
    return _with_access_header(
        {
            "patient_pseudonym": found,
            "pseudonym_key": pseudonymiser.key_fingerprint(),
            "decisions": decisions,
        },
        access,
    )
