"""A label given beside an HPO id is screened like a label given alone: words no HPO name uses are not kept."""

from __future__ import annotations

from fastapi.testclient import TestClient

from audit import SqliteAuditStore
from tests.api.helpers import diagnosed_keeping_none_of


def test_a_name_or_record_number_in_a_coded_findings_label_is_kept_out_of_the_record(
    client: TestClient, store: SqliteAuditStore
) -> None:
    # A user test: the same words without an id were screened, with an id they were stored in the audit log.
    body = {
        "findings": [
            {"label": "Priscilla Vandermeer's tall stature", "hpo_id": "HP:0000098"},
            {"label": "Arachnodactyly (MRN 3141592)", "hpo_id": "HP:0001166"},
            {"label": "Lens dislocation", "hpo_id": "HP:0001083"},  # a synonym of its term: kept as typed
            "Aortic root aneurysm",
        ]
    }
    data = diagnosed_keeping_none_of(client, store, body, ("Priscilla", "Vandermeer", "3141592"))
    labels = {f["hpo_id"]: f["label"] for f in data["trace"]["case"]["findings"]}
    assert labels["HP:0000098"] == "Tall stature" and labels["HP:0001166"] == "Arachnodactyly"
    assert labels["HP:0001083"] == "Lens dislocation"
    assert data["diagnoses"][0]["name"] == "Marfan syndrome"
