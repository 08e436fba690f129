"""The ``audit`` CLI: verify (exit 1 naming the broken record), export, checkpoint, keygen, URL errors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from help_support import assert_help_reads_whole, assert_sentence_on_one_line, help_commands
from typer.testing import CliRunner

from audit import AuditEntry, AuditQuery, CheckpointSigner, Diagnosis, SqliteAuditStore
from audit.cli import app
from audit.signing import load_public_key
from audit.witness import read_checkpoints

runner = CliRunner()


def _url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path gives the four-slash form


def _pseudonym(patient: int) -> str:
    """A patient pseudonym as decisions carry it (20 hex digits); the one filter ``--patient`` takes."""
    return f"{patient:020x}"


def _populate(db_path: Path, make_entry: Callable[..., AuditEntry], count: int = 5) -> None:
    with SqliteAuditStore(db_path) as store:
        for i in range(1, count + 1):
            store.append(make_entry(i, patient_pseudonym=_pseudonym(i % 3)))


def test_verify_ok_then_broken(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    _populate(db_path, make_entry)
    result = runner.invoke(app, ["verify", "--url", _url(db_path)])
    assert result.exit_code == 0, result.output
    assert "OK: 5 records" in result.stdout

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_records_no_update")
    conn.execute(
        "UPDATE audit_records SET trace = replace(trace, 'marker-record-0004', 'marker-record-0005') WHERE seq = 4"
    )
    conn.close()

    result = runner.invoke(app, ["verify", "--url", _url(db_path)])
    assert result.exit_code == 1
    assert result.stdout.startswith("BROKEN: first broken record: 4")  # the verdict is the result

    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_broken"], report["records_checked"]) == (False, 4, 3)
    # verify opened the file read-only: the dropped trigger was not put back.
    with sqlite3.connect(db_path) as check:
        names = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert "audit_records_no_update" not in names


def test_keygen_checkpoint_and_verify_with_the_public_key(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    _populate(db_path, make_entry)
    key = tmp_path / "audit-key.pem"
    result = runner.invoke(app, ["keygen", "--out", str(key)])
    assert result.exit_code == 0, result.output
    public = tmp_path / "audit-key.pem.pub"
    assert key.exists() and public.exists()
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 2  # never overwrites

    result = runner.invoke(app, ["checkpoint", "--url", _url(db_path), "--key", str(key)])
    assert result.exit_code == 0, result.output
    assert "seq 5" in result.output

    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", str(public)])
    assert result.exit_code == 0, result.output
    assert "1 checkpoints verified" in result.output
    assert "without --checkpoint-every" in result.output

    other = tmp_path / "other.pem"
    runner.invoke(app, ["keygen", "--out", str(other)])
    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", str(tmp_path / "other.pem.pub")])
    assert result.exit_code == 1
    assert "not the trusted key" in result.output


def test_export_formats(tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    _populate(db_path, make_entry, count=6)

    out = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]

    result = runner.invoke(app, ["export", "--url", _url(db_path), "--format", "fhir", "--patient", _pseudonym(1)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    events = [AuditEvent.model_validate(r) for r in lines if r["resourceType"] == "AuditEvent"]
    assert len(lines) == 4 and len(events) == 2  # records 1 and 4 (patient 1), each AuditEvent + Provenance
    assert "exported 2 records" in result.stderr and "not recorded" in result.stderr  # no key: read only

    out = tmp_path / "bundle.json"
    result = runner.invoke(
        app,
        [
            "export",
            "--url",
            _url(db_path),
            "--format",
            "fhir-bundle",
            "--out",
            str(out),
            "--since",
            "2000-01-01T00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(Bundle.model_validate_json(out.read_text(encoding="utf-8")).entry) == 12


def test_export_by_diagnosis_finds_equivalent_codes_and_names(
    db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """Real HPO and Disease Ontology data: the CLI expands --diagnosis as the API does."""
    with SqliteAuditStore(db_path) as store:
        store.append(make_entry(1, diagnoses=[Diagnosis(name="Marfan syndrome", code="OMIM:154700")]))
        store.append(make_entry(2, diagnoses=[Diagnosis(name="Cystic fibrosis", code="OMIM:219700")]))

    def exported(diagnosis: str) -> list[int]:
        result = runner.invoke(app, ["export", "--url", _url(db_path), "--diagnosis", diagnosis])
        assert result.exit_code == 0, result.output
        return [json.loads(line)["seq"] for line in result.stdout.splitlines()]

    assert exported("ORPHA:558") == exported("marfan syndrome") == exported("OMIM:154700") == [1]
    assert exported("ORPHA:586") == exported("Cystic fibrosis") == [2]
    # A partial name matches nothing: refused as the API refuses it (422), not an empty export.
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--diagnosis", "Marfan"])
    assert result.exit_code == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "--diagnosis must be a code such as OMIM:154700" in result.stderr


def test_export_by_a_name_only_a_decision_gives_finds_it(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    with SqliteAuditStore(db_path) as store:
        store.append(make_entry(1, diagnoses=[Diagnosis(name="Syndrome of the house")]))
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--diagnosis", "syndrome of the HOUSE"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [1]


def test_export_by_an_evidence_id_finds_its_documents_records(
    db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    with SqliteAuditStore(db_path) as store:
        store.append(make_entry(1, evidence_ids=["omim:154700", "pt:ab12"]))
        store.append(make_entry(2, evidence_ids=["omim:219700"]))

    def exported(*args: str) -> list[int]:
        result = runner.invoke(app, ["export", "--url", _url(db_path), *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line)["seq"] for line in result.stdout.splitlines()]

    for option in ("--evidence", "--evidence-id"):
        assert exported(option, "omim:154700") == exported(option, "omim:154700#0") == [1]
        assert exported(option, "omim:154700#12") == [1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--outcome", "bogus"], "--outcome must be one of diagnosed, insufficient_evidence, no_diagnosis, access"),
        (["--outcome", "Diagnosed"], "--outcome must be one of"),
        (["--outcome", "diagnosed", "--kind", "access"], "not an access event's"),
        (["--patient", "MRN-12345678"], "--patient must be a patient pseudonym"),
        (["--patient", "pt-1"], "POST /v1/audit/pseudonym"),
        (["--evidence-id", "omim:154700#0#1"], "--evidence must be a document id"),
        (["--evidence", "bogus"], "--evidence must be a document id"),  # was exit 0, nothing exported
    ],
)
def test_export_refuses_filters_that_can_never_match_in_one_line_exit_2(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry], args: list[str], says: str
) -> None:
    _populate(db_path, make_entry, count=3)
    out = tmp_path / "export.jsonl"
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--out", str(out), *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert says in result.stderr, result.stderr
    assert "MRN-12345678" not in result.stderr
    assert not out.exists()  # refused before anything was written


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    result = runner.invoke(app, ["verify", "--url", "postgresql://audit@127.0.0.1:1/audit"])  # nothing listens
    assert result.exit_code == 2
    assert "cannot connect to the PostgreSQL audit store" in result.stderr
    # psycopg's message and its hint were two lines (user test): one line, the hint kept.
    assert len(result.stderr.splitlines()) == 1 and "Is the server running" in result.stderr, result.stderr

    result = runner.invoke(app, ["verify", "--url", _url(tmp_path / "absent.db")])
    assert result.exit_code == 2
    assert "no audit log" in result.stderr

    _populate(db_path, make_entry, count=1)
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--since", "2024-01-01"])
    assert result.exit_code == 2
    assert "no zone" in result.stderr and "2026-11-26Z" in result.stderr and len(result.stderr.splitlines()) == 1

    # An empty window (since inclusive, until exclusive) cannot match: bad input, not "nothing found".
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--since", "2024-01-02Z", "--until", "2024-01-01Z"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "must be before until" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["export", "--kind", "weird"], "--kind 'weird' is not one of decision, access"),
        (["export", "--format", "xml"], "--format 'xml' is not one of jsonl, fhir, fhir-bundle"),
        (["prove", "--seq", "0"], "--seq must be 1 or more"),
        (["prove", "--from", "0"], "--from must be 1 or more"),
        (["prove", "--seq", "1", "--size", "0"], "--size must be 1 or more"),
        (["verify", "--checkpoint-every", "0"], "--checkpoint-every must be 1 or more"),
    ],
)
def test_an_option_value_out_of_its_range_is_one_line_and_exit_2(
    db_path: Path, make_entry: Callable[..., AuditEntry], args: list[str], says: str
) -> None:
    # The command-line library drew these as a multi-line box (user test); every other bad input is one line.
    _populate(db_path, make_entry, count=2)
    result = runner.invoke(app, [*args, "--url", _url(db_path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {says}") and len(result.stderr.splitlines()) == 1, result.stderr


def test_export_formats_and_kinds_are_still_taken_by_name(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    _populate(db_path, make_entry, count=2)
    for fmt in ("jsonl", "fhir", "fhir-bundle"):
        for kind in ("decision", "access"):
            result = runner.invoke(app, ["export", "--url", _url(db_path), "--format", fmt, "--kind", kind])
            assert result.exit_code == 0, (fmt, kind, result.output)
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--kind", "decision"])
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [1, 2]


def test_export_takes_a_date_with_a_zone_and_an_offset(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    _populate(db_path, make_entry, count=2)
    for since in ("2000-01-01Z", "2000-01-01+01:00", "2000-01-01T00:00:00Z"):
        result = runner.invoke(app, ["export", "--url", _url(db_path), "--since", since, "--kind", "decision"])
        assert result.exit_code == 0, (since, result.output)
        assert len(result.stdout.splitlines()) == 2
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--until", "2000-01-01Z"])
    assert result.exit_code == 0 and result.stdout == ""


def test_an_auditor_keeps_checkpoints_and_verifies_against_them(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    public = str(tmp_path / "log.pem.pub")
    with SqliteAuditStore(db_path, signer=CheckpointSigner.from_pem(key), checkpoint_every=5) as store:
        for i in range(1, 8):
            store.append(make_entry(i))
    kept = tmp_path / "kept.jsonl"

    result = runner.invoke(app, ["checkpoint", "--url", _url(db_path), "--out", str(kept)])  # no key: the latest
    assert result.exit_code == 0, result.output
    assert "seq 5" in result.stdout and "merkle root" in result.stdout
    result = runner.invoke(app, ["checkpoint", "--url", _url(db_path), "--key", str(key), "--out", str(kept)])
    assert result.exit_code == 0, result.output
    assert "seq 7" in result.stdout
    assert len(kept.read_text(encoding="utf-8").splitlines()) == 2
    assert runner.invoke(app, ["checkpoint", "--url", _url(db_path)]).exit_code == 2

    verify_args = ["verify", "--url", _url(db_path), "--public-key", public, "--checkpoint-every", "5"]
    result = runner.invoke(app, [*verify_args, "--against", str(kept)])
    assert result.exit_code == 0, result.output
    assert "extends all 2 kept checkpoints" in result.stdout

    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--against", str(kept)])
    assert result.exit_code == 2 and "--public-key" in result.stderr
    assert runner.invoke(app, [*verify_args, "--remember"]).exit_code == 2

    # The verifier remembers: a newer checkpoint is kept once the log proved to extend the old ones.
    with SqliteAuditStore(db_path, signer=CheckpointSigner.from_pem(key), checkpoint_every=5) as store:
        for i in range(8, 11):
            store.append(make_entry(i))  # checkpoint at 10
    result = runner.invoke(app, [*verify_args, "--against", str(kept), "--remember"])
    assert result.exit_code == 0, result.output
    assert "remembered checkpoint at seq 10" in result.stdout
    assert [k.head.size for k in read_checkpoints(kept, load_public_key(Path(public)))] == [5, 7, 10]
    result = runner.invoke(app, [*verify_args, "--against", str(kept), "--remember"])
    assert "remembered" not in result.stdout  # nothing newer

    # Cut the last records and the checkpoint that signed them: the database alone no longer tells.
    conn = sqlite3.connect(db_path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    for table in ("audit_record_diagnoses", "audit_record_evidence", "audit_checkpoints", "audit_records"):
        conn.execute(f"DELETE FROM {table} WHERE seq > 8")
    conn.close()
    assert runner.invoke(app, verify_args).exit_code == 0
    result = runner.invoke(app, [*verify_args, "--against", str(kept), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_broken"], report["head_seq"]) == (False, 9, 8)
    assert "removed from the end" in report["reason"]

    other = tmp_path / "other.pem"
    runner.invoke(app, ["keygen", "--out", str(other)])
    result = runner.invoke(
        app, ["verify", "--url", _url(db_path), "--public-key", str(tmp_path / "other.pem.pub"), "--against", str(kept)]
    )
    assert result.exit_code == 2 and "not a checkpoint signed by the trusted key" in result.stderr


def test_prove_prints_proofs_that_verify(db_path: Path, make_entry: Callable[..., AuditEntry]) -> None:
    from audit.merkle import verify_consistency, verify_inclusion

    _populate(db_path, make_entry, count=6)
    result = runner.invoke(app, ["prove", "--url", _url(db_path), "--seq", "3"])
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    assert proof["tree_size"] == 6
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), 2, 6, path, bytes.fromhex(proof["root_hash"]))

    result = runner.invoke(app, ["prove", "--url", _url(db_path), "--from", "4", "--to", "6"])
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert verify_consistency(4, 6, bytes.fromhex(proof["old_root"]), bytes.fromhex(proof["new_root"]), path)

    assert runner.invoke(app, ["prove", "--url", _url(db_path)]).exit_code == 2
    assert runner.invoke(app, ["prove", "--url", _url(db_path), "--seq", "7"]).exit_code == 2


def test_export_and_show_with_the_signing_key_are_reads_on_record_and_verify_still_holds(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """The user test's ``audit export`` left no trace, and no command showed a record by its trace or request id.
    With the server's key a command-line read is appended as the API's are, at the server's checkpoint cadence;
    without it nothing is appended (a code review: a keyless append left a checkpoint position unsigned)."""
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    signing = ["--key", str(key), "--checkpoint-every", "2"]
    with SqliteAuditStore(db_path, signer=CheckpointSigner.from_pem(key), checkpoint_every=2) as store:
        first = store.append(make_entry(1, trace={**make_entry(1).trace, "client_request_id": "ticket-4711"}))
        store.append(make_entry(2))

    unrecorded = runner.invoke(app, ["export", "--url", _url(db_path), "--kind", "decision"])
    assert unrecorded.exit_code == 0 and "not recorded" in unrecorded.stderr
    result = runner.invoke(app, ["export", "--url", _url(db_path), "--kind", "decision", *signing])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2 and "not recorded" not in result.stderr
    with SqliteAuditStore(db_path, read_only=True) as store:
        [export] = store.query(AuditQuery(kind="access")).records
    assert export.actor_role == "cli" and export.actor_id.startswith("cli:")
    assert export.trace["action"] == "export" and len(export.trace["records"]) == 2
    assert export.trace["filters"]["kind"] == "decision"

    for asked in (first.record_id, "trace-0001", "req-0001", "ticket-4711"):
        shown = runner.invoke(app, ["show", "--url", _url(db_path), asked, *signing])
        assert shown.exit_code == 0, (asked, shown.output)
        assert [json.loads(line)["record_id"] for line in shown.stdout.splitlines()] == [first.record_id], asked
    assert runner.invoke(app, ["show", "--url", _url(db_path), "no-such-id", *signing]).exit_code == 1
    with SqliteAuditStore(db_path, read_only=True) as store:
        reads = store.query(AuditQuery(kind="access", order="asc")).records[1:]
        assert [r.trace["action"] for r in reads] == ["read"] * 4 + ["search"]
        assert all(r.trace["records"] == [first.record_id] for r in reads[:4]) and reads[4].trace["records"] == []
        assert reads[3].trace["filters"]["id"].startswith("sha256:")  # a client's id is not copied into the log
    public = str(tmp_path / "log.pem.pub")
    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", public, "--checkpoint-every", "2"])
    assert result.exit_code == 0, result.output


def test_verify_with_the_signing_key_is_a_run_on_record_and_without_it_says_it_is_not(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """``audit verify`` read the whole log and left no trace, unlike ``export`` and ``show``. It follows their rule:
    with the server's key the run is appended (after verifying read only, before the verdict is printed), at the
    server's checkpoint cadence; without it nothing is appended and stderr says so."""
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    public = str(tmp_path / "log.pem.pub")
    with SqliteAuditStore(db_path, signer=CheckpointSigner.from_pem(key), checkpoint_every=2) as store:
        for i in range(1, 4):
            store.append(make_entry(i))

    keyless = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", public, "--checkpoint-every", "2"])
    assert keyless.exit_code == 0, keyless.output
    assert keyless.stdout.startswith("OK: 3 records") and "not recorded" in keyless.stderr
    with SqliteAuditStore(db_path, read_only=True) as store:
        assert store.count(AuditQuery()) == 3

    signing = ["--key", str(key), "--checkpoint-every", "2"]
    recorded = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", public, *signing])
    assert recorded.exit_code == 0, recorded.output
    assert recorded.stdout.startswith("OK: 3 records") and "not recorded" not in recorded.stderr  # its own verdict
    with SqliteAuditStore(db_path, read_only=True) as store:
        [run] = store.query(AuditQuery(kind="access")).records
    assert run.seq == 4 and run.actor_role == "cli" and run.actor_id.startswith("cli:")
    assert run.trace["action"] == "verify" and run.trace["route"] == "audit verify" and run.trace["purpose"] == "audit"
    assert run.trace["records"] == [] and run.trace["filters"] == {"head_seq": 3}
    assert run.patient_pseudonym is None and "denied" not in run.trace

    # The run kept the cadence (record 4 is checkpointed by the server's key), and exports as a FHIR operation.
    again = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", public, "--checkpoint-every", "2"])
    assert again.exit_code == 0 and again.stdout.startswith("OK: 4 records, 2 checkpoints"), again.output
    exported = runner.invoke(app, ["export", "--url", _url(db_path), "--kind", "access", "--format", "fhir"])
    [event] = [AuditEvent.model_validate_json(line) for line in exported.stdout.splitlines()]
    assert event.subtype is not None and event.subtype[0].code == "operation" and event.outcome == "0"

    # A key that is not the private half of the trusted public key is bad input: nothing appended, no verdict.
    other = tmp_path / "other.pem"
    assert runner.invoke(app, ["keygen", "--out", str(other)]).exit_code == 0
    wrong = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", public, "--key", str(other)])
    assert wrong.exit_code == 2 and wrong.stdout == "" and "not the private half" in wrong.stderr
    with SqliteAuditStore(db_path, read_only=True) as store:
        assert store.count(AuditQuery()) == 4


def test_verify_with_the_signing_key_records_a_broken_verdict_too(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """A run that finds the log altered is a run all the same: recorded, then BROKEN printed with exit 1."""
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    _populate(db_path, make_entry)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_records_no_update")
    conn.execute(
        "UPDATE audit_records SET trace = replace(trace, 'marker-record-0004', 'marker-record-0005') WHERE seq = 4"
    )
    conn.close()
    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--key", str(key)])
    assert result.exit_code == 1 and result.stdout.startswith("BROKEN: first broken record: 4"), result.output
    with SqliteAuditStore(db_path, read_only=True) as store:
        [run] = store.query(AuditQuery(kind="access")).records
    assert (
        run.seq == 6 and run.trace["action"] == "verify" and run.trace["filters"] == {"head_seq": 5}
    )  # the head it read


def test_verify_with_the_signing_key_prints_no_verdict_it_could_not_record(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """As ``export`` and ``show``: what cannot be recorded is not shown; the message says how to verify anyway."""
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    _populate(db_path, make_entry)
    with sqlite3.connect(db_path, isolation_level=None) as conn:  # a log that takes no more records
        conn.execute("CREATE TRIGGER full BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    result = runner.invoke(app, ["verify", "--url", _url(db_path), "--key", str(key)])
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert (
        result.stderr.startswith("error: this verification could not be recorded") and "without --key" in result.stderr
    )
    assert runner.invoke(app, ["verify", "--url", _url(db_path)]).stdout.startswith("OK: 5 records")


def test_scheduled_verify_runs_with_the_signing_key_each_verify_the_run_before_and_pass(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """``audit verify --key`` on a schedule appends a record each run, by design. A run must not then fail, or call
    the record it appended unverified: it reports the log up to the head it read (its own event comes after), and
    the next run verifies that event like any record, at the server's checkpoint cadence, against the kept
    checkpoints it remembers. Three runs: the first run's event lands on a checkpoint position, the second's not."""
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    published = tmp_path / "published.jsonl"
    with SqliteAuditStore(
        db_path, signer=CheckpointSigner.from_pem(key), checkpoint_every=2, checkpoint_file=published
    ) as store:
        for i in range(1, 4):
            store.append(make_entry(i))
    kept = tmp_path / "kept.jsonl"
    assert runner.invoke(app, ["checkpoint", "--url", _url(db_path), "--out", str(kept)]).exit_code == 0
    scheduled = [
        "verify", "--url", _url(db_path), "--public-key", str(tmp_path / "log.pem.pub"), "--checkpoint-every", "2",
        "--against", str(kept), "--remember", "--key", str(key), "--checkpoint-file", str(published), "--json",
    ]  # fmt: skip

    reports = []
    for run in range(3):
        result = runner.invoke(app, scheduled)
        assert result.exit_code == 0, (run, result.output)
        reports.append(json.loads(result.stdout))
    for run, report in enumerate(reports):
        assert report["ok"] is True and report["first_broken"] is None and report["reason"] is None, report
        assert report["head_seq"] == report["records_checked"] == 3 + run  # the log before this run's own event
        assert report["unsigned_tail"] == report["head_seq"] % 2  # a record awaits the next checkpoint, no more
    with SqliteAuditStore(db_path, read_only=True) as store:
        runs = store.query(AuditQuery(kind="access", order="asc")).records
    assert [r.seq for r in runs] == [4, 5, 6] and all(r.trace["action"] == "verify" for r in runs)
    assert [r.trace["filters"]["head_seq"] for r in runs] == [3, 4, 5]
    assert [k.head.size for k in read_checkpoints(kept, load_public_key(tmp_path / "log.pem.pub"))] == [2, 4]


@pytest.mark.parametrize("command", help_commands(app))
def test_help_shows_whole_paragraphs_not_the_source_lines_of_the_docstring(command: str) -> None:
    """``--help`` broke lines where the docstring's source lines break, mid-sentence, however wide the terminal.
    The help is Markdown now: Typer joins a paragraph's lines and wraps it to the terminal, so on a terminal wide
    enough each paragraph is one line, with every sentence whole (the check the other command lines' tests make)."""
    assert_help_reads_whole(app, command)


#: Sentences (or their first clause) the help broke mid-way, where the docstring's source lines break; each is
#: shorter than a 200-column terminal, and Typer's own wrapping leaves it whole there.
BROKEN_SENTENCES = {
    "checkpoint": (
        "Without --key the log is opened read-only and its latest checkpoint (size, Merkle root, time, signed note) "
        "is written to --out: what an auditor without the private key runs."
    ),
    "show": "With --key the read is appended to the log as an access event (role cli) before anything is printed",
    "verify": "With the server's signing key (--key) the run is then recorded as the other reads of this command line",
}


@pytest.mark.parametrize(("command", "sentence"), sorted(BROKEN_SENTENCES.items()))
def test_a_sentence_the_help_broke_mid_way_is_one_line_on_a_wide_terminal(command: str, sentence: str) -> None:
    assert_sentence_on_one_line(app, command, sentence)


def _server_log(tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry], every: int, count: int) -> Path:
    """A log written as the server writes it, signing every ``every`` records; returns the private key's path."""
    key = tmp_path / "server.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    with SqliteAuditStore(db_path, signer=CheckpointSigner.from_pem(key), checkpoint_every=every) as store:
        for i in range(1, count + 1):
            store.append(make_entry(i))
    return key


#: Neither --checkpoint-every nor the variable: what the auditor of the user test ran.
_NO_CADENCE_GIVEN: dict[str, str | None] = {"DXSEARCH_AUDIT_CHECKPOINT_EVERY": None}


def test_commands_that_append_without_a_cadence_sign_at_the_logs_and_verify_holds(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """The user test: the server signs every 10; four `audit show --key` runs without --checkpoint-every (then 1000)
    crossed seq 40 unsigned, and `audit verify --checkpoint-every 10` said records 31..40 were unproven (exit 1).
    Now a command that appends takes the cadence the log's checkpoints show: seq 40 and 50 are signed."""
    key = _server_log(tmp_path, db_path, make_entry, every=10, count=36)
    url = _url(db_path)
    for _ in range(4):  # records 37..40
        result = runner.invoke(app, ["show", "--url", url, "req-0001", "--key", str(key)], env=_NO_CADENCE_GIVEN)
        assert result.exit_code == 0, result.output
    for command in (["export", "--url", url, "--kind", "decision"], ["verify", "--url", url]):  # 41..50
        for _ in range(5):
            result = runner.invoke(app, [*command, "--key", str(key)], env=_NO_CADENCE_GIVEN)
            assert result.exit_code == 0, result.output
    with SqliteAuditStore(db_path, read_only=True) as store:
        assert [c.seq for c in store.checkpoints()] == [10, 20, 30, 40, 50]
    public = str(tmp_path / "server.pem.pub")
    result = runner.invoke(app, ["verify", "--url", url, "--public-key", public, "--checkpoint-every", "10"])
    assert result.exit_code == 0 and result.stdout.startswith("OK: 50 records, 5 checkpoints"), result.output


def test_a_commands_cadence_the_log_contradicts_is_refused_in_one_line_naming_the_logs(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """Given by option or by the variable, a cadence the one the log's checkpoints show is no multiple of (it would
    skip a position the server signs) is refused before anything is appended (exit 2, one line naming the log's
    cadence); the log's own is taken."""
    key = _server_log(tmp_path, db_path, make_entry, every=10, count=35)
    url = _url(db_path)
    commands = [["show", "--url", url, "req-0001"], ["export", "--url", url], ["verify", "--url", url]]
    for command in commands:
        cases: list[tuple[list[str], dict[str, str | None], str]] = [
            (["--checkpoint-every", "1000"], _NO_CADENCE_GIVEN, "--checkpoint-every 1000"),
            (["--checkpoint-every", "20"], _NO_CADENCE_GIVEN, "--checkpoint-every 20"),
            ([], {"DXSEARCH_AUDIT_CHECKPOINT_EVERY": "1000"}, "DXSEARCH_AUDIT_CHECKPOINT_EVERY=1000"),
        ]
        for given, env, names in cases:
            result = runner.invoke(app, [*command, "--key", str(key), *given], env=env)
            assert result.exit_code == 2 and result.stdout == "", (command, given, result.output)
            assert len(result.stderr.splitlines()) == 1, result.stderr
            assert result.stderr.startswith(f"error: {names} contradicts the log"), result.stderr
            assert "a checkpoint every 10 records" in result.stderr and "give 10" in result.stderr
    with SqliteAuditStore(db_path, read_only=True) as store:
        head = store.head()
    assert head is not None and head.seq == 35  # nothing appended
    for command in commands:
        result = runner.invoke(app, [*command, "--key", str(key)], env={"DXSEARCH_AUDIT_CHECKPOINT_EVERY": "10"})
        assert result.exit_code == 0, (command, result.output)


def test_a_command_that_appends_to_a_log_with_no_checkpoint_yet_uses_the_servers_default(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    _populate(db_path, make_entry, count=3)
    key = tmp_path / "log.pem"
    assert runner.invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    for given in ([], ["--checkpoint-every", "5"]):  # the default signs nothing at 4, the given cadence at 5
        result = runner.invoke(
            app, ["verify", "--url", _url(db_path), "--key", str(key), *given], env=_NO_CADENCE_GIVEN
        )
        assert result.exit_code == 0, result.output
    with SqliteAuditStore(db_path, read_only=True) as store:
        assert [c.seq for c in store.checkpoints()] == [5]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["verify", "--url", "sqlite:///x.db", "--checkpoint-every", "abc"], "Invalid value for '--checkpoint-every'"),
        (["verify"], "Missing option '--url' (see audit verify --help)"),
        (["export", "--url", "sqlite:///x.db", "--bogus"], "No such option: --bogus"),
        (["bogus"], "No such command 'bogus' (see audit --help)"),
    ],
)
def test_what_the_parser_refuses_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    """They were multi-line boxes on stderr (user test); every other bad input of this command line is one line."""
    result = runner.invoke(app, args, env=_NO_CADENCE_GIVEN, prog_name="audit")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    assert says in result.stderr, result.stderr
    assert "╭" not in result.stderr


def test_audit_alone_still_prints_its_help() -> None:
    result = runner.invoke(app, [], prog_name="audit")
    assert "Usage: audit" in result.output and "verify" in result.output


def test_a_private_key_given_as_the_public_key_is_refused_in_one_line(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """It was taken without a word (user test). Refused, pointing at the public key keygen wrote beside it."""
    key = _server_log(tmp_path, db_path, make_entry, every=2, count=3)
    for extra in ([], ["--key", str(key)]):
        result = runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", str(key), *extra])
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert f"--public-key {key} is a PRIVATE key, where the public key is expected" in result.stderr
        assert f"{key}.pub" in result.stderr
    with SqliteAuditStore(db_path, read_only=True) as store:
        head = store.head()
    assert head is not None and head.seq == 3  # nothing appended
    public = str(tmp_path / "server.pem.pub")
    assert runner.invoke(app, ["verify", "--url", _url(db_path), "--public-key", public]).exit_code == 0


def test_a_file_to_write_in_a_directory_that_does_not_exist_is_refused_before_any_work(
    tmp_path: Path, db_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """``export --out /nonexistent/dir/x.jsonl`` printed a bare "[Errno 2] …"; ``keygen --out`` created the
    directories. Both (and ``checkpoint --out``, ``--checkpoint-file``) refuse in one line now, nothing done."""
    key = _server_log(tmp_path, db_path, make_entry, every=2, count=3)
    missing = tmp_path / "nonexistent" / "dir"
    url = _url(db_path)
    for args, option in [
        (["export", "--url", url, "--out", str(missing / "x.jsonl"), "--key", str(key)], "--out"),
        (["keygen", "--out", str(missing / "k.pem")], "--out"),
        (["checkpoint", "--url", url, "--key", str(key), "--out", str(missing / "kept.jsonl")], "--out"),
        (["show", "--url", url, "req-0001", "--key", str(key), "--checkpoint-file", str(missing / "c.jsonl")],
         "--checkpoint-file"),
        (["verify", "--url", url, "--key", str(key), "--checkpoint-file", str(missing / "c.jsonl")],
         "--checkpoint-file"),
    ]:  # fmt: skip
        result = runner.invoke(app, args, env=_NO_CADENCE_GIVEN)
        assert result.exit_code == 2 and result.stdout == "", (args, result.output)
        assert len(result.stderr.splitlines()) == 1 and "Errno" not in result.stderr, result.stderr
        assert f"error: {option} {missing}/" in result.stderr and f"its directory {missing} does not exist" in (
            result.stderr
        )
    assert not missing.parent.exists()  # keygen made no directory
    with SqliteAuditStore(db_path, read_only=True) as store:  # no access event, no checkpoint signed
        head = store.head()
        assert [c.seq for c in store.checkpoints()] == [2]
    assert head is not None and head.seq == 3
    result = runner.invoke(app, ["export", "--url", url, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.stderr
