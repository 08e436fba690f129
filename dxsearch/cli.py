"""``dxsearch``: diagnose a case with a traceable evidence chain, and benchmark policies on held-out cases.

Bad input (unreadable case file, missing index, unknown policy) is one line on
stderr and exit code 2, like ``corpus-builder``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from dxsearch.cases import (
    CaseFileError,
    LabelledCase,
    iter_case_rows,
    iter_lines,
    load_labelled_cases,
    too_long,
)
from dxsearch.cli_errors import fail, one_line_errors, settings_or_fail
from dxsearch.episode import Budget
from dxsearch.knowledge.derived import gc_paused
from dxsearch.lone_surrogates import lone_surrogate
from dxsearch.policies.base import PolicyUnavailableError
from dxsearch.policies.catalog import POLICIES
from dxsearch.protocol import probability_text
from dxsearch.retrieval.base import RetrievalUnavailableError
from dxsearch.retrieval.layout import IndexNotFoundError, current_generation
from dxsearch.settings import Settings

if TYPE_CHECKING:
    from dxsearch.agent import Trace
    from dxsearch.intake import CaseInput, PreparedCase
    from dxsearch.intake.account import EntryCategory, InputAccount, NotUnderstood
    from dxsearch.knowledge.explanation import Explanation, FindingRole
    from dxsearch.knowledge.hpo import HpoKnowledge
    from dxsearch.next_steps import DiagnosisRef, NextSteps, Shift
    from dxsearch.policies.base import Policy
    from dxsearch.retrieval.embedded import EmbeddedIndex

app = typer.Typer(
    help=(
        "DxSearch: ranked diagnoses with cited evidence chains.\n\n"
        "Build an index first with `corpus-builder build --out var/index`, then e.g.\n\n"
        "  dxsearch diagnose --case case.jsonl --explain\n\n"
        "  dxsearch eval --policy evidence --policy enrichment --json eval.json"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are Markdown: a paragraph's lines (the docstrings' source lines) are joined and wrapped to the
    # terminal, paragraphs are kept, and example commands are indented code blocks, shown line for line. In
    # Typer's default ("rich") mode each source line break showed mid-sentence.
    rich_markup_mode="markdown",
)
#: Results (traces, metric tables) on stdout; progress and notes on stderr: `dxsearch ... > out.txt` keeps results.
#: Piped, lines are not cut at 80 columns ("stop: ⏎diagnosed" broke grep, a user test found); a terminal wraps them.
console = Console(soft_wrap=not sys.stdout.isatty())
log = Console(stderr=True, soft_wrap=True, highlight=False)
#: Metric tables are wide; when output is not a terminal (CI logs, pipes) rich would squeeze them to 80 columns.
tables = console if console.is_terminal else Console(width=140)

IndexOption = Annotated[Path | None, typer.Option("--index", "-i", help="Index directory (default DXSEARCH_INDEX).")]


#: Rankers ``dxsearch eval`` scores beside the policies (dxsearch.evaluation.DIRECT_RANKERS): no agent loop.
DIRECT_RANKER_NAMES = ("enrichment", "likelihood")
#: What `dxsearch eval --policy` accepts: the registered policies and the direct rankers.
POLICY_CHOICES = [*POLICIES.names(), *DIRECT_RANKER_NAMES]
POLICY_HELP = "; ".join(f"{name}: {POLICIES.get(name).description}" for name in POLICIES.names())


def _playable_policy(value: str | None) -> str | None:
    """A policy ``diagnose`` can play (what its --help lists), else one line naming those (typer's box would not).

    The direct rankers are refused by name: they rank diseases with no agent loop, so only ``eval`` runs them.
    """
    if value is None or value in POLICIES.names():
        return value
    if value in DIRECT_RANKER_NAMES:
        raise fail(f"--policy {value} ranks diseases directly: it runs only under `dxsearch eval`")
    raise fail(f"--policy {value!r} is not one of {', '.join(POLICIES.names())}")


def _policy_choices(values: list[str] | None) -> list[str] | None:
    """The policies and rankers ``eval`` scores, or one line naming what it accepts (typer's box would not)."""
    for value in values or ():
        if value not in POLICY_CHOICES:
            raise fail(f"--policy {value!r} is not one of {', '.join(POLICY_CHOICES)}")
    return values


ModelOption = Annotated[
    Path | None, typer.Option("--model", help="Local checkpoint directory for --policy llm (transformers).")
]
LlmUrlOption = Annotated[
    str | None, typer.Option("--llm-url", help="OpenAI-compatible server (vLLM) for --policy llm, e.g. http://h:8000")
]
LlmNameOption = Annotated[str | None, typer.Option("--llm-name", help="Model name served at --llm-url.")]


def _open_index(index: Path | None) -> EmbeddedIndex:
    from dxsearch.retrieval.embedded import EmbeddedIndex

    settings = settings_or_fail()
    try:
        return EmbeddedIndex(index or settings.index, settings)
    except (IndexNotFoundError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def _input_file(path: Path, what: str) -> Path:
    """``path`` when it is a file, else one line saying what it is instead ("no such" would mislead for a directory)."""
    if path.is_dir():
        raise fail(f"{path}: a directory, not a {what}")
    if not path.is_file():
        raise fail(f"{path}: no such {what}")
    return path


def _writable_output(path: Path, option: str) -> Path:
    """``path`` when the command could write it, else one line saying why, before any work is done.

    Why up front: the output is written last, after seconds to minutes of loading and reading; a missing
    or read-only directory found then loses all of it. The directory is not created, so a typo in it is
    caught rather than silently made.
    """
    parent = path.parent
    if path.is_dir():
        raise fail(f"{option} {path}: a directory; give the path of a file to write")
    if not parent.is_dir():
        what = "not a directory" if parent.exists() else "no such directory"
        raise fail(f"{option} {path}: {parent}: {what} (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise fail(f"{option} {path}: not writable (permission denied)")
    return path


def _run_directory(path: Path, option: str) -> Path:
    """``path`` when the command can make or reuse it as its output directory, else one line saying why.

    Why up front: ``train --out FILE`` loaded for seconds, then ended in a FileExistsError traceback. A missing
    directory is made later (with its parents, as a run directory is); only what stops that is refused here.
    """
    if path.exists() and not path.is_dir():
        raise fail(f"{option} {path}: a file, not a directory; give a directory (it is made if missing)")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise fail(f"{option} {path}: {existing} is not a writable directory")
    return path


def _read_labelled_cases(path: Path) -> list[LabelledCase]:
    """Labelled cases from a phenopacket JSONL file (for eval); an unreadable line fails the command."""
    try:
        cases = load_labelled_cases(_input_file(path, "case file"))
    except CaseFileError as exc:
        if re.search(r"phenotypes\.\d+\.id: Field required", exc.reason):
            # `diagnose` takes labels; a scored case needs the ids its gold is compared through (user test 4)
            raise fail(
                f"{exc}: eval scores labelled cases, each phenotype with an HPO id (labels alone are for "
                "`dxsearch diagnose`)"
            ) from None
        raise fail(str(exc)) from None
    if not cases:
        raise fail(f"{path}: no cases in file")
    return cases


#: What a ``.json`` case file may hold, for the one-line refusal of anything else.
JSON_CASE_EXPECTED = (
    'expected a FHIR Bundle ({"resourceType": "Bundle", ...}) or a case as POST /v1/diagnose takes it '
    '({"findings": [...]} or {"text": "..."}, with optional "sex", "age", "patient_id")'
)


def _read_json_case(path: Path, max_bytes: int) -> CaseInput:
    """A ``.json`` case file: a FHIR Bundle when it says so (``resourceType``), else a case in the API's shape.

    The case object is read by the API's own request model (:class:`api.schemas.DiagnoseRequest`: unknown
    fields refused, labels checked, age as ISO 8601 or whole years), so a file and a request body mean the
    same. Anything else (an empty file, not UTF-8, not JSON, not an object, another FHIR resource, an
    invalid case) stops the command with one line naming what was expected. A file over ``max_bytes`` (the API's
    request limit) is refused from its size, unread, as the API refuses such a body (413).
    """
    from pydantic import ValidationError

    from api.schemas import DiagnoseRequest
    from dxsearch.intake import CaseInput

    size = path.stat().st_size
    if size > max_bytes:
        raise fail(f"{path}: {too_long(size, max_bytes, 'file')}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); {JSON_CASE_EXPECTED}") from None
    if not text.strip():
        raise fail(f"{path}: empty file; {JSON_CASE_EXPECTED}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise fail(f"{path}: invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise fail(f"{path}: the file holds {kind}; {JSON_CASE_EXPECTED}")
    # An object with entries and no case fields is a bundle that lost its resourceType: the bundle's reader says so.
    if "resourceType" in data or ("entry" in data and not {"findings", "text"} & data.keys()):
        resource_type = data.get("resourceType", "Bundle")
        if resource_type != "Bundle":
            what = f"a FHIR {resource_type} resource" if isinstance(resource_type, str) else "an invalid resourceType"
            raise fail(
                f"{path}: {what}; diagnose reads a FHIR Bundle holding one Patient and their Observations "
                '({"resourceType": "Bundle", "entry": [...]})'
            )
        return CaseInput(bundle=data)
    try:
        request = DiagnoseRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        reason = str(first["msg"]).removeprefix("Value error, ")
        if "phenotypes" in data:
            reason += ' (a case row with "phenotypes" belongs in a .jsonl file)'
        elif not where:  # the shape, not a field, is wrong: say what the shape should be
            reason += f"; {JSON_CASE_EXPECTED}"
        raise fail(f"{path}: not a case: {where + ': ' if where else ''}{reason}") from None
    return request.case_input()


def _read_case_row(path: Path, max_bytes: int) -> CaseInput:
    """The first case row of a JSONL case file, saying on stderr what of the file it does not read.

    One case per file, as documented: a file of several rows (the benchmark's, say) is diagnosed by its
    first, with a warning counting the rows not read, rather than refused or diagnosed at length. Keys
    nothing reads are named too (:meth:`CaseRow.unread_keys`): a misspelt key silently changes the case. A line
    over ``max_bytes`` (the API's request limit) is refused unread, naming file, line and limit.
    """
    from dxsearch.intake import CaseInput

    rows = iter_case_rows(path, max_line_bytes=max_bytes)
    row = next(rows, None)
    if row is None:
        raise fail(f"{path}: no cases in file")
    if isinstance(row, CaseFileError):
        raise fail(str(row))
    unread = row.unread_keys()
    if unread:
        log.print(f"warning: {path}: key(s) not read, ignored: {', '.join(unread)}", markup=False)
    more = sum(1 for _ in rows)
    if more:
        log.print(
            f"warning: {path}: only its first case row is diagnosed, {more} more row(s) not read "
            "(one case per file: give each its own --case)",
            markup=False,
        )
    return CaseInput.model_validate(row.intake_fields())


def _read_case(path: Path, settings: Settings) -> PreparedCase:
    """The case of a ``.json`` file (a FHIR Bundle or an API-shaped case) or of the first row of a JSONL case file.

    A case row needs no answer (``disease``) and its phenotypes may be labels alone (:class:`CaseRow`).
    Whatever the file, the one intake reads it, so an empty findings list is refused as the API refuses it.
    """
    from dxsearch.intake import IntakeError, IntakeLimits, intake
    from dxsearch.pseudonym import Pseudonymiser

    _input_file(path, "case file")
    limit = settings.max_request_bytes
    payload = _read_json_case(path, limit) if path.suffix == ".json" else _read_case_row(path, limit)
    # The API's caps too (bundle entries, findings): the command line refuses what the API refuses.
    limits = IntakeLimits.from_settings(settings)
    try:
        prepared = intake(
            payload, pseudonymiser=Pseudonymiser(settings.pseudonym_key), fallback_id=path.stem, limits=limits
        )
    except IntakeError as exc:
        raise fail(f"{path}: {exc.message}") from None
    return prepared


def _read_cases(paths: Sequence[Path], settings: Settings) -> tuple[list[PreparedCase], int]:
    """The cases of ``paths`` that can be read, and how many could not: each of those is named in one line.

    Why not stop at the first: a batch of cases is the work of one load (seconds); one bad file among many
    lost the diagnoses of the good ones (a user test). The caller exits 2 at the end when any was refused.
    """
    readings: list[PreparedCase] = []
    refused = 0
    for path in paths:
        try:
            readings.append(_read_case(path, settings))
        except typer.Exit:  # fail() has named it on stderr
            refused += 1
    return readings, refused


def _make_policy(
    name: str,
    model: Path | None,
    llm_url: str | None,
    llm_name: str | None,
    settings: Settings,
    knowledge: HpoKnowledge | None = None,
) -> tuple[Policy, Budget]:
    """The named policy from the one policy factory, and the budget it is played under (a checkpoint's card).

    ``knowledge``: the disease knowledge of the index it plays against (``index_knowledge``).
    """
    from dxsearch.policies.catalog import PolicyLoadError, make_policy

    overrides = {"llm_base_url": llm_url, "llm_model": llm_name}
    settings = settings.model_copy(update={key: value for key, value in overrides.items() if value is not None})
    try:
        policy, budget = make_policy(name, settings, model, knowledge)
    except PolicyLoadError as exc:
        raise fail(str(exc)) from None
    if budget != Budget():
        log.print(f"episode budget from the policy card: {budget.model_dump()}")
    return policy, budget


def _keep_out_of_collection() -> None:
    """Move everything alive now out of the cyclic garbage collector's reach, once loading is done.

    Why: the knowledge, the term dictionary and the models are millions of objects that live as long as the
    process. Left tracked, every full collection walks them all: the ones loading triggered cost ~1 s of CPU,
    and the one the interpreter runs at exit ~3 s of a ~10 s ``dxsearch diagnose``. So collection is paused
    while loading, then one collection frees what loading left behind (memory is not higher) and the rest is
    frozen; frozen objects are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()


@app.command()
def diagnose(
    cases: Annotated[
        list[Path],
        typer.Option(
            "--case",
            "-c",
            help=(
                "A .json file (a FHIR Bundle, or a case as POST /v1/diagnose takes it), or a JSONL case file "
                "(one case: its first row; more rows and keys nothing reads are named on stderr; format below): "
                "no answer needed. "
                "Repeat for several cases: the index, knowledge and models are loaded once for all. "
                "Every case that can be read is diagnosed; each refused one (unreadable, invalid, over the API's "
                "size limit DXSEARCH_MAX_REQUEST_BYTES) is named on stderr, and the exit code is 2 if any was."
            ),
        ),
    ],
    index: IndexOption = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help=f"Who reasons (default: DXSEARCH_POLICY, else learned). {POLICY_HELP}.",
            callback=_playable_policy,
            show_default=False,
        ),
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print every turn, passage and evidence chain.")] = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the full trace as JSON (several cases: one trace per line, JSONL)."),
    ] = None,
    model: ModelOption = None,
    llm_url: LlmUrlOption = None,
    llm_name: LlmNameOption = None,
) -> None:
    """Diagnose cases: ranked diagnoses, each with the passages it rests on.

    A JSONL case row (the phenopacket format, without the answer):

        {"case_id": "p1", "sex": "male", "age": "P14Y",
         "phenotypes": [{"label": "Arachnodactyly"}, {"id": "HP:0001083"},
                        {"label": "Seizures", "excluded": true}],
         "text": "optional clinical note, read like the phenotypes"}

    Phenotypes need a label or an HPO id. Sex and age may be left out: a note's "14-year-old boy" fills them.

    A .json file holds one case: a FHIR Bundle ("resourceType": "Bundle") or a POST /v1/diagnose body:

        {"findings": ["Arachnodactyly", "Ectopia lentis"], "age": 14}

    It is read by the API's rules: a findings list with no observed finding is refused in the API's words.

    No "disease" is needed (one given is never read). What was not understood is listed.
    """
    from dxsearch.agent import diagnose as run_diagnosis
    from dxsearch.env import DiagnosticEnv
    from dxsearch.next_steps import NextStepsPlanner
    from dxsearch.policies.catalog import index_knowledge, index_retriever, retriever_for

    settings = settings_or_fail()
    if json_out is not None:
        _writable_output(json_out, "--json")
    if policy is None and settings.policy not in POLICIES.names():
        raise fail(f"DXSEARCH_POLICY={settings.policy!r} is not one of {', '.join(POLICIES.names())}")
    policy = policy or settings.policy
    readings, refused = _read_cases(cases, settings)  # every input checked before anything loads
    if not readings:
        raise typer.Exit(code=2)  # each was named, and nothing is loaded for nothing
    traces: list[str] = []

    def show(trace: Trace, read: PreparedCase) -> None:
        traces.append(trace.model_dump_json(indent=2) if len(cases) == 1 else trace.model_dump_json())
        print_trace(trace, explain=explain, text=read.case.text)

    with gc_paused():  # until all is loaded: see _keep_out_of_collection
        opened = _open_index(index)
        knowledge = index_knowledge(opened)  # what the policy ranks with, and what next steps are planned with
        chosen, budget = _make_policy(policy, model, llm_url, llm_name, settings, knowledge)
        env = DiagnosticEnv(index_retriever(opened, retriever_for(policy)), budget)
        planner = NextStepsPlanner.for_index(opened, knowledge)

        def run(read: PreparedCase) -> Trace:
            return run_diagnosis(
                read.case,
                chosen,
                env,
                index_version=opened.version,
                resolve_chunk=opened.store.chunk,
                input_account=read.account,
                knowledge=knowledge,
                next_steps=planner,
            )

        first = run(readings[0])  # what loads on first use (the knowledge's tables, the scorers) loads here
    _keep_out_of_collection()
    show(first, readings[0])
    for read in readings[1:]:
        show(run(read), read)
    if json_out is not None:
        json_out.write_text("\n".join(traces) + ("\n" if len(cases) > 1 else ""), encoding="utf-8")
    if refused:
        log.print(f"{len(readings)} of {len(cases)} cases diagnosed; {refused} refused (named above)", markup=False)
        raise typer.Exit(code=2)


#: How ``diagnose`` names an account entry read that is no finding of the patient, by its category (the viewer's
#: chips say the same: api/viewer/static/render.js CATEGORY_READINGS).
_ALSO_READ: dict[EntryCategory, str] = {
    "diagnosis": "diagnosis on record",
    "possible_diagnosis": "possible diagnosis",
    "ruled_out_diagnosis": "ruled out",
    "repeat": "counted once",
    "contradicted": "contradicted, present kept",
    "age_source": "where the age came from",
}


def _input_place(item: NotUnderstood, text: str | None) -> str:
    """What the user entered there: the item's words, the note's words at its span, else the element's path."""
    if item.given is not None:
        return repr(item.given)
    if item.path == "text" and item.span is not None and text is not None:
        return repr(" ".join(text[item.span[0] : item.span[1]].split()))
    return f"{item.path} {list(item.span or ())}" if item.span else item.path


def print_trace(trace: Trace, *, explain: bool, text: str | None = None) -> None:
    """A human-readable trace: turns and passages (with --explain), then the differential and its chains.

    ``text`` is the note as entered, so that what was not understood is shown in its words; the trace itself
    keeps no words of a note (they are PHI), only a pseudonym of it.
    """
    console.print(
        f"[bold]case[/] {trace.case.pseudonym} · {trace.case.sex}, {trace.case.age or 'age unknown'} · "
        f"{sum(1 for f in trace.case.findings if not f.excluded)} observed / "
        f"{sum(1 for f in trace.case.findings if f.excluded)} excluded findings",
        highlight=False,
        soft_wrap=True,
    )
    account = trace.input_account
    if account is not None:
        from dxsearch.intake.account import understood_not_a_finding

        # Diagnoses on record, duplicates, a contradicted statement: read, and no finding of the patient; they
        # were listed under "not understood", which they were not. Told apart by their category, never their words.
        also = [item for item in account.not_understood if understood_not_a_finding(item)]
        missed = [item for item in account.not_understood if not understood_not_a_finding(item)]
        console.print(
            f"input: {len(account.mapped)} HPO term(s) read from {_input_items(account)}, "
            f"{len(missed)} part(s) not understood"
            + (f", {len(also)} read that are not findings of the patient" if also else ""),
            highlight=False,
        )
        for item in missed:
            use = "searched by its words only" if item.words_searched else "not used"
            console.print(
                f"  not understood — {use}: {_input_place(item, text)}: {item.reason}",
                markup=False,
                highlight=False,
            )
        for item in also:
            said = _ALSO_READ.get(item.category)
            console.print(
                f"  also read, not a finding of the patient{' — ' + said if said else ''}: "
                f"{_input_place(item, text)}: {item.reason}",
                markup=False,
                highlight=False,
            )
        read_from_values = {m.hpo_id: m.label for m in account.mapped if m.from_value}
        for finding in trace.case.findings:
            if finding.hpo_id in read_from_values:
                name = read_from_values[finding.hpo_id]
                console.print(f"  read from a stated value: {finding.label!r} -> {name}", markup=False, highlight=False)
    console.print(
        f"policy {trace.policy.name} v{trace.policy.version} · index {trace.index_version} · "
        f"{len(trace.turns)} turn{'' if len(trace.turns) == 1 else 's'} · stop: {trace.stop_reason.value} · "
        f"{trace.total_ms:.0f} ms",
        highlight=False,
    )
    if explain:
        for turn in trace.turns:
            console.rule(f"turn {turn.index + 1}: {turn.action or 'malformed (' + str(turn.error) + ')'}")
            console.print(turn.text, markup=False, highlight=False, soft_wrap=True)
            shown = [r for r in trace.retrievals if r.turn == turn.index and not r.duplicate]
            for record in shown:
                console.print(
                    f"  [{record.evidence_id}] rank {record.rank} score {record.score:.3f} "
                    f"({record.retriever}) {record.title}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
    console.rule("differential")
    if trace.outcome == "insufficient_evidence":
        why = trace.reason or "the agent declined to name a diagnosis"
        console.print(f"insufficient evidence: {why}.", markup=False, highlight=False)
        if trace.considered:
            console.print(
                "considered, each too improbable to name (not a diagnosis; more findings would help):",
                markup=False,
                highlight=False,
            )
    elif not trace.diagnoses:
        console.print(f"no diagnosis ({trace.stop_reason.value}).")
    for diagnosis in trace.diagnoses or trace.considered:
        confidence = (
            f" · confidence {probability_text(diagnosis.confidence)}" if diagnosis.confidence is not None else ""
        )
        codes = diagnosis.code or "no code"
        if diagnosis.alternate_codes:  # equivalent entries folded into this one
            codes += f", also {', '.join(diagnosis.alternate_codes)}"
        console.print(
            f"{diagnosis.rank}. {diagnosis.name} [{codes}]{confidence}",
            markup=False,
            highlight=False,
        )
        if diagnosis.explanation is not None:
            for line in _explanation_lines(diagnosis.explanation):
                console.print(f"   {line}", markup=False, highlight=False, soft_wrap=True)
        for link in diagnosis.evidence:
            section = f" § {link.section}" if link.section else ""
            supports = ", ".join(link.supports[:6]) or "—"
            console.print(
                f"   └ {link.evidence_id} ({link.kind.value}: {link.title}{section}); "
                f"mentions diagnosis: {'yes' if link.mentions_diagnosis else 'no'}; findings: {supports}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for missing in diagnosis.unsupported_citations:
            console.print(
                f"   ✗ {missing}: cited but never retrieved — not evidence",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if explain and trace.next_steps is not None:
        print_next_steps(trace.next_steps)


#: What a next-steps probability means, by ``NextSteps.scale``.
_SCALES = {
    "differential": "probabilities as the differential gives them; {rest:.2f} left to none of these",
    "among_candidates": "probabilities renormalised among them, as the differential's summed above 1",
    "equal": "no probabilities were given: taken as equally likely",
}


def _input_items(account: InputAccount) -> str:
    """How many input items the terms were read from ("6 input items"; one item may hold several terms)."""
    paths = {entry.path for entry in account.mapped} | {entry.path for entry in account.not_understood}
    return f"{len(paths)} input item(s)"


def print_next_steps(steps: NextSteps) -> None:
    """The trace's next steps: the gene panel, the questions to ask next, and guideline passages."""
    from dxsearch.next_steps import said

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def refs(diagnoses: Sequence[DiagnosisRef]) -> str:
        return ", ".join(f"{d.rank}. {d.name}" for d in diagnoses)

    console.rule("next steps")
    if steps.basis == "retrieved_diseases":
        say(f"no differential: questions that would separate the disease cards retrieved ({refs(steps.candidates)})")
    elif steps.basis == "considered":
        say(f"no differential: questions that would separate the candidates considered ({refs(steps.candidates)})")
    else:
        say(f"for the top {len(steps.candidates)} diagnoses ({_SCALES[steps.scale].format(rest=steps.none_of_these)})")
    panel = steps.gene_panel
    if panel is not None:
        say(f"gene panel: {len(panel.genes)} gene(s) ({panel.source})")
        for gene in panel.genes:
            say(f"  {gene.symbol} — {refs(gene.diagnoses)}")
        if panel.without_genes:
            say(f"  no gene known for: {refs(panel.without_genes)}")
    if steps.questions:
        say("ask next (expected information gain over the candidates):")
    for number, question in enumerate(steps.questions, start=1):

        def shifts(favoured: Sequence[Shift], rest: float | None) -> str:
            if favoured:
                return "; ".join(f"{s.name} {said(s.before)}→{said(s.after)}" for s in favoured)
            if rest is not None and rest >= steps.none_of_these + 0.005:  # no candidate gains: the rest does
                return f"none of these {said(steps.none_of_these)}→{said(rest)}"
            return "no candidate"

        yes = shifts(question.if_present, question.none_of_these_if_present)
        no = shifts(question.if_absent, question.none_of_these_if_absent)
        say(
            f"  {number}. {question.label} [{question.hpo_id}] · {question.information_gain_bits:.2f} bits · "
            f"yes favours {yes} · no favours {no}"
        )
    if steps.guidelines:
        say("guideline passages naming a diagnosis:")
    for passage in steps.guidelines:
        section = f" § {passage.section}" if passage.section else ""
        dois = ", ".join(passage.references) or "no reference"
        say(f"  [{passage.evidence_id}] {passage.title}{section} — for {refs(passage.diagnoses)}; {dois}")
        say(f"    {passage.source or 'unknown source'}, licence: {passage.licence or 'unknown'}")
        if passage.note:
            say(f"    {passage.note}")
    for note in steps.notes:
        say(f"note: {note}")


def _explanation_lines(explanation: Explanation) -> list[str]:
    """Explains n/m, what is not explained, what contradicts it (absent but annotated, with its frequency), and
    the sex, inheritance and onset-or-age factors with their likelihood ratios."""

    def named(roles: Sequence[FindingRole], with_frequency: bool = False) -> str:
        parts = []
        for role in roles:
            frequency = f" ({role.frequency:.0%} of patients)" if with_frequency and role.frequency else ""
            parts.append(f"{role.label}{frequency}")
        return ", ".join(parts) or "none"

    if not explanation.annotated:
        return [f"no phenotype annotation in this index's knowledge: explains 0/{explanation.entered} findings"]
    lines = [f"explains {len(explanation.supports)}/{explanation.entered} findings: {named(explanation.supports)}"]
    if explanation.not_explained:
        lines.append(f"does not explain: {named(explanation.not_explained)}")
    if explanation.contradicts:
        lines.append(f"speaks against it: {named(explanation.contradicts, with_frequency=True)}")
    for factor in explanation.factors:
        ratio = f", likelihood ratio {factor.likelihood_ratio:g}"
        if factor.evidence == "age":
            lines.append(_age_line(factor.value.removeprefix("age "), factor.fits, factor.matched_name) + ratio)
            continue
        given = {"sex": f"sex {factor.value}", "onset": f"stated {factor.name or factor.value}"}.get(
            factor.evidence, factor.name or factor.value
        )  # inheritance: its name
        onset = f" (the disease's onset: {factor.matched_name.lower()})" if factor.matched_name else ""
        verdict = f"fits{onset}" if factor.fits else "speaks against it"
        lines.append(f"{given}: {verdict}{ratio}")
    return lines


def _age_line(age: str, fits: bool, onset: str | None) -> str:
    """The age factor said from the disease's side, as the viewer says it: "the disease's onset: congenital — fits
    an age of 45 y". The patient's age bounds the onset from above (the disease began by then); "age 45 y: fits
    (the disease's onset: congenital onset)" read as if a 45-year-old were congenital (user test)."""
    if fits and onset:
        name = onset.lower()
        short = name.removesuffix(" onset") or name  # "Congenital onset" -> "congenital"; "Onset" stays whole
        return f"the disease's onset: {short} — fits an age of {age}"
    if fits:
        return f"age {age}: fits the disease's onset"
    return f"age {age}: younger than any onset of the disease — speaks against it"


@app.command("eval")
def evaluate_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the metrics as JSON.")],
    index: IndexOption = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Policy to score; repeat to compare (default: evidence). {POLICY_HELP}; "
            "enrichment: hypergeometric enrichment over the index's annotation rows, the classical floor; "
            "likelihood: the likelihood-ratio scorer alone.",
            callback=_policy_choices,
        ),
    ] = None,
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases",
            help="Phenopacket-format JSONL, each case with its gold `disease` and an HPO `id` per phenotype (default: "
            "built-in held-out real + simulated sets).",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most N cases per set.")] = None,
    allow_leakage: Annotated[
        bool,
        typer.Option(
            "--allow-leakage",
            help="Score cases whose publication feeds the index (HPO rows citing it, or its patient records); "
            "the report is then labelled leaky. Without it such cases are refused (exit 2).",
        ),
    ] = False,
    model: ModelOption = None,
    llm_url: LlmUrlOption = None,
    llm_name: LlmNameOption = None,
) -> None:
    """Top-1/3/5, MRR, ECE, coverage, citation precision, retrievals and latency of policies on held-out cases.

    Leakage-controlled by default: every policy ranks with the index's own disease knowledge (the HPO
    rows of its excluded publications dropped, as its manifest records), and cases whose publication
    feeds the index are refused unless --allow-leakage. The report gives, per set, the ceiling: the
    share of cases whose gold disease keeps any annotation after the exclusions. Each ECE comes with a
    90% interval over resampled publications (``ece_interval`` in --json; a paper's patients are right or
    wrong together, so the interval is as wide as the papers are few).

    Writes: --json FILE, with ``policies`` {name: metrics} (one policy's metrics also at the top level:
    ``top1``, ``top3``, ``top5``, ``mrr``, ``ece``, ``ece_interval``, ``coverage``, ``risk_coverage``,
    ``reliability``, ``sets``, ``groups``), ``leakage``, ``ceiling``, ``case_sets``, ``index_version``; and
    FILE's ``.reliability.png`` beside it (reliability diagram and accuracy against coverage). Tables on
    stdout, progress on stderr.
    """
    from dxsearch.evaluation import (
        DIRECT_RANKERS,
        GoldMatcher,
        Runner,
        annotation_group,
        evaluate,
        frequency_group,
        gene_group_rank,
        indexed_diagnosis_counts,
        knowledge_ceiling,
        knowledge_group,
        leaking_publications,
        policy_runner,
        publication_documents,
    )
    from dxsearch.knowledge.disease_ontology import get_disease_ontology
    from dxsearch.policies.catalog import index_knowledge, retriever_for

    _writable_output(json_out, "--json")  # before the minutes of work, as `diagnose` and `read` check theirs
    settings = settings_or_fail()
    threshold = settings.abstain_below
    # Policies play with probability abstention off, so top-k and ECE see every ranking; coverage and
    # accuracy are reported at the configured threshold instead.
    settings = settings.model_copy(update={"abstain_below": 0.0})
    chosen = list(dict.fromkeys(policy or ["evidence"]))
    if cases is not None and cases.suffix != ".jsonl":
        raise fail(f"{cases}: --cases takes labelled cases in the phenopacket JSONL format (.jsonl)")
    opened = _open_index(index)
    knowledge = index_knowledge(opened)
    if cases is not None:
        case_sets = {cases.stem: _read_labelled_cases(cases)}
    else:
        from corpus_builder.evaluate import default_case_sets

        case_sets = dict(default_case_sets(knowledge.excluded_publications))
    same_publication = publication_documents(opened)
    leaks = leaking_publications([c for s in case_sets.values() for c in s], knowledge, same_publication)
    if leaks and not allow_leakage:
        leaked = sum(leak.cases for leak in leaks)
        raise fail(
            f"{leaked} case(s) come from {len(leaks)} publication(s) that feed this index, e.g. "
            f"{leaks[0].describe()}: rebuild it with `corpus-builder build --exclude-publications FILE` "
            "or pass --allow-leakage to score them anyway (labelled leaky)"
        )
    if leaks:
        log.print(f"leakage allowed: {sum(leak.cases for leak in leaks)} case(s) from publications feeding the index")
    runners: dict[str, Runner] = {}
    for name in chosen:
        if name in DIRECT_RANKERS:
            runners[name] = DIRECT_RANKERS[name](knowledge)
        else:
            made, budget = _make_policy(name, model, llm_url, llm_name, settings, knowledge)
            runners[name] = policy_runner(made, opened, retriever_for(name), budget, knowledge, same_publication)
    indexed_counts = indexed_diagnosis_counts(opened)
    groupers = [
        frequency_group(indexed_counts),
        annotation_group(knowledge),
        knowledge_group(indexed_counts, knowledge),
    ]
    matcher = GoldMatcher(opened, get_disease_ontology())
    report = evaluate(
        runners,
        case_sets,
        matcher,
        groupers,
        limit=limit,
        abstain_below=threshold,
        group_rank=gene_group_rank(knowledge),
    )
    # "policies" always holds every policy's metrics, so a script reads one shape whatever the count; one policy's
    # are also at the top level, where the benchmark reads top1, top5, mrr, ece and coverage.
    payload: dict[str, Any] = {**report[chosen[0]], "policy": chosen[0]} if len(chosen) == 1 else {}
    payload["policies"] = report
    payload["index_version"] = opened.version
    payload["case_sets"] = {name: len(items) for name, items in case_sets.items()}
    payload["leakage"] = {
        "controlled": not leaks,
        "excluded_publications": len(knowledge.excluded_publications),
        "leaking_cases": sum(leak.cases for leak in leaks),
        "leaking_publications": [leak.publication for leak in leaks],
    }
    payload["ceiling"] = {
        name: knowledge_ceiling(items[:limit] if limit else items, knowledge) for name, items in case_sets.items()
    }
    json_out.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    _print_report(report)
    headline = "leakage-controlled" if not leaks else "LEAKY (--allow-leakage)"
    ceilings = ", ".join(f"{name} {value:.3f}" for name, value in payload["ceiling"].items() if value is not None)
    held_out = (
        f"{headline}: index {opened.version} leaves out {len(knowledge.excluded_publications)} publications; "
        f"ceiling (gold disease still annotated): {ceilings}"
    )
    tables.print(held_out, markup=False, highlight=False)
    log.print(f"wrote {json_out}")
    plot = json_out.with_suffix(".reliability.png")
    try:
        from dxsearch.train.plot import plot_reliability
    except ImportError:
        log.print("no reliability diagram: matplotlib is not installed (pip install '.[train]')")
    else:
        plot_reliability(report, plot, headline=held_out)
        log.print(f"wrote {plot}")


def _print_report(report: dict[str, dict[str, Any]]) -> None:
    set_names = sorted({s for metrics in report.values() for s in metrics.get("sets", {})})
    group_names = sorted({g for metrics in report.values() for g in metrics.get("groups", {})})
    printed: dict[tuple[tuple[str, ...], ...], str] = {}  # the rows of each table printed, and its scope
    for scope in ["all", *set_names, *group_names]:
        table = Table(title=f"cases: {scope}")
        columns = (
            "policy",
            "n",
            "top1",
            "top3",
            "top5",
            "MRR",
            "gene top1",
            "ECE (90%)",
            "coverage",
            "acc@cov",
            "cite prec",
        )
        for column in (*columns, "retr/case", "p50 ms", "p95 ms"):
            table.add_column(column, justify="left" if column == "policy" else "right")
        rows: list[tuple[str, ...]] = []
        for name, metrics in report.items():
            if scope == "all":
                m = metrics
            elif scope in group_names:
                m = metrics["groups"].get(scope, {"cases": 0})
            else:
                m = metrics["sets"].get(scope, {"cases": 0})
            if not m.get("cases"):
                continue
            precision = m["citation_precision"]
            coverage = m.get("coverage") or {}
            rows.append(
                (
                    name,
                    str(m["cases"]),
                    f"{m['top1']:.3f}",
                    f"{m['top3']:.3f}",
                    f"{m['top5']:.3f}",
                    f"{m['mrr']:.3f}",
                    f"{m['group_top1']:.3f}",
                    _ece_cell(m),
                    "—" if not coverage else f"{coverage['coverage']:.3f}",
                    "—" if coverage.get("accuracy") is None else f"{coverage['accuracy']:.3f}",
                    "—" if precision is None else f"{precision:.3f}",
                    f"{m['retrievals_per_case']:.1f}",
                    f"{m['latency_p50_ms']:.0f}",
                    f"{m['latency_p95_ms']:.0f}",
                )
            )
        same = printed.get(tuple(rows))
        if same is not None:  # "annotation_independent" is "all" on a leakage-controlled index: one table, not three
            tables.print(f"cases: {scope} — as many cases, the same results as '{same}'", markup=False, highlight=False)
            continue
        printed[tuple(rows)] = scope
        for row in rows:
            table.add_row(*row)
        tables.print(table)


def _ece_cell(metrics: Mapping[str, Any]) -> str:
    """The ECE with its interval over publication resamples, when the report has one."""
    if metrics.get("ece") is None:
        return "—"
    interval = metrics.get("ece_interval")
    return f"{metrics['ece']:.3f}" + (f" ({interval[0]:.2f}–{interval[1]:.2f})" if interval else "")


def _note_rows(notes: Path, max_bytes: int) -> tuple[list[tuple[Any, str]], int]:
    """Every readable ``(doc_id, text)`` of a notes file, and how many lines were refused, each named in one line.

    All lines are checked before the readers load (seconds), so a file of bad lines costs nothing and
    writes nothing. A bad line does not lose the good ones (a user test: one non-JSON line wrote no account
    at all): they are read, and the caller exits 2 at the end. A ``doc_id`` given again is refused (the first
    is kept): accounts are joined back to their notes by ``doc_id``, and two accounts under one id could not
    be told apart. A line over ``max_bytes`` (the API's request limit) is refused unread. A file holding no
    note (empty, or blank lines only) is refused: exit 0 would say the command did what was asked.
    """
    rows: list[tuple[Any, str]] = []
    refused = 0
    first_seen: dict[str, int] = {}  # doc_id as JSON (an id may be any JSON value) -> its line
    with notes.open("rb") as handle:
        for number, raw in iter_lines(handle, max_bytes):
            where, row = f"{notes}:{number}", dict[str, Any]()
            if isinstance(raw, int):
                problem: str | None = too_long(raw, max_bytes)
            elif not raw.strip():
                continue
            else:
                problem, row = _note_row(raw)
            if problem is None:
                key = json.dumps(row["doc_id"], sort_keys=True, ensure_ascii=False)
                if key in first_seen:
                    problem = f"doc_id {key} repeats line {first_seen[key]}: each note needs its own doc_id"
                else:
                    first_seen[key] = number
            if problem is not None:
                fail(f"{where}: {problem}")  # named on stderr; the other lines are still read
                refused += 1
                continue
            if not row["text"].strip():
                log.print(f"{where}: the text is empty: its account will hold nothing", markup=False, highlight=False)
            rows.append((row["doc_id"], row["text"]))
    if not rows and not refused:  # an empty file is a wrong path or a failed export upstream, not "0 notes read"
        raise fail(f'{notes}: the file holds no note; expected one {{"doc_id": ..., "text": "..."}} per line')
    return rows, refused


def _note_row(raw: bytes) -> tuple[str | None, dict[str, Any]]:
    """A notes line as its row, or why it is none (not UTF-8, not JSON, not a note, a lone surrogate)."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 ({exc.reason} at byte {exc.start})", {}
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg}", {}
    except RecursionError:
        return "invalid JSON: nested too deeply", {}
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "doc_id" not in row:
        return 'expected {"doc_id": ..., "text": "..."}', {}
    for name in ("doc_id", "text"):
        found = lone_surrogate(row[name])
        if found is not None:
            # Such text has no UTF-8 form: its account could not be written, and the API refuses the note (422).
            return f"{name} holds a lone UTF-16 surrogate (\\u{ord(found):04x}), which is not valid Unicode", {}
    return None, row


@app.command("read")
def read_command(
    notes: Annotated[
        Path,
        typer.Option(
            "--notes",
            help='JSONL: one {"doc_id": ..., "text": ...} per line, each doc_id once. Every readable note is read; '
            "each refused line (not JSON, not a note, a doc_id repeated, over the API's size limit "
            "DXSEARCH_MAX_REQUEST_BYTES) is named on stderr, and the exit code is 2 if any was.",
        ),
    ],
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Where to write one account per note (JSONL); '-' or left out: standard output."),
    ] = None,
) -> None:
    """Read clinical notes into HPO findings, as the intake does: one account per note, nothing dropped.

    Each output line (to --json FILE, or to standard output; the summary goes to standard error):

        {"doc_id": ..., "findings": [{"id": "HP:...", "label": ..., "span": [start, end],
                                     "assertion": "present|absent|family_history|uncertain|historical",
                                     "kind": "finding|inheritance|onset", "from_value": false}],
         "not_understood": [{"span": [start, end], "reason": ...,
                             "category": "not_understood|of_a_relative|denied_of_a_relative"}],
         "age": "P14Y", "sex": "male"}

    A mode of inheritance ("autosomal dominant") or an onset ("since infancy") is listed with its kind.
    A "category" says what kind of entry each not-understood span is: words naming no HPO term, words said of
    a relative, or a relative's finding denied ("no family history of ..."); read it, not the reason's words.
    A finding read from a stated value, not named in the words ("OFC 42 cm (-3 SD)" is Microcephaly,
    "walked at 3 years" Delayed ability to walk, "IQ 55" Mild intellectual disability, "ALP 850 (high)",
    "born at 30 weeks", an onset's "began at 6 months"), has "from_value": true.
    """
    from dxsearch.intake.account import read_text
    from dxsearch.intake.second_reader import get_second_reader
    from dxsearch.knowledge.hpo import get_hpo_knowledge
    from dxsearch.knowledge.term_lookup import get_term_lookup

    to_file = json_out if json_out is not None and str(json_out) != "-" else None
    if to_file is not None:
        _writable_output(to_file, "--json")
    settings = settings_or_fail()
    rows, refused = _note_rows(_input_file(notes, "notes file"), settings.max_request_bytes)  # before readers load
    if not rows:
        raise typer.Exit(code=2)  # each bad line was named; an earlier output is left as it was
    lookup, knowledge, second = get_term_lookup(), get_hpo_knowledge(), get_second_reader()
    lines: list[str] = []
    counts = {"findings": 0, "not_understood": 0}
    for doc_id, text in rows:
        reading = read_text(text, lookup, knowledge, second)
        found = [
            {
                "id": m.hpo_id,
                "label": m.label,
                "span": list(m.span or ()),
                "assertion": m.assertion,
                "kind": m.kind,
                "from_value": m.from_value,
            }
            for m in reading.mapped
        ]
        missed = [
            {"span": list(n.span or ()), "reason": n.reason, "category": n.category} for n in reading.not_understood
        ]
        counts["findings"] += len(found)
        counts["not_understood"] += len(missed)
        account = {
            "doc_id": doc_id,
            "findings": found,
            "not_understood": missed,
            "age": reading.demographics.age,
            "sex": reading.demographics.sex,
        }
        lines.append(json.dumps(account, ensure_ascii=False))
    if to_file is not None:
        to_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    log.print(
        f"read {len(lines)} note(s): {counts['findings']} term mention(s), "
        f"{counts['not_understood']} segment(s) not understood -> {to_file or 'standard output'}"
        + (f"; {refused} line(s) refused (named above)" if refused else "")
    )
    if refused:
        raise typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless a deployment decides otherwise.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    index: IndexOption = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Development mode (as DXSEARCH_DEVELOPMENT=1): allow the public pseudonym key, no signing key.",
        ),
    ] = False,
) -> None:
    """Serve the diagnosis API (and the viewer at /viewer/) until interrupted.

    Settings come from DXSEARCH_* variables: DXSEARCH_INDEX, DXSEARCH_AUDIT_URL
    (sqlite:///var/audit.db by default), DXSEARCH_API_KEYS as 'key:role,key:role'
    (roles clinician, data_team, auditor, admin). The learned evidence policy (its shipped
    weights) answers unless DXSEARCH_POLICY names another (e.g. evidence) or an LLM is
    configured (DXSEARCH_LLM_MODEL_PATH or DXSEARCH_LLM_BASE_URL).
    Outside development (--dev or DXSEARCH_DEVELOPMENT=1) it refuses to start (exit 2)
    unless DXSEARCH_PSEUDONYM_KEY is a secret of at least 32 bytes and
    DXSEARCH_AUDIT_SIGNING_KEY names the Ed25519 key that signs audit checkpoints.

    It follows the index: a generation a build or `add` publishes is served within
    DXSEARCH_INDEX_RELOAD_INTERVAL_S (30 s; /readyz names the live one), no restart. A failed
    start (no index yet, Elasticsearch or the model server down) is retried every
    DXSEARCH_WARM_UP_RETRY_S (30 s); /readyz answers 503 with the reason until it succeeds.
    """
    from api.serve import UnsafeSettingsError
    from api.serve import serve as run_server

    settings = settings_or_fail()
    if index is not None:
        settings = settings.model_copy(update={"index": index})
    if dev:
        settings = settings.model_copy(update={"development": True})
    refusal = settings.serving_refusal()  # every required secret missing, in one line
    if refusal is not None:
        raise fail(f"cannot start the API: {refusal}")
    try:
        current_generation(settings.index)  # a missing index fails here, in one line, before uvicorn starts
    except IndexNotFoundError as exc:
        raise fail(str(exc)) from None
    from api.keys import KeyConfigError
    from audit.errors import AuditError

    log.print(
        f"DxSearch API on http://{host}:{port}/  (viewer: http://{host}:{port}/viewer/, API schema: /openapi.json)"
    )
    try:
        run_server(host, port, settings)
    except (KeyConfigError, AuditError, UnsafeSettingsError) as exc:
        raise fail(f"cannot start the API: {exc}") from None


class Preset(StrEnum):
    """What `dxsearch train --preset` accepts (see dxsearch/train/config.py)."""

    CPU_TINY = "cpu-tiny"
    SMOKE = "smoke"
    CPU_POLICY = "cpu-policy"
    POLICY_SMOKE = "policy-smoke"


@app.command("train")
def train_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory: checkpoints, metrics, plot, summary.json.")],
    preset: Annotated[
        Preset,
        typer.Option(
            help="cpu-tiny: a tiny LLM (<30 min, 2 cores); smoke: seconds; cpu-policy: the learned evidence policy "
            "(--policy learned); policy-smoke: the same in seconds."
        ),
    ] = Preset.CPU_TINY,
    index: IndexOption = None,
    seed: Annotated[int | None, typer.Option(help="Override the preset's seed (same seed, same curve).")] = None,
    curriculum: Annotated[
        bool | None, typer.Option("--curriculum/--no-curriculum", help="GRPO on easy cases first (teacher reward).")
    ] = None,
    grpo_steps: Annotated[int | None, typer.Option(min=1, help="Override the preset's GRPO steps.")] = None,
    ablations: Annotated[
        bool | None,
        typer.Option(
            "--ablations/--no-ablations", help="cpu-policy: also train without frugality, curriculum flipped."
        ),
    ] = None,
) -> None:
    """Train a tiny model on this CPU: SFT on the evidence baseline's episodes, then GRPO over DiagnosticEnv.

    Training cases come from the index side of the publication split (never the held-out
    benchmark), validation cases from other publications. Rerunning the same command on the
    same --out resumes: finished stages are skipped and an interrupted trainer continues from
    its last checkpoint. Ends by writing OUT/summary.json with the mean combined reward of the
    untrained, SFT and GRPO models on the fixed validation cases, and OUT/reward_curve.png.
    Score the result on the benchmark with `dxsearch eval --policy llm --model OUT/models/grpo`.

    With --preset cpu-policy it trains the learned evidence policy instead (a few hundred
    parameters): behaviour cloning of the evidence policy, then GRPO on the combined reward;
    summary.json names model_dir and holds reward, top-1, top-5, MRR and retrievals per case of
    the untrained, sft, grpo and evidence policies. Score it with
    `dxsearch eval --policy learned --model OUT/models/grpo --policy evidence`.
    """
    from corpus_builder.sources.phenopackets import index_phenopacket_cases
    from dxsearch.train.config import PRESETS
    from dxsearch.train.pipeline import RunConfigMismatchError, run

    _run_directory(out, "--out")
    settings = settings_or_fail()
    index_dir = index or settings.index
    try:
        current_generation(index_dir)
    except IndexNotFoundError as exc:
        raise fail(str(exc)) from None
    if preset.value in ("cpu-policy", "policy-smoke"):
        _train_policy(out, preset.value, index_dir, seed, curriculum, grpo_steps, ablations)
        return
    config = _overridden(PRESETS[preset.value], seed=seed, curriculum=curriculum, grpo_steps=grpo_steps)
    try:
        summary = run(config, out, index_dir, index_phenopacket_cases(), log=log.print)
    except RunConfigMismatchError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"validation ({summary['validation_cases']} cases, mean over episodes)")
    for column in ("model", "reward", "format", "retrieval", "structure", "accuracy", "top-1"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name in ("untrained", "sft", "grpo", "teacher"):
        row = summary[name]
        parts = row["components"]
        table.add_row(
            name,
            f"{row['reward']:.3f}",
            *(f"{parts[c]:.3f}" for c in ("format", "retrieval", "structure", "accuracy")),
            f"{row['top1']:.3f}",
        )
    tables.print(table)
    log.print(f"wrote {out / 'summary.json'} and {out / 'reward_curve.png'}")


PresetConfig = TypeVar("PresetConfig", bound=BaseModel)


def _overridden(
    config: PresetConfig, *, seed: int | None, curriculum: bool | None, grpo_steps: int | None, **top: Any
) -> PresetConfig:
    """A preset with the options the user gave (``None``: keep the preset's); GRPO options go to ``config.grpo``."""
    overrides = {key: value for key, value in {"seed": seed, **top}.items() if value is not None}
    grpo = {key: value for key, value in {"curriculum": curriculum, "steps": grpo_steps}.items() if value is not None}
    if grpo:
        overrides["grpo"] = getattr(config, "grpo").model_copy(update=grpo)  # noqa: B009 (both presets have grpo)
    return config.model_copy(update=overrides)


def _train_policy(
    out: Path,
    preset: str,
    index_dir: Path,
    seed: int | None,
    curriculum: bool | None,
    grpo_steps: int | None,
    ablations: bool | None,
) -> None:
    from corpus_builder.sources.phenopackets import index_phenopacket_cases
    from dxsearch.train.config import POLICY_PRESETS
    from dxsearch.train.pipeline import RunConfigMismatchError
    from dxsearch.train.policy_grpo import STAGES, run

    config = _overridden(
        POLICY_PRESETS[preset], seed=seed, curriculum=curriculum, grpo_steps=grpo_steps, ablations=ablations
    )
    try:
        summary = run(config, out, index_dir, index_phenopacket_cases(), log=console.print)
    except RunConfigMismatchError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"validation ({summary['validation_cases']} cases, greedy)")
    for column in ("policy", "reward", "top-1", "top-5", "MRR", "retrievals/case"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    rows = {**{name: summary[name] for name in STAGES}, **summary["ablations"]}
    for name, row in rows.items():
        table.add_row(
            name,
            *(f"{row[key]:.3f}" for key in ("reward", "top1", "top5", "mrr")),
            f"{row['retrievals_per_case']:.2f}",
        )
    tables.print(table)
    console.print(f"wrote {out / 'summary.json'} and {out / 'reward_curve.png'}; model_dir {summary['model_dir']}")


DEFAULT_CALIBRATION_OUT = Path(__file__).parent / "policies" / "data" / "evidence-calibration.json"


class CalibratedPolicy(StrEnum):
    """The policies ``dxsearch calibrate`` fits a confidence map for."""

    evidence = "evidence"
    learned = "learned"


@app.command("calibrate")
def calibrate_command(
    index: IndexOption = None,
    policy: Annotated[
        CalibratedPolicy,
        typer.Option(
            "--policy", help="evidence: its softmax and isotonic map; learned: the map in its weights (--model)."
        ),
    ] = CalibratedPolicy.evidence,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="--policy learned: weights to play and refit (default: the shipped ones)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write (default: what the package ships): the evidence calibration JSON, or, for "
            "--policy learned, a directory for the weights with the new map.",
        ),
    ] = None,
    cases: Annotated[int, typer.Option(min=50, help="Index-side published cases to play (spread over the file).")] = (
        1000
    ),
    played: Annotated[
        Path | None,
        typer.Option(
            "--played",
            help="JSONL of played cases, appended case by case; a rerun resumes from it. Default: "
            "var/calibration-played-POLICY.jsonl.",
        ),
    ] = None,
    play: Annotated[bool, typer.Option(help="Play the cases not yet in --played (--no-play: fit on it as is).")] = True,
    publications: Annotated[
        Path | None,
        typer.Option(
            "--publications",
            help="Play the index side's cases of these PMIDs (one per line), which --index must leave out: a "
            "tuning fold (corpus-builder tuning-folds).",
        ),
    ] = None,
    fit_calibrator: Annotated[
        bool, typer.Option("--fit/--no-fit", help="Fit and write the map on every row of --played.")
    ] = True,
) -> None:
    """Fit a policy's probabilities on index-side published cases, leave-publication-out.

    Plays the policy (abstention off), each case with the records of its own publication hidden, in
    a fixed hash order so any prefix is a fair sample, then fits on every row of --played: for the
    evidence policy a temperature softmax with a "none of these" outcome and an isotonic map of the
    top probability on out-of-fold predictions (folds are publications); for the learned policy a
    temperature and an isotonic map of its first choice, written into its weights. The held-out
    benchmark is never read. Cases the findings checks reject (Settings abstain_*) are left out of the
    evidence fit, as the policy never gives them probabilities.

    Which cases: with --publications, a tuning fold's, whose records and annotation rows the index
    leaves out, so they meet it as held-out cases meet the real index (the shipped fits: four folds,
    each played on its own index into one --played file, then fitted):

        corpus-builder tuning-folds --out var/folds
        for k in 1 2 3 4; do
          corpus-builder build --out var/index-fold-$k --exclude-publications heldout \\
              --exclude-publications var/folds/fold-$k.txt
          dxsearch calibrate --index var/index-fold-$k --publications var/folds/fold-$k.txt \\
              --cases 5000 --played var/calibration-folds.jsonl --no-fit
        done
        dxsearch calibrate --played var/calibration-folds.jsonl --no-play

    Without it, the index-side cases whose publication no kept annotation row cites (their answer
    was not curated from their paper, but their disease keeps the rows of other papers).
    """
    settings = settings_or_fail()
    played = played or Path(f"var/calibration-played-{policy.value}.jsonl")
    opened = _open_index(index) if play else None
    chosen = _calibration_cases(opened, cases, publications) if opened is not None else []
    CALIBRATIONS[policy](_CalibrationRun(settings, opened, chosen, played, fit_calibrator, out, model))


def _calibration_cases(opened: EmbeddedIndex, count: int, publications: Path | None) -> list[LabelledCase]:
    """Index-side cases to play: uncited ones, or a left-out fold's; ``count`` spread over the file, hash order."""
    import hashlib

    from corpus_builder.sources.phenopackets import index_phenopacket_cases
    from dxsearch.knowledge.hpo import publication_id
    from dxsearch.policies.catalog import index_knowledge
    from dxsearch.train.data import annotation_independent, spread

    knowledge = index_knowledge(opened)
    pool = annotation_independent(index_phenopacket_cases(), knowledge.cited_publications())
    if publications is not None:
        wanted = _left_out_fold(publications, knowledge.excluded_publications, opened.index_dir)
        pool = [c for c in pool if publication_id(c.pmid or "") in wanted]
        if not pool:
            raise fail(f"{publications}: no index-side case with findings is from these publications (held-out ones?)")
    return sorted(spread(pool, count), key=lambda c: hashlib.sha256(c.case.case_id.encode()).hexdigest())


def _fit_record(run: _CalibrationRun) -> dict[str, Any]:
    """What every fit records of where its rows came from."""
    return {
        "source": "index-side phenopacket cases, own publication hidden from retrieval, each ranked with the "
        "disease knowledge of the index it was played on (see the README's calibration section)",
        "played_on_indexes": dict(sorted(run.indexes.items())),
        "command": shlex.join(["dxsearch", *sys.argv[1:]]) + " (DXSEARCH_ABSTAIN_* at their defaults)",
    }


@dataclass(frozen=True)
class _CalibrationRun:
    """One `dxsearch calibrate`: the cases to play on ``opened`` (none with --no-play), the --played file they
    are appended to (a rerun resumes from it), whether to fit, and where to write."""

    settings: Settings
    opened: EmbeddedIndex | None
    chosen: list[LabelledCase]
    played: Path
    fit: bool
    out: Path | None
    model: Path | None

    #: Rows of --played by the index version they were played on (rows from before versions were kept: "unknown").
    indexes: Counter[str] = field(default_factory=Counter)

    def rows(self) -> list[dict[str, Any]]:
        """The rows played so far (said on stderr)."""
        if not self.played.is_file():
            return []
        rows = [json.loads(line) for line in self.played.read_text(encoding="utf-8").splitlines() if line]
        self.indexes.update(str(row.get("index") or "unknown") for row in rows)
        typer.echo(f"{len(rows)} played cases in {self.played}", err=True)
        return rows

    def todo(self, done: set[str]) -> list[LabelledCase]:
        """The chosen cases not played yet."""
        return [c for c in self.chosen if c.case.case_id not in done]

    def keep(self, row: dict[str, Any]) -> None:
        """Append one played row, with the version of the index it was played on."""
        assert self.opened is not None  # rows are only played on an opened index
        self.played.parent.mkdir(parents=True, exist_ok=True)
        with self.played.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({**row, "index": self.opened.version}) + "\n")
        self.indexes[self.opened.version] += 1


def _calibrate_evidence(run: _CalibrationRun) -> None:
    from dxsearch.evaluation import GoldMatcher, publication_documents
    from dxsearch.knowledge.disease_ontology import get_disease_ontology
    from dxsearch.knowledge.similarity import get_phenotype_similarity
    from dxsearch.policies.calibration import PROVISIONAL
    from dxsearch.policies.catalog import index_knowledge
    from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
    from dxsearch.train.calibrate import CalibrationCase, collect, fit

    if run.model is not None:
        raise fail("--model is for --policy learned")
    out, played, opened = run.out or DEFAULT_CALIBRATION_OUT, run.played, run.opened
    rows = [CalibrationCase.from_json(row) for row in run.rows()]
    if opened is not None:
        todo = run.todo({r.case_id for r in rows})
        policy = EvidencePolicy(
            # Finalist lookups add citations, never scores: the ranking is complete after the findings lookup.
            EvidencePolicyConfig(
                abstain_below=0.0, min_specific_findings=0, min_information=0.0, max_finalist_lookups=0
            ),
            similarity=get_phenotype_similarity(index_knowledge(opened)),
            calibrator=PROVISIONAL,
        )
        matcher = GoldMatcher(opened, get_disease_ontology())

        def keep(number: int, row: CalibrationCase) -> None:
            run.keep(row.to_json())
            if number % 25 == 0:
                typer.echo(f"played {number}/{len(todo)}", err=True)

        rows += collect(todo, policy, opened, matcher, publication_documents(opened), progress=keep)
        typer.echo(f"{len(rows)} played cases in {played}", err=True)
    if not run.fit:
        return
    if not rows:
        raise fail(f"{played}: no played cases to fit on")
    gate = EvidencePolicyConfig.from_settings(run.settings)
    kept = [
        r
        for r in rows
        if sum(ic >= gate.specific_ic for ic in r.ics) >= gate.min_specific_findings
        and sum(r.ics) >= gate.min_information
        and r.ics
    ]
    calibrator = fit(kept)
    fitted_on = {**calibrator.fitted_on, "played": len(rows), **_fit_record(run)}
    calibrator = calibrator.model_copy(update={"fitted_on": fitted_on})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(calibrator.model_dump_json(indent=2) + "\n", encoding="utf-8")
    console.print(
        f"fitted on {fitted_on['cases']} cases ({fitted_on['publications']} publications); out-of-fold ECE "
        f"{fitted_on['ece_softmax_out_of_fold']:.3f} (softmax) -> {fitted_on['ece_isotonic_out_of_fold']:.3f} "
        f"(isotonic; map {fitted_on['isotonic_map']}); wrote {out}",
        highlight=False,
    )


def _calibrate_learned(run: _CalibrationRun) -> None:
    from dxsearch.policies.catalog import index_knowledge, retriever_for
    from dxsearch.policies.learned import LearnedPolicy, default_weights, load_params, read_trained_by, save_params
    from dxsearch.train.learned_calibration import LearnedCalibrationRow, fit_rows, out_of_fold_ece, play_rows

    source = run.model or default_weights()
    if source is None:
        raise fail("--policy learned needs --model DIR (no weights ship with this install)")
    try:
        params = load_params(source)
    except ValueError as exc:
        raise fail(str(exc)) from None
    played, opened = run.played, run.opened
    rows = [LearnedCalibrationRow.from_json(row) for row in run.rows()]
    if opened is not None:
        # As the benchmark plays it, but without abstaining on the probability bar: the refit needs every first
        # choice (the findings checks still refuse what a served answer would).
        settings = run.settings.model_copy(update={"abstain_below": 0.0})
        policy, budget = _make_policy("learned", source, None, None, settings, index_knowledge(opened))
        if not isinstance(policy, LearnedPolicy):
            raise fail(f"{source}: not learned-policy weights")
        todo = run.todo({r.case_id for r in rows})
        rows += play_rows(todo, policy, budget, opened, retriever_for("learned"), keep=lambda r: run.keep(r.to_json()))
        typer.echo(f"{len(rows)} played cases in {played}", err=True)
    if not run.fit:
        return
    if not rows:
        raise fail(f"{played}: no played cases to fit on")
    calibration = fit_rows(rows)
    held = out_of_fold_ece(rows)
    calibration.fitted_on.update(
        {"ece_out_of_fold": held, "publications": len({r.pmid or r.case_id for r in rows}), **_fit_record(run)}
    )
    params.calibration = calibration
    target = run.out or (source.parent if source.is_file() else source)
    path = save_params(params, target, trained_by=read_trained_by(source))
    before = calibration.fitted_on["ece_before"]
    console.print(
        f"fitted on {len(rows)} cases ({calibration.fitted_on['publications']} publications, top-1 "
        f"{calibration.fitted_on['top1']:.3f}); ECE of the map they were played with {before:.3f}, out-of-fold "
        f"ECE of the refit {held if held is None else format(held, '.3f')}; wrote {path}",
        highlight=False,
    )


CALIBRATIONS: dict[CalibratedPolicy, Callable[[_CalibrationRun], None]] = {
    CalibratedPolicy.evidence: _calibrate_evidence,
    CalibratedPolicy.learned: _calibrate_learned,
}


def _left_out_fold(path: Path, excluded: frozenset[str], index_dir: Path) -> frozenset[str]:
    """The PMIDs of a fold file, if the index leaves every one of them out (else exit 2, one line)."""
    from dxsearch.knowledge.hpo import read_publication_list

    try:
        wanted = read_publication_list(path)
    except OSError as exc:
        raise fail(f"{path}: cannot read the publication list ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not wanted:
        raise fail(f"{path}: lists no PMID")
    kept = wanted - excluded
    if kept:
        raise fail(
            f"{index_dir} does not leave out {len(kept)} of the {len(wanted)} publications of {path} (e.g. "
            f"{min(kept)}): build it with --exclude-publications {path}"
        )
    return wanted


@app.command("tiny-model")
def tiny_model(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the checkpoint and tokenizer.")],
    seed: Annotated[int, typer.Option(help="Same seed, same weights and tokenizer.")] = 0,
) -> None:
    """Write a tiny, untrained Qwen2-architecture model (random weights, locally trained tokenizer).

    It shows that the harness scores garbage as garbage, and is what tests and the
    CPU training preset start from. Nothing is downloaded.
    """
    from dxsearch.train.tiny_model import build_tiny_model

    path = build_tiny_model(_run_directory(out, "--out"), seed=seed)
    console.print(f"wrote {path}")


one_line_errors(app, RetrievalUnavailableError, PolicyUnavailableError)


def main() -> None:
    app()
