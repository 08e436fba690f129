"""Fixtures for the audit log tests: entries shaped like DxSearch traces, a fake clock, stores on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import AuditEntry, CheckpointSigner, Diagnosis, SqliteAuditStore

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


@pytest.fixture
def store(db_path: Path, signer: CheckpointSigner, fake_clock: FakeClock) -> Iterator[SqliteAuditStore]:
    """A store that checkpoints every 5 records, with minute-spaced timestamps from 2024-03-01T00:00Z."""
    with SqliteAuditStore(db_path, signer=signer, checkpoint_every=5, clock=fake_clock) as opened:
        yield opened


Filler = Callable[[SqliteAuditStore, int], None]


@pytest.fixture
def fill() -> Filler:
    """Append entries 1..count (``build_entry(i)``) to a store."""

    def _fill(store: SqliteAuditStore, count: int) -> None:
        for i in range(1, count + 1):
            store.append(build_entry(i))

    return _fill
