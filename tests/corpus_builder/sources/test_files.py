"""User files: every kind of bad input becomes one located, one-line Reject; good input becomes documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from corpus_builder.fhir_bundles import case_to_bundle
from corpus_builder.sources.base import Reject, Source
from corpus_builder.sources.files import sources_for_path
from corpus_builder.validate import validate_path
from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.corpus import Document, DocumentKind
from dxsearch.settings import Settings

SETTINGS = Settings(pseudonym_key="test-key-for-pseudonyms-0001")


def _case(case_id: str) -> LabelledCase:
    return LabelledCase(
        case=Case(
            case_id=case_id,
            sex="male",
            age="P3Y",
            findings=(
                Finding(label="Seizure", hpo_id="HP:0001250"),
                Finding(label="Microcephaly", hpo_id="HP:0000252", excluded=True),
            ),
        ),
        gold=GoldDiagnosis(id="OMIM:308350", label="Developmental and epileptic encephalopathy 1"),
    )


BUNDLE = case_to_bundle(_case("case-1"))


def _items(path: Path, settings: Settings = SETTINGS) -> list[Document | Reject]:
    source: Source = sources_for_path(path, settings=settings)
    return list(source.iter_items())


def _only_reject(path: Path, settings: Settings = SETTINGS) -> Reject:
    items = _items(path, settings)
    assert len(items) == 1 and isinstance(items[0], Reject), items
    assert "\n" not in items[0].reason
    return items[0]


def _write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path


def test_good_bundle_is_one_patient_document(tmp_path: Path) -> None:
    (doc,) = _items(_write_json(tmp_path / "b.json", BUNDLE))
    assert isinstance(doc, Document) and doc.kind is DocumentKind.PATIENT_RECORD
    assert doc.metadata.source == "files"
    assert "Excluded findings: Microcephaly" in doc.text


def test_truncated_and_invalid_json_give_line_and_column(tmp_path: Path) -> None:
    text = json.dumps(BUNDLE, indent=1)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2], encoding="utf-8")
    reject = _only_reject(truncated)
    assert reject.location == str(truncated)
    assert reject.reason.startswith("truncated JSON") and " line " in reject.reason and " column " in reject.reason

    invalid = tmp_path / "invalid.json"
    invalid.write_text('{\n  "resourceType": "Bundle",\n  "type": "collection",,\n}', encoding="utf-8")
    assert _only_reject(invalid).reason.startswith("invalid JSON: Expecting property name")
    assert "line 3 column 24" in _only_reject(invalid).reason


def test_json_that_is_not_a_patient_bundle(tmp_path: Path) -> None:
    patient = _write_json(tmp_path / "patient.json", {"resourceType": "Patient", "gender": "male"})
    assert _only_reject(patient).reason == "resourceType is 'Patient', expected 'Bundle'"
    array = _write_json(tmp_path / "array.json", [BUNDLE])
    assert _only_reject(array).reason == "top-level JSON is an array, expected a FHIR Bundle object"
    untyped = _write_json(tmp_path / "untyped.json", {"entry": []})
    assert "no resourceType" in _only_reject(untyped).reason
    no_patient = copy.deepcopy(BUNDLE)
    no_patient["entry"] = [e for e in no_patient["entry"] if e["resource"]["resourceType"] != "Patient"]
    for entry in no_patient["entry"]:
        entry["resource"].pop("subject")
    assert _only_reject(_write_json(tmp_path / "nopatient.json", no_patient)).reason == "bundle has no Patient entry"


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert _only_reject(empty).reason == "empty file"
    blank = tmp_path / "blank.ndjson"
    blank.write_text("\n  \n", encoding="utf-8")
    assert _only_reject(blank).reason == "empty file (whitespace only)"


def test_file_over_the_limit_is_rejected_from_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps(BUNDLE) + " " * 5000, encoding="utf-8")
    small_limit = Settings(pseudonym_key=SETTINGS.pseudonym_key, max_input_bytes=2048)
    reject = _only_reject(big, small_limit)
    assert f"file is {big.stat().st_size:,} bytes, over the 2,048-byte limit" in reject.reason
    assert "not read" in reject.reason


def test_a_real_50_mb_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    chunk = b" " * (1024 * 1024)
    with huge.open("wb") as handle:
        handle.write(b'{"resourceType": "Bundle", "type": "collection", "entry": []')
        for _ in range(50):
            handle.write(chunk)
        handle.write(b"}")
    assert huge.stat().st_size > 50 * 1024 * 1024
    reject = _only_reject(huge, Settings(pseudonym_key=SETTINGS.pseudonym_key))  # default 20 MiB limit
    assert "over the 20,971,520-byte limit" in reject.reason


def test_binary_and_non_utf8_files(tmp_path: Path) -> None:
    binary = tmp_path / "scan.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert _only_reject(binary).reason == "binary file (NUL byte at offset 8); expected UTF-8 text"

    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"resourceType": "Bundle",\n "id": "café"}'.encode("latin-1"))
    reason = _only_reject(latin1).reason
    assert reason == "not UTF-8: byte 0xe9 at byte offset 38 (line 2)"

    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(json.dumps(BUNDLE).encode("utf-16"))
    assert _only_reject(utf16).reason == "UTF-16 text; save it as UTF-8"


def test_one_bad_observation_rejects_its_whole_bundle(tmp_path: Path) -> None:
    """A record silently missing one finding would misinform retrieval: the bundle is rejected, located."""
    bundle = copy.deepcopy(BUNDLE)
    bundle["entry"][2]["resource"]["valueBoolean"] = "maybe"
    path = _write_json(tmp_path / "one-bad.json", bundle)
    reject = _only_reject(path)
    assert reject.location == f"{path}#entry[2].resource.valueBoolean"
    assert "valid boolean" in reject.reason


def test_ndjson_lines_are_independent(tmp_path: Path) -> None:
    bad_observation = copy.deepcopy(case_to_bundle(_case("case-4")))
    bad_observation["entry"][1]["resource"]["status"] = ""
    lines = [
        json.dumps(BUNDLE),
        json.dumps(case_to_bundle(_case("case-2")))[:100],
        json.dumps({"resourceType": "Observation"}),
        "",
        json.dumps(bad_observation),
        json.dumps(case_to_bundle(_case("case-5"))),
    ]
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = _items(path)
    docs = [i for i in items if isinstance(i, Document)]
    rejects = [(r.location, r.reason) for r in items if isinstance(r, Reject)]
    assert len(docs) == 2 and docs[0].id != docs[1].id
    assert [loc for loc, _ in rejects] == [f"{path}:2", f"{path}:3", f"{path}:5#entry[1].resource.status"]
    assert rejects[0][1].startswith("truncated JSON")
    assert rejects[1][1] == "resourceType is 'Observation', expected 'Bundle'"


def test_jsonl_detected_by_keys(tmp_path: Path) -> None:
    good = {
        "case_id": "c1",
        "pmid": "PMID:1",
        "sex": "FEMALE",
        "age": "P2Y",
        "phenotypes": [{"id": "HP:0001250", "label": "Seizure", "excluded": False}],
        "disease": {"id": "OMIM:308350", "label": "DEE 1"},
    }
    rows = [good, {**good, "case_id": "c2", "phenotypes": []}, {**good, "case_id": "c3"}]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"case_id": \n', encoding="utf-8")
    items = _items(path)
    assert [type(i).__name__ for i in items] == ["Document", "Reject", "Document", "Reject"]
    assert isinstance(items[1], Reject) and items[1].location == f"{path}:2"
    assert items[1].reason.startswith("phenotypes: List should have at least 1 item")
    assert isinstance(items[3], Reject) and items[3].location == f"{path}:4"
    assert isinstance(items[0], Document) and "Publication: PMID:1" in items[0].text

    bundles = tmp_path / "bundles.jsonl"
    bundles.write_text(json.dumps(BUNDLE) + "\n", encoding="utf-8")
    assert [type(i).__name__ for i in _items(bundles)] == ["Document"]

    other = tmp_path / "other.jsonl"
    other.write_text('{"name": "x", "value": 1}\n', encoding="utf-8")
    assert _only_reject(other).reason.startswith("unrecognised JSONL: first record has keys [name, value]")


def test_patient_without_findings_and_unsupported_and_missing_files(tmp_path: Path) -> None:
    bare = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient"}}],
    }
    path = _write_json(tmp_path / "bare.json", bare)
    reject = _only_reject(path)
    assert reject.location == f"{path}#entry[0]" and "nothing to index" in reject.reason
    docx = tmp_path / "guideline.docx"
    docx.write_bytes(b"PK\x03\x04")
    assert _only_reject(docx).reason.startswith("unsupported file type '.docx'")
    assert _only_reject(tmp_path / "missing.json").reason == "file not found"


def test_directory_is_walked_in_order_and_validate_counts(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    _write_json(tmp_path / "b" / "2.json", case_to_bundle(_case("case-2")))
    _write_json(tmp_path / "a.json", BUNDLE)
    (tmp_path / "c.md").write_text("# Seizures\n\nA note written for this test.\n", encoding="utf-8")
    (tmp_path / "d.json").write_text("{", encoding="utf-8")
    (tmp_path / ".hidden.json").write_text("{", encoding="utf-8")
    items = _items(tmp_path)
    assert [type(i).__name__ for i in items] == ["Document", "Document", "Document", "Reject"]
    assert [i.kind.value for i in items if isinstance(i, Document)] == ["patient_record"] * 2 + ["guideline"]

    report = validate_path(tmp_path, settings=SETTINGS)
    assert report.documents == 3 and report.by_kind == {"patient_record": 2, "guideline": 1}
    assert [r.location for r in report.rejects] == [str(tmp_path / "d.json")]
    assert not report.ok and report.summary() == "3 document(s) ok (1 guideline, 2 patient_record), 1 rejected"

    empty = tmp_path / "empty-dir"
    empty.mkdir()
    assert _only_reject(empty).reason == "directory holds no files"


def test_same_patient_same_id_in_any_file(tmp_path: Path) -> None:
    (doc,) = _items(_write_json(tmp_path / "export-monday.json", BUNDLE))
    (again,) = _items(_write_json(tmp_path / "export-tuesday.json", BUNDLE))
    assert isinstance(doc, Document) and isinstance(again, Document) and doc.id == again.id
