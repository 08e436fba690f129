"""`corpus-builder validate` on case files: what a build, `dxsearch diagnose --case` and the API agree on.

A user test: an unknown HPO id was a warning (the row counted ok, a build would index it) while diagnose and the
API refused it; `gender` was dropped without a word; labels without ids gave pydantic's words only; a disease
without an id was explained as `diagnosis None ...`; the help never showed a case row.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from corpus_builder.cli import app
from dxsearch.cli import app as dxsearch_app

runner = CliRunner()
UNKNOWN = (
    "HP:9999999 is not a term of the HPO release DxSearch uses (dxsearch diagnose and the API refuse it; "
    "an index would hold a finding no case can match)"
)
MARFAN = {"id": "OMIM:154700", "label": "Marfan syndrome"}


def _write(path: Path, *rows: object) -> Path:
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_validate_refuses_an_hpo_id_the_release_does_not_know(tmp_path: Path) -> None:
    cases = _write(
        tmp_path / "cases.jsonl",
        {"case_id": "ok", "phenotypes": [{"id": "HP:0001166", "label": "Arachnodactyly"}], "disease": MARFAN},
        {"case_id": "u", "phenotypes": [{"id": "HP:9999999", "label": "Made up"}], "disease": MARFAN},
        {"case_id": "", "phenotypes": [{"id": "HP:9999999", "label": "Made up"}], "disease": MARFAN},
    )
    result = runner.invoke(app, ["validate", str(cases)])
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert f"{cases}:2: phenotypes.0.id: {UNKNOWN}" in lines
    # a row refused already: its unknown id is one more of its problems, the row one reject
    assert lines.count(f"{cases}:3: phenotypes.0.id: {UNKNOWN}") == 1
    assert any(line.startswith(f"{cases}:3: case_id") for line in lines)
    assert "1 document(s) ok, 2 rejected (3 problem(s))" in result.stderr
    report = json.loads(runner.invoke(app, ["validate", "--json", str(cases)]).stdout)
    assert report["documents"] == 1 and report["by_kind"] == {"patient_record": 1}

    # the same id given to diagnose: refused too, in words that name no server
    one = _write(tmp_path / "one.jsonl", {"case_id": "u", "phenotypes": [{"id": "HP:9999999"}]})
    diagnosed = runner.invoke(dxsearch_app, ["diagnose", "-c", str(one), "--index", str(tmp_path / "none")])
    assert diagnosed.exit_code == 2
    assert diagnosed.stderr.strip() == (
        f"error: {one}: unknown HPO term HP:9999999 (not in the HPO release DxSearch uses)"
    )
    checked = runner.invoke(app, ["validate", "--case", str(one)])
    assert checked.exit_code == 2
    assert checked.stdout.strip() == f"{one}:1: unknown HPO term HP:9999999 (not in the HPO release DxSearch uses)"


def test_validate_explain_names_unread_keys_labels_without_ids_and_a_disease_without_one(tmp_path: Path) -> None:
    cases = _write(
        tmp_path / "cases.jsonl",
        {
            "case_id": "d1",
            "gender": "M",
            "age": "P6Y",
            "disease": {"label": "Duchenne muscular dystrophy"},
            "phenotypes": [{"label": "Gowers sign"}, {"label": "Hypertelorsim", "negated": True}],
        },
    )
    result = runner.invoke(app, ["validate", "--explain", str(cases)])
    assert result.exit_code == 2  # a build needs ids and a disease id
    out = result.stdout
    assert "  diagnosis (no id) Duchenne muscular dystrophy" in out and "None" not in out
    assert "  warning  key(s) not read, ignored: gender, phenotypes[1].negated" in out
    assert (
        "  warning  phenotypes.0 'Gowers sign' has no HPO id: its label names HP:0003391 (Gowers sign); "
        'a build needs the id in the row ("id": "HP:0003391"); dxsearch diagnose reads the label alone'
    ) in out
    assert (
        "  warning  phenotypes.1 'Hypertelorsim' has no HPO id, and no HPO term has this name; "
        "did you mean 'Hypertelorism' (HP:0000316)?"
    ) in out
    assert f"{cases}:1: disease.id: Field required" in out


def test_validate_case_reads_a_file_as_diagnose_does(tmp_path: Path) -> None:
    """--case: labels alone and no disease are a case to diagnose; each row is read by the one intake."""
    cases = _write(
        tmp_path / "cases.jsonl",
        {"case_id": "c1", "sex": "M", "phenotypes": [{"label": "Gowers sign"}, {"label": "Hypertelorsim"}]},
        {
            "case_id": "c2",
            "gender": "F",
            "phenotypes": [{"id": "HP:0000316"}, {"label": "Gowers sing"}],
            "disease": {"label": "Noonan"},
        },
        "not json\n",
    )
    result = runner.invoke(app, ["validate", "--case", "--explain", str(cases)])
    assert result.exit_code == 2, result.output
    out = result.stdout.splitlines()
    first = out.index(f"{cases}:1: case to diagnose (sex male, age unknown)")
    assert out[first + 1] == "  finding  HP:0003391  Gowers sign"
    assert out[first + 2] == "  finding  (no HPO id) Hypertelorsim"  # kept by its words, as diagnose keeps it
    assert "  warning  sex 'M' read as male" in out
    assert (
        "  warning  phenotypes[1] 'Hypertelorsim': no HPO term matches these words; "
        "did you mean 'Hypertelorism' (HP:0000316)?"
    ) in out
    second = out.index(f"{cases}:2: case to diagnose (sex unknown, age unknown)")
    assert out[second + 1 : second + 6] == [
        "  finding  HP:0000316  Hypertelorism",
        "  finding  HP:0003391  Gowers sing",  # the words as given, the term as read (said below)
        "  ignored  disease: the answer, never read by dxsearch diagnose",
        "  warning  dxsearch diagnose --case reads a file's first row only: give this case its own file",
        "  warning  key(s) not read, ignored: gender",
    ]
    assert out[second + 6] == "  warning  phenotypes[1] 'Gowers sing' read as HP:0003391 (Gowers sign)"
    assert f"{cases}:3: invalid JSON: Expecting value at column 1" in out
    assert "2 case row(s) ok, 1 rejected" in result.stderr


def test_validate_help_shows_a_case_row_and_what_it_requires() -> None:
    result = runner.invoke(app, ["validate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert '{"case_id": "p1", "sex": "male", "age": "P14Y"' in text
    assert '"disease": {"id": "OMIM:154700", "label": "Marfan syndrome"}' in text
    assert "disease.id and disease.label are required" in text
    assert "--case" in text and "no disease needed" in text
