"""An auditor's filters, one behaviour in the API and the ``audit`` command line (a user test found three).

* An unknown query parameter (``evidence_id=`` for ``evidence=``) answered with every record, as if applied.
* ``audit export`` and ``GET /v1/traces`` disagreed: an evidence id ``doc#n`` found nothing on the command
  line, an unknown outcome or a partial disease name gave an empty export (exit 0) where the API said 422.
* A patient identifier given as the patient filter got an empty 200, and the raw MRN went into the access
  event, for good, in the append-only log.

The real app, index, policy and SQLite audit log (``tests/api/conftest.py``); the command line reads the
same log file.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from audit import AuditQuery, SqliteAuditStore
from audit.access import DECISION_OUTCOMES, DOCUMENT_ID_PATTERN, PSEUDONYM_PATTERN, check_patient
from audit.cli import app as audit_cli
from dxsearch.agent import CASE_NAMESPACE, Outcome
from dxsearch.corpus import _DOC_ID_PATTERN
from dxsearch.pseudonym import Pseudonymiser
from tests.api.helpers import MARFAN_FINDINGS, access_count, auth, log_size

MRN = "MRN-12345678"
runner = CliRunner()


@pytest.fixture(scope="module")
def marfan(client: TestClient) -> dict[str, Any]:
    """A decision about a named patient, with evidence (the small index's OMIM Marfan card among it)."""
    body = {"findings": [c for c, _ in MARFAN_FINDINGS], "patient_id": MRN}
    response = client.post("/v1/diagnose", json=body, headers=auth("clinician"))
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    assert made["outcome"] == "diagnosed"
    return made


def _export(store: SqliteAuditStore, *args: str) -> Any:
    return runner.invoke(audit_cli, ["export", "--url", f"sqlite:///{store.path}", *args])


# -- unknown parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "unknown", "accepted"),
    [
        ("/v1/traces?evidence_id=omim:154700", "evidence_id", "evidence"),
        ("/v1/traces?foo=bar", "foo", "diagnosis"),
        ("/v1/traces?evidence=omim:154700&foo=bar", "foo", "model_version"),
        ("/v1/audit/export?evidence_id=omim:154700", "evidence_id", "evidence"),
        ("/v1/audit/proof/inclusion?seq=1&sz=2", "sz", "seq, size"),
        ("/v1/audit/proof/consistency?from=1&too=2", "too", "from, to"),
        ("/v1/audit/verify?foo=1", "foo", "no query parameters"),
        ("/v1/audit/checkpoint?foo=1", "foo", "no query parameters"),
        ("/v1/documents/omim:154700%230?foo=1", "foo", "expected_hash"),  # it took any (user test)
    ],
)
def test_an_unknown_query_parameter_is_a_422_naming_it_and_the_accepted_ones(
    client: TestClient, store: SqliteAuditStore, marfan: dict[str, Any], path: str, unknown: str, accepted: str
) -> None:
    reads = access_count(store)
    response = client.get(path, headers=auth("auditor"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"unknown query parameter '{unknown}'" in detail and accepted in detail, detail
    assert access_count(store) == reads  # nothing was read, so no access event


def test_a_record_read_by_id_refuses_unknown_parameters_too(client: TestClient, marfan: dict[str, Any]) -> None:
    response = client.get(f"/v1/traces/{marfan['audit_id']}?include_trace=true", headers=auth("auditor"))
    assert response.status_code == 422 and "takes no query parameters" in response.json()["detail"]
    assert client.get(f"/v1/traces/{marfan['audit_id']}", headers=auth("auditor")).status_code == 200


# -- patient filters: pseudonyms only ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/traces", "/v1/audit/export"])
@pytest.mark.parametrize("patient", [MRN, "12345678", "0123456789ABCDEF0123", "0123456789abcdef012"])
def test_a_patient_filter_that_is_not_a_pseudonym_is_a_422_and_never_reaches_the_log(
    client: TestClient, store: SqliteAuditStore, marfan: dict[str, Any], route: str, patient: str
) -> None:
    size = log_size(store)
    response = client.get(route, params={"patient": patient}, headers=auth("auditor"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "POST /v1/audit/pseudonym" in detail and "pseudonym" in detail
    assert patient not in response.text  # the value is not echoed either
    assert log_size(store) == size  # no access event, so no filters.patient holding the MRN
    logged = json.dumps([r.to_json() for r in store.iter_query(AuditQuery())])
    assert MRN not in logged


def test_the_pseudonym_from_the_lookup_finds_the_patients_decisions(
    client: TestClient, store: SqliteAuditStore, marfan: dict[str, Any]
) -> None:
    lookup = client.post("/v1/audit/pseudonym", json={"patient_id": MRN}, headers=auth("auditor"))
    pseudonym = lookup.json()["patient_pseudonym"]
    response = client.get("/v1/traces", params={"patient": pseudonym}, headers=auth("auditor"))
    assert response.status_code == 200, response.text
    assert marfan["audit_id"] in {r["record_id"] for r in response.json()["records"]}
    event = store.get(response.headers["X-Audit-Access-Id"])
    assert event is not None
    filters = event.trace["filters"]
    assert isinstance(filters, dict) and filters["patient"] == pseudonym


def test_the_filters_know_what_the_rest_of_the_project_writes() -> None:
    """The audit package imports nothing of dxsearch: its copies of the outcomes and the pseudonym format are
    kept equal to the originals here."""
    assert get_args(Outcome) == DECISION_OUTCOMES
    pseudonym = Pseudonymiser("a-pseudonym-key-for-this-test-0001").pseudonym("case-1", CASE_NAMESPACE)
    assert check_patient(pseudonym) == pseudonym
    assert f"^[0-9a-f]{{{len(pseudonym)}}}$" == PSEUDONYM_PATTERN
    assert f"^{DOCUMENT_ID_PATTERN}$" == _DOC_ID_PATTERN.pattern  # what an evidence filter may name


# -- one behaviour: the API and the command line -----------------------------------------------------------


def test_an_evidence_id_finds_its_documents_decisions_in_the_api_and_the_command_line(
    client: TestClient, store: SqliteAuditStore, marfan: dict[str, Any]
) -> None:
    document = marfan["diagnoses"][0]["evidence"][0]["doc_id"]
    for evidence in (document, f"{document}#0", f"{document}#17"):
        response = client.get("/v1/traces", params={"evidence": evidence, "limit": 1000}, headers=auth("auditor"))
        assert response.status_code == 200, response.text
        by_api = {r["record_id"] for r in response.json()["records"]}
        for option in ("--evidence", "--evidence-id"):
            result = _export(store, option, evidence, "--kind", "decision")
            assert result.exit_code == 0, result.output
            by_cli = {json.loads(line)["record_id"] for line in result.stdout.splitlines()}
            assert marfan["audit_id"] in by_cli and by_cli == by_api, (evidence, option)


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("outcome", "--outcome", "bogus"),
        ("outcome", "--outcome", "Diagnosed"),
        ("diagnosis", "--diagnosis", "Marfan"),
        ("patient", "--patient", MRN),
        ("evidence", "--evidence", "omim:154700#first"),
        ("evidence", "--evidence", "bogus"),  # no document id: an empty page and exit 0 (user test)
        ("since", "--since", "2024-01-01"),
    ],
)
def test_a_filter_the_api_refuses_the_command_line_refuses_in_the_same_words(
    client: TestClient, store: SqliteAuditStore, marfan: dict[str, Any], name: str, option: str, value: str
) -> None:
    response = client.get("/v1/traces", params={name: value}, headers=auth("auditor"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    result = _export(store, option, value)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: {detail.replace(name, option, 1)}\n"  # one line, the option named as given
