"""The corpus-builder command line as a Unix tool: results on stdout, logs on stderr, exit 0 / 1 (nothing
found) / 2 (bad input), every problem named; help that teaches, docs kept true."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from help_support import assert_help_reads_whole, assert_sentence_on_one_line, help_commands
from typer.testing import CliRunner

from corpus_builder.cli import app
from dxsearch.settings import Settings

runner = CliRunner()


def test_missing_index_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["stats", "--index", str(tmp_path)], ["search", "x", "--index", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "holds no index" in result.output
        assert "Traceback" not in result.output


def test_unknown_source_and_unknown_retriever_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--out", str(tmp_path / "i"), "--source", "no-such-source"])
    assert result.exit_code == 2
    assert "neither a registered source" in result.output
    assert not (tmp_path / "i" / "CURRENT").exists()
    # Refused while parsing arguments: the (missing) index is never opened, no model is loaded.
    result = runner.invoke(app, ["search", "marfan", "--index", str(tmp_path / "none"), "--retriever", "bm99"])
    assert result.exit_code == 2
    assert "unknown retriever 'bm99'" in result.stderr and "holds no index" not in result.stderr
    assert result.stdout == ""


def test_search_and_stats_on_a_real_index(small_index: Path) -> None:
    result = runner.invoke(
        app,
        [
            "search",
            "chorea and dementia",
            "--index",
            str(small_index),
            "--kind",
            "disease_knowledge",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout.splitlines()[0])
    assert first["doc_id"] == "omim:143100" and first["evidence_id"].startswith("omim:143100#")
    stats = runner.invoke(app, ["stats", "--index", str(small_index), "--json"])
    manifest = json.loads(stats.stdout)
    assert manifest["counts"]["documents"]["guideline"] == 1


@pytest.mark.parametrize("retriever", ["lexical", "hybrid"])
def test_search_results_go_to_stdout_and_the_summary_to_stderr(small_index: Path, retriever: str) -> None:
    result = runner.invoke(app, ["search", "marfan", "--index", str(small_index), "--retriever", retriever])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(" 1. ") and "Marfan syndrome" in result.stdout
    assert "passage(s)" in result.stderr and "passage(s)" not in result.stdout
    table = runner.invoke(app, ["stats", "--index", str(small_index)])
    assert table.exit_code == 0 and "disease_knowledge" in table.stdout and "test-docs" in table.stdout


def test_a_search_that_finds_nothing_says_so_on_stderr_and_exits_1(small_index: Path) -> None:
    for retriever in ("lexical", "hybrid"):
        result = runner.invoke(app, ["search", "zzqxv", "--index", str(small_index), "--retriever", retriever])
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert "no match for 'zzqxv'" in result.stderr


@pytest.mark.parametrize("query", ["", "   ", ";;, --"])
def test_an_empty_query_is_bad_input(small_index: Path, query: str) -> None:
    result = runner.invoke(app, ["search", query, "--index", str(small_index)])
    assert result.exit_code == 2
    assert "empty query" in result.stderr and result.stdout == ""


def test_a_kind_the_index_does_not_hold_says_so_and_exits_1(tmp_path: Path, test_settings: Settings) -> None:
    from support import SMALL_DOCS, ListSource

    from corpus_builder.build import run_build
    from dxsearch.corpus import DocumentKind

    knowledge = [d for d in SMALL_DOCS if d.kind is DocumentKind.DISEASE_KNOWLEDGE]
    run_build(tmp_path, [ListSource("knowledge-only", knowledge)], test_settings)
    result = runner.invoke(app, ["search", "marfan", "--index", str(tmp_path), "--kind", "guideline"])
    assert result.exit_code == 1
    assert "holds no guideline passages" in result.stderr and "disease_knowledge" in result.stderr
    assert result.stdout == ""
    # A kind it does hold still answers, even alongside one it does not.
    both = ["search", "marfan", "--index", str(tmp_path), "--kind", "guideline", "--kind", "disease_knowledge"]
    assert runner.invoke(app, both).exit_code == 0


def test_lexical_search_from_the_shell_writes_stdout_and_never_imports_the_model(small_index: Path) -> None:
    """The user's view: `corpus-builder search ... > out.txt` gives the results, and no model is loaded."""
    import os
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from corpus_builder.cli import app\n"
        "try:\n"
        "    app()\n"
        "finally:\n"
        "    heavy = sorted({'torch', 'sentence_transformers', 'faiss', 'numpy'} & set(sys.modules))\n"
        "    print('heavy modules:', heavy, file=sys.stderr)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}  # noqa: TID251 - the child must see this checkout
    done = subprocess.run(
        [sys.executable, "-c", probe, "search", "marfan", "--retriever", "lexical", "--index", str(small_index)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Marfan syndrome" in done.stdout
    assert "heavy modules: []" in done.stderr


def test_dxsearch_index_is_the_default_index(small_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dxsearch.settings import get_settings

    monkeypatch.setenv("DXSEARCH_INDEX", str(small_index))
    get_settings.cache_clear()
    try:
        stats = runner.invoke(app, ["stats", "--json"])
        assert stats.exit_code == 0, stats.output
        assert json.loads(stats.stdout)["counts"]["documents"]["guideline"] == 1
        found = runner.invoke(app, ["search", "marfan", "--retriever", "lexical"])
        assert found.exit_code == 0 and "Marfan" in found.stdout
    finally:
        monkeypatch.delenv("DXSEARCH_INDEX")
        get_settings.cache_clear()


@pytest.mark.parametrize("content", [b"", b'{"resourceType": "Bundle", "entry": [', b"\x00\x01binary\x00"])
def test_eval_retrieval_rejects_bad_case_files(tmp_path: Path, small_index: Path, content: bytes) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(content)
    result = runner.invoke(
        app,
        [
            "eval-retrieval",
            "--index",
            str(small_index),
            "--cases",
            str(cases),
            "--json",
            str(tmp_path / "o.json"),
        ],
    )
    assert result.exit_code == 2
    assert "cases.jsonl:1:" in result.stderr if content else "no cases in the file" in result.stderr
    assert not (tmp_path / "o.json").exists()


def _bundle_json(case_id: str) -> str:
    from corpus_builder.fhir_bundles import case_to_bundle
    from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase

    labelled = LabelledCase(
        case=Case(case_id=case_id, sex="female", findings=(Finding(label="Chorea", hpo_id="HP:0002072"),)),
        gold=GoldDiagnosis(id="OMIM:143100", label="Huntington disease"),
    )
    return json.dumps(case_to_bundle(labelled))


def test_build_from_a_directory_with_bad_files_indexes_the_good_and_reports_the_bad(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "good.json").write_text(_bundle_json("good-1"), encoding="utf-8")
    (inputs / "truncated.json").write_text(_bundle_json("t")[:-40], encoding="utf-8")
    (inputs / "observation.json").write_text('{"resourceType": "Observation", "status": "final"}', encoding="utf-8")
    (inputs / "empty.json").write_bytes(b"")
    (inputs / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (inputs / "latin1.md").write_bytes("# Hinweise\nGrö\xdfe".encode("latin-1"))
    (inputs / "guide.md").write_text("# Test guide\nWritten by the test suite.\n", encoding="utf-8")
    index = tmp_path / "index"

    result = runner.invoke(app, ["build", "--out", str(index), "--source", str(inputs)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(runner.invoke(app, ["stats", "--index", str(index), "--json"]).output)
    assert manifest["counts"]["documents"] == {"patient_record": 1, "guideline": 1}
    reasons = {Path(r["location"].split(":")[0].split("#")[0]).name: r["reason"] for r in manifest["rejects"]["first"]}
    assert set(reasons) == {"truncated.json", "observation.json", "empty.json", "binary.json", "latin1.md"}
    assert "Bundle" in reasons["observation.json"]

    # A file whose every record is rejected: `add` names the rejects, exits 2 and leaves the index as it was.
    before = (index / "CURRENT").read_text()
    bad = tmp_path / "later.json"
    bad.write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["add", "--index", str(index), "--source", str(bad)])
    assert result.exit_code == 2, result.output
    assert "rejected " in result.stderr and "later.json" in result.stderr and "nothing was indexed" in result.stderr
    assert (index / "CURRENT").read_text() == before

    # One good record among bad ones is added (exit 0), and the bad ones are still named.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "new.json").write_text(_bundle_json("good-2"), encoding="utf-8")
    (mixed / "broken.json").write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["add", "--index", str(index), "--source", str(mixed), "--json"])
    assert result.exit_code == 0, result.output
    assert "broken.json" in result.stderr
    assert json.loads(result.stdout)["sources"][-1]["added"] == 1  # --json: the new manifest, for programs
    after = json.loads(runner.invoke(app, ["stats", "--index", str(index), "--json"]).stdout)
    assert after["counts"]["documents"] == {"patient_record": 2, "guideline": 1}

    validate = runner.invoke(app, ["validate", str(bad)])
    assert validate.exit_code == 2
    assert "later.json" in validate.stdout and "rejected" in validate.stderr


def test_validate_lists_every_error_with_its_offending_value(tmp_path: Path) -> None:
    bundle = json.loads(_bundle_json("v-1"))
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    observations[0]["status"] = ["final"]
    observations[0]["valueBoolean"] = "maybe"
    bundle["entry"].append({"resource": {**observations[0], "status": 17, "valueBoolean": True}})
    path = tmp_path / "three-errors.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")

    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    assert all(line.startswith(f"{path}#entry[") for line in lines)
    assert "more error" not in result.stdout
    assert '(got ["final"])' in lines[0] and '(got "maybe")' in lines[1] and "(got 17)" in lines[2]
    assert "1 rejected (3 problem(s))" in result.stderr

    as_json = json.loads(runner.invoke(app, ["validate", str(path), "--json"]).stdout)
    assert len(as_json["rejects"][0]["problems"]) == 3 and as_json["documents"] == 0


def test_validate_lists_every_error_of_a_case_row(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    row = {"case_id": "", "phenotypes": "lots", "disease": {"id": "OMIM:1", "label": "x"}, "genes": [7]}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{path}:1: ") for line in lines), result.stdout
    assert '(got "")' in lines[0] and '(got "lots")' in lines[1] and "(got 7)" in lines[2]


def test_validate_explain_says_what_each_record_becomes_and_warns_on_normalised_values(tmp_path: Path) -> None:
    rows = [
        {
            "case_id": "c1",
            "sex": "M",
            "age": "P14Y",
            "phenotypes": [
                {"id": "HP:0001166", "label": "Arachnodactyly"},
                {"id": "HP:0001250", "label": "Seizure", "excluded": True},
            ],
            "disease": {"id": "OMIM:154700", "label": "Marfan syndrome"},
        },
        {
            "case_id": "c2",
            "sex": "boy",
            "phenotypes": [{"id": "HP:0000098", "label": "Tall stature"}],
            "disease": {"id": "OMIM:154700", "label": "Marfan syndrome"},
        },
    ]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    bundle = Path(__file__).parents[1] / "dxsearch" / "intake" / "data" / "ehr-bundle.json"
    (tmp_path / "ehr.json").write_bytes(bundle.read_bytes())

    result = runner.invoke(app, ["validate", "--explain", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{tmp_path / 'cases.jsonl'}:1: case (phenopacket row) (sex male, age P14Y)" in out
    assert "  finding  HP:0001166  Arachnodactyly" in out and "  excluded HP:0001250  Seizure" in out
    assert "  diagnosis OMIM:154700 Marfan syndrome" in out
    assert "  warning  sex 'M' read as male" in out
    assert "  warning  sex 'boy' not recognised: read as unknown" in out
    assert f"{tmp_path / 'ehr.json'}#entry[0]: patient record (FHIR R4B) (sex male, age P14Y)" in out
    assert "  ignored  entry[7]: Encounter: not read (only Patient, Observation, Condition)" in out
    # Q87.4 names Marfan syndrome alone in the Disease Ontology: linked to it, its words naming it too.
    assert "  diagnosis ICD10:Q87.4 OMIM:154700 Marfan syndrome" in out
    # Codes hp.obo cross-references are read as a case reads them (one reading of a bundle): SNOMED CT 74969002 is
    # Ectopia lentis, and the SNOMED CT Condition "Scoliosis" a finding, not a diagnosis of the indexed patient.
    assert "  finding  HP:0001083  Dislocation of lens" in out and "  finding  HP:0002650  Scoliosis" in out
    assert "SNOMED:111266001" not in out and "indexed by its words" not in out
    assert "computed from birthDate" in out

    records = json.loads(runner.invoke(app, ["validate", "--explain", "--json", str(tmp_path)]).stdout)["records"]
    assert [r["sex"] for r in records] == ["male", "unknown", "male"]
    assert records[0]["findings"][1] == ["Seizure", "HP:0001250", True]


def test_a_build_that_indexes_nothing_keeps_the_live_index(tmp_path: Path, small_index: Path) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    before = (index / "CURRENT").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["build", "--out", str(index), "--source", str(bad)])
    assert result.exit_code == 2
    assert "nothing was indexed" in result.output and "bad.json" in result.output
    assert (index / "CURRENT").read_text() == before


def test_add_to_a_mistyped_directory_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "indx"
    result = runner.invoke(app, ["add", "--index", str(typo), "--source", "hpo-diseases"])
    assert result.exit_code == 2
    assert "holds no index" in result.output
    assert not typo.exists()


def test_offending_values_are_shown_to_the_user_but_never_written_into_the_index(tmp_path: Path) -> None:
    """Values in a bad record are patient data: `validate` shows them to its user; `add` names the record and
    its problem but no value, and neither the manifest nor rejects.jsonl holds one."""
    from dxsearch.retrieval.layout import current_generation

    index = tmp_path / "index"
    good = tmp_path / "good.json"
    good.write_text(_bundle_json("g-1"), encoding="utf-8")
    assert runner.invoke(app, ["build", "--out", str(index), "--source", str(good)]).exit_code == 0
    bundle = json.loads(_bundle_json("g-2"))
    bundle["entry"][1]["resource"]["status"] = ["secret-value-1984"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle), encoding="utf-8")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "bad.json").write_text(json.dumps(bundle), encoding="utf-8")
    (mixed / "other.json").write_text(_bundle_json("g-3"), encoding="utf-8")
    result = runner.invoke(app, ["add", "--index", str(index), "--source", str(mixed)])
    assert result.exit_code == 0, result.output
    assert "mixed/bad.json#entry[1].resource.status" in result.stderr and "secret-value-1984" not in result.output
    assert "secret-value-1984" in runner.invoke(app, ["validate", str(bad)]).stdout
    generation = current_generation(index)
    assert "secret-value-1984" not in (generation / "manifest.json").read_text()
    assert "secret-value-1984" not in (generation / "rejects.jsonl").read_text()
    assert "bad.json" in (generation / "rejects.jsonl").read_text()


def test_an_add_that_reads_nothing_never_loads_the_embedding_model(
    tmp_path: Path, small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import corpus_builder.build

    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    before = (index / "CURRENT").read_text()

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedding model was loaded")

    monkeypatch.setattr(corpus_builder.build, "get_embedder", no_model)
    bad = tmp_path / "bad.jsonl"
    row = {"case_id": "", "phenotypes": "lots", "disease": {"id": "OMIM:1", "label": "x"}}
    bad.write_text(json.dumps(row) + '\n{"broken\n', encoding="utf-8")
    result = runner.invoke(app, ["add", "--index", str(index), "--source", str(bad)])
    assert result.exit_code == 2, result.output
    assert "bad.jsonl:1" in result.stderr and "bad.jsonl:2" in result.stderr
    assert (index / "CURRENT").read_text() == before


def test_tuning_folds_are_written_as_publication_lists_the_build_reads(tmp_path: Path) -> None:
    from dxsearch.knowledge.hpo import read_publication_list

    result = runner.invoke(app, ["tuning-folds", "--out", str(tmp_path / "folds"), "--folds", "2", "--share", "0.05"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 2 folds to ")
    first, second = (read_publication_list(tmp_path / "folds" / f"fold-{k}.txt") for k in (1, 2))
    assert first and second and first.isdisjoint(second)
    assert (tmp_path / "folds" / "fold-1.txt").read_text().startswith("# tuning fold 1 of 2")
    refused = runner.invoke(app, ["tuning-folds", "--out", str(tmp_path / "f"), "--folds", "30", "--share", "0.05"])
    assert refused.exit_code == 2 and "folds * share <= 1" in refused.output


@pytest.mark.parametrize("command", help_commands(app))
def test_help_shows_whole_paragraphs_examples_line_for_line_and_every_option_help(command: str) -> None:
    """``--help`` broke lines where the docstring's source lines break, mid-sentence, however wide the terminal.
    The help is Markdown now: Typer joins a paragraph's lines and wraps it to the terminal, so on a terminal wide
    enough each paragraph is one line, with every sentence whole. An example (the tuning-folds commands) is a
    code block, shown line for line with its indentation and its ``\\`` continuations; no option's help loses a
    character to the Markdown (an ``_`` of DXSEARCH_INDEX, a quote)."""
    assert_help_reads_whole(app, command)


#: Sentences (or their first clause) the help broke mid-way, where the docstring's source lines break; each is
#: shorter than a 200-column terminal, and Typer's own wrapping leaves it whole there.
BROKEN_SENTENCES = {
    "add": (
        "The index keeps the publications it was built without (its manifest's list): records of theirs are left "
        "out here too."
    ),
    "search": (
        "Exit 1 (with a note on stderr) when nothing matches, or when the index holds no passage of the requested "
        "--kind; exit 2 for an empty query or a missing index."
    ),
    "simulate-cases": (
        "Writes indexed.jsonl and heldout.jsonl (phenopacket format) and one FHIR R4B bundle per patient under "
        "fhir/indexed/ and fhir/heldout/."
    ),
}


@pytest.mark.parametrize(("command", "sentence"), sorted(BROKEN_SENTENCES.items()))
def test_a_sentence_the_help_broke_mid_way_is_one_line_on_a_wide_terminal(command: str, sentence: str) -> None:
    assert_sentence_on_one_line(app, command, sentence)
