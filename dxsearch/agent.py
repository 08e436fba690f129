"""The rollout loop and its product, the ``Trace``: what was asked, retrieved, reasoned and concluded.

A trace is what a clinician reads, what the audit log stores and what an
auditor queries, so it is self-contained JSON: a pseudonymised case, every turn
with timings, every retrieved passage with score and rank, and each diagnosis
with its evidence chain (claim -> evidence id -> source document/section).
A citation of a passage the agent never retrieved is flagged, never shown as
evidence. "Insufficient evidence" is an outcome, not an error.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.cases import Case, Finding, Sex
from dxsearch.corpus import Chunk, DocumentKind, normalise_name
from dxsearch.env import DiagnosticEnv, StepResult
from dxsearch.episode import Exchange, RetrievalRecord, StopReason
from dxsearch.intake.account import InputAccount
from dxsearch.knowledge.explanation import Explanation, explain_diagnoses
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.next_steps import NextSteps, NextStepsPlanner, PlanCandidate
from dxsearch.policies.base import Policy, PolicyError, PolicyUnavailableError
from dxsearch.policies.differential import merge_candidates
from dxsearch.protocol import Candidate, Diagnose, Retrieve, render_result, render_turn
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.retrieval.base import RetrievalUnavailableError
from dxsearch.settings import get_settings

Outcome = Literal["diagnosed", "insufficient_evidence", "no_diagnosis"]
#: Pseudonym namespace of case identifiers in traces.
CASE_NAMESPACE = "case"
NOTE_NAMESPACE = "note"
REDACTED = "[note text removed]"
#: Note fragments shorter than this are too common to redact meaningfully (and carry little).
_MIN_REDACTED_CHARS = 12


class TraceCase(BaseModel):
    """The case as a trace may hold it: pseudonym instead of id, a hash instead of free text."""

    model_config = ConfigDict(frozen=True)

    pseudonym: str
    sex: Sex
    age: str | None
    findings: tuple[Finding, ...]
    text_pseudonym: str | None = Field(
        default=None, description="Keyed pseudonym of the free text (it is PHI): says whether two traces share a note."
    )
    pseudonym_key: str | None = Field(
        default=None,
        description="Fingerprint of the key the pseudonyms were made with: a key rotation shows here, the key never.",
    )


class TurnRecord(BaseModel):
    """One policy turn, as emitted, with what the environment made of it."""

    model_config = ConfigDict(frozen=True)

    index: int
    text: str
    action: str | None
    error: str | None = None
    observation: str | None = None
    evidence_ids: tuple[str, ...] = ()
    policy_ms: float
    env_ms: float


class EvidenceLink(BaseModel):
    """One step of an evidence chain: a cited passage, where it comes from, and what in it supports the claim."""

    model_config = ConfigDict(frozen=True)

    evidence_id: str
    doc_id: str
    kind: DocumentKind
    title: str
    section: str | None = None
    score: float
    rank: int
    retriever: str
    supports: tuple[str, ...] = Field(
        default=(),
        description="The patient's findings this passage mentions, in their own words or by their HPO term's name "
        "(the case's labels, as entered).",
    )
    mentions_diagnosis: bool = False


class TracedDiagnosis(BaseModel):
    """A ranked diagnosis with its evidence chain; ``unsupported_citations`` were cited but never retrieved."""

    model_config = ConfigDict(frozen=True)

    rank: int
    name: str
    code: str | None
    confidence: float | None
    evidence: tuple[EvidenceLink, ...]
    unsupported_citations: tuple[str, ...] = ()
    alternate_codes: tuple[str, ...] = Field(
        default=(),
        description="Other codes of the same disease (ORPHA:558 beside OMIM:154700) whose lower-ranked entries "
        "were folded into this one (dxsearch.policies.differential); confidence is still this entry's.",
    )
    explanation: Explanation | None = Field(
        default=None,
        description="Findings it explains, does not explain, and that contradict it (likelihood ratios over the "
        "index's disease knowledge); null for a diagnosis without a code or when no knowledge was given.",
    )


class PolicyInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    model_id: str | None = None


class Trace(BaseModel):
    """The product of one diagnosis: self-contained, JSON-serialisable, free of PHI."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    created_at: datetime
    case: TraceCase
    policy: PolicyInfo
    index_version: str | None
    turns: tuple[TurnRecord, ...]
    retrievals: tuple[RetrievalRecord, ...]
    diagnoses: tuple[TracedDiagnosis, ...]
    considered: tuple[TracedDiagnosis, ...] = Field(
        default=(),
        description="An insufficient-evidence answer's leading candidates, best first, each with its probability, "
        "evidence and explanation: what was weighed and found too improbable to name. Not a diagnosis.",
    )
    outcome: Outcome
    reason: str | None = Field(
        default=None, description="Why the answer is 'insufficient evidence', when the policy said why."
    )
    stop_reason: StopReason
    error: str | None = None
    retrievals_used: int = Field(ge=0, description="Retrieval turns charged to the budget, empty ones included.")
    total_ms: float
    input_account: InputAccount | None = Field(
        default=None,
        description="What the intake made of every input item (mapped to HPO or not understood); PHI-free.",
    )
    next_steps: NextSteps | None = Field(
        default=None,
        description="What to do next for the differential, computed from the final diagnoses and the index's "
        "disease knowledge: a gene panel, ask-next questions (by expected information gain) and guideline "
        "passages naming a candidate. For an insufficient-evidence answer, questions only, over the disease "
        "cards the episode retrieved. None when nothing was planned (no planner, no candidate).",
    )


def trace_case(case: Case, pseudonymiser: Pseudonymiser) -> TraceCase:
    """The case with its identifier pseudonymised and its free text reduced to a hash."""
    return TraceCase(
        pseudonym=pseudonymiser.pseudonym(case.case_id, CASE_NAMESPACE),
        sex=case.sex,
        age=case.age,
        findings=case.findings,
        text_pseudonym=pseudonymiser.pseudonym(case.text, NOTE_NAMESPACE) if case.text else None,
        pseudonym_key=pseudonymiser.key_fingerprint(),
    )


def _mentions(text: str, phrases: Collection[str]) -> tuple[str, ...]:
    """Phrases that occur in ``text`` as whole words (case-insensitive): 'syndrome' is not 'Marfan syndrome'."""
    return tuple(
        p for p in phrases if p.strip() and re.search(rf"(?<!\w){re.escape(p.strip())}(?!\w)", text, re.IGNORECASE)
    )


def redact_note(text: str, note: str | None) -> str:
    """Remove the case's free text (PHI) from a policy turn that echoes it, line by line and sentence by sentence."""
    if not note:
        return text
    fragments = {note.strip()}
    for line in note.splitlines():
        fragments.add(line.strip())
        fragments.update(part.strip() for part in re.split(r"(?<=[.;!?])\s+", line))
    for fragment in sorted(fragments, key=len, reverse=True):
        if len(fragment) >= _MIN_REDACTED_CHARS:
            text = text.replace(fragment, REDACTED)
    return text


def _link(
    env: DiagnosticEnv,
    evidence_id: str,
    candidate: Candidate,
    case: Case,
    first_seen: dict[str, RetrievalRecord],
    resolve_chunk: Callable[[str], Chunk | None] | None,
    term_names: Callable[[str], str | None],
) -> EvidenceLink | None:
    evidence = env.seen(evidence_id)
    record = first_seen.get(evidence_id)
    if evidence is None or record is None:
        return None
    text = evidence.text
    mentions = (candidate.code is not None and candidate.code in evidence.codes) or bool(
        _mentions(f"{evidence.title}\n{text}", [candidate.name])
    )
    chunk = resolve_chunk(evidence_id) if resolve_chunk else None
    return EvidenceLink(
        evidence_id=evidence_id,
        doc_id=evidence.doc_id,
        kind=evidence.kind,
        title=evidence.title,
        section=chunk.section if chunk else None,
        score=record.score,
        rank=record.rank,
        retriever=record.retriever,
        supports=_findings_named(text, case, term_names),
        mentions_diagnosis=mentions,
    )


def _findings_named(text: str, case: Case, term_names: Callable[[str], str | None]) -> tuple[str, ...]:
    """The case's observed findings (their labels) that ``text`` names in their words or by their HPO term's name.

    A note's words ("long thin fingers") are seldom a record's (records list HPO names: "Arachnodactyly"),
    so a record found by the meaning of its findings would otherwise seem to name none of them.
    """
    named: list[str] = []
    for finding in case.observed:
        name = term_names(finding.hpo_id) if finding.hpo_id else None
        if _mentions(text, [finding.label, *([name] if name else [])]):
            named.append(finding.label)
    return tuple(named)


@dataclass(frozen=True, slots=True)
class RolloutStep:
    """One policy turn as played: the raw text, what the environment made of it, and how long each side took."""

    text: str
    result: StepResult
    policy_ms: float
    env_ms: float


@dataclass(frozen=True, slots=True)
class Rollout:
    """One episode played to its end; ``error`` says why the policy stopped answering, if it did."""

    history: tuple[Exchange, ...]
    steps: tuple[RolloutStep, ...]
    error: str | None


def rollout(case: Case, policy: Policy, env: DiagnosticEnv, *, exclude_doc_ids: Collection[str] = ()) -> Rollout:
    """The one loop of policy and environment: turns until the environment ends the episode.

    Inference (:func:`diagnose`), the benchmark and training all play episodes through here, so a policy
    meets the same budgets and the same error handling everywhere. A policy that raises ends its episode
    (never the caller's run) with stop reason ``policy_error``: a :class:`PolicyError` keeps its message,
    any other exception only its type, since a message could quote the case. A search backend or a model
    server that cannot answer (:class:`RetrievalUnavailableError`, :class:`PolicyUnavailableError`) ends the
    whole run instead: nothing may be concluded from evidence that could not be searched, nor recorded as
    the decision of a model that could not be asked.
    """
    env.reset(case, exclude_doc_ids=exclude_doc_ids)
    history: list[Exchange] = []
    steps: list[RolloutStep] = []
    error: str | None = None
    while not env.done:
        t0 = time.perf_counter()
        try:
            text = policy.next_turn(case, history)
        except (PolicyUnavailableError, RetrievalUnavailableError):  # no answer at all, not a wrong one
            raise
        except PolicyError as exc:
            error = str(exc)
            env.stop(StopReason.POLICY_ERROR)
            break
        except Exception as exc:  # a broken policy ends its episode, never the caller's run
            error = f"policy raised {type(exc).__name__}"
            env.stop(StopReason.POLICY_ERROR)
            break
        t1 = time.perf_counter()
        result = env.step(text)
        t2 = time.perf_counter()
        history.append(Exchange(text, result.observation))
        steps.append(RolloutStep(text, result, 1000 * (t1 - t0), 1000 * (t2 - t1)))
    return Rollout(tuple(history), tuple(steps), error)


#: Why a note in which no finding was understood gets "insufficient evidence".
NOTHING_UNDERSTOOD = "no finding was understood in the text"


class _NothingObserved:
    """The answer to a case without an observed finding: insufficient evidence, said before the policy runs.

    Such a case comes from a note in which nothing was understood (:func:`dxsearch.intake.intake` keeps it, as
    a findings list of words nobody can read is kept). The evidence policies would answer it so themselves; a
    language model must not be asked to diagnose from nothing. Named as the policy it stands for: the decision
    is that deployment's, and the turn says why.
    """

    def __init__(self, policy: Policy) -> None:
        self.inner = policy
        self.name = policy.name
        self.version = policy.version
        self.model_id: str | None = getattr(policy, "model_id", None)

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        reason = NOTHING_UNDERSTOOD if case.text is not None else "no observed finding was given"
        return render_turn(Diagnose((), reason=reason))


def diagnose(
    case: Case,
    policy: Policy,
    env: DiagnosticEnv,
    *,
    index_version: str | None = None,
    exclude_doc_ids: Collection[str] = (),
    pseudonymiser: Pseudonymiser | None = None,
    resolve_chunk: Callable[[str], Chunk | None] | None = None,
    input_account: InputAccount | None = None,
    knowledge: HpoKnowledge | None = None,
    next_steps: NextStepsPlanner | None = None,
) -> Trace:
    """Run ``policy`` on ``case`` in ``env`` (:func:`rollout`) and return the trace: the rollout, bookkept.

    ``input_account`` is the intake's account of the input the case was read from; it goes into the trace.
    ``knowledge`` (the index's disease knowledge) adds each diagnosis's explanation: what it explains,
    what it does not, what contradicts it.
    ``next_steps`` plans the trace's next steps once the policy has answered (it reads the answer, never
    changes it); give it the knowledge and retriever of the index ``env`` searches.
    """
    started = time.perf_counter()
    created = datetime.now(UTC)
    pseudonymiser = pseudonymiser or Pseudonymiser(get_settings().pseudonym_key)
    played = rollout(case, policy if case.observed else _NothingObserved(policy), env, exclude_doc_ids=exclude_doc_ids)
    turns: list[TurnRecord] = []
    for step in played.steps:
        result = step.result
        shown = result.observation.passages if result.observation else ()
        turns.append(
            TurnRecord(
                index=result.turn_index,
                text=redact_note(step.text, case.text),
                action=_action_name(result.turn),
                error=result.error.kind.value if result.error else None,
                observation=render_result(result.observation) if result.observation else None,
                evidence_ids=tuple(p.evidence_id for p in shown),
                policy_ms=step.policy_ms,
                env_ms=step.env_ms,
            )
        )
    records = env.records
    first_seen: dict[str, RetrievalRecord] = {}
    for record in records:
        if not record.duplicate:
            first_seen.setdefault(record.evidence_id, record)
    final = env.final
    names = _term_names(knowledge) if knowledge is not None else (lambda term: None)
    diagnoses = _traced_diagnoses(final.candidates, env, case, first_seen, resolve_chunk, names) if final else ()
    considered = _traced_diagnoses(final.considered, env, case, first_seen, resolve_chunk, names) if final else ()
    if knowledge is not None:
        diagnoses, considered = _explained(diagnoses, case, knowledge), _explained(considered, case, knowledge)
    outcome: Outcome = "no_diagnosis"
    if final is not None:
        outcome = "insufficient_evidence" if final.insufficient else "diagnosed"
    stop_reason = env.stop_reason or StopReason.POLICY_ERROR
    planned = _plan(next_steps, case, final, diagnoses, considered, records) if next_steps is not None else None
    return Trace(
        trace_id=str(uuid.uuid4()),
        created_at=created,
        case=trace_case(case, pseudonymiser),
        policy=PolicyInfo(name=policy.name, version=policy.version, model_id=getattr(policy, "model_id", None)),
        index_version=index_version,
        turns=tuple(turns),
        retrievals=tuple(records),
        diagnoses=diagnoses,
        considered=considered,
        outcome=outcome,
        reason=final.reason if final is not None else None,
        stop_reason=stop_reason,
        error=played.error,
        retrievals_used=env.retrievals_used,
        total_ms=1000 * (time.perf_counter() - started),
        input_account=input_account,
        next_steps=planned,
    )


#: Disease cards an insufficient-evidence answer's questions are planned over, at most.
_RETRIEVED_CANDIDATES = 5


def _explained(
    diagnoses: tuple[TracedDiagnosis, ...], case: Case, knowledge: HpoKnowledge
) -> tuple[TracedDiagnosis, ...]:
    if not diagnoses:
        return diagnoses
    explained = explain_diagnoses([d.code for d in diagnoses], case, knowledge)
    return tuple(d.model_copy(update={"explanation": e}) for d, e in zip(diagnoses, explained, strict=True))


def _plan(
    planner: NextStepsPlanner,
    case: Case,
    final: Diagnose | None,
    diagnoses: tuple[TracedDiagnosis, ...],
    considered: tuple[TracedDiagnosis, ...],
    records: list[RetrievalRecord],
) -> NextSteps | None:
    """Next steps of the final answer: the differential's, or for "insufficient evidence" questions only.

    An insufficient-evidence answer has no differential to test or read about, but more findings are what it
    lacks: its questions separate the candidates it considered, with their probabilities, or when it named
    none the disease cards the episode retrieved (first retrieved first, equally likely), and say which
    (``basis``). Nothing is planned without an answer or without a candidate.
    """
    if final is None:
        return None
    if not final.insufficient:
        return planner.plan(case, [PlanCandidate(d.rank, d.name, d.code, d.confidence) for d in diagnoses])
    if considered:
        weighed = [PlanCandidate(d.rank, d.name, d.code, d.confidence) for d in considered]
        return planner.plan(case, weighed, basis="considered")
    return planner.plan(case, retrieved_diseases(records), basis="retrieved_diseases")


def retrieved_diseases(records: list[RetrievalRecord]) -> list[PlanCandidate]:
    """The disease cards an episode retrieved, first retrieved first, each disease once.

    An OMIM and an ORPHA card of one disease count once: by name, or when each card lists the other's
    own code ("Spastic paraplegia 10, autosomal dominant", OMIM:604187, and "Autosomal dominant spastic
    paraplegia type 10", ORPHA:100991), so that no question claims to separate a disease from itself.
    Both ways, because a group card lists the codes of its members.
    """
    kept: list[tuple[PlanCandidate, frozenset[str]]] = []
    names: set[str] = set()
    for record in records:
        if record.duplicate or record.kind != DocumentKind.DISEASE_KNOWLEDGE:
            continue
        disease_codes = [c for c in record.codes if c.startswith(("OMIM:", "ORPHA:"))]
        name = normalise_name(record.title)
        if not disease_codes or name in names:
            continue
        code, listed = disease_codes[0], frozenset(disease_codes)
        if any(code in other and (kept_one.code or "") in listed for kept_one, other in kept):
            continue
        names.add(name)
        kept.append((PlanCandidate(len(kept) + 1, record.title, code), listed))
        if len(kept) >= _RETRIEVED_CANDIDATES:
            break
    return [candidate for candidate, _ in kept]


def _action_name(turn: object) -> str | None:
    if turn is None:
        return None
    if isinstance(turn, Retrieve):
        return turn.action.value
    if isinstance(turn, Diagnose):
        return "diagnose"
    return "reason"


def _term_names(knowledge: HpoKnowledge) -> Callable[[str], str | None]:
    """An HPO id's current name (``None`` for an id the ontology does not know)."""

    def name(term_id: str) -> str | None:
        current = knowledge.current_id(term_id)
        try:
            return knowledge.term_name(current) if current else None
        except KeyError:
            return None

    return name


def _traced_diagnoses(
    answered: tuple[Candidate, ...],
    env: DiagnosticEnv,
    case: Case,
    first_seen: dict[str, RetrievalRecord],
    resolve_chunk: Callable[[str], Chunk | None] | None,
    term_names: Callable[[str], str | None] = lambda term: None,
) -> tuple[TracedDiagnosis, ...]:
    """The final answer's candidates (or what it considered) as the trace shows them: each disease once
    (equivalent OMIM / ORPHA entries folded into the better-ranked one,
    :func:`~dxsearch.policies.differential.merge_candidates`), ranks renumbered, every cited evidence id
    resolved to its chain or listed as unsupported."""
    traced: list[TracedDiagnosis] = []
    for rank, candidate in enumerate(merge_candidates(answered), start=1):
        links: list[EvidenceLink] = []
        unsupported: list[str] = []
        for evidence_id in candidate.evidence:
            link = _link(env, evidence_id, candidate, case, first_seen, resolve_chunk, term_names)
            if link is None:
                unsupported.append(evidence_id)
            else:
                links.append(link)
        traced.append(
            TracedDiagnosis(
                rank=rank,
                name=candidate.name,
                code=candidate.code,
                confidence=candidate.confidence,
                evidence=tuple(links),
                unsupported_citations=tuple(unsupported),
                alternate_codes=candidate.alternate_codes,
            )
        )
    return tuple(traced)
