"""corpus-builder: build, update, inspect and evaluate DxSearch indexes.

Like a Unix tool: results on stdout (tables for people, ``--json`` for programs),
progress and logs on stderr; exit 0 when the command did what was asked, 1 when
it found nothing, 2 for bad input. A bad file is one line (``file[:line]: reason``).
Heavy modules (the build pipeline, FAISS, the embedding model) are imported by
the commands that need them, so ``search --retriever lexical`` starts in well
under a second.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from corpus_builder.sources.base import BuildScope
from corpus_builder.sources.catalog import DEFAULT_SOURCES, resolve_source
from dxsearch.cli_errors import fail, one_line_errors, settings_or_fail
from dxsearch.corpus import DocumentKind
from dxsearch.policies.base import PolicyUnavailableError
from dxsearch.retrieval.base import RetrievalUnavailableError
from dxsearch.retrieval.layout import IndexNotFoundError, LockHeldError, current_generation, read_manifest

if TYPE_CHECKING:
    from corpus_builder.sources.base import Reject, Source
    from dxsearch.retrieval.embedded import EmbeddedIndex

app = typer.Typer(
    help=(
        "Build and inspect DxSearch corpora.\n\n"
        "A corpus is built from named sources (the default: HPO disease knowledge, real published "
        "cases and simulated patients, all offline) and/or files you supply (FHIR R4B/R5 bundles as "
        ".json/.ndjson, phenopacket-style .jsonl case files, guidelines as .md/.txt/.html/.pdf). "
        "Start with:  corpus-builder build --out var/index\n\n"
        "Results go to stdout (--json for programs), progress and rejects to stderr; exit 0 when done, "
        "1 when nothing was found, 2 for bad input. --index defaults to DXSEARCH_INDEX (var/index)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are Markdown: a paragraph's lines (the docstrings' source lines) are joined and wrapped to the
    # terminal, paragraphs are kept, and example commands are indented code blocks, shown line for line. In
    # Typer's default ("rich") mode each source line break showed mid-sentence.
    rich_markup_mode="markdown",
)
#: Progress and logs (stderr) ...
console = Console(stderr=True, soft_wrap=True, highlight=False)
#: ... and results (stdout); tables keep their width when piped instead of being squeezed to 80 columns.
results = Console() if Console().is_terminal else Console(width=140)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the new generation's manifest as JSON.")]
IndexOption = Annotated[
    Path | None,
    typer.Option("--index", "-i", help="Index directory made by `build --out` (default: DXSEARCH_INDEX, var/index)."),
]


def _backend_name(value: str | None) -> str | None:
    """Refuse an unknown --backend while parsing arguments, before anything is read or built."""
    from dxsearch.retrieval.backends import BACKENDS

    if value is not None and value not in BACKENDS:
        raise typer.BadParameter(f"unknown backend {value!r}; known: {', '.join(BACKENDS.names())}")
    return value


def _index_dir(index: Path | None) -> Path:
    settings = settings_or_fail()  # a bad DXSEARCH_* variable is one line, whether or not --index is given
    return index if index is not None else settings.index


def _open_index(index: Path | None) -> EmbeddedIndex:
    from dxsearch.retrieval.embedded import EmbeddedIndex

    try:
        return EmbeddedIndex(_index_dir(index), settings_or_fail())
    except (IndexNotFoundError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def _name_rejects(rejects: tuple[Reject, ...] | list[Reject]) -> None:
    for reject in rejects:
        console.print(f"  rejected {reject.location}: {reject.reason}", markup=False)
    if rejects:
        console.print("  (`corpus-builder validate FILE` lists every problem with its value)", markup=False)


def _resolve_sources(specs: list[str] | None, scope: BuildScope | None = None) -> list[Source]:
    try:
        return [resolve_source(spec, scope) for spec in (specs or DEFAULT_SOURCES)]
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise fail(str(exc).strip("'\"")) from None


HELDOUT_EXCLUSIONS = "heldout"
NO_EXCLUSIONS = "none"


def _excluded_publications(specs: list[str]) -> frozenset[str]:
    """``heldout`` (the built-in held-out split's PMIDs), ``none``, or files of PMIDs (one per line, ``#`` comments)."""
    from corpus_builder.sources.phenopackets import heldout_publications
    from dxsearch.knowledge.hpo import read_publication_list

    if NO_EXCLUSIONS in specs:
        if len(specs) > 1:
            raise fail(f"--exclude-publications {NO_EXCLUSIONS} cannot be combined with other lists")
        return frozenset()
    excluded: set[str] = set()
    for spec in specs:
        if spec == HELDOUT_EXCLUSIONS:
            excluded |= heldout_publications()
            continue
        path = Path(spec)
        try:
            excluded |= read_publication_list(path)
        except OSError as exc:
            raise fail(f"{path}: cannot read the publication list ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise fail(str(exc)) from None
    return frozenset(excluded)


def _build(
    index_dir: Path,
    sources: list[Source],
    incremental: bool,
    limit: int | None,
    as_json: bool,
    excluded_publications: frozenset[str] = frozenset(),
    backend: str | None = None,
) -> None:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    from corpus_builder.build import EmptyBuildError, run_build

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
                index_dir,
                sources,
                settings,
                incremental=incremental,
                progress=report,
                limit_per_source=limit,
                excluded_publications=excluded_publications,
                backend=backend,
            )
        except EmptyBuildError as exc:
            bar.stop()
            _name_rejects(exc.rejects)
            raise fail(str(exc)) from None
        except (IndexNotFoundError, LockHeldError, ValueError) as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"{exc.filename or index_dir}: {exc.strerror or exc}") from None
        for task in tasks.values():
            bar.update(task, total=1, completed=1)
    if as_json:
        typer.echo(manifest.model_dump_json(indent=2))
    else:
        _print_manifest_summary(index_dir, manifest.model_dump(mode="json"))
    _note_rejects(manifest.model_dump(mode="json"))


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
    results.print(table)
    rejects = manifest["rejects"]
    assert isinstance(rejects, dict)
    timings = manifest.get("timings_s", {})
    assert isinstance(timings, dict)
    results.print(
        f"phenotype terms in disease knowledge: {counts['phenotype_terms']['disease_knowledge']}; "
        f"rejects: {rejects['total']}; build time: {timings.get('total', 0):.1f} s; "
        f"peak RSS: {manifest.get('peak_rss_mb')} MB",
        highlight=False,
    )
    elasticsearch = manifest.get("elasticsearch")
    if isinstance(elasticsearch, dict):
        results.print(
            f"BM25 in Elasticsearch: index {elasticsearch.get('index')} (alias {elasticsearch.get('alias')}); "
            "chunk store and FAISS in the directory",
            highlight=False,
        )


def _note_rejects(manifest: dict[str, object]) -> None:
    """Name a build's rejects on stderr (from the manifest: locations and reasons, never values)."""
    rejects = manifest["rejects"]
    assert isinstance(rejects, dict)
    for reject in rejects.get("first", [])[:10]:
        console.print(f"  rejected {reject['location']}: {reject['reason']}", markup=False)
    if rejects["total"]:
        more = f"all {rejects['total']} in {rejects.get('file', 'rejects.jsonl')} of the generation; " * (
            rejects["total"] > 10
        )
        console.print(f"  ({more}`corpus-builder validate FILE` lists every problem with its value)", markup=False)


@app.command()
def build(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Index directory to create or replace atomically (default: DXSEARCH_INDEX, var/index)."
        ),
    ] = None,
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
    exclude_publications: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-publications",
            help="Leave publications out: FILE (PMIDs, one per line), 'heldout' (the built-in held-out split's "
            "PMIDs) or 'none'; repeatable. Their patient records are not indexed and every HPO annotation row "
            "citing them is dropped before disease cards, frequencies and rankings are derived. Default: heldout, "
            "so `dxsearch eval` on the built-in set is leakage-controlled; a deployment indexing all knowledge "
            "passes 'none'.",
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            callback=_backend_name,
            help="Where BM25 lives: 'embedded' (tantivy, inside --out) or 'elasticsearch' (an index per "
            "generation at DXSEARCH_ES_URL, default the URL `make es` wrote to var/es.url, behind the alias "
            "DXSEARCH_ES_INDEX_PREFIX). --out keeps the manifest, chunk store and FAISS side either way, and "
            "later commands given --index find the backend there. Default: DXSEARCH_BACKEND (embedded).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build a new index generation from sources and make it live only when complete.

    Bad records are reported and skipped; an interrupted build leaves the previous index usable (with
    Elasticsearch: the new index is deleted and the alias still names the previous one). The manifest
    records the excluded publications; readers rank with the same annotation rows dropped.
    """
    settings_or_fail()  # a bad DXSEARCH_* variable is one line before anything is read
    excluded = _excluded_publications(exclude_publications or [HELDOUT_EXCLUSIONS])
    _build(
        _index_dir(out),
        _resolve_sources(source, BuildScope(excluded)),
        incremental=False,
        limit=limit_per_source,
        as_json=as_json,
        excluded_publications=excluded,
        backend=backend,
    )


@app.command()
def add(
    source: Annotated[list[str], typer.Option("--source", "-s", help="Source name or path to add; repeatable.")],
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add (or update by id) documents in an existing index, as a new generation.

    The index keeps the publications it was built without (its manifest's list): records of theirs are
    left out here too.

    Documents whose id already exists with the same content are left alone; changed ones are replaced.
    Rejected records are named on stderr; when nothing could be read (every record rejected) the
    index is left as it was and the exit code is 2.
    """
    index_dir = _index_dir(index)
    try:
        inherited = frozenset(read_manifest(current_generation(index_dir)).excluded_publications)
    except (IndexNotFoundError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    _build(
        index_dir,
        _resolve_sources(source, BuildScope(inherited)),
        incremental=True,
        limit=None,
        as_json=as_json,
        excluded_publications=inherited,
    )


@app.command()
def stats(
    index: IndexOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full manifest as JSON.")] = False,
) -> None:
    """Show what an index holds: counts by kind, sources and licences, rejects, versions."""
    from dxsearch.retrieval.layout import current_generation, read_manifest

    index_dir = _index_dir(index)
    try:
        manifest = read_manifest(current_generation(index_dir)).model_dump(mode="json")
    except IndexNotFoundError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
        return
    _print_manifest_summary(index_dir, manifest)
    _note_rejects(manifest)
    table = Table(title="sources")
    for column in ("source", "licence", "documents", "rejects"):
        table.add_column(column)
    for entry in manifest["sources"]:
        table.add_row(entry["name"], entry["licence"], str(entry["documents"]), str(entry["rejects"]))
    results.print(table)


def _retriever_name(value: str) -> str:
    """Refuse an unknown --retriever while parsing arguments, before any index or model is opened."""
    from dxsearch.retrieval import RETRIEVERS

    if value not in RETRIEVERS:
        raise typer.BadParameter(f"unknown retriever {value!r}; known: {', '.join(RETRIEVERS.names())}")
    return value


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Free text, e.g. 'arachnodactyly; ectopia lentis; tall stature'.")],
    index: IndexOption = None,
    retriever: Annotated[
        str,
        typer.Option(
            help="lexical (BM25; loads no model), dense (embeddings) or hybrid (both, fused).", callback=_retriever_name
        ),
    ] = "hybrid",
    kind: Annotated[list[DocumentKind] | None, typer.Option(help="Restrict to document kinds; repeatable.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200, help="How many passages.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print evidence as JSON lines.")] = False,
) -> None:
    """Search an index and print ranked passages with their evidence ids on stdout.

    Exit 1 (with a note on stderr) when nothing matches, or when the index holds no passage of the
    requested --kind; exit 2 for an empty query or a missing index. Hybrid search drops passages
    that only the dense side found, and only weakly (DXSEARCH_DENSE_ONLY_MIN_SIMILARITY).
    """
    if not re.search(r"\w", query):
        raise fail("empty query: give words to search for, e.g. 'arachnodactyly; ectopia lentis'")
    opened = _open_index(index)
    if kind:
        chunks = opened.manifest.counts.get("chunks", {})
        present = [k_ for k_ in kind if chunks.get(k_.value, 0) > 0]
        if not present:
            held = ", ".join(name for name, n in sorted(chunks.items()) if n) or "nothing"
            asked = ", ".join(k_.value for k_ in kind)
            console.print(f"index {opened.index_dir} holds no {asked} passages (it holds: {held})", markup=False)
            raise typer.Exit(code=1)
        kind = present
    started = time.perf_counter()
    found = opened.retriever(retriever).search(query, kind or None, k)
    elapsed = time.perf_counter() - started
    if not found:
        console.print(f"no match for {query!r} ({retriever}, index {opened.version})", highlight=False, markup=False)
        raise typer.Exit(code=1)
    for item in found:
        if as_json:
            typer.echo(item.model_dump_json())
            continue
        typer.echo(f"{item.rank:>2}. {item.evidence_id}  {item.kind.value}  score={item.score:.4f}  {item.title}")
        snippet = item.text.replace("\n", " ")
        typer.echo(f"    {snippet[:240]}{'…' if len(snippet) > 240 else ''}")
    console.print(
        f"{len(found)} passage(s) · {retriever} · index {opened.version} · {elapsed:.2f} s",
        highlight=False,
        markup=False,
    )


#: What ``validate --fhir-version`` accepts (any case), as :func:`dxsearch.intake.fhir.parse_bundle` names it.
_FHIR_VERSIONS: dict[str, Literal["auto", "R4B", "R5"]] = {"auto": "auto", "r4b": "R4B", "r5": "R5"}


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="A FHIR bundle (.json/.ndjson), case file (.jsonl) or guideline.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report (documents, every reject) as JSON.")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also say what each record becomes: findings (HPO id or none), diagnoses, sex, age, "
            "what was ignored, and warnings on normalised values (sex 'M' read as male).",
        ),
    ] = False,
    case: Annotated[
        bool,
        typer.Option(
            "--case",
            help="Check a JSONL case file as `dxsearch diagnose --case` reads it (a case to diagnose: no disease, "
            "labels alone allowed), not as build input.",
        ),
    ] = False,
    fhir_version: Annotated[
        str,
        typer.Option(
            "--fhir-version",
            help="Read FHIR bundles as R4B or R5. `auto` (the default) tries R5, then R4B, and reports a bundle valid "
            "in neither against the version whose elements it uses (else the one with fewer errors).",
        ),
    ] = "auto",
) -> None:
    """Check a file without indexing it: every problem as `location: reason (got value)` on stdout.

    Exit 2 if anything was rejected or nothing would be indexed; the summary goes to stderr.

    A case file for a build (.jsonl) holds one published case per line, with its answer; case_id, phenotypes
    (each with an HPO id; label optional) and disease.id and disease.label are required, sex, age (ISO 8601),
    pmid and genes optional:

        {"case_id": "p1", "sex": "male", "age": "P14Y", "pmid": "PMID:123",
         "phenotypes": [{"id": "HP:0001166", "label": "Arachnodactyly"},
                        {"id": "HP:0001250", "label": "Seizure", "excluded": true}],
         "disease": {"id": "OMIM:154700", "label": "Marfan syndrome"}}

    An HPO id the HPO release does not know is a problem (dxsearch diagnose and the API refuse it too).

    With --case the file is read as `dxsearch diagnose --case` reads it: no disease needed (one given is never
    read), a phenotype needs a label or an HPO id, a "text" note may stand beside or instead of them, and
    --explain prints what diagnose reads of each row (labels resolved to HPO terms, close names offered for a
    label naming none).
    """
    from corpus_builder.validate import explain_path, validate_case_rows, validate_path

    if case:
        if file.suffix.lower() != ".jsonl" or not file.is_file():
            what = "no such file" if not file.exists() else "not a .jsonl case file"
            raise fail(f"{file}: {what}; --case reads JSONL case rows (one JSON object per line)")
        report, explained = validate_case_rows(file, settings=settings_or_fail())
        explained = explained if explain else []
    else:
        version = _FHIR_VERSIONS.get(fhir_version.casefold())
        if version is None:
            raise fail(f"--fhir-version {fhir_version!r}: expected one of auto, R4B, R5")
        report = validate_path(file, fhir_version=version)
        explained = explain_path(file, fhir_version=version) if explain else []
    failed = bool(report.rejects or report.duplicate_ids or not report.documents)
    if as_json:
        if explain:
            payload = report.model_dump(mode="json") | {"records": [r.model_dump(mode="json") for r in explained]}
            typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        else:
            typer.echo(report.model_dump_json(indent=2))
    else:
        for record in explained:
            for line in record.lines():
                typer.echo(line)
        for reject in report.rejects:
            for line in reject.lines():
                typer.echo(line)
        for duplicate in report.duplicate_ids:
            typer.echo(f"{file}: duplicate document id {duplicate} (a build keeps only the first)")
        problems = sum(len(reject.lines()) for reject in report.rejects)
        console.print(
            f"{report.documents} {'case row(s)' if case else 'document(s)'} ok, {len(report.rejects)} rejected "
            f"({problems} problem(s))",
            highlight=False,
        )
    if failed:
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
    typer.echo(
        f"wrote {counts['indexed']} indexed and {counts['heldout']} held-out patients to {out} "
        f"in {time.perf_counter() - started:.1f} s"
    )


@app.command("tuning-folds")
def tuning_folds_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for fold-1.txt ... fold-K.txt.")],
    folds: Annotated[int, typer.Option(min=1, help="How many disjoint folds.")] = 4,
    share: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Each fold's share of the index side's publications.")
    ] = 0.07,
) -> None:
    """Write disjoint lists of index-side PMIDs to leave out of tuning indexes (one per line).

    Fitting on a tuning index mimics the held-out benchmark only if the fold's cases meet that index as
    held-out cases meet the real one: their records and their annotation rows gone, the rest nearly as
    full. So each fold is a small share, drawn by a salted hash (the same on every machine):

        corpus-builder tuning-folds --out var/folds --folds 4 --share 0.07
        corpus-builder build --out var/index-fold-1 --exclude-publications heldout \\
            --exclude-publications var/folds/fold-1.txt
        dxsearch calibrate --index var/index-fold-1 --publications var/folds/fold-1.txt --no-fit
    """
    from corpus_builder.sources.phenopackets import TUNING_SALT, tuning_folds

    try:
        chosen = tuning_folds(folds, share)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        for number, fold in enumerate(chosen, start=1):
            header = f"# tuning fold {number} of {folds}, {share} of the index side's publications ({TUNING_SALT})\n"
            (out / f"fold-{number}.txt").write_text(header + "".join(f"{p}\n" for p in sorted(fold)), encoding="utf-8")
    except OSError as exc:
        raise fail(f"{exc.filename or out}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {folds} folds to {out}: " + ", ".join(str(len(f)) for f in chosen) + " publications")


@app.command("eval-retrieval")
def eval_retrieval(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the metrics as JSON.")],
    index: IndexOption = None,
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
            if not loaded:
                raise fail(f"{cases}: no cases in the file, nothing to evaluate")
            case_sets = {cases.stem: loaded}
        else:
            case_sets = default_case_sets(frozenset(opened.manifest.excluded_publications))
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
    results.print(table)
    console.print(f"written to {json_out}", highlight=False)


one_line_errors(app, RetrievalUnavailableError, PolicyUnavailableError)

if __name__ == "__main__":
    app()
