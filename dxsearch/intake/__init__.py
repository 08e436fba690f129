"""One intake: every input (a note, findings, a FHIR Bundle, a case file) is read here, once, into a ``Case``.

``reading`` turns a payload into a case (pseudonymised id, HPO-resolved findings, refusals with a
reason); ``account`` says what became of every input item (mapped to HPO, or not understood and why);
``fhir`` reads FHIR R4B/R5 Bundles; ``splits`` decides which publications are held out.
"""

from dxsearch.intake.account import InputAccount, MappedItem, NotUnderstood
from dxsearch.intake.reading import (
    MARKUP_MESSAGE,
    CaseInput,
    FindingInput,
    IntakeError,
    IntakeLimits,
    NoFindingsError,
    PreparedCase,
    bundle_refusal,
    case_from_bundle,
    check_label,
    intake,
)

__all__ = [
    "MARKUP_MESSAGE",
    "CaseInput",
    "FindingInput",
    "InputAccount",
    "IntakeError",
    "IntakeLimits",
    "MappedItem",
    "NoFindingsError",
    "NotUnderstood",
    "PreparedCase",
    "bundle_refusal",
    "case_from_bundle",
    "check_label",
    "intake",
]
