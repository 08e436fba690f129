"""Case files: gold rows for evaluation stay strict, rows to diagnose need no answer and no ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dxsearch.cases import Case, CaseFileError, CaseRow, iter_case_rows, iter_phenopacket_rows, normalise_sex


def _write(path: Path, *rows: object) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_case_rows_need_no_answer_and_no_ids(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.jsonl",
        {"phenotypes": [{"label": "Arachnodactyly"}, {"id": "HP:0001083"}], "age": 14},
        {"text": "14-year-old boy, tall stature"},
        {"phenotypes": [{"excluded": True}]},
        {"case_id": "empty"},
    )
    first, second, third, fourth = iter_case_rows(path)
    assert isinstance(first, CaseRow) and first.age == "P14Y" and first.phenotypes[0].id is None
    assert isinstance(second, CaseRow) and second.text is not None
    assert isinstance(third, CaseFileError) and "label or an HPO id" in third.reason
    assert isinstance(fourth, CaseFileError) and "phenotype or a text note" in fourth.reason


def test_gold_rows_still_need_the_disease_and_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.jsonl", {"case_id": "u", "phenotypes": [{"label": "Arachnodactyly"}]})
    (row,) = iter_phenopacket_rows(path)
    assert isinstance(row, CaseFileError)


def test_one_letter_sexes() -> None:
    assert (normalise_sex("M"), normalise_sex("f"), normalise_sex("x")) == ("male", "female", "unknown")


@pytest.mark.parametrize(
    ("age", "years"),
    [("P3M", 0.25), ("P2Y6M", 2.5), ("P14Y", 14.0), ("P0D", 0.0), ("P2W", 14 / 365.25), (None, None), ("14", None)],
)
def test_a_cases_age_in_years(age: str | None, years: float | None) -> None:
    found = Case(case_id="a", age=age).age_years
    assert found == (None if years is None else pytest.approx(years))


def test_a_row_wrong_as_a_whole_says_so_in_plain_words(tmp_path: Path) -> None:
    """A user test: ``{"phenotypes": []}`` was "<root>: Value error, give at least one phenotype ...", pydantic's
    words; a row's problem is its field and reason (``phenotypes.0: ...``), or the reason alone."""
    path = _write(tmp_path / "c.jsonl", {"case_id": "x", "phenotypes": []}, {"phenotypes": [{"excluded": True}]})
    whole, field = iter_case_rows(path)
    assert isinstance(whole, CaseFileError) and isinstance(field, CaseFileError)
    assert str(whole) == f"{path}:1: give at least one phenotype or a text note"
    assert str(field) == f"{path}:2: phenotypes.0: a phenotype needs a label or an HPO id"
