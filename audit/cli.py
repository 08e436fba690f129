"""``audit``: verify, export, checkpoint and key generation for the audit log.

Runs as ``python -m audit …`` (or as an ``audit`` console script once one is declared). Stores are
named by URL (``sqlite:///relative.db``, ``sqlite:////absolute.db``). Results (the verdict, exported
records) go to stdout, notes to stderr. Bad input (malformed URL, missing file, unreadable key) is one
line on stderr and exit code 2; a log that fails verification exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from audit.backends import open_store
from audit.errors import AuditError
from audit.export import fhir_bundle, write_fhir_ndjson, write_jsonl
from audit.models import AuditQuery
from audit.signing import CheckpointSigner, load_public_key
from audit.verify import verify

app = typer.Typer(
    help=(
        "Audit log of DxSearch decisions: verify the hash chain, export records, sign checkpoints.\n\n"
        "  audit verify --url sqlite:///var/audit.db --public-key audit-key.pub.pem\n\n"
        "  audit export --url sqlite:///var/audit.db --format fhir --out audit.ndjson"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

UrlOption = Annotated[str, typer.Option("--url", help="Audit store URL, e.g. sqlite:///var/audit.db")]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    fhir = "fhir"
    fhir_bundle = "fhir-bundle"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"{name}: not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise _fail(f"{name}: give a timezone (e.g. {value}Z or {value}+00:00)")
    return parsed


@app.command("verify")
def verify_command(
    url: UrlOption,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key", help="Trusted Ed25519 public key (PEM); without it signatures prove consistency only"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Walk the hash chain and checkpoints; exit 1 and name the first broken record if the log was altered."""
    try:
        key = None if public_key is None else load_public_key(public_key)
        with open_store(url, read_only=True) as store:
            report = verify(store, key)
    except AuditError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif report.ok:
        typer.echo(
            f"OK: {report.records_checked} records, {report.checkpoints_checked} checkpoints verified; "
            f"head seq {report.head_seq} {report.head_hash or '-'}"
        )
        if report.unsigned_tail:
            typer.echo(
                f"note: the last {report.unsigned_tail} records are not covered by a signed checkpoint yet", err=True
            )
        if key is None and report.checkpoints_checked:
            typer.echo(
                "note: checkpoints were checked against their embedded keys; pass --public-key to trust them", err=True
            )
    else:  # the verdict is the result (stdout), whichever it is; exit 1 says it is a failure
        where = f"first broken record: {report.first_broken}" if report.first_broken is not None else "log rejected"
        typer.echo(f"BROKEN: {where}: {report.reason}")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("export")
def export_command(
    url: UrlOption,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl, fhir (NDJSON resources) or fhir-bundle")] = (
        ExportFormat.jsonl
    ),
    out: Annotated[Path | None, typer.Option("--out", help="Output file (default: stdout)")] = None,
    since: Annotated[str | None, typer.Option(help="Inclusive start, ISO 8601 with timezone")] = None,
    until: Annotated[str | None, typer.Option(help="Exclusive end, ISO 8601 with timezone")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient pseudonym")] = None,
    diagnosis: Annotated[str | None, typer.Option(help="Diagnosis code or name (case-insensitive)")] = None,
    evidence_id: Annotated[str | None, typer.Option(help="Evidence document id")] = None,
    model_version: Annotated[str | None, typer.Option(help="Model version")] = None,
    outcome: Annotated[str | None, typer.Option(help="Outcome")] = None,
) -> None:
    """Export records (optionally filtered) as JSONL or FHIR R4B AuditEvent + Provenance."""
    query = AuditQuery(
        since=_parse_time(since, "--since"),
        until=_parse_time(until, "--until"),
        patient_pseudonym=patient,
        diagnosis=diagnosis,
        evidence_id=evidence_id,
        model_version=model_version,
        outcome=outcome,
        limit=500,
    )
    try:
        with ExitStack() as stack:
            store = stack.enter_context(open_store(url, read_only=True))
            sink: TextIO = sys.stdout if out is None else stack.enter_context(out.open("w", encoding="utf-8"))
            records = store.iter_query(query)
            if fmt is ExportFormat.jsonl:
                count = write_jsonl(records, sink)
            elif fmt is ExportFormat.fhir:
                count = write_fhir_ndjson(records, sink)
            else:
                bundle = fhir_bundle(records)
                sink.write(bundle.model_dump_json(exclude_none=True))
                sink.write("\n")
                count = len(bundle.entry or []) // 2
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(code=0) from None
    except (AuditError, OSError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"exported {count} records", err=True)


@app.command("checkpoint")
def checkpoint_command(
    url: UrlOption,
    key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PKCS#8 PEM)")],
) -> None:
    """Sign the current chain head now (e.g. from cron, or before handing the log to an auditor)."""
    try:
        signer = CheckpointSigner.from_pem(key)
        with open_store(url, signer=signer) as store:
            checkpoint = store.checkpoint()
    except AuditError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"checkpoint {checkpoint.checkpoint_id}: seq {checkpoint.seq} {checkpoint.head_hash}")
    typer.echo(f"key {checkpoint.key_fingerprint}")


@app.command("keygen")
def keygen_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key; the public key goes to OUT.pub")],
) -> None:
    """Generate an Ed25519 checkpoint key pair (private key mode 0600; never overwrites)."""
    public_path = out.with_name(out.name + ".pub")
    if public_path.exists():
        raise _fail(f"refusing to overwrite {public_path}")
    try:
        signer = CheckpointSigner.generate()
        signer.write_pem(out)
    except AuditError as exc:
        raise _fail(str(exc)) from exc
    public_path.write_bytes(signer.public_pem())
    typer.echo(f"private key: {out}\npublic key:  {public_path}\nfingerprint: {signer.fingerprint}")
