"""corpus-builder: build, update, inspect and evaluate DxSearch indexes.

Every command that reads user input reports a bad file as one line
(``file[:line]: reason``) and, where it cannot go on, exits with code 2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from corpus_builder.build import EmptyBuildError, run_build
from corpus_builder.sources.base import Source
from corpus_builder.sources.catalog import DEFAULT_SOURCES, resolve_source
from dxsearch.cli_errors import fail, settings_or_fail
from dxsearch.corpus import DocumentKind
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.retrieval.layout import IndexNotFoundError, LockHeldError

app = typer.Typer(
    help=(
        "Build and inspect DxSearch corpora.\n\n"
        "A corpus is built from named sources (the default: HPO disease knowledge, real published "
        "cases and simulated patients, all offline) and/or files you supply (FHIR R4B/R5 bundles as "
        ".json/.ndjson, phenopacket-style .jsonl case files, guidelines as .md/.txt/.html/.pdf). "
        "Start with:  corpus-builder build --out var/index"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

IndexOption = Annotated[Path, typer.Option("--index", "-i", help="Index directory made by `build --out`.")]


def _open_index(index: Path) -> EmbeddedIndex:
    from dxsearch.retrieval.embedded import EmbeddedIndex

    try:
        return EmbeddedIndex(index, settings_or_fail())
    except (IndexNotFoundError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def _resolve_sources(specs: list[str] | None) -> list[Source]:
    try:
        return [resolve_source(spec) for spec in (specs or DEFAULT_SOURCES)]
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise fail(str(exc).strip("'\"")) from None


def _build(index_dir: Path, sources: list[Source], incremental: bool, limit: int | None) -> None:
    settings = settings_or_fail()
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[docs]} docs, {task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def report(source: str, docs: int, chunks: int) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(source, total=None, docs=0, chunks=0)
            bar.update(tasks[source], docs=docs, chunks=chunks)

        try:
            manifest = run_build(
                index_dir, sources, settings, incremental=incremental, progress=report, limit_per_source=limit
            )
        except (IndexNotFoundError, LockHeldError, EmptyBuildError) as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"{exc.filename or index_dir}: {exc.strerror or exc}") from None
        for task in tasks.values():
            bar.update(task, total=1, completed=1)
    _print_manifest_summary(index_dir, manifest.model_dump(mode="json"))


def _print_manifest_summary(index_dir: Path, manifest: dict[str, object]) -> None:
    counts = manifest["counts"]
    assert isinstance(counts, dict)
    table = Table(title=f"index {manifest['index_version']} at {index_dir}")
    table.add_column("kind")
    table.add_column("documents", justify="right")
    table.add_column("chunks", justify="right")
    for kind in DocumentKind:
        table.add_row(
            kind.value,
            str(counts["documents"].get(kind.value, 0)),
            str(counts["chunks"].get(kind.value, 0)),
        )
    console.print(table)
    rejects = manifest["rejects"]
    assert isinstance(rejects, dict)
    timings = manifest.get("timings_s", {})
    assert isinstance(timings, dict)
    console.print(
        f"phenotype terms in disease knowledge: {counts['phenotype_terms']['disease_knowledge']}; "
        f"rejects: {rejects['total']}; build time: {timings.get('total', 0):.1f} s; "
        f"peak RSS: {manifest.get('peak_rss_mb')} MB"
    )
    for reject in rejects.get("first", [])[:10]:
        console.print(f"  rejected {reject['location']}: {reject['reason']}", highlight=False)


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Index directory to create or replace atomically.")],
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            help="A registered source name or a file/directory path; repeatable. "
            f"Default: {', '.join(DEFAULT_SOURCES)}.",
        ),
    ] = None,
    limit_per_source: Annotated[
        int | None, typer.Option(help="Index at most N documents per source (smoke tests, demos).", min=1)
    ] = None,
) -> None:
    """Build a new index generation from sources and make it live only when complete.

    Bad records are reported and skipped; an interrupted build leaves the previous index usable.
    """
    _build(out, _resolve_sources(source), incremental=False, limit=limit_per_source)


@app.command()
def add(
    index: IndexOption,
    source: Annotated[list[str], typer.Option("--source", "-s", help="Source name or path to add; repeatable.")],
) -> None:
    """Add (or update by id) documents in an existing index, as a new generation.

    Documents whose id already exists with the same content are left alone; changed ones are replaced.
    """
    _build(index, _resolve_sources(source), incremental=True, limit=None)


@app.command()
def stats(
    index: IndexOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full manifest as JSON.")] = False,
) -> None:
    """Show what an index holds: counts by kind, sources and licences, rejects, versions."""
    from dxsearch.retrieval.layout import current_generation, read_manifest

    try:
        manifest = read_manifest(current_generation(index)).model_dump(mode="json")
    except IndexNotFoundError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
        return
    _print_manifest_summary(index, manifest)
    table = Table(title="sources")
    for column in ("source", "licence", "documents", "rejects"):
        table.add_column(column)
    for entry in manifest["sources"]:
        table.add_row(entry["name"], entry["licence"], str(entry["documents"]), str(entry["rejects"]))
    console.print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Free text, e.g. 'arachnodactyly; ectopia lentis; tall stature'.")],
    index: IndexOption,
    retriever: Annotated[str, typer.Option(help="lexical, dense or hybrid.")] = "hybrid",
    kind: Annotated[list[DocumentKind] | None, typer.Option(help="Restrict to document kinds; repeatable.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200, help="How many passages.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print evidence as JSON lines.")] = False,
) -> None:
    """Search an index and print ranked passages with their evidence ids."""
    from dxsearch.registry import RegistryError

    opened = _open_index(index)
    try:
        found = opened.retriever(retriever).search(query, kind or None, k)
    except RegistryError as exc:
        raise fail(str(exc.args[0])) from None
    if as_json:
        for item in found:
            typer.echo(item.model_dump_json())
        return
    for item in found:
        console.print(
            f"[bold]{item.rank:>2}. {item.evidence_id}[/]  {item.kind.value}  score={item.score:.4f}  {item.title}",
            highlight=False,
        )
        snippet = item.text.replace("\n", " ")
        console.print(f"    {snippet[:240]}{'…' if len(snippet) > 240 else ''}", highlight=False)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="A FHIR bundle (.json/.ndjson), case file (.jsonl) or guideline.")],
) -> None:
    """Check a file without indexing it: every problem as `location: reason`; exit 2 if any."""
    from corpus_builder.validate import validate_path

    report = validate_path(file)
    for reject in report.rejects:
        console.print(f"{reject.location}: {reject.reason}", highlight=False, soft_wrap=True)
    for duplicate in report.duplicate_ids:
        console.print(f"{file}: duplicate document id {duplicate} (a build keeps only the first)", highlight=False)
    console.print(f"{report.documents} document(s) ok, {len(report.rejects)} rejected")
    if report.rejects or report.duplicate_ids or not report.documents:
        raise typer.Exit(code=2)


@app.command("simulate-cases")
def simulate_cases_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for indexed/heldout JSONL and FHIR bundles.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same patients.")] = 13,
    diseases: Annotated[int, typer.Option(min=1, help="How many OMIM diseases to simulate.")] = 400,
    per_disease: Annotated[int, typer.Option(min=2, help="Patients per disease (the last is held out).")] = 3,
) -> None:
    """Simulate patients from HPO disease annotations (frequency sampling, imprecision, noise).

    Writes indexed.jsonl and heldout.jsonl (phenopacket format) and one FHIR R4B bundle per patient
    under fhir/indexed/ and fhir/heldout/. Held-out patients are never indexed by the default build.
    """
    from corpus_builder.sources.simulated import write_simulation

    started = time.perf_counter()
    try:
        counts = write_simulation(out, seed=seed, n_diseases=diseases, per_disease=per_disease)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.filename or out}: {exc.strerror or exc}") from None
    console.print(
        f"wrote {counts['indexed']} indexed and {counts['heldout']} held-out patients to {out} "
        f"in {time.perf_counter() - started:.1f} s"
    )


@app.command("eval-retrieval")
def eval_retrieval(
    index: IndexOption,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the metrics as JSON.")],
    cases: Annotated[
        Path | None,
        typer.Option(help="Cases in phenopacket JSONL format (default: the built-in held-out sets)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate at most N cases per set.")] = None,
) -> None:
    """Recall@1/5/10 of the gold disease's knowledge document, per retriever, on held-out cases."""
    from corpus_builder.evaluate import default_case_sets, evaluate_retrieval, load_case_set

    if json_out.is_dir():
        raise fail(f"{json_out}: is a directory; give a file path for --json")
    opened = _open_index(index)
    try:
        if cases:
            loaded, errors = load_case_set(cases)
            for error in errors:
                console.print(f"skipped {error}", highlight=False, soft_wrap=True)
            if errors and not loaded:
                raise fail(f"{errors[0]} (and no readable case in the file)")
            case_sets = {cases.stem: loaded}
        else:
            case_sets = default_case_sets()
    except OSError as exc:
        raise fail(str(exc)) from None
    report = evaluate_retrieval(opened, case_sets, limit=limit)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    table = Table(title=f"retrieval on held-out cases (index {opened.version})")
    for column in ("set", "retriever", "cases", "recall@1", "recall@5", "recall@10"):
        table.add_column(column)
    for set_name, per_retriever in report["sets"].items():
        for name, metrics in per_retriever.items():
            table.add_row(
                set_name,
                name,
                str(metrics["cases"]),
                f"{metrics['recall@1']:.3f}",
                f"{metrics['recall@5']:.3f}",
                f"{metrics['recall@10']:.3f}",
            )
    console.print(table)
    console.print(f"written to {json_out}")


if __name__ == "__main__":
    app()
