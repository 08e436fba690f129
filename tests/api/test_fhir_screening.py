"""A FHIR bundle through ``POST /v1/diagnose`` on the real app, index, policy and SQLite audit log: free text of the
bundle that was not understood is kept out of the record (its bytes on disk included), and what a user test found
the reader got wrong is read right (2026-11-28)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from audit import SqliteAuditStore
from tests.api.helpers import MARFAN_FINDINGS, PHI_STRINGS, auth, patient_bundle, stored_bytes

#: Words of a person typed into the bundle's free text: none may reach the response or the log.
TYPED = ("Jane", "Doe", "Wobblesworth", "Quimby")
SNOMED = "http://snomed.info/sct"


def _resource(kind: str, **fields: Any) -> dict[str, Any]:
    status = {"status": "final"} if kind == "Observation" else {}
    return {"resourceType": kind, **status, "subject": {"reference": "Patient/p1"}, **fields}


def test_bundle_free_text_not_understood_is_kept_out_of_the_record(client: TestClient, store: SqliteAuditStore) -> None:
    # A user test's Condition "Jane Doe's tall stature" was stored verbatim as ``not_understood[].given``.
    bundle = patient_bundle(MARFAN_FINDINGS)
    bundle["entry"] += [
        {"resource": _resource("Condition", code={"text": "Jane Doe's tall stature"})},
        {"resource": _resource("Observation", code={"text": "Wobblesworth Quimby turns"}, valueBoolean=True)},
        {"resource": _resource("Condition", code={"text": "Jane Doe: zorbly wimples"})},
        # a diagnosis by its code, in words a person typed
        {
            "resource": _resource(
                "Condition",
                code={
                    "coding": [{"system": "https://omim.org", "code": "154700"}],
                    "text": "Marfan per Dr Wobblesworth",
                },
            )
        },
    ]
    first = len(bundle["entry"]) - 4
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    record = store.get(data["audit_id"])
    assert record is not None
    stored = stored_bytes(store)
    for word in (*TYPED, *PHI_STRINGS):
        assert word not in response.text, word
        assert word not in json.dumps(record.to_json()), word
        assert word.encode() not in stored, word
    account = data["account"]
    by_path = {m["path"]: m for m in account["mapped"]}
    # The Condition's term is read; the words beside it are kept nowhere.
    tall = by_path[f"entry[{first}].resource"]
    assert (tall["hpo_id"], tall["given"]) == ("HP:0000098", "tall stature")
    missed = {n["path"]: n for n in account["not_understood"]}
    # Words that name nothing: searched within the request, kept by path and span only.
    words = missed[f"entry[{first + 1}].resource"]
    assert (words["given"], words["words_searched"]) == (None, True)
    case: Any = record.trace["case"]
    labels = [f["label"] for f in case["findings"]]
    assert f"[words of entry[{first + 1}].resource removed]" in labels
    # A Condition not understood, and a diagnosis in typed words: by path, with why.
    assert missed[f"entry[{first + 2}].resource"]["reason"].startswith("a Condition not understood")
    assert missed[f"entry[{first + 3}].resource"]["given"] is None
    assert data["diagnoses"][0]["code"] == "OMIM:154700"  # the understood findings still diagnose


def test_a_bundle_of_what_the_user_test_sent_is_read_as_the_record_says(client: TestClient) -> None:
    bundle = patient_bundle(MARFAN_FINDINGS)
    hpo = "http://purl.obolibrary.org/obo/hp.owl"
    bundle["entry"] += [
        {
            "resource": _resource(
                "Observation",
                code={"coding": [{"system": hpo, "code": "HP:0001250"}]},
                valueCodeableConcept={"coding": [{"system": SNOMED, "code": "410516002", "display": "Known absent"}]},
            )
        },
        {
            "resource": _resource(
                "Observation",
                code={"coding": [{"system": hpo, "code": "HP:0002650"}]},
                interpretation=[{"coding": [{"code": "IND"}]}],
            )
        },
        {
            "resource": _resource(
                "Observation",
                code={"coding": [{"system": "http://loinc.org", "code": "8287-5", "display": "Head circumference"}]},
                valueQuantity={"value": 41, "unit": "cm"},
                interpretation=[{"coding": [{"code": "L"}]}],
            )
        },
        {"resource": _resource("Condition", code={"text": "Dislocated lens in both eyes"})},
    ]
    first = len(bundle["entry"]) - 4
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    said = {(m["path"], m["hpo_id"], m["assertion"]) for m in response.json()["account"]["mapped"]}
    assert {
        (f"entry[{first}].resource", "HP:0001250", "absent"),  # Known absent
        (f"entry[{first + 1}].resource", "HP:0002650", "uncertain"),  # indeterminate
        (f"entry[{first + 2}].resource", "HP:0000252", "present"),  # Microcephaly
        (f"entry[{first + 3}].resource", "HP:0001083", "present"),  # Ectopia lentis
    } <= said
    findings = {(f["hpo_id"], f["excluded"]) for f in response.json()["trace"]["case"]["findings"]}
    assert ("HP:0001250", True) in findings and "HP:0002650" not in {hpo_id for hpo_id, _ in findings}
