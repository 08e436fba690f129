"""The diagnose response schema: next steps as a documented top-level field (the trace's), audited with the decision."""

from __future__ import annotations

from typing import get_args

from fastapi.testclient import TestClient

from dxsearch.intake.account import ENTRY_CATEGORIES, EntryCategory
from tests.api.helpers import auth
from tests.support import fhir_bundle, fhir_condition, fhir_hpo_observation


def test_the_response_carries_the_traces_next_steps(client: TestClient) -> None:
    body = {"findings": ["HP:0001166", {"label": "Ectopia lentis", "hpo_id": "HP:0001083"}, "Tall stature"]}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    steps = data["next_steps"]
    assert steps == data["trace"]["next_steps"]
    assert steps["basis"] == "differential"
    assert [c["code"] for c in steps["candidates"]] == [d["code"] for d in data["diagnoses"]]
    genes = {g["symbol"]: [d["code"] for d in g["diagnoses"]] for g in steps["gene_panel"]["genes"]}
    assert "OMIM:154700" in genes["FBN1"]
    for question in steps["questions"]:  # never about what the patient already has
        assert question["hpo_id"] not in {"HP:0001166", "HP:0001083"}
        assert question["information_gain_bits"] > 0
    stored = client.get(f"/v1/traces/{data['audit_id']}", headers=auth("clinician")).json()
    assert stored["trace"]["next_steps"] == steps  # audited with the decision


def test_next_steps_are_documented_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    response = schema["components"]["schemas"]["DiagnoseResponse"]
    field = response["properties"]["next_steps"]
    assert "gene_panel" in field["description"] and "questions" in field["description"]
    assert "NextSteps" in schema["components"]["schemas"]


def test_the_request_schema_accepts_its_own_examples_and_what_the_server_accepts(client: TestClient) -> None:
    """Findings as strings or objects, an age in whole years: the schema a client generates from must say so."""
    import jsonschema

    schema = client.get("/openapi.json").json()
    definitions = schema["components"]["schemas"]
    request = {**definitions["DiagnoseRequest"], "components": schema["components"]}  # "#/components/..." resolve
    validator = jsonschema.Draft202012Validator(request)
    bodies = [*request["examples"], {"findings": ["Arachnodactyly", "Tall stature"], "age": 14, "sex": "male"}]
    for body in bodies:
        assert not list(validator.iter_errors(body)), body
        assert client.post("/v1/diagnose", json=body, headers=auth("clinician")).status_code == 200
    assert list(validator.iter_errors({"findings": [3]})), "a number is neither a label nor a finding object"
    for age in (-3, 999):  # the schema refuses what the server refuses
        assert list(validator.iter_errors({"findings": ["Arachnodactyly"], "age": age})), age
        assert (
            client.post(
                "/v1/diagnose", json={"findings": ["Tall stature"], "age": age}, headers=auth("clinician")
            ).status_code
            == 422
        )


def test_the_accounts_entries_say_what_kind_they_are_in_the_response_and_its_schema(client: TestClient) -> None:
    """A consumer told a diagnosis on record or a repeat from what was not understood by the reason's words; the
    account's entries carry a documented ``category`` now (added: the response is what it was, with one more field).
    """
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    account = components["DiagnoseResponse"]["properties"]["account"]
    assert {"$ref": "#/components/schemas/InputAccount"} in account["anyOf"]
    assert "category" in account["description"]
    category = components["NotUnderstood"]["properties"]["category"]
    assert category["enum"] == list(get_args(EntryCategory)) and category["default"] == "not_understood"
    assert all(f"`{name}`: {meaning}" in category["description"] for name, meaning in ENTRY_CATEGORIES.items())
    assert "category" not in components["NotUnderstood"].get("required", [])  # older records lack it

    arachnodactyly = fhir_hpo_observation("HP:0001166", valueBoolean=True)
    marfan = fhir_condition("154700", system="https://omim.org", text="Marfan syndrome", verification="provisional")
    bundle = fhir_bundle(arachnodactyly, marfan, fhir_hpo_observation("HP:0001166", valueBoolean=True))
    response = client.post("/v1/diagnose", json={"bundle": bundle}, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["account"] == data["trace"]["input_account"]
    assert [(n["path"], n["category"]) for n in data["account"]["not_understood"]] == [
        ("entry[2].resource", "possible_diagnosis"),
        ("entry[0].resource", "age_source"),  # the Patient entry: read for sex and age
        ("entry[3].resource", "repeat"),
    ]
