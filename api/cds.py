"""CDS Hooks: discovery and a ``patient-view`` service that returns the differential, and its next steps, as cards.

Why cards carry so little: an EHR shows the summary (at most 140 characters) in a busy chart; the
evidence chain is one click away in the viewer (``/viewer/?trace=<audit_id>``), linked from every card.
Every card set comes from a decision committed to the audit log first, exactly as ``/v1/diagnose``.
Corpus titles and model output are escaped before they enter the card's markdown, so a poisoned
document cannot inject links or HTML into the EHR.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import ConfigDict, Field

from api.auth import Clinical, after_role_check
from api.body import body_openapi, read_body
from api.cds_next_steps import next_steps_card
from api.cds_text import markdown_text, plain_summary
from api.errors import single_valued_query
from api.logging import log_fields
from api.prefetch import bundle_from_prefetch
from api.routes import diagnose_case
from api.schemas import JsonBody, entry_refusal
from api.service import Diagnosed
from api.state import services_of
from dxsearch.agent import TracedDiagnosis
from dxsearch.corpus import DocumentKind
from dxsearch.intake import IntakeError, NoFindingsError, case_from_bundle
from dxsearch.protocol import probability_text

#: The query is checked once the role is (api.auth.after_role_check): a refused role is a 403, recorded.
router = APIRouter(tags=["cds-hooks"], dependencies=[Depends(after_role_check(single_valued_query))])

SERVICE_ID = "dxsearch-patient-view"
HOOK = "patient-view"
MAX_CARD_DIAGNOSES = 5
SOURCE_LABEL = "DxSearch"

SERVICE_DEFINITION: dict[str, Any] = {
    "hook": HOOK,
    "id": SERVICE_ID,
    "title": "DxSearch differential diagnosis",
    "description": (
        "Ranks differential diagnoses from the patient's recorded findings (HPO-coded or named Observations) "
        "and links each to the evidence it rests on."
    ),
    "prefetch": {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}",
    },
}


class CdsHookRequest(JsonBody):
    """A CDS Hooks service request; only ``hook``, ``context`` and ``prefetch`` are read."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    hook: str = Field(max_length=128)
    hook_instance: str = Field(alias="hookInstance", min_length=1, max_length=256)
    context: dict[str, Any] = Field(default_factory=dict)
    prefetch: dict[str, Any] | None = None


class CdsFeedbackRequest(JsonBody):
    model_config = ConfigDict(extra="allow")

    feedback: list[dict[str, Any]] = Field(max_length=100)


def support_text(diagnosis: TracedDiagnosis) -> str:
    """What a card line says of a diagnosis's weight: its probability, then how many of the entered findings it
    explains, and, when it explains none, that it rests on similar published patients alone (if so).

    Why: a card listed "probability 0.02" for a disease that explains none of the patient's findings, carried by
    the votes of similar published patients alone, and the clinician in the EHR could not tell it from one that
    explains them all (a user test); the viewer and the command line say both.
    """
    parts = [f"probability {probability_text(diagnosis.confidence)}"] if diagnosis.confidence is not None else []
    explanation = diagnosis.explanation
    if explanation is not None and not explanation.annotated:
        parts.append("no phenotype annotation to explain the findings with")
    elif explanation is not None:
        explained = len(explanation.supports)
        parts.append(
            f"explains {explained} of {explanation.entered} findings"
            if explained
            else f"explains none of the {explanation.entered} findings"
        )
    if (
        (explanation is None or not explanation.supports)
        and diagnosis.evidence
        and all(link.kind is DocumentKind.PATIENT_RECORD for link in diagnosis.evidence)
    ):
        parts.append("rests on similar published patients alone")
    return "; ".join(parts) or "no probability or explanation recorded"


def build_cards(done: Diagnosed, viewer_url: str) -> list[dict[str, Any]]:
    """An info card for the decision (the differential, or an honest "insufficient evidence"), then one for
    its next steps when it has any (:mod:`api.cds_next_steps`)."""
    trace = done.trace
    diagnoses = trace.diagnoses[:MAX_CARD_DIAGNOSES]
    if trace.outcome == "diagnosed" and diagnoses:
        top = diagnoses[0]
        named = f"{top.name} ({top.code})" if top.code else top.name
        more = f"; {len(trace.diagnoses) - 1} more in the differential" if len(trace.diagnoses) > 1 else ""
        summary = plain_summary(f"Consider {named}{more}")
        lines = ["Ranked differential from the recorded findings (decision support, not a diagnosis):", ""]
        for d in diagnoses:
            code = f" ({markdown_text(', '.join((d.code, *d.alternate_codes)))})" if d.code else ""
            sources = "; ".join(markdown_text(link.title) for link in d.evidence[:3]) or "no cited passage"
            lines.append(f"{d.rank}\\. **{markdown_text(d.name)}**{code}: {support_text(d)}; evidence: {sources}")
    elif trace.outcome == "insufficient_evidence":
        summary = plain_summary("Insufficient evidence for a differential from the recorded findings")
        lines = ["The corpus does not support any candidate diagnosis well enough to list one."]
        if trace.reason:
            lines.append(f"Reason: {markdown_text(trace.reason)}.")
        if trace.considered:
            lines += ["", "Considered, each too improbable to name (not a diagnosis):", ""]
            for d in trace.considered[:MAX_CARD_DIAGNOSES]:
                code = f" ({markdown_text(d.code)})" if d.code else ""
                lines.append(f"{d.rank}\\. {markdown_text(d.name)}{code}: {support_text(d)}")
    else:
        summary = plain_summary("No differential could be produced for the recorded findings")
        lines = [f"The diagnostic run ended without a diagnosis ({markdown_text(trace.stop_reason.value)})."]
    lines += ["", f"Policy {markdown_text(trace.policy.name)}, index {markdown_text(trace.index_version or '?')}."]
    cards = [
        {
            "uuid": str(uuid.uuid4()),
            "summary": summary,
            "detail": "\n".join(lines),
            "indicator": "info",
            "source": {"label": SOURCE_LABEL},
            "links": [{"label": "Open the evidence chain in DxSearch", "url": viewer_url, "type": "absolute"}],
        }
    ]
    steps = next_steps_card(trace.next_steps, viewer_url, SOURCE_LABEL)
    return cards if steps is None else [*cards, steps]


@router.get("/cds-services", summary="CDS Hooks discovery")
async def discovery() -> dict[str, Any]:
    """The services this server offers (public, as CDS Hooks discovery is: it holds no patient data)."""
    return {"services": [SERVICE_DEFINITION]}


@router.post(
    f"/cds-services/{SERVICE_ID}",
    summary="patient-view: the differential as CDS cards",
    openapi_extra=body_openapi(CdsHookRequest),
)
async def patient_view(principal: Clinical, request: Request) -> dict[str, Any]:
    """Cards for the patient in ``prefetch`` (roles: clinician, admin); audited like ``/v1/diagnose``.

    A patient with no observed finding gets no card (and no audit record: nothing was decided).
    """
    # The prefetch may be a large bundle: read once the caller is admitted, off the event loop (api.body).
    body = await read_body(request, CdsHookRequest)
    if body.hook != HOOK:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"this service answers the '{HOOK}' hook")
    services = services_of(request)
    bundle = bundle_from_prefetch(body.prefetch)
    refused = entry_refusal(bundle)  # a prefetch.bundle's entry that is null: said as /v1/diagnose says it
    if refused is not None:
        raise refused
    context_patient = body.context.get("patientId")
    prefetched = (body.prefetch or {}).get("patient")
    if (
        isinstance(context_patient, str)
        and isinstance(prefetched, dict)
        and prefetched.get("id")
        not in (
            None,
            context_patient,
        )
    ):
        raise IntakeError("prefetch.patient is not the patient named in context.patientId", path="prefetch.patient")
    log = log_fields(request.scope)
    try:
        _, done = await diagnose_case(
            request,
            principal,
            lambda: case_from_bundle(
                bundle, pseudonymiser=services.diagnosis.pseudonymiser, limits=services.diagnosis.intake_limits
            ),
            log=log,
        )
    except NoFindingsError:  # a patient without findings: nothing to say
        log["cards"] = 0
        return {"cards": []}
    base = (services.settings.public_url or str(request.base_url)).rstrip("/")
    cards = build_cards(done, f"{base}/viewer/?trace={done.record.record_id}")
    log["cards"] = len(cards)
    return {"cards": cards}


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="CDS Hooks feedback on cards",
    responses={404: {"description": "No CDS service with this id"}},
    openapi_extra=body_openapi(CdsFeedbackRequest),
)
async def feedback(
    service_id: Annotated[str, Path(max_length=128)], principal: Clinical, request: Request
) -> dict[str, Any]:
    """Accept card feedback (accepted / overridden); only counts are logged (roles: clinician, admin)."""
    body = await read_body(request, CdsFeedbackRequest)  # once the caller is admitted (api.body)
    if service_id != SERVICE_ID:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no CDS service '{service_id}'")
    outcomes = [str(item.get("outcome")) for item in body.feedback]
    log = log_fields(request.scope)
    log["feedback_accepted"] = outcomes.count("accepted")
    log["feedback_overridden"] = outcomes.count("overridden")
    return {}
