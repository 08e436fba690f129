"""The `dxsearch` CLI: diagnose with --explain, the benchmark harness, and one-line errors on bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from help_support import assert_help_reads_whole, assert_sentence_on_one_line, help_commands
from typer.testing import CliRunner

from corpus_builder.simulate import phenopacket_row
from corpus_builder.sources.phenopackets import heldout_phenopacket_cases
from dxsearch.cli import app
from dxsearch.evaluation import (
    KNOWN_BY_ANNOTATIONS_ONLY,
    KNOWN_BY_PATIENTS_AND_ANNOTATIONS,
    KNOWN_BY_PATIENTS_ONLY,
    UNKNOWN_TO_THE_INDEX,
)
from dxsearch.settings import Settings
from dxsearch.train.tiny_model import build_tiny_model

KNOWLEDGE_GROUPS = (
    KNOWN_BY_PATIENTS_AND_ANNOTATIONS,
    KNOWN_BY_ANNOTATIONS_ONLY,
    KNOWN_BY_PATIENTS_ONLY,
    UNKNOWN_TO_THE_INDEX,
)

runner = CliRunner()


def _write_cases(path: Path, count: int) -> Path:
    cases = heldout_phenopacket_cases()[:count]
    path.write_text("".join(json.dumps(phenopacket_row(c)) + "\n" for c in cases), encoding="utf-8")
    return path


def test_missing_case_file_is_one_line_and_exit_2(small_index: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["diagnose", "--case", str(tmp_path / "nope.jsonl"), "--index", str(small_index)])
    assert result.exit_code == 2
    assert "no such case file" in result.output and len(result.output.strip().splitlines()) == 1


def test_malformed_case_line_names_file_and_line(small_index: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"case_id": "x", "phenotypes": [], "disease": {"id": "OMIM:1", "label": "y"}}\n')
    result = runner.invoke(app, ["diagnose", "--case", str(bad), "--index", str(small_index)])
    assert result.exit_code == 2 and "bad.jsonl:1" in result.output


def test_a_case_row_with_nothing_to_read_is_one_plain_line_naming_file_and_line(
    small_index: Path, tmp_path: Path
) -> None:
    """A user test: ``{"case_id":"x","phenotypes":[]}`` said "<root>: Value error, give at least one phenotype...",
    pydantic's words; it reads as the file's other line errors do (``FILE:LINE: reason``)."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"case_id":"x","phenotypes":[]}\n')
    result = runner.invoke(app, ["diagnose", "--case", str(empty), "--index", str(small_index)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == f"error: {empty}:1: give at least one phenotype or a text note"
    assert "<root>" not in result.output and "Value error" not in result.output


def test_a_case_rows_sex_field_wins_and_the_account_says_the_note_said_otherwise(
    small_index: Path, tmp_path: Path
) -> None:
    """A user test: a row's ``sex`` disagreeing with its note ("Newborn girl") was taken with no word of it."""
    cases = tmp_path / "girl.jsonl"
    cases.write_text(json.dumps({"text": "Newborn girl with seizures and hypotonia.", "sex": "male"}) + "\n")
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["diagnose", "--case", str(cases), "--index", str(small_index), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "not understood — not used: 'girl': the note says female; the sex given (male) is used" in result.output
    trace = json.loads(out.read_text())
    assert (trace["case"]["sex"], trace["input_account"]["sex_from"]) == ("male", "given")
    (said,) = [n for n in trace["input_account"]["not_understood"] if "the note says" in n["reason"]]
    assert (said["path"], said["category"]) == ("text", "not_understood")


def test_missing_index_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "one.jsonl", 1)
    result = runner.invoke(app, ["diagnose", "--case", str(cases), "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_llm_policy_without_a_model_is_refused(small_index: Path, tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "one.jsonl", 1)
    result = runner.invoke(app, ["diagnose", "--case", str(cases), "--index", str(small_index), "--policy", "llm"])
    assert result.exit_code == 2 and "--model" in result.output


def test_diagnose_prints_the_differential_on_stdout_with_dxsearch_index_as_the_default(
    small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dxsearch.settings import get_settings

    case = Path(__file__).resolve().parents[2] / "examples" / "heldout-case.jsonl"
    monkeypatch.setenv("DXSEARCH_INDEX", str(small_index))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["diagnose", "--case", str(case)])
    finally:
        monkeypatch.delenv("DXSEARCH_INDEX")
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "differential" in result.stdout and "policy learned" in result.stdout
    assert "differential" not in result.stderr
    # Piped output is not cut at 80 columns (a user test's grep missed "stop: ⏎diagnosed").
    header = next(line for line in result.stdout.splitlines() if line.startswith("policy learned"))
    assert " turns · stop: " in header and header.endswith(" ms"), header


def test_diagnose_says_which_findings_it_read_from_a_stated_value(small_index: Path, tmp_path: Path) -> None:
    case = tmp_path / "note.json"
    case.write_text(
        json.dumps({"text": "Arachnodactyly, ectopia lentis. Height 190 cm (+3 SD). He walked at 30 months."})
    )
    result = runner.invoke(app, ["diagnose", "--case", str(case), "--index", str(small_index)])
    assert result.exit_code == 0, result.output
    assert "read from a stated value: 'Height 190 cm (+3 SD)' -> Tall stature" in result.stdout
    assert "read from a stated value: 'walked at 30 months' -> Delayed ability to walk" in result.stdout
    assert "'Arachnodactyly'" not in result.stdout  # named in the words: not listed as read from a value


def test_diagnose_explain_prints_the_next_steps(small_index: Path, tmp_path: Path) -> None:
    case = tmp_path / "marfan.jsonl"
    phenotypes = [{"id": "HP:0001166"}, {"id": "HP:0001083"}, {"id": "HP:0000098"}, {"id": "HP:0002616"}]
    case.write_text(json.dumps({"case_id": "m1", "phenotypes": phenotypes}) + "\n", encoding="utf-8")
    out = tmp_path / "trace.json"
    args = ["diagnose", "--case", str(case), "--index", str(small_index), "--explain", "--json", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    steps = json.loads(out.read_text())["next_steps"]
    assert steps["basis"] == "differential"
    assert "next steps" in result.stdout and "gene panel:" in result.stdout
    assert re.search(r"^  FBN1 — 1\. Marfan syndrome", result.stdout, re.MULTILINE)
    if steps["questions"]:
        first = steps["questions"][0]
        assert f"1. {first['label']} [{first['hpo_id']}]" in result.stdout and "yes favours" in result.stdout
        for question in steps["questions"]:  # an answer no candidate gains from says where the probability goes
            if not question["if_absent"]:
                assert "no favours none of these" in result.stdout or "no favours no candidate" in result.stdout
    assert "favours none ·" not in result.stdout and not result.stdout.rstrip().endswith("favours none")
    plain = runner.invoke(app, args[:-3])  # without --explain: the differential only
    assert plain.exit_code == 0 and "next steps" not in plain.stdout


@pytest.mark.slow
def test_diagnose_explain_prints_turns_passages_and_chains(
    default_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What --explain prints; the answer threshold is off so a differential is printed whatever the
    leakage-controlled calibration makes of this held-out case."""
    from dxsearch.settings import get_settings

    monkeypatch.setenv("DXSEARCH_ABSTAIN_BELOW", "0")
    get_settings.cache_clear()
    cases = _write_cases(tmp_path / "one.jsonl", 1)
    out = tmp_path / "trace.json"
    result = runner.invoke(
        app, ["diagnose", "--case", str(cases), "--index", str(default_index), "--explain", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "turn 1: match" in result.stdout and "turn 2: lookup" in result.stdout
    assert "differential" in result.stdout
    assert re.search(r"└ (omim|orpha|pt):[\w.-]+#\d+ \(", result.stdout)  # an evidence chain line
    trace = json.loads(out.read_text())
    assert trace["stop_reason"] == "diagnosed" and trace["diagnoses"]
    assert all(link["evidence_id"] for d in trace["diagnoses"] for link in d["evidence"])
    assert trace["next_steps"]["basis"] == "differential" and "next steps" in result.stdout
    left = trace["next_steps"]["none_of_these"]
    assert f"probabilities as the differential gives them; {left:.2f} left to none of these" in result.stdout
    assert heldout_phenopacket_cases()[0].case.case_id not in out.read_text()


@pytest.mark.slow
def test_eval_compares_policies_and_the_evidence_baseline_beats_the_enrichment_floor(
    default_index: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    args = ["eval", "--index", str(default_index), "--json", str(out), "--limit", "150"]
    for policy in ("evidence", "enrichment", "lexical", "dense"):
        args += ["--policy", policy]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["policies"]
    for metrics in report.values():
        assert {"top1", "top3", "top5", "mrr", "citation_precision", "retrievals_per_case"} <= set(metrics)
        assert {"latency_p50_ms", "latency_p95_ms"} <= set(metrics)
        assert set(metrics["sets"]) == {"real", "simulated"}
        # Leakage-controlled: no kept annotation row cites a held-out case's publication.
        knowledge_groups = set(metrics["groups"]) - {"common", "rare", "annotation_independent"}
        assert {"common", "rare", "annotation_independent"} <= set(metrics["groups"])
        assert knowledge_groups and knowledge_groups <= set(KNOWLEDGE_GROUPS)
        # What the index knows of the gold disease splits the real cases, each case in one kind.
        assert sum(metrics["groups"][g]["cases"] for g in knowledge_groups) == metrics["sets"]["real"]["cases"]
        assert {"group_top1", "group_top5"} <= set(metrics) and metrics["group_top1"] >= metrics["top1"]
        assert 0.0 <= metrics["top1"] <= metrics["top3"] <= metrics["top5"] <= 1.0
    real = {name: m["sets"]["real"] for name, m in report.items()}
    assert real["evidence"]["top1"] > real["enrichment"]["top1"]
    assert real["evidence"]["mrr"] > real["enrichment"]["mrr"]
    assert report["evidence"]["citation_precision"] > 0.8
    assert report["evidence"]["retrievals_per_case"] >= 2 and report["enrichment"]["retrievals_per_case"] == 0


@pytest.mark.slow
def test_an_untrained_llm_is_scored_as_garbage_within_bounded_turns(default_index: Path, tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "tiny", seed=0)
    cases = _write_cases(tmp_path / "few.jsonl", 6)
    out = tmp_path / "eval.json"
    args = ["eval", "--index", str(default_index), "--json", str(out), "--cases", str(cases)]
    result = runner.invoke(app, [*args, "--policy", "llm", "--model", str(model)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["policy"] == "llm" and report["cases"] == 6
    assert report["policies"]["llm"]["top5"] == report["top5"]  # one shape for one policy or several
    assert report["top5"] == 0.0 and report["mrr"] == 0.0
    assert report["outcomes"].get("no_diagnosis", 0) >= 5
    assert report["turns_per_case"] <= 12


def test_diagnose_a_case_without_an_answer_and_with_labels_only(small_index: Path, tmp_path: Path) -> None:
    row = {
        "phenotypes": [
            {"label": "Arachnodactyly"},
            {"id": "HP:0001083"},
            {"label": "tall stature, aortic root dilatation"},
            {"label": "Seizures", "excluded": True},
            {"label": "zorbly wimples"},
        ],
        "text": "14-year-old boy seen in clinic",
    }
    cases = tmp_path / "undiagnosed.jsonl"
    cases.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["diagnose", "--case", str(cases), "--index", str(small_index), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "not understood — searched by its words only: 'zorbly wimples'" in result.output
    trace = json.loads(out.read_text())
    assert (trace["case"]["sex"], trace["case"]["age"]) == ("male", "P14Y")
    account = trace["input_account"]
    assert {m["hpo_id"] for m in account["mapped"]} == {
        "HP:0001166",
        "HP:0001083",
        "HP:0000098",
        "HP:0002616",
        "HP:0001250",
    }
    assert [n.get("given") for n in account["not_understood"]] == ["zorbly wimples"]
    assert trace["diagnoses"][0]["code"] == "OMIM:154700"


def _stable(trace: dict[str, Any]) -> dict[str, Any]:
    """A trace without what differs run to run: its id, its creation time and the timings."""
    volatile = {"trace_id", "created_at"}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in volatile and not k.endswith("_ms")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    result: dict[str, Any] = strip(trace)
    return result


def test_a_second_diagnose_reads_the_derived_tables_and_answers_the_same(
    small_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run derives the disease knowledge and the scorers' matrices and keeps them; a second run (a
    new process: nothing loaded) reads them back without deriving anything, and its trace is the same."""
    from dxsearch.baselines import enrichment
    from dxsearch.knowledge import hpo, similarity
    from dxsearch.settings import get_settings

    case = tmp_path / "marfan.jsonl"
    phenotypes = [{"id": "HP:0001166"}, {"id": "HP:0001083"}, {"label": "Tall stature"}, {"id": "HP:0002616"}]
    case.write_text(json.dumps({"case_id": "m1", "phenotypes": phenotypes}) + "\n", encoding="utf-8")
    derived = tmp_path / "derived"
    monkeypatch.setenv("DXSEARCH_DERIVED_DIR", str(derived))
    get_settings.cache_clear()
    traces = []
    try:
        for run in range(2):
            monkeypatch.setattr(hpo, "_KNOWLEDGE", {})  # as in a new process: no knowledge loaded yet
            if run == 1:
                for module, name in (
                    (hpo.HpoKnowledge, "_parse_tables"),
                    (similarity, "derive_matrices"),
                    (enrichment, "derive_incidence"),
                ):
                    monkeypatch.setattr(module, name, lambda *args: pytest.fail("derived again, not read back"))
            out = tmp_path / f"trace-{run}.json"
            args = ["diagnose", "--case", str(case), "--index", str(small_index), "--json", str(out)]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            traces.append(_stable(json.loads(out.read_text())))
            if run == 0:
                kinds = {p.name.rsplit("-", 1)[0] for p in derived.glob("*.pickle")}
                assert {"hpo-knowledge", "phenotype-similarity", "enrichment-omim"} <= kinds
    finally:
        monkeypatch.delenv("DXSEARCH_DERIVED_DIR")
        get_settings.cache_clear()
    assert traces[0] == traces[1]
    assert traces[0]["diagnoses"][0]["code"] == "OMIM:154700"


def test_several_cases_are_diagnosed_in_one_run_as_each_alone(small_index: Path, tmp_path: Path) -> None:
    """``--case`` repeated: one load for all, one trace per line of --json, each the trace of that case alone."""
    marfan = tmp_path / "marfan.jsonl"
    phenotypes = [{"id": "HP:0001166"}, {"id": "HP:0001083"}, {"id": "HP:0000098"}, {"id": "HP:0002616"}]
    marfan.write_text(json.dumps({"case_id": "m1", "phenotypes": phenotypes}) + "\n", encoding="utf-8")
    other = _write_cases(tmp_path / "other.jsonl", 1)
    both = tmp_path / "both.jsonl"
    args = ["diagnose", "--index", str(small_index), "--case", str(marfan), "-c", str(other), "--json", str(both)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("differential") == 2
    lines = both.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for line, case in zip(lines, (marfan, other), strict=True):
        alone = tmp_path / f"{case.stem}.json"
        single = runner.invoke(
            app, ["diagnose", "--index", str(small_index), "--case", str(case), "--json", str(alone)]
        )
        assert single.exit_code == 0, single.output
        assert _stable(json.loads(line)) == _stable(json.loads(alone.read_text(encoding="utf-8")))


def test_a_bad_case_among_several_is_named_and_the_others_are_diagnosed(small_index: Path, tmp_path: Path) -> None:
    """A user test: one bad file among four lost the diagnoses of the three good ones. Now each good case is
    diagnosed (and written to --json), each bad one named in one line, and the exit code is 2 at the end."""
    good = _write_cases(tmp_path / "good.jsonl", 1)
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"case_id": "u", "phenotypes": [{"id": "HP:9999999"}]}) + "\n")
    truncated = tmp_path / "truncated.json"
    truncated.write_text('{"resourceType": "Bundle", "entry": [')
    out = tmp_path / "traces.jsonl"
    cases = [str(tmp_path / "nope.jsonl"), str(good), str(unknown), str(truncated)]
    args = ["diagnose", "--index", str(small_index), "--json", str(out), *(a for c in cases for a in ("-c", c))]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout.count("differential") == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {tmp_path / 'nope.jsonl'}: no such case file",
        f"error: {unknown}: unknown HPO term HP:9999999 (not in the HPO release DxSearch uses)",
        f"error: {truncated}: invalid JSON: Expecting value at line 1 column 38",
    ]
    assert "1 of 4 cases diagnosed; 3 refused (named above)" in result.stderr
    (trace,) = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert trace["diagnoses"]
    alone = runner.invoke(app, ["diagnose", "--index", str(small_index), "-c", str(unknown), "-c", str(truncated)])
    assert alone.exit_code == 2 and "differential" not in alone.stdout  # nothing readable: nothing loaded


def test_diagnose_says_which_rows_and_keys_of_a_case_file_it_does_not_read(small_index: Path, tmp_path: Path) -> None:
    """One case per file, as documented: the rows after the first are counted on stderr, and keys nothing reads
    are named (a misspelt "note" for "text" would otherwise silently drop the note); the answer a phenopacket
    row carries (disease, pmid, genes) is known not to be read and is not named."""
    rows = [
        {"case_id": "a", "phenotypes": [{"label": "Arachnodactyly", "negated": True}], "note": "Ectopia lentis"},
        {"case_id": "b", "phenotypes": [{"label": "Seizure"}]},
        {"case_id": "c", "phenotypes": [{"label": "Ataxia"}]},
    ]
    cases = tmp_path / "three.jsonl"
    cases.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = runner.invoke(app, ["diagnose", "--case", str(cases), "--index", str(small_index), "--policy", "evidence"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("differential") == 1
    assert result.stderr.splitlines()[:2] == [
        f"warning: {cases}: key(s) not read, ignored: note, phenotypes[0].negated",
        f"warning: {cases}: only its first case row is diagnosed, 2 more row(s) not read (one case per file: give "
        "each its own --case)",
    ]
    phenopacket = _write_cases(tmp_path / "phenopacket.jsonl", 1)
    assert {"disease", "pmid", "genes"} <= json.loads(phenopacket.read_text()).keys()
    result = runner.invoke(app, ["diagnose", "--case", str(phenopacket), "--index", str(small_index)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_diagnose_help_shows_the_case_format() -> None:
    result = runner.invoke(app, ["diagnose", "--help"])
    assert result.exit_code == 0
    assert '"phenotypes"' in result.output and "HP:0001083" in result.output and "disease" in result.output
    assert "POST /v1/diagnose" in result.output and '"findings"' in result.output


def test_eval_still_needs_the_answer(small_index: Path, tmp_path: Path) -> None:
    cases = tmp_path / "unlabelled.jsonl"
    cases.write_text(json.dumps({"case_id": "u1", "phenotypes": [{"id": "HP:0001166", "label": "A"}]}) + "\n")
    args = ["eval", "--index", str(small_index), "--cases", str(cases), "--json", str(tmp_path / "e.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "disease" in result.output
    # A user test: label-only phenotypes said "phenotypes.0.id: Field required", not that eval needs ids.
    cases.write_text(json.dumps({"case_id": "u1", "phenotypes": [{"label": "Arachnodactyly"}]}) + "\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "each phenotype with an HPO id" in result.output


def test_eval_and_train_refuse_an_output_they_cannot_write_before_any_work(small_index: Path, tmp_path: Path) -> None:
    """A user test: `eval --json DIR` ran the whole evaluation, then a traceback; `train --out FILE` loaded, then
    FileExistsError; `eval --json /missing/x.json` made the directories."""
    cases = _write_cases(tmp_path / "few.jsonl", 2)
    evaluate = ["eval", "--index", str(small_index), "--cases", str(cases), "--policy", "enrichment", "--json"]
    result = runner.invoke(app, [*evaluate, str(tmp_path)])
    assert result.exit_code == 2 and "a directory; give the path of a file" in result.output
    result = runner.invoke(app, [*evaluate, str(tmp_path / "missing" / "e.json")])
    assert result.exit_code == 2 and "no such directory (create it first)" in result.output
    assert not (tmp_path / "missing").exists()
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    result = runner.invoke(app, ["train", "--preset", "smoke", "--index", str(small_index), "--out", str(a_file)])
    assert result.exit_code == 2 and "a file, not a directory" in result.output and "Traceback" not in result.output


def test_read_notes_writes_one_account_per_note(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    texts = [
        "14 yo M. Marfanoid habitus, dislocated lenses bilaterally, dilated aortic root on echo. Seen on Tuesday.",
        "Family history of scoliosis; no seizures.",
        "Arachnodactyly since infancy. Autosomal dominant inheritance.",
    ]
    notes.write_text("".join(json.dumps({"doc_id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "accounts.jsonl"
    result = runner.invoke(app, ["read", "--notes", str(notes), "--json", str(out)])
    assert result.exit_code == 0, result.output
    first, second, third = (json.loads(line) for line in out.read_text().splitlines())
    assert first["doc_id"] == "n0" and (first["age"], first["sex"]) == ("P14Y", "male")
    assert [f["id"] for f in first["findings"]] == ["HP:0001519", "HP:0001083", "HP:0002616"]
    span = first["findings"][1]["span"]
    assert texts[0][span[0] : span[1]] == "dislocated lenses"
    (missed,) = first["not_understood"]
    assert texts[0][missed["span"][0] : missed["span"][1]] == "Seen on Tuesday"
    assert missed["category"] == "not_understood"  # what kind of entry: a field, not the reason's words
    assert [(f["id"], f["assertion"]) for f in second["findings"]] == [
        ("HP:0002650", "family_history"),
        ("HP:0001250", "absent"),
    ]
    assert not any(f["from_value"] for f in first["findings"])
    assert [(f["id"], f["kind"]) for f in third["findings"]] == [
        ("HP:0001166", "finding"),
        ("HP:0003593", "onset"),
        ("HP:0000006", "inheritance"),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no id"}\n')
    result = runner.invoke(app, ["read", "--notes", str(bad), "--json", str(out)])
    assert result.exit_code == 2 and "bad.jsonl:1" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"doc_id": "a", "text": "Arachnodactyly."}\n{"doc_id": "b", "text": "  "}\n')
    result = runner.invoke(app, ["read", "--notes", str(empty), "--json", str(out)])
    assert result.exit_code == 0 and "empty.jsonl:2: the text is empty" in result.stderr
    assert [json.loads(line)["findings"] for line in out.read_text().splitlines()][1] == []


@pytest.mark.parametrize("where", [[], ["--json", "-"]])
def test_read_without_a_file_writes_the_accounts_to_standard_output(tmp_path: Path, where: list[str]) -> None:
    """Results on stdout, the summary on stderr: `dxsearch read --notes FILE | jq` works ("-" wrote a file named -)."""
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"doc_id": "n0", "text": "Seizures began at 7 months. PMH: HTN."}) + "\n")
    result = runner.invoke(app, ["read", "--notes", str(notes), *where])
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    account = json.loads(line)
    assert [(f["id"], f["kind"]) for f in account["findings"]] == [
        ("HP:0001250", "finding"),
        ("HP:0003593", "onset"),  # Infantile onset, read from the age
        ("HP:0000822", "finding"),  # Hypertension
    ]
    assert "-> standard output" in result.stderr
    assert not (Path.cwd() / "-").exists()


@pytest.mark.parametrize(
    ("content", "said", "kept"),
    [
        (b'{"doc_id": "n1", "text": "seizures"}\n{"doc_id": "n2", "text": "caf\xe9"}\n', ":2: not UTF-8 (", ["n1"]),
        (b'{"doc_id": "n1", "text": "seizures"}\n{"doc_id": "n2"\n', ":2: invalid JSON", ["n1"]),
        (
            b'{"doc_id": "n1", "text": "seizures"}\n{"doc_id": "n1", "text": "ataxia"}\n',
            ':2: doc_id "n1" repeats line 1',
            ["n1"],
        ),
        (b'{"doc_id": 7, "text": "a"}\n\n{"doc_id": 7, "text": "b"}\n', ":3: doc_id 7 repeats line 1", [7]),
        # An empty file exited 0 after "read 0 note(s)"; a lone surrogate in a doc_id was a traceback at the end.
        (b"", ": the file holds no note; expected one", None),
        (b"\n  \n", ": the file holds no note; expected one", None),
        (b'{"doc_id": "n1", "text": "tall \\udfff"}\n', ":1: text holds a lone UTF-16 surrogate (\\udfff)", None),
        (b'{"doc_id": "n\\ud800", "text": "tall"}\n', ":1: doc_id holds a lone UTF-16 surrogate (\\ud800)", None),
    ],
)
def test_read_names_a_bad_notes_line_in_one_line_and_keeps_the_good_ones(
    tmp_path: Path, content: bytes, said: str, kept: list[object] | None
) -> None:
    """A notes line that is not UTF-8 or not JSON, or a doc_id given again (accounts are joined back by doc_id):
    one line naming file and line, and exit 2 at the end. The good lines are still read and written (a user test:
    one non-JSON line lost every account); when none is good, the readers never load and an earlier output is
    left as it was. (Until then a bad line refused the whole file: this test said "writes nothing".)"""
    notes = tmp_path / "notes.jsonl"
    notes.write_bytes(content)
    out = tmp_path / "accounts.jsonl"
    out.write_text("earlier\n")
    result = runner.invoke(app, ["read", "--notes", str(notes), "--json", str(out)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit(2), not a traceback
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: {notes}:") and said in line, line
    if kept is None:
        assert result.stderr.strip() == line
        assert out.read_text() == "earlier\n"
    else:
        assert [json.loads(account)["doc_id"] for account in out.read_text().splitlines()] == kept
        assert "; 1 line(s) refused (named above)" in result.stderr


@pytest.mark.parametrize(
    ("command", "what"),
    [(["read", "--json", "out.jsonl", "--notes"], "notes file"), (["diagnose", "--case"], "case file")],
)
def test_a_directory_given_for_an_input_file_is_called_a_directory(
    tmp_path: Path, command: list[str], what: str
) -> None:
    """Not "no such file": the path exists, it is the wrong kind of thing."""
    result = runner.invoke(app, [*command, str(tmp_path)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line == f"error: {tmp_path}: a directory, not a {what}"


@pytest.mark.parametrize(
    "command", [["read", "--notes", "{notes}"], ["diagnose", "--case", "{case}", "--index", "{x}"]]
)
@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("missing/out.jsonl", "missing: no such directory (create it first)"),
        ("notes.jsonl/out.jsonl", "notes.jsonl: not a directory (create it first)"),
        (".", "a directory; give the path of a file to write"),
    ],
)
def test_an_output_that_could_not_be_written_is_refused_before_any_work(
    tmp_path: Path, command: list[str], out: str, said: str
) -> None:
    """--json is written last, after the loading and reading: a bad path is refused first, in one line, exit 2
    (the error names --json although the index is missing too)."""
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"doc_id": "n1", "text": "Seizures."}) + "\n")
    case = _write_cases(tmp_path / "case.jsonl", 1)
    paths = {"notes": notes, "case": case, "x": tmp_path / "no-index"}
    target = tmp_path / out
    result = runner.invoke(app, [*(part.format(**paths) for part in command), "--json", str(target)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: --json {target}: ") and said in line, line


PLAYABLE = ["dense", "evidence", "hybrid", "learned", "lexical", "llm", "phenotype"]


@pytest.mark.parametrize(
    ("command", "listed"),
    [
        (["diagnose", "--case", "c.jsonl"], PLAYABLE),
        (["eval", "--json", "e.json"], [*PLAYABLE, "enrichment", "likelihood"]),
    ],
)
def test_an_unknown_policy_is_one_line_naming_the_policies_help_lists(command: list[str], listed: list[str]) -> None:
    """One line, not typer's box, naming what the command's --help offers: diagnose plays the policies, eval
    scores the direct rankers beside them."""
    result = runner.invoke(app, [*command, "--policy", "bogus"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line == f"error: --policy 'bogus' is not one of {', '.join(listed)}"
    shown = runner.invoke(app, [command[0], "--help"]).output
    assert all(f"{name}:" in shown for name in listed)


def test_diagnose_refuses_a_direct_ranker_saying_where_it_runs() -> None:
    result = runner.invoke(app, ["diagnose", "--case", "c.jsonl", "--policy", "enrichment"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line == "error: --policy enrichment ranks diseases directly: it runs only under `dxsearch eval`"


SECRET_KEY = "0123456789abcdef0123456789abcdef-serve-test"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "DXSEARCH_PSEUDONYM_KEY is the public default"),
        ({"DXSEARCH_PSEUDONYM_KEY": "short-but-16-chars-ok"}, "shorter than 32 bytes"),
        ({"DXSEARCH_PSEUDONYM_KEY": SECRET_KEY}, "DXSEARCH_AUDIT_SIGNING_KEY is not set"),
    ],
)
def test_serve_refuses_unsafe_keys_outside_development(
    small_index: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    started = _no_server(monkeypatch, env)
    result = runner.invoke(app, ["serve", "--index", str(small_index)])
    assert result.exit_code == 2, result.output
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert started == []
    assert SECRET_KEY not in result.output


def test_serve_names_every_missing_secret_in_one_line(small_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user test: without secrets, serve named the pseudonym key, then (set, tried again) the signing key."""
    started = _no_server(monkeypatch, {})
    result = runner.invoke(app, ["serve", "--index", str(small_index)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "DXSEARCH_PSEUDONYM_KEY is the public default" in line and "DXSEARCH_AUDIT_SIGNING_KEY is not set" in line
    assert line.count("DXSEARCH_DEVELOPMENT=1") == 1 and line.endswith("for development only")  # the hint once
    assert started == []
    short = _no_server(monkeypatch, {"DXSEARCH_PSEUDONYM_KEY": "short-but-16-chars-ok"})
    result = runner.invoke(app, ["serve", "--index", str(small_index)])
    assert result.exit_code == 2 and short == []
    (line,) = result.stderr.strip().splitlines()
    assert "shorter than 32 bytes" in line and "DXSEARCH_AUDIT_SIGNING_KEY is not set" in line


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({}, ["--dev"]),
        ({"DXSEARCH_DEVELOPMENT": "1"}, []),
        ({"DXSEARCH_PSEUDONYM_KEY": SECRET_KEY, "DXSEARCH_AUDIT_SIGNING_KEY": "var/key.pem"}, []),
    ],
)
def test_serve_starts_in_development_or_with_proper_keys(
    small_index: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: list[str]
) -> None:
    started = _no_server(monkeypatch, env)
    result = runner.invoke(app, ["serve", "--index", str(small_index), *args])
    assert result.exit_code == 0, result.output
    assert len(started) == 1


def _no_server(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> list[object]:
    """Settings from ``env`` alone (DXSEARCH_* cleared), and a stand-in for uvicorn that records the settings."""
    import api.serve
    from dxsearch.settings import get_settings

    for name in ("DXSEARCH_PSEUDONYM_KEY", "DXSEARCH_AUDIT_SIGNING_KEY", "DXSEARCH_DEVELOPMENT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    started: list[object] = []
    monkeypatch.setattr(api.serve, "serve", lambda host, port, settings: started.append(settings))
    return started


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    from dxsearch.settings import get_settings

    yield
    get_settings.cache_clear()


def _bundle(path: Path, findings: list[tuple[str | None, str]]) -> Path:
    observations = [
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://human-phenotype-ontology.org", "code": code, "display": label}]}
            if code
            else {"text": label},
            "subject": {"reference": "Patient/p1"},
            "valueBoolean": True,
        }
        for code, label in findings
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in [{"resourceType": "Patient", "id": "p1"}, *observations]],
    }
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("findings", "why"),
    [
        ([(None, "xyzzy plugh")], "no finding was understood"),
        ([("HP:0001945", "Fever"), ("HP:0012735", "Cough")], "nonspecific"),
        ([("HP:0002315", "Headache")], "nonspecific"),
    ],
)
def test_diagnose_says_insufficient_evidence_and_why(
    small_index: Path, tmp_path: Path, findings: list[tuple[str | None, str]], why: str
) -> None:
    case = _bundle(tmp_path / "case.json", findings)
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["diagnose", "--case", str(case), "--index", str(small_index), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "insufficient evidence:" in result.output and why in " ".join(result.output.split())
    trace = json.loads(out.read_text())
    assert trace["outcome"] == "insufficient_evidence" and why in trace["reason"]


def test_diagnose_gives_marfan_first_with_a_probability(small_index: Path, tmp_path: Path) -> None:
    marfan = [
        ("HP:0001166", "Arachnodactyly"),
        ("HP:0001083", "Ectopia lentis"),
        ("HP:0000098", "Tall stature"),
        ("HP:0002616", "Aortic root aneurysm"),
    ]
    case = _bundle(tmp_path / "marfan.json", marfan)
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["diagnose", "--case", str(case), "--index", str(small_index), "--json", str(out)])
    assert result.exit_code == 0, result.output
    trace = json.loads(out.read_text())
    assert trace["outcome"] == "diagnosed" and trace["diagnoses"][0]["code"] == "OMIM:154700"
    assert 0.0 < trace["diagnoses"][0]["confidence"] <= 1.0 and "confidence" in result.output


@pytest.mark.parametrize("policy", ["evidence", "learned"])
def test_an_abstentions_considered_list_never_prints_confidence_0_00(
    small_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    """A user test: the considered list printed "confidence 0.00" for candidates weighed at under 0.005, while the
    viewer said "fewer than 1 in 100"; the reason the same of its first choice. One formatter prints them all."""
    from dxsearch.protocol import probability_text
    from dxsearch.settings import get_settings

    marfan = [("HP:0001166", "Arachnodactyly"), ("HP:0001083", "Ectopia lentis"), ("HP:0000098", "Tall stature")]
    case = _bundle(tmp_path / "marfan.json", marfan)
    out = tmp_path / "trace.json"
    monkeypatch.setenv("DXSEARCH_ABSTAIN_BELOW", "0.9999")  # the bar out of reach: an abstention, and what it weighed
    get_settings.cache_clear()
    try:
        args = ["diagnose", "--case", str(case), "--index", str(small_index), "--policy", policy, "--json", str(out)]
        result = runner.invoke(app, args)
    finally:
        monkeypatch.delenv("DXSEARCH_ABSTAIN_BELOW")
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    trace = json.loads(out.read_text())
    assert trace["outcome"] == "insufficient_evidence", trace["reason"]
    confidences = [c["confidence"] for c in trace["considered"]]
    assert any(c < 0.005 for c in confidences), confidences  # the candidates this is about
    printed = re.findall(r"· confidence (under 0\.01|over 0\.99|\d\.\d\d)$", result.stdout, re.MULTILINE)
    assert printed == [probability_text(c) for c in confidences]
    assert "under 0.01" in printed and "confidence 0.00" not in result.stdout
    assert "probability 0.00," not in trace["reason"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("note", "within"),
    [
        ("14-year-old boy, tall stature, arachnodactyly, lens dislocation, aortic root dilatation", 1),
        ("14 yo M. Marfanoid habitus, dislocated lenses bilaterally, dilated aortic root on echo", 3),
    ],
)
def test_marfan_notes_on_the_default_corpus(
    default_index: Path, tmp_path: Path, note: str, within: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How the note is read and ranked; whether the top probability clears the answer threshold is the
    calibration's business (on a leakage-controlled index a four-finding Marfan note gets ~0.2-0.45), so the
    threshold is off here."""
    from dxsearch.settings import get_settings

    monkeypatch.setenv("DXSEARCH_ABSTAIN_BELOW", "0")
    get_settings.cache_clear()
    cases = tmp_path / "note.jsonl"
    cases.write_text(json.dumps({"text": note}) + "\n", encoding="utf-8")
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["diagnose", "--case", str(cases), "--index", str(default_index), "--json", str(out)])
    assert result.exit_code == 0, result.output
    trace = json.loads(out.read_text())
    assert (trace["case"]["sex"], trace["case"]["age"]) == ("male", "P14Y")
    codes = [d["code"] for d in trace["diagnoses"]]
    assert "OMIM:154700" in codes[:within], codes[:5]


def _cases_cited_by_their_annotations(path: Path, count: int) -> tuple[Path, frozenset[str]]:
    """Held-out cases from publications HPO curated annotation rows from (the leaky half)."""
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    cited = get_hpo_knowledge().cited_publications()
    cases = [c for c in heldout_phenopacket_cases() if c.pmid and c.pmid in cited][:count]
    path.write_text("".join(json.dumps(phenopacket_row(c)) + "\n" for c in cases), encoding="utf-8")
    return path, frozenset(c.pmid for c in cases if c.pmid)


def test_eval_refuses_cases_whose_publication_feeds_the_index_unless_leakage_is_allowed(
    small_index: Path, tmp_path: Path
) -> None:
    cases, _ = _cases_cited_by_their_annotations(tmp_path / "leaky.jsonl", 3)
    out = tmp_path / "eval.json"
    args = ["eval", "--index", str(small_index), "--cases", str(cases), "--json", str(out), "--policy", "enrichment"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert "feed this index" in refused.output and "--allow-leakage" in refused.output
    assert not out.exists()
    allowed = runner.invoke(app, [*args, "--allow-leakage"])
    assert allowed.exit_code == 0, allowed.output
    report = json.loads(out.read_text())
    assert report["leakage"]["controlled"] is False and report["leakage"]["leaking_cases"] == 3
    assert "LEAKY" in allowed.output


def test_eval_on_an_index_built_without_the_cases_publications_is_leakage_controlled(
    tmp_path: Path, test_settings: Settings
) -> None:
    from support import SMALL_DOCS, ListSource

    from corpus_builder.build import run_build

    cases, pmids = _cases_cited_by_their_annotations(tmp_path / "cases.jsonl", 3)
    index = tmp_path / "index"
    run_build(index, [ListSource("t", list(SMALL_DOCS))], test_settings, excluded_publications=pmids)
    out = tmp_path / "eval.json"
    args = ["eval", "--index", str(index), "--cases", str(cases), "--json", str(out), "--policy", "enrichment"]
    result = runner.invoke(app, [*args, "--policy", "likelihood"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["policies"]) == {"enrichment", "likelihood"}  # both rank the index's filtered rows
    assert all(m["cases"] == 3 and "group_top1" in m for m in report["policies"].values())
    assert report["leakage"] == {
        "controlled": True,
        "excluded_publications": len(pmids),
        "leaking_cases": 0,
        "leaking_publications": [],
    }
    assert 0.0 <= report["ceiling"]["cases"] <= 1.0
    assert "leakage-controlled" in result.output and "ceiling" in result.output


def test_an_unreachable_model_server_is_one_line_and_exit_2(small_index: Path, tmp_path: Path) -> None:
    """No trace is printed for a case the model could not be asked about: the run stops, exit 2."""
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    cases = _write_cases(tmp_path / "one.jsonl", 1)
    server = ["--llm-url", f"http://127.0.0.1:{closed}/v1", "--llm-name", "tiny"]
    result = runner.invoke(
        app, ["diagnose", "--case", str(cases), "--index", str(small_index), "--policy", "llm", *server]
    )
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]  # retries log above it
    assert line.startswith("error: chat completion failed after") and "connection failed" in line
    assert result.output.rstrip().endswith(line), "nothing may follow: no trace for a case nobody could diagnose"


NO_OBSERVED_FINDING = "the case has no observed finding: give at least one finding that is present"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "empty file; expected a FHIR Bundle"),
        (b"  \n", "empty file; expected a FHIR Bundle"),
        (b"[]", "the file holds an array; expected a FHIR Bundle"),
        (b"42", "the file holds a number; expected"),
        (b"{}", "not a case: give exactly one of 'text', 'findings' or 'bundle'; expected a FHIR Bundle"),
        (b'{"resourceType": "Observation"}', "a FHIR Observation resource; diagnose reads a FHIR Bundle"),
        (b'{"resourceType": null}', "an invalid resourceType; diagnose reads a FHIR Bundle"),
        (b"\xff\xfe{\x80}", "not UTF-8 (invalid start byte at byte 0); expected a FHIR Bundle"),
        (b'{"findings": [', "invalid JSON: Expecting value at line 1 column 15"),
        (b'{"findings": []}', NO_OBSERVED_FINDING),  # what POST /v1/diagnose answers (422) for the same body
        (b'{"findings": [{"label": "Seizure", "excluded": true}]}', NO_OBSERVED_FINDING),
        (b'{"findings": ["Arachnodactyly"], "finding": "typo"}', "not a case: finding: Extra inputs are not permitted"),
        (b'{"findings": ["a<b"]}', "not a case: findings[0].label: finding labels may not contain"),
        # A lone surrogate in a note was a 49-line traceback from the pseudonymiser (user test):
        (b'{"text": "tall stature, arachnodactyly \\udfff"}', "not a case: text: the text holds a lone UTF-16"),
        (b'{"findings": ["Tall stature"], "patient_id": "\\ud800"}', "not a case: patient_id: the text holds a lone"),
        (b'{"findings": [{"label": "Tall stature", "excluded": "yes"}]}', "excluded must be true or false, not a"),
        (b'{"findings": [null]}', "findings[0]: a finding is a label (a string) or an object with label and/or"),
        (b'{"phenotypes": [{"label": "Arachnodactyly"}]}', 'a case row with "phenotypes" belongs in a .jsonl file'),
        (b'{"resourceType": "Bundle", "type": "collection"}', "the bundle must describe exactly one Patient"),
        # entries without a resourceType: a bundle that lost it, told so (it was "finding: Extra inputs ...")
        (b'{"type": "collection", "entry": []}', 'no resourceType: a FHIR Bundle says "resourceType": "Bundle"'),
    ],
)
def test_a_json_case_file_that_is_no_case_is_one_line_and_exit_2(
    small_index: Path, tmp_path: Path, content: bytes, said: str
) -> None:
    """A .json file is FHIR only when it says so (resourceType); else a case as the API takes it; else refused."""
    path = tmp_path / "case.json"
    path.write_bytes(content)
    result = runner.invoke(app, ["diagnose", "--case", str(path), "--index", str(small_index)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit(2), not a traceback
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {path}: ") and said in line, line


def test_a_json_case_in_the_apis_shape_is_diagnosed_as_the_same_jsonl_row(small_index: Path, tmp_path: Path) -> None:
    labels = ["Arachnodactyly", "Ectopia lentis", "Tall stature", "Aortic root aneurysm"]
    as_json = tmp_path / "marfan.json"
    as_json.write_text(json.dumps({"findings": [*labels, {"label": "Seizure", "excluded": True}], "age": 14}))
    as_row = tmp_path / "marfan.jsonl"
    row = {"phenotypes": [*({"label": label} for label in labels), {"label": "Seizure", "excluded": True}], "age": 14}
    as_row.write_text(json.dumps(row) + "\n")
    traces = []
    for path in (as_json, as_row):
        out = tmp_path / f"{path.suffix[1:]}-trace.json"
        result = runner.invoke(app, ["diagnose", "--case", str(path), "--index", str(small_index), "--json", str(out)])
        assert result.exit_code == 0, result.output
        traces.append(json.loads(out.read_text()))
    from_json, from_row = traces
    assert from_json["case"]["age"] == "P14Y" and from_json["diagnoses"][0]["code"] == "OMIM:154700"
    assert [f["label"] for f in from_json["case"]["findings"]] == [f["label"] for f in from_row["case"]["findings"]]
    assert [d["code"] for d in from_json["diagnoses"]] == [d["code"] for d in from_row["diagnoses"]]


def test_diagnose_counts_terms_and_the_input_items_they_were_read_from(small_index: Path, tmp_path: Path) -> None:
    """One item may hold two terms ("Low-set, posteriorly rotated ears"): six items read as seven terms."""
    case = tmp_path / "noonan.jsonl"
    labels = ["Short stature", "Pulmonic stenosis", "Hypertelorism", "Low-set, posteriorly rotated ears"]
    labels += ["Webbed neck", "Pectus excavatum"]
    case.write_text(json.dumps({"case_id": "n1", "phenotypes": [{"label": x} for x in labels]}) + "\n")
    result = runner.invoke(app, ["diagnose", "--case", str(case), "--index", str(small_index)])
    assert result.exit_code == 0, result.output
    assert "input: 7 HPO term(s) read from 6 input item(s), 0 part(s) not understood" in result.stdout


@pytest.mark.parametrize("where", [[], ["--json", "-"]])
def test_read_says_what_kind_each_entry_not_understood_is(tmp_path: Path, where: list[str]) -> None:
    note = "Arachnodactyly. Father has NF1. No family history of sudden cardiac death. Seen on Tuesday."
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"doc_id": "n0", "text": note}) + "\n")
    result = runner.invoke(app, ["read", "--notes", str(notes), *where])
    assert result.exit_code == 0, result.stderr
    missed = json.loads(result.stdout)["not_understood"]
    assert [(note[n["span"][0] : n["span"][1]], n["category"]) for n in missed] == [
        ("Father has NF1", "of_a_relative"),
        ("sudden cardiac death", "denied_of_a_relative"),
        ("Seen on Tuesday", "not_understood"),
    ]


def _trace_with_account(*entries: Any) -> Any:
    from dxsearch.agent import Trace
    from dxsearch.intake.account import InputAccount

    return Trace.model_validate(
        {
            "trace_id": "t",
            "created_at": "2026-01-01T00:00:00Z",
            "case": {"pseudonym": "p", "sex": "unknown", "age": None, "findings": [{"label": "Arachnodactyly"}]},
            "policy": {"name": "evidence", "version": "1"},
            "index_version": None,
            "turns": [],
            "retrievals": [],
            "diagnoses": [],
            "outcome": "no_diagnosis",
            "stop_reason": "insufficient_evidence",
            "retrievals_used": 0,
            "total_ms": 1.0,
            "input_account": InputAccount(source="bundle", not_understood=entries),
        }
    )


def test_diagnose_puts_an_entry_under_the_heading_its_category_says_whatever_its_reason_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The split between "not understood" and "also read, not a finding" matched reason texts: a reworded reason
    moved an entry to the wrong heading. It follows the entry's category now."""
    import io

    from rich.console import Console

    from dxsearch import cli
    from dxsearch.intake.account import NOT_A_FINDING, NotUnderstood

    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=400, soft_wrap=True))
    trace = _trace_with_account(
        NotUnderstood(path="entry[3].resource", reason="seen again, kept once", category="repeat"),
        NotUnderstood(path="entry[4].resource", given="Marfan", reason="on file", category="diagnosis"),
        # words that read like a diagnosis's reason, in a category that is not one: not understood
        NotUnderstood(path="entry[5].resource", given="Zorblax", reason=NOT_A_FINDING),
    )
    cli.print_trace(trace, explain=False)
    lines = out.getvalue().splitlines()
    assert "input: 0 HPO term(s) read from 3 input item(s), 1 part(s) not understood, 2 read" in lines[1]
    assert "  also read, not a finding of the patient — counted once: entry[3].resource: seen again, kept once" in lines
    assert "  also read, not a finding of the patient — diagnosis on record: 'Marfan': on file" in lines
    assert f"  not understood — not used: 'Zorblax': {NOT_A_FINDING}" in lines


def test_every_category_read_and_no_finding_has_its_words_in_the_cli_and_the_viewer() -> None:
    """``diagnose`` and the viewer's chips name each kind alike (the viewer's flag ends with ': ')."""
    import re

    from dxsearch.cli import _ALSO_READ
    from dxsearch.intake.account import UNDERSTOOD_NOT_A_FINDING

    assert set(_ALSO_READ) == set(UNDERSTOOD_NOT_A_FINDING)
    render = (Path(__file__).resolve().parents[2] / "api" / "viewer" / "static" / "render.js").read_text()
    block = render.split("export const CATEGORY_READINGS = {", 1)[1].split("};", 1)[0]
    viewer = {name: flag.removesuffix(": ") for name, flag in re.findall(r'(\w+): \["([^"]+)"', block)}
    # where the age came from too: the viewer listed it under "not used" while the CLI said "also read" (code review)
    assert viewer == _ALSO_READ


@pytest.mark.parametrize("command", help_commands(app))
def test_help_shows_whole_paragraphs_examples_line_for_line_and_every_option_help(command: str) -> None:
    """``--help`` broke lines where the docstring's source lines break, mid-sentence, however wide the terminal.
    The help is Markdown now: Typer joins a paragraph's lines and wraps it to the terminal, so on a terminal wide
    enough each paragraph is one line, with every sentence whole. An example (a case row, a shell loop) is a
    code block, shown line for line with its indentation; no option's help loses a character to the Markdown
    (a ``*`` or an ``_`` of DXSEARCH_*, a bracket)."""
    assert_help_reads_whole(app, command)


#: Sentences (or their first clause) the help broke mid-way, where the docstring's source lines break; each is
#: shorter than a 200-column terminal, and Typer's own wrapping leaves it whole there.
BROKEN_SENTENCES = {
    "eval": (
        "Leakage-controlled by default: every policy ranks with the index's own disease knowledge (the HPO rows "
        "of its excluded publications dropped, as its manifest records)"
    ),
    "serve": (
        "It follows the index: a generation a build or add publishes is served within "
        "DXSEARCH_INDEX_RELOAD_INTERVAL_S (30 s; /readyz names the live one), no restart."
    ),
    "train": "Training cases come from the index side of the publication split (never the held-out benchmark)",
}


@pytest.mark.parametrize(("command", "sentence"), sorted(BROKEN_SENTENCES.items()))
def test_a_sentence_the_help_broke_mid_way_is_one_line_on_a_wide_terminal(command: str, sentence: str) -> None:
    assert_sentence_on_one_line(app, command, sentence)
