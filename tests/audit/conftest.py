"""Fixtures for the audit log tests: entries shaped like DxSearch traces, a fake clock, stores on disk.

The ``store`` fixture runs every test that uses it against both backends: SQLite, and PostgreSQL on a real
server started once per session (:func:`pg_server`) with a fresh schema per test. Tests that also ask for
``db_path`` reach into the SQLite file itself, so they run against SQLite only (see
:func:`pytest_generate_tests`); their PostgreSQL equivalents live in ``test_postgres_store.py``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import AuditEntry, AuditStore, CheckpointSigner, Diagnosis, SqliteAuditStore

EntryFactory = Callable[..., AuditEntry]


def build_entry(i: int, **overrides: object) -> AuditEntry:
    """An entry with a trace like the agent's (turns, evidence chains); ``marker`` makes each trace unique."""
    fields: dict[str, object] = {
        "trace": {
            "trace_id": f"trace-{i:04d}",
            "marker": f"marker-record-{i:04d}",
            "case": {"pseudonym": f"pt-{i % 3}", "sex": "female", "findings": [{"hpo": "HP:0001166", "present": True}]},
            "turns": [
                {"index": t, "text": f"search arachnodactyly {t}", "policy_ms": 1.25, "evidence_ids": [f"ev-{t}"]}
                for t in range(3)
            ],
            "diagnoses": [{"rank": 1, "name": "Marfan syndrome", "code": "ORPHA:558", "confidence": 0.87}],
            "unicode": "naïve café – Straße 𝔘",
        },
        "request_id": f"req-{i:04d}",
        "actor_role": "clinician",
        "actor_id": f"actor-{i % 2}",
        "model_version": "evidence-baseline@1",
        "index_version": "idx-2024-01",
        "outcome": "ok",
        "patient_pseudonym": f"pt-{i % 3}",
        "diagnoses": [Diagnosis(name="Marfan syndrome", code="ORPHA:558")],
        "evidence_ids": [f"doc-{i % 4}", "doc-common"],
    }
    fields.update(overrides)
    return AuditEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture
def make_entry() -> EntryFactory:
    return build_entry


class FakeClock:
    """Deterministic timestamps: each call advances one minute from 2024-03-01T00:00Z."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        value = self.now
        self.now += timedelta(minutes=1)
        return value


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner.generate()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


# -- PostgreSQL ------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Where ``initdb``/``pg_ctl`` live: ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin``."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates.extend(sorted(versions, key=lambda p: int(p.parent.name), reverse=True))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int

    def url(self, dbname: str = "postgres", schema: str | None = None) -> str:
        url = f"postgresql://postgres@{self.host}:{self.port}/{dbname}"
        return url if schema is None else f"{url}?options=-csearch_path%3D{schema}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL on 127.0.0.1 (free port, trust auth, data in a temp dir), stopped at the end."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb/pg_ctl; Debian: apt-get install postgresql, as .ci/run does)"
        )
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="audit-pg-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the server binaries as Debian's postgres user.
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(base, user="postgres", group=None)
    data = base / "data"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=40 -c shared_buffers=32MB"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr!r}") from exc
    try:
        yield PgServer(host="127.0.0.1", port=port)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


_schemas = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty schema on the session's server; the URL puts it first on ``search_path``."""
    import psycopg

    schema = f"audit_t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return pg_server.url(schema=schema)


# -- stores ------------------------------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        # db_path means the test opens or edits the SQLite file itself.
        backends = ["sqlite"] if "db_path" in metafunc.fixturenames else ["sqlite", "postgres"]
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, signer: CheckpointSigner, fake_clock: FakeClock
) -> Iterator[AuditStore]:
    """A store that checkpoints every 5 records, with minute-spaced timestamps from 2024-03-01T00:00Z."""
    opened: AuditStore
    if backend == "postgres":
        from audit.postgres_store import PostgresAuditStore

        url = request.getfixturevalue("pg_url")
        opened = PostgresAuditStore(url, signer=signer, checkpoint_every=5, clock=fake_clock)
    else:
        # The same file as the db_path fixture, for the tests that inspect it.
        opened = SqliteAuditStore(tmp_path / "audit.db", signer=signer, checkpoint_every=5, clock=fake_clock)
    with opened:
        yield opened


Filler = Callable[[SqliteAuditStore, int], None]


@pytest.fixture
def fill() -> Filler:
    """Append entries 1..count (``build_entry(i)``) to a store."""

    def _fill(store: SqliteAuditStore, count: int) -> None:
        for i in range(1, count + 1):
            store.append(build_entry(i))

    return _fill
