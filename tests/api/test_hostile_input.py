"""No 500 from input (issue 16, part 5): each hostile input is a 4xx with a message, and writes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from audit import AuditQuery, SqliteAuditStore
from tests.api.helpers import audit_count, auth, observation, patient_bundle, patient_resource

CDS_SERVICE = "/cds-services/dxsearch-patient-view"


def _cds_request(prefetch: dict[str, Any]) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        "prefetch": prefetch,
    }


def _detail(response: Any) -> str:
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


@pytest.mark.parametrize("cursor", [f"s{2**63}", f"s{2**64 + 1}", "s" + "9" * 31])
def test_a_cursor_beyond_any_sequence_number_is_a_422(client: TestClient, cursor: str) -> None:
    response = client.get("/v1/traces", params={"cursor": cursor}, headers=auth("auditor"))
    assert response.status_code == 422, response.text
    assert "cursor" in _detail(response)


def test_the_largest_sequence_number_is_a_valid_cursor(client: TestClient) -> None:
    response = client.get("/v1/traces", params={"cursor": f"s{2**63 - 1}"}, headers=auth("auditor"))
    assert response.status_code == 200, response.text
    assert response.json()["records"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("since", "9999-12-31T23:59:59-05:00"),
        ("until", "0001-01-01T00:00:00+05:00"),
        ("since", "0001-01-01T00:00:00+23:59"),
    ],
)
def test_times_that_overflow_in_utc_are_a_422(client: TestClient, name: str, value: str) -> None:
    response = client.get("/v1/traces", params={name: value}, headers=auth("auditor"))
    assert response.status_code == 422, response.text
    assert name in _detail(response)


@pytest.mark.parametrize("evidence_id", ["omim:154700#0\n", "omim:154700#0\r\n", "omim:154700\n#0"])
def test_an_evidence_id_with_a_line_break_is_a_400(client: TestClient, evidence_id: str) -> None:
    response = client.get(f"/v1/documents/{quote(evidence_id, safe=':')}", headers=auth("clinician"))
    assert response.status_code == 400, response.text
    assert "malformed evidence id" in _detail(response)


@pytest.mark.parametrize("entry", ["abc", 5, {"resource": {}}, ["abc"], [{"resource": "abc"}], True])
def test_a_prefetch_searchset_whose_entries_are_not_entries_is_a_422(
    client: TestClient, store: SqliteAuditStore, entry: object
) -> None:
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": entry}
    before = audit_count(store)
    response = client.post(
        CDS_SERVICE,
        json=_cds_request({"patient": patient_resource(), "observations": searchset}),
        headers=auth("clinician"),
    )
    assert response.status_code == 422, response.text
    assert "prefetch.observations" in _detail(response)
    assert response.json()["path"].startswith("prefetch.observations.entry")
    assert audit_count(store) == before


@pytest.mark.parametrize("bundle", ["abc", ["x"], {"resourceType": "Bundle", "type": "collection", "entry": "abc"}])
def test_a_prefetch_bundle_that_is_not_a_bundle_is_a_4xx(client: TestClient, bundle: object) -> None:
    response = client.post(CDS_SERVICE, json=_cds_request({"bundle": bundle}), headers=auth("clinician"))
    assert 400 <= response.status_code < 500, response.text
    assert _detail(response)


@pytest.mark.parametrize("age", ["P999Y", "P151Y", "P2000M", "P9999W", "P100000D", "P" + "9" * 40 + "Y", "P1٣Y"])
def test_an_age_beyond_a_lifetime_is_refused(client: TestClient, age: str) -> None:
    response = client.post("/v1/diagnose", json={"findings": ["Tall stature"], "age": age}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert "age" in _detail(response)


def test_an_age_extension_beyond_a_lifetime_is_refused_with_its_path(client: TestClient) -> None:
    bundle = patient_bundle()
    bundle["entry"][0]["resource"]["extension"] = [
        {"url": "urn:dxsearch:fhir:extension:age-iso8601", "valueString": "P999Y"}
    ]
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert response.json()["path"] == "entry[0].resource.extension[0].valueString"


@pytest.mark.parametrize("label", ["Tall\x00stature", "Tall \u202estature", "Tall \u2066stature\u2069", "\u202aTall"])
def test_nul_and_bidi_overrides_are_refused_in_labels(client: TestClient, label: str) -> None:
    response = client.post("/v1/diagnose", json={"findings": [label]}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert "label" in _detail(response)


def test_nul_and_bidi_overrides_are_refused_in_bundle_labels(client: TestClient) -> None:
    bundle = patient_bundle()
    bundle["entry"].append({"resource": observation("HP:0000098", "Tall \u202estature")})
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert response.json()["path"].startswith(f"entry[{len(bundle['entry']) - 1}]")


@pytest.mark.parametrize(
    ("where", "value", "path"),
    [
        ("type", "not-a-bundle-type", "type"),
        ("gender", "yes", "entry[0].resource.gender"),
        ("gender", "Female", "entry[0].resource.gender"),
    ],
)
def test_fhir_code_values_are_checked(client: TestClient, where: str, value: str, path: str) -> None:
    bundle = patient_bundle()
    if where == "type":
        bundle["type"] = value
    else:
        bundle["entry"][0]["resource"]["gender"] = value
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert response.json()["path"] == path


def test_a_loinc_age_observation_beyond_a_lifetime_is_refused_with_its_path(client: TestClient) -> None:
    bundle = patient_bundle()
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "30525-0", "display": "Age"}]},
                "subject": {"reference": "Patient/p1"},
                "valueQuantity": {"value": 999, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
            }
        }
    )
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert response.json()["path"] == f"entry[{len(bundle['entry']) - 1}].resource.valueQuantity.value"


@pytest.mark.parametrize(
    "params",
    [{"patient": ""}, {"diagnosis": ""}, {"evidence": ""}, {"model_version": ""}, [("patient", "a"), ("patient", "b")]],
)
def test_empty_or_repeated_filters_are_a_422(client: TestClient, params: Any) -> None:
    # An empty patient filter once reached the access event as an empty pseudonym: a 500 (schemathesis found it).
    for route in ("/v1/traces", "/v1/audit/export"):
        response = client.get(route, params=params, headers=auth("auditor"))
        assert response.status_code == 422, (route, response.text)
        assert _detail(response)


# -- a user test's findings (each a 500, a wrong word, or a value read as something else) -----------------


def _post_raw(client: TestClient, route: str, body: Any, role: str = "clinician") -> Any:
    """``body`` as JSON with every non-ASCII character escaped: how a lone surrogate reaches the server."""
    headers = {**auth(role), "Content-Type": "application/json"}
    return client.post(route, content=json.dumps(body).encode("ascii"), headers=headers)


def _bundle_with_code_text(text: str) -> dict[str, Any]:
    bundle = patient_bundle()
    bundle["entry"][1]["resource"]["code"]["text"] = text
    return bundle


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"text": "tall stature, arachnodactyly \udfff"}, "body.text"),
        ({"findings": ["Tall stature \ud800"]}, "body.findings[0]"),
        ({"findings": [{"label": "Tall stature", "hpo_id": "HP:0000098"}], "patient_id": "p\udc00"}, "body.patient_id"),
        ({"bundle": _bundle_with_code_text("tall \udfff")}, "body.bundle.entry[1].resource.code.text"),
        ({"text": "tall stature", "\udfff": 1}, "body:"),
    ],
)
def test_a_lone_surrogate_in_a_diagnose_body_is_a_422_naming_where(
    client: TestClient, store: SqliteAuditStore, body: dict[str, Any], where: str
) -> None:
    # The note was a 500 (UnicodeEncodeError in the pseudonymiser); a bundle said "text must be a string, not a string".
    before = audit_count(store)
    response = _post_raw(client, "/v1/diagnose", body)
    assert response.status_code == 422, response.text
    detail = _detail(response)
    assert where in detail and "lone UTF-16 surrogate" in detail and "not valid Unicode" in detail, detail
    assert "not a string" not in detail
    assert audit_count(store) == before


def test_a_lone_surrogate_in_any_other_body_is_a_422(client: TestClient, store: SqliteAuditStore) -> None:
    made = client.post("/v1/diagnose", json={"findings": ["Tall stature", "Arachnodactyly"]}, headers=auth("clinician"))
    audit_id = made.json()["audit_id"]
    size = store.count(AuditQuery())
    prefetch = {"patient": patient_resource(), "observations": [observation("HP:0000098", "Tall \udfff")]}
    refused = [
        _post_raw(client, CDS_SERVICE, _cds_request(prefetch)),
        _post_raw(
            client, f"/v1/traces/{audit_id}/break-glass", {"reason": "covering the ward \udfff tonight"}, "admin"
        ),
        _post_raw(client, "/v1/audit/pseudonym", {"patient_id": "MRN-\udfff"}, "auditor"),
    ]
    for response, where in zip(
        refused, ("body.prefetch.observations[0]", "body.reason", "body.patient_id"), strict=True
    ):
        assert response.status_code == 422, response.text
        assert where in _detail(response) and "lone UTF-16 surrogate" in _detail(response)
    assert store.count(AuditQuery()) == size  # no decision, no access event


def test_a_surrogate_pair_is_one_character_and_accepted(client: TestClient) -> None:
    response = _post_raw(client, "/v1/diagnose", {"text": "Tall stature and arachnodactyly \U0001f600."})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("entry", [None, 5, "abc", []])
def test_a_bundle_entry_that_is_not_an_object_is_named_as_the_entry(client: TestClient, entry: object) -> None:
    # "entry": [null] was "entry must be a JSON array ([...]), not an array".
    bundle = patient_bundle()
    bundle["entry"].append(entry)
    position = len(bundle["entry"]) - 1
    for route, body in (
        ("/v1/diagnose", {"bundle": bundle}),
        (CDS_SERVICE, _cds_request({"bundle": bundle})),
    ):
        response = client.post(route, json=body, headers=auth("clinician"))
        assert response.status_code == 422, response.text
        assert response.json()["path"] == f"entry[{position}]"
        assert f"entry[{position}] must be a JSON object" in _detail(response)
        assert "not an array" not in _detail(response) or entry == []


@pytest.mark.parametrize(("finding", "kind"), [(None, "null"), (5, "a number"), (["Tall stature"], "an array")])
def test_a_finding_that_is_neither_a_label_nor_an_object_says_what_a_finding_is(
    client: TestClient, finding: object, kind: str
) -> None:
    response = client.post("/v1/diagnose", json={"findings": [finding]}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    detail = _detail(response)
    assert f"a finding is a label (a string) or an object with label and/or hpo_id, not {kind}" in detail
    assert "dictionary" not in detail


@pytest.mark.parametrize("excluded", ["yes", "true", "false", 1, 0, None])
def test_excluded_must_be_true_or_false(client: TestClient, store: SqliteAuditStore, excluded: object) -> None:
    # "yes" was read as true: a finding the clinician may have meant as present was taken as absent.
    before = audit_count(store)
    finding = {"label": "Tall stature", "excluded": excluded}
    response = client.post("/v1/diagnose", json={"findings": [finding, "Arachnodactyly"]}, headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert "body.findings[0].excluded: excluded must be true or false" in _detail(response)
    assert audit_count(store) == before


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"text": "tall \xff stature"}', "the request body is not UTF-8 (invalid start byte at byte 15)"),
        (b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (
            b'{"text": "tall stature",}',
            "malformed JSON body: Expecting property name enclosed in double quotes (at character 24)",
        ),
    ],
)
def test_a_body_that_cannot_be_parsed_is_a_400_saying_why(client: TestClient, body: bytes, says: str) -> None:
    # Not UTF-8 and nested too deeply were "There was an error parsing the body".
    response = client.post(
        "/v1/diagnose", content=body, headers={**auth("clinician"), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert says in _detail(response), _detail(response)


@pytest.mark.parametrize("audit_id", ["not-a-uuid", "12345", "9AB80630-6089-4AF8-BA19-E363015887E9"])
def test_a_trace_id_that_is_not_a_record_id_is_a_422(client: TestClient, audit_id: str) -> None:
    response = client.get(f"/v1/traces/{audit_id}", headers=auth("auditor"))
    assert response.status_code == 422, response.text
    assert "not an audit record id" in _detail(response) and audit_id not in _detail(response)
    assert client.get(f"/v1/traces/{uuid.uuid4()}", headers=auth("auditor")).status_code == 404
