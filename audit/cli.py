"""``audit``: verify, export, checkpoint and key generation for the audit log.

Runs as ``python -m audit …`` (or as an ``audit`` console script once one is declared). Stores are
named by URL (``sqlite:///relative.db``, ``sqlite:////absolute.db``). Results (the verdict, exported
records) go to stdout, notes to stderr. Bad input (malformed URL, missing file, unreadable key, a
checkpoint file that is not signed by the trusted key, an option the command-line parser refuses, a
missing option) is one line on stderr and exit code 2; a log that fails verification exits 1.

Files a command writes (``export --out``, ``keygen --out``, ``checkpoint --out``, ``--checkpoint-file``) must
be in a directory that exists: a missing one is refused before any work, never created. A private key given
as ``verify --public-key`` is refused: the auditor's trust is the public key ``audit keygen`` wrote beside
it (``OUT.pub``), and a private key on the auditor's side is one copy too many. A command that appends
(``--key``) signs at the cadence the log's checkpoints show, and refuses one that contradicts them
(:mod:`audit.cadence`).

An auditor's routine: ``audit checkpoint --url URL --out kept.jsonl`` now and then (kept somewhere the
log's operators cannot write), and ``audit verify --url URL --public-key PUB --against kept.jsonl``,
which fails unless the log still extends every checkpoint kept.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from enum import StrEnum
from itertools import takewhile
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fhir.resources.R4B.auditevent import AuditEvent
from typer.core import TyperGroup

from audit.access import (
    AccessAction,
    AccessEvent,
    DiagnosisExpansion,
    FilterError,
    access_entry,
    diagnosis_match,
    recordable_id,
    search_filter,
)
from audit.backends import open_store
from audit.cadence import SERVER_CHECKPOINT_EVERY, append_cadence, shown_cadence
from audit.errors import AuditError
from audit.export import fhir_bundle, record_to_jsonl_line, write_fhir_ndjson
from audit.models import RECORD_ID_PATTERN, AuditQuery, AuditRecord, Checkpoint
from audit.proofs import prove_consistency, prove_inclusion
from audit.signing import CheckpointSigner, key_fingerprint, load_public_key
from audit.store import AuditStore
from audit.verify import verify
from audit.witness import append_checkpoint, read_checkpoints


def _one_line(message: str) -> str:
    """``message`` on one line: a library's multi-line text (psycopg's connection hint) joined with "; "."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


#: The parser's error class as this Typer raises it (Typer 0.29 carries its own copy of click, earlier ones use
#: click's): the base of ``typer.BadParameter``. ``NoArgsIsHelpError`` (``audit`` alone) is told by its name, as
#: Typer tells it.
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _OneLineUsageErrors(TyperGroup):
    """The command group, reporting what the parser refuses as every other bad input: one line, exit 2.

    A value the parser cannot convert (``--checkpoint-every abc``), a missing option (``verify`` without
    ``--url``), an unknown option or command were a multi-line box on stderr (a user test). The errors are raised
    while the group parses its own arguments and while it invokes a command (which parses the command's), so both
    are caught here; ``audit`` alone still prints the help. Why not ``dxsearch.cli_errors.one_line_errors``: it wraps
    the commands' callbacks, which the parser's errors never reach (and the audit package imports no dxsearch).
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _UsageError as exc:
            raise _usage_error(exc) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            raise _usage_error(exc) from None


def _usage_error(exc: Exception) -> Exception:
    """One line and exit 2 for a parser error; ``audit`` alone (no command) keeps printing the help."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return exc
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "audit"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return _fail(f"{str(message).rstrip('.')} (see {command} --help)")


app = typer.Typer(
    cls=_OneLineUsageErrors,
    help=(
        "Audit log of DxSearch decisions: verify the hash chain, export records, sign checkpoints.\n\n"
        "  audit verify --url sqlite:///var/audit.db --public-key audit-key.pem.pub --against kept.jsonl\n\n"
        "  audit checkpoint --url sqlite:///var/audit.db --out kept.jsonl\n\n"
        "  audit export --url sqlite:///var/audit.db --format fhir --out audit.ndjson"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are Markdown: a paragraph's lines (the docstrings' source lines) are joined and wrapped to the
    # terminal, paragraphs are kept. In Typer's default ("rich") mode each source line break showed mid-sentence.
    rich_markup_mode="markdown",
)

UrlOption = Annotated[str, typer.Option("--url", help="Audit store URL, e.g. sqlite:///var/audit.db")]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    fhir = "fhir"
    fhir_bundle = "fhir-bundle"


class RecordKindOption(StrEnum):
    decision = "decision"
    access = "access"


ChoiceT = TypeVar("ChoiceT", bound=StrEnum)


def _fail(message: str) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the exit to raise (code 2).

    The contract of ``dxsearch.cli_errors.fail``, kept here: the audit package imports nothing of dxsearch. A
    message of several lines (a library's, such as psycopg's "connection refused" and its hint) is joined.
    """
    typer.echo(f"error: {_one_line(message)}", err=True)
    return typer.Exit(code=2)


def _choice(value: str, choices: type[ChoiceT], option: str) -> ChoiceT:
    """``value`` as one of ``choices``, else the one-line exit 2 naming them.

    Why not an enum-typed option: the command-line library refuses a bad value in a multi-line box on stderr,
    where every other bad input of this command line is one line.
    """
    try:
        return choices(value)
    except ValueError:
        raise _fail(f"{option} {value!r} is not one of {', '.join(choices)}") from None


def _positive(value: int | None, option: str, what: str) -> int | None:
    """``value`` when it is 1 or more (or not given), else the one-line exit 2 saying why (see :func:`_choice`)."""
    if value is not None and value < 1:
        raise _fail(f"{option} must be 1 or more: {what}")
    return value


def _expand_diagnosis(diagnosis: str) -> DiagnosisExpansion:
    """The codes and names that mean the same disease as ``diagnosis`` (ORPHA:558 for OMIM:154700, names).

    The one place the audit package reaches into dxsearch, and only when a diagnosis is asked: the CLI is
    a composition root, and ``verify`` or ``checkpoint`` must not wait for the ontologies (~3 s).
    """
    from dxsearch.knowledge.disease_equivalents import get_disease_equivalents

    return get_disease_equivalents().expand(diagnosis)


#: The role access events appended by this command line carry (the API's are clinician, auditor, admin).
CLI_ROLE = "cli"
#: Records per access event of an export: each batch is recorded before it is written.
_EXPORT_BATCH = 500
SigningKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar="DXSEARCH_AUDIT_SIGNING_KEY",
        help="The server's checkpoint key (PEM), so the access event this read appends keeps the checkpoint cadence",
    ),
]
CheckpointEveryOption = Annotated[
    int | None,
    typer.Option(
        "--checkpoint-every",
        envvar="DXSEARCH_AUDIT_CHECKPOINT_EVERY",
        help=(
            "With --key: sign a checkpoint at every multiple of N records, as the server does; refused when the "
            "log's checkpoints show another cadence (default: the one they show, else "
            f"{SERVER_CHECKPOINT_EVERY})"
        ),
    ),
]
CheckpointFileOption = Annotated[
    Path | None, typer.Option("--checkpoint-file", envvar="DXSEARCH_AUDIT_CHECKPOINT_FILE", help="As the server")
]


#: Said on stderr when a command-line read is not recorded (no signing key).
NOT_RECORDED = (
    "this read is not recorded as an access event: no signing key (give the server's with --key or "
    "DXSEARCH_AUDIT_SIGNING_KEY to record it; an append without it would leave a checkpoint the server signs "
    "unsigned, and `audit verify --checkpoint-every` would then fail)"
)


def _cadence_for_append(ctx: typer.Context, url: str, checkpoint_every: int | None) -> int:
    """The cadence a command that appends signs at: the one given, unless the log's checkpoints contradict it,
    else the one they show, else the server's default (:mod:`audit.cadence`); read before anything is written.

    A user test: four ``audit show --key`` runs with the default 1000 against a server signing every 10 crossed
    seq 40 unsigned, and ``audit verify --checkpoint-every 10`` then called records 31..40 unproven.
    """
    with open_store(url, read_only=True) as store:
        shown = shown_cadence(store)
    source = ctx.get_parameter_source("checkpoint_every")
    from_environment = source is not None and source.name == "ENVIRONMENT"
    given_as = f"DXSEARCH_AUDIT_CHECKPOINT_EVERY={checkpoint_every}" if from_environment else None
    return append_cadence(shown, checkpoint_every, given_as=given_as)


def _open_for_reading(
    ctx: typer.Context, url: str, key: Path | None, checkpoint_every: int | None, checkpoint_file: Path | None
) -> tuple[AuditStore, bool]:
    """The store, and whether this read is appended to it as an access event before data goes out.

    With the server's signing key (``--key``, from its environment) the store is opened for writing with the
    server's checkpoint cadence (:func:`_cadence_for_append`), and the read is recorded as the API records its
    reads. Without it the store is opened read only and nothing is appended (a code review: a keyless append
    landed on a checkpoint position the server signs, and verification then failed; it also needed a writable
    log, which a read-only replica is not).
    """
    _positive(checkpoint_every, "--checkpoint-every", "a checkpoint every N records")
    if key is None:
        return open_store(url, read_only=True), False
    signer = CheckpointSigner.from_pem(key)
    _output_file(checkpoint_file, "--checkpoint-file")
    cadence = _cadence_for_append(ctx, url, checkpoint_every)
    store = open_store(url, signer=signer, checkpoint_every=cadence, checkpoint_file=checkpoint_file)
    return store, True


def _output_file(path: Path | None, option: str) -> None:
    """Refuse, before any work, a file to write whose directory does not exist (it is never created) or that is
    a directory (a user test: ``export --out /nonexistent/dir/x.jsonl`` printed a bare "[Errno 2] …")."""
    if path is None:
        return
    if path.is_dir():
        raise _fail(f"{option} {path} is a directory; give a file name in it")
    if not path.parent.is_dir():
        raise _fail(f"{option} {path}: its directory {path.parent} does not exist (create it first)")


def _trusted_public_key(path: Path) -> Ed25519PublicKey:
    """The public key an auditor trusts, from ``--public-key``; a private key there is refused in one line.

    A user test gave the private key (``audit-key.pem``) for ``--public-key``, and it was taken without a word.
    Refused rather than used: the auditor's side is meant to hold the public half only (``audit keygen`` writes it
    to ``OUT.pub``), so a private key there is a mix-up to fix, or a copy of the signing key where it should not be.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read --public-key {path}: {exc.strerror or exc}") from None
    if b"PRIVATE KEY" in data:
        public = path.with_name(path.name + ".pub")
        hint = f" ({public}, as audit keygen wrote it)" if public.is_file() else " (OUT.pub of audit keygen --out OUT)"
        raise _fail(
            f"--public-key {path} is a PRIVATE key, where the public key is expected: give the public key{hint}"
        )
    return load_public_key(path)


def operator_id() -> str:
    """Who runs this command line, as its access events name them: ``cli:<login name>`` (an operator, not a key)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name for this uid (a container)
        return f"cli:uid-{os.getuid()}"


def _record_read(
    store: AuditStore,
    action: AccessAction,
    records: list[AuditRecord],
    *,
    request_id: str,
    filters: dict[str, object],
    patient_pseudonym: str | None = None,
) -> AuditRecord:
    """Append the access event of this read by the operator (role ``cli``), before the records are written."""
    if patient_pseudonym is None:
        patients = {r.patient_pseudonym for r in records}
        patient_pseudonym = patients.pop() if len(patients) == 1 else None
    event = AccessEvent(
        action=action,
        purpose="audit",
        records=[r.record_id for r in records],
        route=f"audit {action if action != 'read' else 'show'}",
        filters=filters,  # type: ignore[arg-type]
    )
    return store.append(
        access_entry(
            event,
            request_id=request_id,
            actor_role=CLI_ROLE,
            actor_id=operator_id(),
            patient_pseudonym=patient_pseudonym,
        )
    )


def _audited_export(
    store: AuditStore,
    records: Iterable[AuditRecord],
    *,
    head_seq: int,
    filters: dict[str, object],
    patient: str | None,
    recording: bool = True,
) -> Iterator[AuditRecord]:
    """``records`` (up to ``head_seq``, so the export's own events are not exported), each batch recorded as an
    access event (action ``export``) before it goes out when ``recording``; an export that finds nothing is
    recorded too."""
    if not recording:
        yield from takewhile(lambda record: record.seq <= head_seq, records)
        return
    request_id = uuid.uuid4().hex
    batch: list[AuditRecord] = []
    recorded = False
    for record in records:
        if record.seq > head_seq:
            break
        batch.append(record)
        if len(batch) == _EXPORT_BATCH:
            _record_read(store, "export", batch, request_id=request_id, filters=filters, patient_pseudonym=patient)
            recorded = True
            yield from batch
            batch = []
    if batch or not recorded:
        _record_read(store, "export", batch, request_id=request_id, filters=filters, patient_pseudonym=patient)
        yield from batch


#: How ``audit export`` names the filters, in the messages of :func:`audit.access.search_filter`.
_OPTION_NAMES = {
    "since": "--since",
    "until": "--until",
    "patient": "--patient",
    "diagnosis": "--diagnosis",
    "evidence": "--evidence",
    "model_version": "--model-version",
    "outcome": "--outcome",
    "request_id": "--request-id",
    "trace_id": "--trace-id",
}


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    url: UrlOption,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help=(
                "Trusted Ed25519 public key (PEM: OUT.pub of audit keygen; a private key is refused); without it "
                "signatures prove consistency only"
            ),
        ),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="Checkpoint file kept outside the log (audit checkpoint --out); the log must extend every one",
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-every",
            envvar="DXSEARCH_AUDIT_CHECKPOINT_EVERY",
            help=(
                "With --public-key: require a checkpoint by that key at every multiple of N records. With --key: "
                "also the cadence the run's access event is signed at, refused when the log's checkpoints show "
                f"another (default: the one they show, else {SERVER_CHECKPOINT_EVERY})"
            ),
        ),
    ] = None,
    remember: Annotated[
        bool,
        typer.Option(
            "--remember",
            help="With --against: once the log verifies, append its newest checkpoint to that file",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    signing_key: SigningKeyOption = None,
    checkpoint_file: CheckpointFileOption = None,
) -> None:
    """Walk the hash chain, Merkle tree and checkpoints; exit 1 and name what is broken if the log was altered.

    The log is verified read only. With the server's signing key (--key) the run is then recorded as the other
    reads of this command line are: an access event (action ``verify``, role ``cli``, the head it verified up
    to) is appended before the verdict is printed; without it, stderr says the run was not recorded. The event is
    signed at the cadence the log's checkpoints show (a --checkpoint-every they contradict is refused first).
    """
    _positive(checkpoint_every, "--checkpoint-every", "a checkpoint every N records")
    if against is not None and public_key is None:
        raise _fail("--against needs --public-key (the key that signed the kept checkpoints)")
    if remember and against is None:
        raise _fail("--remember needs --against (the file to remember the checkpoint in)")
    remembered: Checkpoint | None = None
    try:
        key = None if public_key is None else _trusted_public_key(public_key)
        signer = None if signing_key is None else CheckpointSigner.from_pem(signing_key)
        if signer is not None and key is not None and signer.fingerprint != key_fingerprint(key):
            raise _fail(
                "--key is not the private half of --public-key: the access event this run appends would be "
                "checkpointed by a key the log is not verified against"
            )
        cadence = None
        if signer is not None:  # checked before verifying: a run that cannot be recorded prints no verdict
            _output_file(checkpoint_file, "--checkpoint-file")
            cadence = _cadence_for_append(ctx, url, checkpoint_every)
        kept = [] if against is None or key is None else read_checkpoints(against, key)
        with open_store(url, read_only=True) as store:
            report = verify(store, key, checkpoint_every=checkpoint_every, kept=kept)
            if remember and report.ok and against is not None:
                # Every checkpoint up to the head was just verified against the trusted key.
                newest_kept = max(k.head.size for k in kept)
                fresh = [
                    c
                    for c in store.checkpoints()
                    if c.note is not None
                    and newest_kept < c.seq <= report.head_seq
                    and c.key_fingerprint == report.trusted_key_fingerprint
                ]
                if fresh:
                    remembered = max(fresh, key=lambda c: (c.seq, c.checkpoint_id))
                    append_checkpoint(against, remembered)
    except (AuditError, OSError) as exc:
        raise _fail(str(exc)) from exc
    if signer is not None:  # after the verdict, so the run never writes to the log it judges
        try:
            with open_store(url, signer=signer, checkpoint_every=cadence, checkpoint_file=checkpoint_file) as store:
                _record_read(store, "verify", [], request_id=uuid.uuid4().hex, filters={"head_seq": report.head_seq})
        except Exception as exc:  # as the API: any failure to record, a database error the store leaves unwrapped too
            raise _fail(
                f"this verification could not be recorded as an access event, so its verdict is not printed ({exc}); "
                "run it without --key to verify without recording"
            ) from exc
    if signer is None:
        typer.echo(NOT_RECORDED, err=True)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif report.ok:
        typer.echo(
            f"OK: {report.records_checked} records, {report.checkpoints_checked} checkpoints verified; "
            f"head seq {report.head_seq} {report.head_hash or '-'}"
        )
        if report.kept_checked:
            typer.echo(f"the log extends all {report.kept_checked} kept checkpoints (consistency proofs verified)")
        if report.unsigned_tail:
            typer.echo(
                f"note: the last {report.unsigned_tail} records are not covered by a signed checkpoint yet", err=True
            )
        if key is None and report.checkpoints_checked:
            typer.echo(
                "note: checkpoints were checked against their embedded keys; pass --public-key to trust them", err=True
            )
        if key is not None and checkpoint_every is None:
            typer.echo(
                "note: without --checkpoint-every, checkpoints deleted along with a rewrite go unnoticed", err=True
            )
        if key is not None and against is None:
            typer.echo(
                "note: without --against, a cut of the tail together with its checkpoints goes unnoticed", err=True
            )
        if remembered is not None:
            typer.echo(f"remembered checkpoint at seq {remembered.seq} in {against}")
    else:  # the verdict is the result (stdout), whichever it is; exit 1 says it is a failure
        where = f"first broken record: {report.first_broken}" if report.first_broken is not None else "log rejected"
        typer.echo(f"BROKEN: {where}: {report.reason}")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("export")
def export_command(
    ctx: typer.Context,
    url: UrlOption,
    format_name: Annotated[
        str, typer.Option("--format", help="jsonl, fhir (NDJSON resources) or fhir-bundle")
    ] = ExportFormat.jsonl.value,
    out: Annotated[Path | None, typer.Option("--out", help="Output file (default: stdout)")] = None,
    since: Annotated[
        str | None, typer.Option(help="Inclusive start, ISO 8601 with a zone: 2026-11-26T09:30:00Z, 2026-11-26Z")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Exclusive end, ISO 8601 with a zone: 2026-11-27Z, 2026-11-27T00:00+01:00")
    ] = None,
    patient: Annotated[
        str | None,
        typer.Option(
            help="Patient pseudonym, as records carry it (20 hex digits); for an MRN ask the API for its pseudonym "
            "first (POST /v1/audit/pseudonym)"
        ),
    ] = None,
    diagnosis: Annotated[
        str | None,
        typer.Option(
            help="Diagnosis code or whole disease name (case-insensitive); equivalent codes and names match too "
            "(ORPHA:558 finds OMIM:154700)"
        ),
    ] = None,
    evidence: Annotated[
        str | None,
        typer.Option(
            "--evidence",
            "--evidence-id",
            help="Evidence document id (omim:154700); an evidence id (omim:154700#0) finds its document",
        ),
    ] = None,
    model_version: Annotated[str | None, typer.Option(help="Model version")] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help="Outcome: diagnosed, insufficient_evidence, no_diagnosis, or access (access events)"),
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option("--request-id", help="A request's id: the server's, or the client's own X-Request-ID"),
    ] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id", help="The trace.trace_id of a decision")] = None,
    kind_name: Annotated[
        str | None,
        typer.Option(
            "--kind", help="decision or access: only decisions, or only access events (reads of records); default both"
        ),
    ] = None,
    key: SigningKeyOption = None,
    checkpoint_every: CheckpointEveryOption = None,
    checkpoint_file: CheckpointFileOption = None,
) -> None:
    """Export records (optionally filtered) as JSONL or FHIR R4B AuditEvent + Provenance.

    The filters are checked as the API checks them (``GET /v1/audit/export``): a value that is malformed or
    can never match (a time without a zone, an identifier for --patient, an unknown outcome, a diagnosis
    nothing names) is one line on stderr and exit 2. With the server's signing key (--key) the export is
    recorded as the API's reads are: each batch of records is appended to the log as an access event (role
    ``cli``, the operator's login name) before it is written; without it the log is only read, and stderr says
    the read was not recorded. With --diagnosis each JSONL line says in ``diagnosis_match`` whether
    the record answered with the diagnosis or only considered it.
    """
    fmt = _choice(format_name, ExportFormat, "--format")
    kind = None if kind_name is None else _choice(kind_name, RecordKindOption, "--kind")
    _output_file(out, "--out")
    try:
        with ExitStack() as stack:
            opened, recording = _open_for_reading(ctx, url, key, checkpoint_every, checkpoint_file)
            store = stack.enter_context(opened)
            try:
                checked = search_filter(
                    expand_diagnosis=_expand_diagnosis,
                    count=store.count,
                    since=since,
                    until=until,
                    patient=patient,
                    diagnosis=diagnosis,
                    evidence=evidence,
                    model_version=model_version,
                    outcome=outcome,
                    request_id=request_id,
                    trace_id=trace_id,
                    kind=None if kind is None else ("access" if kind is RecordKindOption.access else "decision"),
                    order="asc",
                    limit=500,
                    names=_OPTION_NAMES,
                )
            except FilterError as exc:  # bad input, not "nothing found"
                raise _fail(str(exc)) from None
            sink: TextIO = sys.stdout if out is None else stack.enter_context(out.open("w", encoding="utf-8"))
            head = store.head()
            query = checked.query
            records = _audited_export(
                store,
                store.iter_query(query),
                head_seq=0 if head is None else head.seq,
                filters=dict(checked.described),
                patient=query.patient_pseudonym,
                recording=recording,
            )
            if not recording:
                typer.echo(NOT_RECORDED, err=True)
            if fmt is ExportFormat.jsonl:
                count = _write_jsonl(records, sink, query)
            elif fmt is ExportFormat.fhir:
                count = write_fhir_ndjson(records, sink)
            else:
                bundle = fhir_bundle(records)
                sink.write(bundle.model_dump_json(exclude_none=True))
                sink.write("\n")
                count = sum(1 for e in bundle.entry or [] if isinstance(e.resource, AuditEvent))
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(code=0) from None
    except (AuditError, OSError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"exported {count} records", err=True)


def _write_jsonl(records: Iterable[AuditRecord], sink: TextIO, query: AuditQuery) -> int:
    """One JSON line per record; with a diagnosis filter, ``diagnosis_match`` (answered or considered) in each."""
    count = 0
    for record in records:
        if query.diagnosis is None:
            sink.write(record_to_jsonl_line(record))
        else:
            line = {**record.to_json(), "diagnosis_match": diagnosis_match(record, query)}
            sink.write(json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        sink.write("\n")
        count += 1
    return count


_RECORD_ID = re.compile(RECORD_ID_PATTERN)


@app.command("show")
def show_command(
    ctx: typer.Context,
    url: UrlOption,
    record: Annotated[
        str,
        typer.Argument(
            help="A record id (audit_id), a decision's trace.trace_id, or a request id (the server's or the client's)"
        ),
    ],
    key: SigningKeyOption = None,
    checkpoint_every: CheckpointEveryOption = None,
    checkpoint_file: CheckpointFileOption = None,
) -> None:
    """Print the records an id names, one JSON line each: by record id, else by trace id, else by request id.

    A request id can name several records (a decision and the access events of one request). With --key the
    read is appended to the log as an access event (role ``cli``) before anything is printed (without it, stderr
    says it was not recorded); nothing found is exit 1.
    """
    if not record.strip() or len(record) > 512:
        raise _fail("give a record id, a trace id or a request id (at most 512 characters)")
    try:
        opened, recording = _open_for_reading(ctx, url, key, checkpoint_every, checkpoint_file)
        with opened as store:
            found = store.get(record) if _RECORD_ID.fullmatch(record) else None
            how = "record_id"
            matches = [found] if found is not None else []
            if not matches:
                how = "trace_id"
                matches = store.query(AuditQuery(trace_id=record, kind="decision", limit=100)).records
            if not matches:
                how = "request_id"
                matches = store.query(AuditQuery(any_request_id=record, limit=100)).records
            if recording:
                _record_read(
                    store,
                    "read" if matches else "search",
                    matches,
                    request_id=uuid.uuid4().hex,
                    filters={"id": recordable_id(record), "matched_by": how if matches else None},
                )
            else:
                typer.echo(NOT_RECORDED, err=True)
    except (AuditError, OSError) as exc:
        raise _fail(str(exc)) from exc
    if not matches:
        typer.echo("no record with this id (as a record id, a trace id or a request id)", err=True)
        raise typer.Exit(code=1)
    for match in matches:
        typer.echo(record_to_jsonl_line(match))
    typer.echo(f"{len(matches)} record(s) found by {how}", err=True)


@app.command("checkpoint")
def checkpoint_command(
    url: UrlOption,
    key: Annotated[
        Path | None, typer.Option("--key", help="Ed25519 private key (PKCS#8 PEM): sign the current head now")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Append the signed checkpoint to this file (fsynced), for an auditor to keep"),
    ] = None,
) -> None:
    """Sign the current head now (--key), and/or hand out the latest signed checkpoint (--out).

    Without --key the log is opened read-only and its latest checkpoint (size, Merkle root, time, signed
    note) is written to --out: what an auditor without the private key runs.
    """
    if key is None and out is None:
        raise _fail("give --key (sign the head now), --out (keep the latest checkpoint), or both")
    _output_file(out, "--out")
    try:
        checkpoint: Checkpoint | None
        if key is not None:
            signer = CheckpointSigner.from_pem(key)
            with open_store(url, signer=signer) as store:
                checkpoint = store.checkpoint()
        else:
            with open_store(url, read_only=True) as store:
                signed = [c for c in store.checkpoints() if c.note is not None]
            checkpoint = max(signed, key=lambda c: (c.seq, c.checkpoint_id)) if signed else None
            if checkpoint is None:
                raise _fail("the log has no signed Merkle checkpoint yet (sign one with --key)")
        if out is not None:
            append_checkpoint(out, checkpoint)
    except (AuditError, OSError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"checkpoint {checkpoint.checkpoint_id}: seq {checkpoint.seq} {checkpoint.head_hash}")
    if checkpoint.root_hash is not None:
        typer.echo(f"merkle root {checkpoint.root_hash}")
    typer.echo(f"key {checkpoint.key_fingerprint}")
    if out is not None:
        typer.echo(f"appended to {out}", err=True)


@app.command("prove")
def prove_command(
    url: UrlOption,
    seq: Annotated[int | None, typer.Option("--seq", help="Inclusion proof of this record (1 or more)")] = None,
    old_size: Annotated[
        int | None, typer.Option("--from", help="Consistency proof from the tree of this many records (1 or more)")
    ] = None,
    size: Annotated[
        int | None, typer.Option("--size", "--to", help="Tree size to prove against (default: the head)")
    ] = None,
) -> None:
    """Print a Merkle proof as JSON: a record's inclusion (--seq) or a prefix's consistency (--from).

    Check it against the root of a signed checkpoint of the same tree size that you hold.
    """
    _positive(seq, "--seq", "records are numbered from 1")
    _positive(old_size, "--from", "the smallest tree holds one record")
    _positive(size, "--size", "the smallest tree holds one record")
    if (seq is None) == (old_size is None):
        raise _fail("give exactly one of --seq (inclusion) or --from (consistency)")
    try:
        with open_store(url, read_only=True) as store:
            proof = (
                prove_inclusion(store, seq, size) if seq is not None else prove_consistency(store, old_size or 0, size)
            )
    except AuditError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(proof.to_json(), indent=2))


@app.command("keygen")
def keygen_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key; the public key goes to OUT.pub")],
) -> None:
    """Generate an Ed25519 checkpoint key pair (private key mode 0600; never overwrites).

    The directory of --out must exist, as for every file this command line writes: it is not created.
    """
    _output_file(out, "--out")
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
