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
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from audit.canonical import JsonObject, JsonValue
from audit.errors import InvalidEntryError
from audit.models import ACCESS_OUTCOME as ACCESS_OUTCOME
from audit.models import AuditEntry, AuditRecord

#: ``trace.event`` of an access event.
ACCESS_EVENT = "access"
#: ``model_version`` and ``index_version`` of access events: no model or index made them.
NOT_A_DECISION = "none"

#: What was accessed: one record (``read``), a page of a search (``search``), an export, or the lookup of
#: a patient's pseudonym (``pseudonym-lookup``).
AccessAction = Literal["read", "search", "export", "pseudonym-lookup"]
#: Why: a clinician's own decision (``treatment``), an auditor's review (``audit``), or break-glass.
AccessPurpose = Literal["treatment", "audit", "break-glass"]
ACCESS_ACTIONS: tuple[str, ...] = ("read", "search", "export", "pseudonym-lookup")
ACCESS_PURPOSES: tuple[str, ...] = ("treatment", "audit", "break-glass")

#: Shortest break-glass reason: a reason has to say something ("emergency" alone is not a reason).
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One access, as stored in the event's ``trace``.

    ``records`` are the record ids read, in the order returned; ``filters`` the query that selected them
    (search and export), so an auditor can see what was asked, not only what came back.
    """

    action: AccessAction
    purpose: AccessPurpose
    records: Sequence[str] = ()
    route: str | None = None
    reason: str | None = None
    filters: JsonObject = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACCESS_ACTIONS:
            raise InvalidEntryError(f"access action must be one of {', '.join(ACCESS_ACTIONS)}, got {self.action!r}")
        if self.purpose not in ACCESS_PURPOSES:
            raise InvalidEntryError(f"access purpose must be one of {', '.join(ACCESS_PURPOSES)}, got {self.purpose!r}")
        if self.purpose == "break-glass":
            check_reason(self.reason)
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
        )


def check_reason(reason: str | None) -> str:
    """A break-glass reason: words, at least :data:`MIN_REASON_CHARS`, no control characters."""
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
