"""Request and response bodies of the API, as pydantic models (they are also the OpenAPI schema).

Why strict: a diagnosis request is clinical input, so unknown fields are refused (a typo such as
``finding`` instead of ``findings`` must not silently diagnose nothing), and finding labels are checked
here, before anything runs: they are data, spliced verbatim into the agent's tagged action grammar
(``<match>…</match>``), so a label holding ``<`` or ``>`` is refused with 422 rather than escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, computed_field, model_validator

from api.errors import not_unicode_message
from dxsearch.intake import CaseInput, InputAccount, IntakeError, IntakeLimits, bundle_refusal, check_label
from dxsearch.intake.demographics import MAX_AGE_YEARS, check_age
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.lone_surrogates import lone_surrogate
from dxsearch.next_steps import NextSteps

Sex = Literal["male", "female", "other", "unknown"]

MAX_LABEL_CHARS = 200
MAX_FINDINGS = 500
MAX_TEXT_CHARS = 100_000


def _string_to_finding(value: object) -> object:
    """A bare string in ``findings`` is a finding label (observed); null, a number or an array is refused.

    Why refused here: pydantic would say the item "should be a valid dictionary", though a string is
    as good; the refusal says both forms a finding may take.
    """
    if isinstance(value, str):
        return {"label": value}
    for kind, words in _JSON_KINDS:
        if isinstance(value, kind):
            raise ValueError(f"a finding is a label (a string) or an object with label and/or hpo_id, not {words}")
    return value


def _unicode(value: object) -> object:
    """Text as given, refused when it holds a lone UTF-16 surrogate (no UTF-8 form: it crashed the pseudonymiser).

    Pydantic refuses one too in a length-bounded string, but as "unable to parse raw data as a unicode
    string"; this says what is wrong. The API finds them as it parses a body (:mod:`api.body`); this is for
    whoever validates the model directly (``dxsearch diagnose --case case.json``).
    """
    found = lone_surrogate(value) if isinstance(value, str) else None
    if found is not None:
        raise ValueError(not_unicode_message(found))
    return value


def _boolean(value: object) -> object:
    """``excluded`` as JSON's true or false only: pydantic would read "yes", "no", 0 or 1 as a boolean.

    Why strict: a finding wrongly read as absent (or present) changes the diagnosis, silently.
    """
    if not isinstance(value, bool):
        words = next((w for kind, w in _JSON_KINDS if isinstance(value, kind)), "another kind of value")
        raise ValueError(f"excluded must be true or false, not {words}")
    return value


def _age(value: object) -> object:
    """An age as an ISO 8601 duration (``P14Y``, ``P2Y6M``) or whole years (``14`` becomes ``P14Y``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("age must be an ISO 8601 duration such as P14Y, or whole years")
    if isinstance(value, int):
        if not 0 <= value <= MAX_AGE_YEARS:
            raise ValueError(f"age in years must be between 0 and {MAX_AGE_YEARS}")
        return f"P{value}Y"
    if isinstance(value, str):
        return check_age(value.strip())
    raise ValueError("age must be an ISO 8601 duration such as P14Y or P2Y6M, or whole years")


Label = Annotated[
    str, Field(min_length=1, max_length=MAX_LABEL_CHARS), AfterValidator(check_label), BeforeValidator(_unicode)
]

#: What a body that is not a JSON object is told.
NOT_JSON_MESSAGE = "the request body must be JSON: send a JSON object with the header Content-Type: application/json"
NOT_AN_OBJECT_MESSAGE = "the request body must be a JSON object ({{...}}), not {kind}"
#: JSON values that are not objects, as a refusal names them (bool before int: True is an int).
_JSON_KINDS: tuple[tuple[type, str], ...] = (
    (type(None), "null"),
    (list, "an array"),
    (bool, "true or false"),
    (int, "a number"),
    (float, "a number"),
    (str, "a string"),
)


class JsonBody(BaseModel):
    """A request body: a JSON object; anything else is refused saying so, in words (not the library's).

    A body sent with another ``Content-Type`` (``text/plain``) reaches the model unparsed, as bytes
    (:func:`api.body.parse_body`, as FastAPI does); the refusal then says to send JSON, rather than that
    the input "should be a valid dictionary".
    """

    @model_validator(mode="before")
    @classmethod
    def _a_json_object(cls, value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            raise ValueError(NOT_JSON_MESSAGE)
        for kind, words in _JSON_KINDS:
            if isinstance(value, kind):
                raise ValueError(NOT_AN_OBJECT_MESSAGE.format(kind=words))
        return value


class FindingIn(BaseModel):
    """One finding: words as a clinician writes them, or its HPO id, or both; possibly excluded.

    Given the id alone, the label is the term's name in the HPO release the server uses.
    """

    model_config = ConfigDict(extra="forbid")

    label: Label | None = Field(default=None, description="The finding in words; the term's name when left out.")
    hpo_id: str | None = Field(default=None, pattern=r"^HP:\d{7}$", description="HPO term id, e.g. HP:0001166.")
    excluded: Annotated[bool, BeforeValidator(_boolean, json_schema_input_type=bool)] = Field(
        default=False, description="True when the finding was looked for and is absent."
    )

    @model_validator(mode="after")
    def _label_or_id(self) -> FindingIn:
        if self.label is None and self.hpo_id is None:
            raise ValueError("give the finding's label, its hpo_id, or both")
        return self


def _note(value: str) -> str:
    if not value.strip():
        raise ValueError("text is empty (only whitespace): give the clinical note")
    return value


#: A clinical note. Its length bounds sit on the string itself, not on the optional field: there pydantic
#: counted "items" and let a lone surrogate through (a 500 later), where a bounded string is checked as
#: one, as ``findings`` labels and ``patient_id`` are.
Note = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_note), BeforeValidator(_unicode)]


class DiagnoseRequest(JsonBody):
    """A case as exactly one of: a free clinical note, a list of findings, or a FHIR R4B/R5 Bundle."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"findings": ["Arachnodactyly", {"label": "Ectopia lentis", "hpo_id": "HP:0001083"}], "sex": "female"},
                {"text": "Tall girl with long slender fingers and lens dislocation; no seizures.", "age": 14},
            ]
        },
    )

    text: Note | None = Field(
        default=None,
        description="Free clinical note; findings are extracted from it (negations respected). Never logged.",
    )
    # The schema says what is accepted (a label string or an object), not only what it becomes.
    findings: (
        list[Annotated[FindingIn, BeforeValidator(_string_to_finding, json_schema_input_type=Label | FindingIn)]] | None
    ) = Field(default=None, max_length=MAX_FINDINGS, description="Findings as strings or objects.")
    bundle: dict[str, Any] | None = Field(
        default=None, description="FHIR R4B or R5 Bundle with one Patient and its Observations."
    )
    sex: Sex | None = None
    age: Annotated[
        str | None,
        BeforeValidator(_age, json_schema_input_type=str | Annotated[int, Field(ge=0, le=MAX_AGE_YEARS)] | None),
    ] = Field(default=None, description="ISO 8601 duration (P14Y) or whole years.")
    patient_id: Annotated[str, Field(min_length=1, max_length=256), BeforeValidator(_unicode)] | None = Field(
        default=None, description="The patient's identifier; only its keyed pseudonym is kept (trace, audit log)."
    )

    @model_validator(mode="after")
    def _one_input(self) -> DiagnoseRequest:
        given = [name for name in ("text", "findings", "bundle") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'text', 'findings' or 'bundle'")
        if self.bundle is not None and (self.sex is not None or self.age is not None or self.patient_id is not None):
            raise ValueError("with 'bundle', sex, age and patient identifiers come from the bundle")
        return self

    def case_input(self) -> CaseInput:
        """The request as the one intake reads it (:func:`dxsearch.intake.intake`).

        The bundle is handed over as it is, not dumped: a dump copies every object of it (a 10,000-entry
        bundle is some 100,000), a quarter of the server's time per such request, before the intake
        refuses it for its entry count.
        """
        fields = self.model_dump(exclude={"bundle"})
        if fields["findings"] is not None:  # a finding given by its id alone: the intake names it
            fields["findings"] = [{**f, "label": f["label"] or ""} for f in fields["findings"]]
        return CaseInput.model_validate({**fields, "bundle": self.bundle})


def diagnose_refusal(body: DiagnoseRequest, limits: IntakeLimits) -> IntakeError | None:
    """The 413 the intake will raise for ``body``'s bundle (more entries than the cap), or None.

    The screen of ``POST /v1/diagnose`` (:mod:`api.body`): it runs where the body is parsed, for a big body
    the low-priority process of :mod:`api.body_process`, so a bundle over the cap reaches the serving
    process as this one error, not as its objects. The route raises it where the intake would have (after
    the readiness check), so the answer is the same. Below the cap, an entry that is not an object is the
    422 of :func:`entry_refusal`.
    """
    if body.bundle is None:
        return None
    return bundle_refusal(body.bundle, limits) or entry_refusal(body.bundle)


def entry_refusal(bundle: Mapping[str, Any]) -> IntakeError | None:
    """The 422 for the first ``entry`` of ``bundle`` that is not a JSON object, in the intake's words, or None.

    Why here: the FHIR reader said of ``"entry": [null]`` that "entry must be a JSON array ([...]), not an
    array" (the library reports a null item as the list's fault); this names the item and what it must be.
    """
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return None
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            got = next((words for kind, words in _JSON_KINDS if isinstance(entry, kind)), "another kind of value")
            path = f"entry[{position}]"
            reason = f'{path} must be a JSON object, a Bundle entry such as {{"resource": {{...}}}}, not {got}'
            return IntakeError(f"malformed FHIR bundle at {path}: {reason}", path=path, reason=reason)
    return None


class EvidenceOut(BaseModel):
    """One passage a diagnosis rests on; ``evidence_id`` resolves at ``GET /v1/documents/{evidence_id}``."""

    evidence_id: str
    doc_id: str
    title: str
    kind: str
    section: str | None
    supports: list[str] = Field(description="The case's findings this passage mentions.")
    mentions_diagnosis: bool
    retrieval_score: float
    retrieval_rank: int


class DiagnosisOut(BaseModel):
    rank: int
    name: str
    code: str | None
    alternate_codes: list[str] = Field(
        default_factory=list,
        description=(
            "Other codes of the same disease (ORPHA:558 beside OMIM:154700): an equivalent entry ranked lower was "
            "folded into this one, its evidence joined to this one's, so each disease appears once. The confidence "
            "stays this entry's own calibrated probability, which may understate the disease's."
        ),
    )
    confidence: float | None = Field(
        default=None,
        description=(
            "Probability that this diagnosis is the right one, when the policy gives one. The evidence policy's is "
            "calibrated on index-side published cases (publication held out): of diagnoses given 0.7, about 7 in 10 "
            "were right. The probabilities of one differential sum to at most 1; the rest is 'none of these'."
        ),
    )
    score: float | None = Field(description="Deprecated: the same value as confidence.")
    evidence: list[EvidenceOut]
    unsupported_citations: list[str] = Field(
        default_factory=list, description="Evidence ids the policy cited but never retrieved (not evidence)."
    )


class DiagnoseResponse(BaseModel):
    """The differential, the audit record id it was committed under, and the full trace."""

    diagnoses: list[DiagnosisOut]
    considered: list[DiagnosisOut] = Field(
        default_factory=list,
        description=(
            "Only when the outcome is insufficient_evidence: the leading candidates the policy weighed and found too "
            "improbable to name, best first, each with its probability (below the threshold) and evidence. Not a "
            "diagnosis: `diagnoses` stays empty. Empty when no candidate was ranked (e.g. no finding understood)."
        ),
    )
    outcome: str = Field(description="diagnosed | insufficient_evidence | no_diagnosis")
    reason: str | None = Field(
        default=None,
        description="Why the outcome is insufficient_evidence (e.g. no finding was understood), when the policy said.",
    )
    stop_reason: str
    audit_id: str
    request_id: str
    model_version: str
    index_version: str
    account: InputAccount | None = Field(
        default=None,
        description=(
            "What was understood of each input item: `mapped` (HPO id, term label, `path` and `span` of the input "
            "it came from, assertion) and `not_understood` (where, why, and `category`: what kind of entry it is, "
            "e.g. a diagnosis on record or a repeat, read and no finding of the patient); the same object as "
            "`trace.input_account`."
        ),
    )
    trace: dict[str, Any]

    @computed_field(  # type: ignore[prop-decorator]
        description=(
            "What to do next for this differential (the same object as `trace.next_steps`): `gene_panel` (the genes "
            "linked to the top candidates in the index's disease knowledge, each with the diagnoses it is for), "
            "`questions` (findings whose presence or absence would best separate the top candidates, by expected "
            "information gain in bits, with the candidates each answer favours), and `guidelines` (guideline "
            "passages of the corpus that name a candidate, with evidence id, licence and DOIs). `basis` says what "
            "they were computed over: the differential, or for an insufficient-evidence answer the candidates it "
            "considered, or when it named none the disease cards the search retrieved (questions only). Null when "
            "nothing was planned."
        )
    )
    @property
    def next_steps(self) -> NextSteps | None:
        planned = self.trace.get("next_steps")
        return NextSteps.model_validate(planned) if planned else None


class SourceDocumentOut(BaseModel):
    id: str
    title: str
    kind: str
    source: str
    licence: str
    codes: list[str]
    text: str

    @computed_field(  # type: ignore[prop-decorator]
        description="The name of each HPO code in `codes` (HP:0001166 -> Arachnodactyly), so a reader sees terms, "
        "not bare ids; codes HPO does not know are left out."
    )
    @property
    def code_labels(self) -> dict[str, str]:
        return hpo_labels(self.codes)


def hpo_labels(codes: list[str]) -> dict[str, str]:
    """HPO term names of the ``HP:`` codes among ``codes`` (the process-wide HPO, loaded once at warm-up)."""
    wanted = [code for code in codes if code.startswith("HP:")]
    if not wanted:
        return {}
    knowledge = get_hpo_knowledge()
    return {code: knowledge.term_name(code) for code in wanted if knowledge.has_term(code)}


class PassageOut(BaseModel):
    """A cited chunk in its source document: ``document.text[start:end] == passage``."""

    evidence_id: str
    index_version: str = Field(description="The index this passage was read from (the current one).")
    passage_hash: str = Field(
        description="`sha256:` + hex SHA-256 of the passage text; decisions record the hash of every passage shown "
        "(`trace.passage_hashes`)."
    )
    document_hash: str | None = Field(default=None, description="Content hash of the whole source document.")
    changed: bool | None = Field(
        default=None,
        description="Given `expected_hash`: true when the passage differs from what the decision saw, else false.",
    )
    doc_id: str
    ordinal: int
    start: int
    end: int
    section: str | None
    passage: str
    document: SourceDocumentOut
