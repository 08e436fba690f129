"""Data the viewer reads from the API beyond the trace: the names of a document's HPO codes."""

from __future__ import annotations

from api.schemas import SourceDocumentOut, hpo_labels


def test_a_documents_hpo_codes_come_with_their_names() -> None:
    document = SourceDocumentOut(
        id="omim:154700",
        title="Marfan syndrome",
        kind="disease_knowledge",
        source="test",
        licence="CC0-1.0",
        codes=["OMIM:154700", "ICD10CM:Q87.4", "HP:0001166", "HP:0001083", "HP:9999999"],
        text="Marfan syndrome (OMIM:154700)",
    )
    labels = document.model_dump()["code_labels"]
    # Only HPO codes, only the ones HPO knows (an unknown id is left out, never guessed).
    assert labels == {"HP:0001166": "Arachnodactyly", "HP:0001083": "Ectopia lentis"}
    assert hpo_labels(["OMIM:154700"]) == {}
    schema = SourceDocumentOut.model_json_schema(mode="serialization")
    assert "code_labels" in schema["properties"]
