"""The ``/v1`` routes and the health probes.

Each route names who may call it through its principal parameter (``Clinical``, ``LogVerifier``,
``AnyRole``, :mod:`api.auth`): authentication, rate limiting and the role check happen before the body of
the route runs, so a rejected request never reaches the policy; a key refused for its role is recorded in
the audit log as a refused access (:func:`api.auth.record_refusal`), nothing else of it. The query string is
checked only once the role is admitted (:func:`api.auth.after_role_check`), so that refusal is a 403 even for
a query that would be a 422. Routes that take a body read it themselves (:mod:`api.body`), so a rejected
request is not even parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse

from api.auth import (
    AnyRole,
    Clinical,
    LogVerifier,
    access_headers,
    access_purpose,
    after_role_check,
    record_access,
)
from api.body import Refused, body_openapi, read_body
from api.errors import client_request_id_of, known_query_only, request_id_of, single_valued_query
from api.keys import Principal
from api.logging import log_fields
from api.schemas import (
    DiagnoseRequest,
    DiagnoseResponse,
    DiagnosisOut,
    EvidenceOut,
    PassageOut,
    SourceDocumentOut,
    diagnose_refusal,
)
from api.service import Diagnosed, DiagnosisService, model_version, passage_hash
from api.state import services_of
from audit import AuditError
from audit.proofs import prove_consistency, prove_inclusion
from audit.verify import verify_with_checkpoint_file
from dxsearch.agent import TracedDiagnosis
from dxsearch.corpus import split_evidence_id
from dxsearch.intake import PreparedCase, intake
from dxsearch.retrieval.embedded import EmbeddedIndex

#: The query is checked once the role is (api.auth.after_role_check): a refused role is a 403, recorded.
router = APIRouter(dependencies=[Depends(after_role_check(single_valued_query))])
#: An evidence id: a document id (``prefix:local``) and a chunk ordinal; matched whole (``fullmatch``: a
#: ``$`` would let a trailing newline through).
_EVIDENCE_ID = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9_.:\-]+#[0-9]+")


# -- probes ------------------------------------------------------------------------------------------------


@router.get("/healthz", tags=["probes"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests; says nothing about the index or the policy."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["probes"],
    summary="Readiness: index and policy are loaded and warmed",
    responses={503: {"description": "Not ready yet: `{ready: false, state, reason}`"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 once the index is open and the policy has run its warm-up case; 503 (with the reason) before.

    Ready, it names the live index version and generation; ``index_reload_error`` says why the last
    attempt to load a newly published generation failed (the named one keeps serving), else null.
    """
    service = services_of(request).diagnosis
    if not service.ready:
        return JSONResponse(
            {"ready": False, "state": service.state, "reason": service.reason},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    live = service.live()  # one read: version and policy of the same generation
    return JSONResponse(
        {
            "ready": True,
            "state": service.state,
            "index_version": live.index.version,
            "index_generation": live.index.generation.name,
            "index_reload_error": service.reload_error,
            "policy": live.policy.name,
            "policy_version": live.policy.version,
        }
    )


# -- diagnosis ---------------------------------------------------------------------------------------------


async def diagnose_case(
    request: Request, principal: Principal, prepare: Callable[[], PreparedCase], *, log: dict[str, Any]
) -> tuple[PreparedCase, Diagnosed]:
    """Prepare (in a worker), diagnose, and commit the audit record, in that order.

    Shared by ``/v1/diagnose`` and the CDS Hooks service. ``prepare`` is a no-argument callable returning
    the :class:`PreparedCase`; it raises :class:`dxsearch.intake.IntakeError` for a request that is not a case.
    Reading the case and the policy run under one deadline (``policy_timeout_s``): 504 when it passes.
    """
    service: DiagnosisService = services_of(request).diagnosis
    service.require_ready()
    deadline = service.deadline()  # one deadline for reading the case and the policy
    # One index generation (index, policy, knowledge) from the policy to the audit record, whatever a
    # reload swaps in meanwhile; held, it stays open until this request is done.
    with service.serving() as live:
        prepared: PreparedCase = await service.prepare(prepare, deadline)
        log["source"] = prepared.source
        log["findings_observed"] = len(prepared.case.observed)
        log["findings_excluded"] = len(prepared.case.excluded)
        trace = await service.run_policy(prepared.case, prepared.account, deadline, serving=live)
        request_id = request_id_of(request.scope)
        client_id = client_request_id_of(request.scope)
        done = await service.in_thread(
            lambda: service.record(trace, prepared, principal, request_id, client_id, serving=live)
        )
    log["outcome"] = trace.outcome
    log["audit_id"] = done.record.record_id
    log["audit_seq"] = done.record.seq
    log["policy_ms"] = round(trace.total_ms, 1)
    return prepared, done


def diagnosis_out(diagnoses: Sequence[TracedDiagnosis]) -> list[DiagnosisOut]:
    """The differential (or what an insufficient-evidence answer considered) as the API returns it: ranked, each
    diagnosis with its evidence chain."""
    return [
        DiagnosisOut(
            rank=d.rank,
            name=d.name,
            code=d.code,
            alternate_codes=list(d.alternate_codes),
            confidence=d.confidence,
            score=d.confidence,
            evidence=[
                EvidenceOut(
                    evidence_id=link.evidence_id,
                    doc_id=link.doc_id,
                    title=link.title,
                    kind=link.kind.value,
                    section=link.section,
                    supports=list(link.supports),
                    mentions_diagnosis=link.mentions_diagnosis,
                    retrieval_score=link.score,
                    retrieval_rank=link.rank,
                )
                for link in d.evidence
            ],
            unsupported_citations=list(d.unsupported_citations),
        )
        for d in diagnoses
    ]


@router.post(
    "/v1/diagnose",
    tags=["diagnosis"],
    summary="Ranked differential with evidence chains, committed to the audit log before it is returned",
    responses={
        400: {"description": "Malformed JSON"},
        401: {"description": "Missing or unknown API key"},
        403: {"description": "Role may not diagnose"},
        413: {"description": "Body over the size limit, or a bundle over the entry cap"},
        422: {
            "description": "Not a case: a body that is not a JSON object, invalid fields, malformed FHIR bundle (with "
            "path), no observed finding, too many findings"
        },
        429: {"description": "Rate limit of the key exceeded"},
        503: {"description": "Not ready, or the audit log could not record the decision"},
        504: {"description": "The policy did not finish in time"},
    },
    openapi_extra=body_openapi(DiagnoseRequest),
)
async def post_diagnose(principal: Clinical, request: Request) -> DiagnoseResponse:
    """Diagnose a case given as a note, findings or a FHIR Bundle (roles: clinician, admin)."""
    # Read here, once the caller is admitted, and off the event loop (api.body); documented by openapi_extra.
    # A bundle over the entry cap is refused where the body is parsed (diagnose_refusal; for a big body in
    # the process of api.body_process) and its error raised below, where the intake would raise it.
    services = services_of(request)
    limits = services.diagnosis.intake_limits
    read = await read_body(request, DiagnoseRequest, partial(diagnose_refusal, limits=limits))
    request_id = request_id_of(request.scope)
    log = log_fields(request.scope)

    def prepare() -> PreparedCase:
        if isinstance(read, Refused):
            read.raise_()
        return intake(
            read.case_input(),
            pseudonymiser=services.diagnosis.pseudonymiser,
            fallback_id=f"request:{request_id}",
            limits=limits,
        )

    _, done = await diagnose_case(request, principal, prepare, log=log)
    trace = done.trace
    return DiagnoseResponse(
        diagnoses=diagnosis_out(trace.diagnoses),
        considered=diagnosis_out(trace.considered),
        outcome=trace.outcome,
        reason=trace.reason,
        stop_reason=trace.stop_reason.value,
        audit_id=done.record.record_id,
        request_id=request_id,
        model_version=model_version(trace),
        index_version=done.record.index_version,
        account=done.trace_json.get("input_account"),
        trace=done.trace_json,
    )


# -- audit -------------------------------------------------------------------------------------------------

#: The audit routes (and /v1/documents) refuse a query parameter they do not read: a misspelt one must not
#: pass for applied (``?expected_hash`` misspelt would answer ``changed: null``, as if nothing were asked).
_KNOWN_QUERY_ONLY = [Depends(after_role_check(known_query_only))]
_UNKNOWN_QUERY: dict[int | str, dict[str, Any]] = {422: {"description": "A query parameter this route does not read"}}


@router.get(
    "/v1/audit/verify",
    tags=["audit"],
    summary="Verify the audit log's hash chain and checkpoints",
    dependencies=_KNOWN_QUERY_ONLY,
    responses=_UNKNOWN_QUERY,
)
async def verify_audit_log(principal: LogVerifier, request: Request) -> JSONResponse:
    """Walk the whole chain; ``ok`` is false with the first broken record named (roles: auditor, admin).

    Checkpoints are checked against this server's signing key when one is configured: one is then
    required at every multiple of the configured checkpoint interval, and the log must extend every
    checkpoint published to the configured checkpoint file.

    The run is an access event (action ``verify``, ``filters.head_seq`` the head verified up to), appended once
    the log is verified and before the report goes out, so the report never covers its own event (the next run
    verifies it), as ``audit verify --key`` records its run and the other audit routes their reads; 503 and no
    report when the log cannot take it. The response names the event in ``X-Audit-Access-Id``.
    """
    service = services_of(request).diagnosis
    store = service.audit_store
    signer = getattr(store, "signer", None)
    public_key = getattr(signer, "public_key", None)
    every = getattr(store, "checkpoint_every", None)
    published = getattr(store, "checkpoint_file", None)
    report = await service.in_thread(
        lambda: verify_with_checkpoint_file(store, public_key, checkpoint_every=every, checkpoint_file=published)
    )
    return await _audit_read(request, principal, report.to_json(), {"head_seq": report.head_seq})


@router.get(
    "/v1/audit/checkpoint",
    tags=["audit"],
    summary="The latest signed checkpoint (tree size, Merkle root, time), for auditors to keep",
    response_model=dict[str, Any],
    dependencies=_KNOWN_QUERY_ONLY,
    responses={404: {"description": "No signed Merkle checkpoint yet"}, **_UNKNOWN_QUERY},
)
async def latest_checkpoint(principal: LogVerifier, request: Request) -> JSONResponse:
    """The newest checkpoint's signed note and fields (roles: auditor, admin).

    Keep what this returns outside the service (one JSON line per poll makes a file for
    ``audit verify --against``); later, ask for a consistency proof from its ``tree_size``.

    The read is an access event (:func:`_audit_read`, action ``verify``, ``filters.tree_size`` the checkpoint's),
    as ``GET /v1/audit/verify``'s run is; the response names it in ``X-Audit-Access-Id``.
    """
    service = services_of(request).diagnosis
    checkpoints = await service.in_thread(service.audit_store.checkpoints)
    signed = [c for c in checkpoints if c.note is not None]
    if not signed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the audit log has no signed Merkle checkpoint yet")
    latest = max(signed, key=lambda c: (c.seq, c.checkpoint_id))
    body = {
        "tree_size": latest.seq,
        "root_hash": latest.root_hash,
        "created_at": latest.created_at,
        "key_fingerprint": latest.key_fingerprint,
        "note": latest.note,
    }
    return await _audit_read(request, principal, body, {"tree_size": latest.seq})


@router.get(
    "/v1/audit/proof/consistency",
    tags=["audit"],
    summary="Merkle consistency proof between two tree sizes",
    response_model=dict[str, Any],
    dependencies=_KNOWN_QUERY_ONLY,
    responses={422: {"description": "A tree size outside the log, or a query parameter this route does not read"}},
)
async def consistency(
    principal: LogVerifier,
    request: Request,
    old_size: Annotated[int, Query(alias="from", ge=1, le=2**62, description="Tree size of a checkpoint you hold")],
    new_size: Annotated[int | None, Query(alias="to", ge=1, le=2**62, description="Later tree size (the head)")] = None,
) -> JSONResponse:
    """Proof that the log of ``from`` records is a prefix of the log of ``to`` (roles: auditor, admin).

    The read is an access event (:func:`_audit_read`: ``filters`` the two tree sizes proved), named in
    ``X-Audit-Access-Id``; a size outside the log is a 422 and reads nothing, so it is not one.
    """
    service = services_of(request).diagnosis
    try:
        proof = await service.in_thread(lambda: prove_consistency(service.audit_store, old_size, new_size))
    except AuditError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return await _audit_read(request, principal, proof.to_json(), {"from": proof.old_size, "to": proof.new_size})


@router.get(
    "/v1/audit/proof/inclusion",
    tags=["audit"],
    summary="Merkle inclusion proof of one record",
    response_model=dict[str, Any],
    dependencies=_KNOWN_QUERY_ONLY,
    responses={
        422: {"description": "A record or tree size outside the log, or a query parameter this route does not read"}
    },
)
async def inclusion(
    principal: LogVerifier,
    request: Request,
    seq: Annotated[int, Query(ge=1, le=2**62, description="The record's sequence number")],
    size: Annotated[int | None, Query(ge=1, le=2**62, description="Tree size (default: the head)")] = None,
) -> JSONResponse:
    """Proof that record ``seq`` is leaf ``seq - 1`` of the tree of ``size`` records (roles: auditor, admin).

    The read is an access event (:func:`_audit_read`: ``filters`` the record's seq and the tree size), named in
    ``X-Audit-Access-Id``; a record or size outside the log is a 422 and reads nothing, so it is not one.
    """
    service = services_of(request).diagnosis
    try:
        proof = await service.in_thread(lambda: prove_inclusion(service.audit_store, seq, size))
    except AuditError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return await _audit_read(request, principal, proof.to_json(), {"seq": proof.seq, "size": proof.size})


async def _audit_read(
    request: Request, principal: Principal, body: dict[str, Any], filters: dict[str, Any]
) -> JSONResponse:
    """``body`` once its read of the audit surface (a verification's report, a checkpoint, a proof) is an access
    event: action ``verify`` (the log's chain, checkpoints or proofs, no record's content),
    ``filters`` what was asked for, appended before the body goes out; 503 and no body when the log cannot take
    it. The response names the event in ``X-Audit-Access-Id``.

    Why: every read of the audit surface by an auditor is an access event, and these were not (only a refusal
    of the route was recorded), so an auditor's polling of checkpoints and proofs left no trace.
    """
    access = await record_access(request, principal, "verify", access_purpose(principal), [], filters=filters)
    return JSONResponse(body, headers=access_headers(access))


# -- corpus ------------------------------------------------------------------------------------------------


@router.get("/v1/corpus", tags=["corpus"], summary="Which index answers, and what it holds")
async def corpus(principal: AnyRole, request: Request) -> dict[str, Any]:
    """Index version, build, document and chunk counts, sources and their licences (any role)."""
    index = services_of(request).diagnosis.index
    manifest = index.manifest
    sources = [
        {key: source.get(key) for key in ("name", "description", "licence", "citation", "versions", "documents")}
        for source in manifest.sources
    ]
    return {
        "index_version": manifest.index_version,
        "build_id": manifest.build_id,
        "created_at": manifest.created_at,
        "corpus_hash": manifest.corpus_hash,
        "embedder": manifest.embedder.name,
        "chunk_max_chars": manifest.chunk_max_chars,
        "counts": manifest.counts,
        "sources": sources,
        "versions": manifest.versions,
    }


@router.get(
    "/v1/documents/{evidence_id}",
    tags=["corpus"],
    summary="A cited passage in its source document (percent-encode '#' as %23)",
    dependencies=_KNOWN_QUERY_ONLY,
    responses={
        400: {"description": "Malformed evidence id"},
        404: {"description": "Unknown evidence id"},
        422: {"description": "A malformed expected_hash, or a query parameter this route does not read"},
    },
)
async def document(
    evidence_id: Annotated[str, Path(max_length=512, description="Evidence id `doc_id#n`, e.g. omim:154700%230.")],
    principal: AnyRole,
    request: Request,
    expected_hash: Annotated[
        str | None,
        Query(
            pattern=r"^sha256:[0-9a-f]{64}$",
            description="The passage hash a decision saw (`trace.passage_hashes[evidence_id]`): the answer says "
            "whether the current index's text still matches it (`changed`).",
        ),
    ] = None,
) -> PassageOut:
    """The chunk an evidence id names, with its document and span, so a viewer can highlight it (any role).

    The answer names the index version it comes from and the passage's hash; given the hash a decision
    recorded, ``changed`` says whether the passage differs from what that decision saw.
    """
    if not _EVIDENCE_ID.fullmatch(evidence_id):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "malformed evidence id: expected 'doc_id#n' such as 'omim:154700#0'"
        )
    doc_id, _ = split_evidence_id(evidence_id)
    service = services_of(request).diagnosis

    def load(index: EmbeddedIndex) -> PassageOut | None:
        store = index.store
        chunk = store.chunk(evidence_id)
        source = store.document(doc_id) if chunk is not None else None
        if chunk is None or source is None:
            return None
        current = passage_hash(chunk.text)
        return PassageOut(
            evidence_id=evidence_id,
            index_version=index.version,
            passage_hash=current,
            document_hash=store.content_hash(doc_id),
            changed=None if expected_hash is None else current != expected_hash,
            doc_id=doc_id,
            ordinal=chunk.ordinal,
            start=chunk.start,
            end=chunk.end,
            section=chunk.section,
            passage=chunk.text,
            document=SourceDocumentOut(
                id=source.id,
                title=source.title,
                kind=source.kind.value,
                source=source.metadata.source,
                licence=source.metadata.licence,
                codes=list(source.metadata.codes),
                text=source.text,
            ),
        )

    with service.serving() as live:  # one generation's store and version, open until read
        found = await service.in_thread(lambda: load(live.index))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no passage with this evidence id in the current index")
    return found
