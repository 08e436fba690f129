"""What ``POST /v1/diagnose`` makes of inputs a user test sent, on the real app, index, policy and audit log.

* A note in which nothing was understood ("xyzzy plugh", "Doing well.") was a 422 "Not a valid case" with no
  audit record, while the same words as a findings list were an audited "insufficient evidence": now both are.
* A body sent as ``text/plain`` was told it "should be a valid dictionary"; a FHIR element of the wrong kind
  was described in the validation library's words (``<class 'int'>``, "Invalid JSON: trailing characters").
* A finding given by its HPO id alone was refused for want of a label.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit import SqliteAuditStore
from dxsearch.agent import NOTHING_UNDERSTOOD
from tests.api.helpers import audit_count, auth, patient_bundle

#: What a library says and a person should not have to read.
LIBRARY_WORDS = ("<class", "Invalid JSON", "instance of", "line 1 column", "valid dictionary", ".root")


def _diagnose(client: TestClient, **kwargs: Any) -> Any:
    headers = {**auth("clinician"), **kwargs.pop("headers", {})}
    return client.post("/v1/diagnose", headers=headers, **kwargs)


# -- a note in which nothing was understood ----------------------------------------------------------------


@pytest.mark.parametrize("note", ["xyzzy plugh", "Doing well.", "Seen today, feeling well."])
def test_a_note_in_which_nothing_was_understood_gets_an_audited_insufficient_evidence(
    client: TestClient, store: SqliteAuditStore, note: str
) -> None:
    before = audit_count(store)
    response = _diagnose(client, json={"text": note})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["outcome"] == "insufficient_evidence" and answer["diagnoses"] == []
    assert answer["reason"] == NOTHING_UNDERSTOOD
    assert answer["account"]["source"] == "text" and answer["account"]["not_understood"]
    assert audit_count(store) == before + 1
    record = store.get(answer["audit_id"])
    assert record is not None and record.outcome == "insufficient_evidence"
    assert record.trace["reason"] == NOTHING_UNDERSTOOD
    assert note not in response.text and note not in str(record.to_json())  # the note is not kept


def test_a_note_in_which_nothing_was_understood_keeps_its_patient_and_demographics(
    client: TestClient, store: SqliteAuditStore
) -> None:
    response = _diagnose(
        client, json={"text": "Doing well.", "patient_id": "MRN-0001-UNREAD", "age": 14, "sex": "female"}
    )
    assert response.status_code == 200, response.text
    record = store.get(response.json()["audit_id"])
    assert record is not None and record.patient_pseudonym is not None
    case = record.trace["case"]
    assert isinstance(case, dict)
    assert (case["age"], case["sex"], case["findings"]) == ("P14Y", "female", [])
    assert "MRN-0001-UNREAD" not in str(record.to_json())


def test_the_same_words_as_a_findings_list_are_answered_the_same_way(client: TestClient) -> None:
    by_list = _diagnose(client, json={"findings": ["xyzzy plugh"]})
    by_note = _diagnose(client, json={"text": "xyzzy plugh"})
    assert by_list.status_code == by_note.status_code == 200
    assert by_list.json()["outcome"] == by_note.json()["outcome"] == "insufficient_evidence"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"text": "   "}, "text is empty"),
        ({"text": "\n\t"}, "text is empty"),
        # Findings the note names only as absent were understood: the refusal says so (as for such a list).
        ({"text": "No seizures. No microcephaly."}, "only as absent"),
    ],
)
def test_an_empty_note_or_one_of_negations_only_is_still_refused(
    client: TestClient, store: SqliteAuditStore, body: dict[str, str], says: str
) -> None:
    before = audit_count(store)
    response = _diagnose(client, json=body)
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]
    assert audit_count(store) == before


# -- bodies that are not JSON objects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/diagnose", b'{"text": "Tall girl with arachnodactyly."}'),
        ("/v1/audit/pseudonym", b'{"patient_id": "MRN-1"}'),
        ("/v1/traces/some-record/break-glass", b'{"reason": "patient transferred to my care tonight"}'),
    ],
)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_json_is_told_to_be_json(
    client: TestClient, store: SqliteAuditStore, path: str, body: bytes, content_type: str | None
) -> None:
    role = "auditor" if "pseudonym" in path else "clinician"
    headers = {**auth(role), **({"Content-Type": content_type} if content_type else {})}
    before = audit_count(store)
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "must be JSON" in detail and "Content-Type: application/json" in detail, detail
    assert not any(words in detail for words in LIBRARY_WORDS), detail
    assert audit_count(store) == before


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"[1]", "an array"), (b"null", "null"), (b"17", "a number"), (b'"tall"', "a string"), (b"true", "true or false")],
)
def test_json_that_is_not_an_object_is_a_422_saying_so(client: TestClient, body: bytes, kind: str) -> None:
    response = _diagnose(client, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert f"must be a JSON object ({{...}}), not {kind}" in response.json()["detail"]


# -- FHIR elements of the wrong kind, in plain words -------------------------------------------------------


def _observation_with(**fields: Any) -> dict[str, Any]:
    bundle = patient_bundle()
    resource = bundle["entry"][1]["resource"]
    resource.pop("valueBoolean")
    resource.update(fields)
    return bundle


@pytest.mark.parametrize(
    ("fields", "path", "words"),
    [
        ({"valueQuantity": 5}, "entry[1].resource.valueQuantity", ("Quantity", "JSON object", "a number")),
        ({"valueQuantity": "5 mg"}, "entry[1].resource.valueQuantity", ("JSON object", "a string")),
        ({"valueQuantity": [1]}, "entry[1].resource.valueQuantity", ("JSON object",)),
        ({"valueBoolean": True, "code": "HP:0001166"}, "entry[1].resource.code", ("JSON object", "a string")),
        ({"valueBoolean": True, "subject": 7}, "entry[1].resource.subject", ("JSON object", "a number")),
    ],
)
def test_a_fhir_element_of_the_wrong_kind_is_named_with_what_is_expected(
    client: TestClient, fields: dict[str, Any], path: str, words: tuple[str, ...]
) -> None:
    response = _diagnose(client, json={"bundle": _observation_with(**fields)})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["path"] == path
    for word in words:
        assert word in body["detail"], body["detail"]
    for text in (body["detail"], body["reason"]):
        assert not any(library in text for library in LIBRARY_WORDS), text


# -- a finding by its HPO id alone -------------------------------------------------------------------------


def test_a_finding_given_by_its_hpo_id_alone_is_named_from_the_ontology(client: TestClient) -> None:
    response = _diagnose(client, json={"findings": [{"hpo_id": "HP:0001166"}, {"hpo_id": "HP:0001083"}]})
    assert response.status_code == 200, response.text
    findings = response.json()["trace"]["case"]["findings"]
    assert [(f["hpo_id"], f["label"]) for f in findings] == [
        ("HP:0001166", "Arachnodactyly"),
        ("HP:0001083", "Ectopia lentis"),
    ]


@pytest.mark.parametrize(
    ("finding", "says"),
    [
        ({"excluded": True}, "give the finding's label, its hpo_id, or both"),
        ({"hpo_id": "HP:123"}, "findings[0].hpo_id"),
        ({"label": None, "hpo_id": None}, "give the finding's label, its hpo_id, or both"),
    ],
)
def test_a_finding_with_neither_label_nor_id_is_refused(client: TestClient, finding: dict[str, Any], says: str) -> None:
    response = _diagnose(client, json={"findings": [finding]})
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


# -- a case file's row sent as a body; an age or sex the note states and the case does not take ---------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"case_id": "x", "phenotypes": []}, "body.phenotypes: Extra inputs are not permitted"),
        ({}, "body: give exactly one of 'text', 'findings' or 'bundle'"),
        ({"findings": [{}]}, "body.findings[0]: give the finding's label, its hpo_id, or both"),
    ],
)
def test_a_body_wrong_as_a_whole_is_told_without_the_libraries_words(
    client: TestClient, body: dict[str, Any], says: str
) -> None:
    """What a user test found ``dxsearch diagnose`` say of an empty case row ("<root>: Value error, ..."): the API
    says it in its own words, field and reason, for the same body and for a body wrong as a whole."""
    response = _diagnose(client, json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert says in answer["detail"]
    for text in (answer["detail"], *(error["msg"] for error in answer["errors"])):
        assert "Value error" not in text and "<root>" not in text, text


def test_a_sex_given_that_the_note_contradicts_is_used_and_the_account_says_so(client: TestClient) -> None:
    """A user test: "Newborn girl" sent with ``"sex": "male"`` took the field's sex with no word of the note's."""
    note = "Newborn girl with seizures and hypotonia."
    response = _diagnose(client, json={"text": note, "sex": "male"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["trace"]["case"]["sex"], answer["account"]["sex_from"]) == ("male", "given")
    (said,) = [n for n in answer["account"]["not_understood"] if "the note says" in n["reason"]]
    assert said["reason"] == "the note says female; the sex given (male) is used"
    assert note[said["span"][0] : said["span"][1]] == "girl" and said["category"] == "not_understood"


def test_an_age_no_one_can_be_in_a_note_is_listed_as_not_used(client: TestClient) -> None:
    """A user test: "200-year-old man" lost the age in silence, where the same age as a field is a 422."""
    note = "200-year-old man with seizures and hypotonia."
    response = _diagnose(client, json={"text": note})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["trace"]["case"]["age"] is None
    (said,) = [n for n in answer["account"]["not_understood"] if "not plausible" in n["reason"]]
    assert said["reason"] == "age 200 years is not plausible (more than 130 years)"
    assert note[said["span"][0] : said["span"][1]] == "200-year-old"
    assert _diagnose(client, json={"text": note, "age": 200}).status_code == 422
