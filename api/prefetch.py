"""CDS Hooks prefetch -> a FHIR Bundle that :func:`dxsearch.intake.case_from_bundle` reads like any other.

Why apart from the intake: prefetch shapes (``patient`` + searchset Bundles, lists, nulls) are a CDS
Hooks convention, not a kind of patient input; once reassembled into a ``collection`` Bundle, the case
goes through the same reading as every other bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dxsearch.intake import IntakeError


def bundle_from_prefetch(prefetch: Mapping[str, Any] | None) -> dict[str, Any]:
    """A collection Bundle from a CDS Hooks prefetch: ``patient`` + ``conditions``/``observations`` searchsets.

    A prefetch may instead hold a ``bundle`` (any Bundle with the Patient and its resources). Prefetch
    values may be null (the client could not fetch them); a missing Patient is a 412, as CDS Hooks asks
    of a service that lacks the data it needs.
    """
    if not prefetch:
        raise IntakeError("the request has no prefetch: this service needs prefetch.patient", status=412)
    whole = prefetch.get("bundle")
    if isinstance(whole, Mapping):
        return dict(whole)
    if whole is not None:
        raise IntakeError("prefetch.bundle is not a FHIR Bundle object", path="prefetch.bundle")
    patient = prefetch.get("patient")
    if not isinstance(patient, Mapping):
        raise IntakeError("prefetch.patient is missing or null: this service needs the Patient resource", status=412)
    if patient.get("resourceType") != "Patient":
        raise IntakeError("prefetch.patient is not a Patient resource", path="prefetch.patient")
    entries: list[dict[str, Any]] = [{"resource": dict(patient)}]
    for key in ("conditions", "observations"):
        value = prefetch.get(key)
        if value is None:
            continue
        for position, resource in enumerate(_resources(value, key)):
            if resource.get("resourceType") in ("Observation", "Condition"):
                entries.append({"resource": resource})
            elif resource.get("resourceType") != "OperationOutcome":
                raise IntakeError(
                    f"prefetch.{key} holds a {resource.get('resourceType')!r} resource",
                    path=f"prefetch.{key}[{position}]",
                )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _resources(value: object, key: str) -> list[dict[str, Any]]:
    """The resources of a prefetch value: a (searchset) Bundle, a list of resources, or one resource."""
    if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        if entries is None:
            return []
        if not isinstance(entries, list):
            raise IntakeError(
                f"prefetch.{key}.entry must be a list of Bundle entries, got {_json_type(entries)}",
                path=f"prefetch.{key}.entry",
            )
        found: list[dict[str, Any]] = []
        for position, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, Mapping):
                # An entry that is no object, or holds no resource, would otherwise be a finding silently lost.
                raise IntakeError(
                    f"prefetch.{key}.entry[{position}] is not a Bundle entry holding a resource object",
                    path=f"prefetch.{key}.entry[{position}]",
                )
            found.append(dict(resource))
        return found
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        return [dict(item) for item in value]
    raise IntakeError(f"prefetch.{key} is neither a Bundle nor a list of resources", path=f"prefetch.{key}")


def _json_type(value: object) -> str:
    """The JSON type of a value, for messages that must not echo the (clinical) value itself."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "an array" if isinstance(value, list) else "null"
