"""Auditor queries: each filter returns exactly the right records; cursor and offset pagination."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from audit import AuditEntry, AuditQuery, Diagnosis, SqliteAuditStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)  # the fake clock's first timestamp; one minute per record


@pytest.fixture
def populated(store: SqliteAuditStore, make_entry: Callable[..., AuditEntry]) -> SqliteAuditStore:
    """20 records: seq i is at T0 + (i - 1) min, patient pt-(i % 3), evidence doc-(i % 4) and doc-common."""
    for i in range(1, 21):
        overrides: dict[str, object] = {}
        if i % 5 == 0:
            overrides["diagnoses"] = [Diagnosis(name="Ehlers–Danlos syndrome", code="ORPHA:98249")]
            overrides["outcome"] = "insufficient_evidence"
        if i > 15:
            overrides["model_version"] = "qwen-sft@2"
        if i == 7:
            overrides["diagnoses"] = [
                Diagnosis(name="Morbus Straße"),
                Diagnosis(name="Marfan syndrome", code="ORPHA:558"),
            ]
        if i == 8:
            overrides["patient_pseudonym"] = None
        store.append(make_entry(i, **overrides))
    return store


def _seqs(store: SqliteAuditStore, **filters: object) -> list[int]:
    return [r.seq for r in store.iter_query(AuditQuery(**filters))]  # type: ignore[arg-type]


def test_a_window_that_cannot_match_is_refused() -> None:
    # since is inclusive and until exclusive: since at or after until selects nothing, which is a mistake to say.
    for since, until in ((T0 + timedelta(minutes=1), T0), (T0, T0)):
        with pytest.raises(ValueError, match="must be before until"):
            AuditQuery(since=since, until=until)
    later_in_utc = (T0 + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-5)))  # earlier wall clock
    with pytest.raises(ValueError, match="must be before until"):
        AuditQuery(since=later_in_utc, until=T0)
    assert AuditQuery(since=T0, until=T0 + timedelta(microseconds=1)).until is not None


def test_filters(populated: SqliteAuditStore) -> None:
    assert _seqs(populated) == list(range(1, 21))
    assert _seqs(populated, since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=6)) == [4, 5, 6]
    # Times in another zone are compared in UTC.
    since = (T0 + timedelta(minutes=18)).astimezone(timezone(timedelta(hours=-5)))
    assert _seqs(populated, since=since) == [19, 20]
    assert _seqs(populated, patient_pseudonym="pt-2") == [2, 5, 11, 14, 17, 20]
    assert _seqs(populated, model_version="qwen-sft@2") == [16, 17, 18, 19, 20]
    assert _seqs(populated, outcome="insufficient_evidence") == [5, 10, 15, 20]
    assert _seqs(populated, evidence_id="doc-3") == [3, 7, 11, 15, 19]
    assert _seqs(populated, evidence_id="doc-common") == list(range(1, 21))
    assert _seqs(populated, evidence_id="DOC-3") == []  # document ids are exact
    assert _seqs(populated, request_id="req-0012") == [12]
    assert _seqs(populated, actor_id="actor-0", outcome="insufficient_evidence") == [10, 20]
    assert _seqs(populated, patient_pseudonym="nobody") == []


def test_diagnosis_matches_code_or_name_case_insensitively(populated: SqliteAuditStore) -> None:
    everything_but_ed = [i for i in range(1, 21) if i % 5]
    assert _seqs(populated, diagnosis="ORPHA:558") == everything_but_ed
    assert _seqs(populated, diagnosis="orpha:558") == everything_but_ed
    assert _seqs(populated, diagnosis="marfan SYNDROME") == everything_but_ed
    assert _seqs(populated, diagnosis="ehlers–danlos syndrome") == [5, 10, 15, 20]
    assert _seqs(populated, diagnosis="MORBUS STRASSE") == [7]  # Unicode case folding: ß ~ ss
    assert _seqs(populated, diagnosis="marfan") == []  # exact match, not substring
    assert _seqs(populated, diagnosis="orpha:98249", model_version="qwen-sft@2") == [20]


def test_diagnosis_equivalents_match_as_codes_and_names_alike(populated: SqliteAuditStore) -> None:
    everything_but_ed = [i for i in range(1, 21) if i % 5]
    # OMIM:154700 is on no record: its equivalent ORPHA:558 is, so every Marfan decision is found.
    assert _seqs(populated, diagnosis="OMIM:154700") == []
    assert _seqs(populated, diagnosis="OMIM:154700", diagnosis_equivalents=("orpha:558",)) == everything_but_ed
    # An equivalent name matches a diagnosis by its name; several keys still AND with the other filters.
    assert _seqs(populated, diagnosis="MFS", diagnosis_equivalents=("MARFAN syndrome", "OMIM:154700")) == (
        everything_but_ed
    )
    assert _seqs(
        populated,
        diagnosis="OMIM:154700",
        diagnosis_equivalents=("ORPHA:558", "ORPHA:98249"),
        model_version="qwen-sft@2",
    ) == [16, 17, 18, 19, 20]
    assert populated.count(AuditQuery(diagnosis="x", diagnosis_equivalents=("Ehlers–Danlos syndrome",))) == 4


@pytest.mark.parametrize(
    "filters",
    [
        {"diagnosis_equivalents": ("ORPHA:558",)},  # equivalent to nothing asked
        {"diagnosis": "OMIM:154700", "diagnosis_equivalents": ("",)},
        {"diagnosis": "OMIM:154700", "diagnosis_equivalents": tuple(f"OMIM:{i}" for i in range(129))},
    ],
)
def test_malformed_diagnosis_equivalents_are_refused(filters: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="diagnosis"):
        AuditQuery(**filters)  # type: ignore[arg-type]


def test_cursor_pagination_in_both_orders(populated: SqliteAuditStore) -> None:
    query = AuditQuery(patient_pseudonym="pt-1", limit=3)  # 1, 4, 7, 10, 13, 16, 19
    first = populated.query(query)
    assert [r.seq for r in first.records] == [1, 4, 7]
    assert first.next_cursor is not None
    # Records appended between pages do not shift a cursor (unlike an offset).
    populated.append(AuditEntry(**{**_fields(populated, 1), "request_id": "late"}))
    second = populated.query(AuditQuery(patient_pseudonym="pt-1", limit=3, cursor=first.next_cursor))
    assert [r.seq for r in second.records] == [10, 13, 16]
    third = populated.query(AuditQuery(patient_pseudonym="pt-1", limit=3, cursor=second.next_cursor))
    assert [r.seq for r in third.records] == [19, 21]
    assert third.next_cursor is None

    newest = populated.query(AuditQuery(patient_pseudonym="pt-1", limit=4, order="desc"))
    assert [r.seq for r in newest.records] == [21, 19, 16, 13]
    older = populated.query(AuditQuery(patient_pseudonym="pt-1", limit=4, order="desc", cursor=newest.next_cursor))
    assert [r.seq for r in older.records] == [10, 7, 4, 1]
    assert older.next_cursor is None


def _fields(store: SqliteAuditStore, seq: int) -> dict[str, object]:
    record = store.get_by_seq(seq)
    assert record is not None
    return {
        "trace": record.trace,
        "request_id": record.request_id,
        "actor_role": record.actor_role,
        "actor_id": record.actor_id,
        "model_version": record.model_version,
        "index_version": record.index_version,
        "outcome": record.outcome,
        "patient_pseudonym": record.patient_pseudonym,
        "diagnoses": record.diagnoses,
        "evidence_ids": record.evidence_ids,
    }


def test_offset_pagination_and_count(populated: SqliteAuditStore) -> None:
    page = populated.query(AuditQuery(model_version="evidence-baseline@1", limit=5, offset=10))
    assert [r.seq for r in page.records] == [11, 12, 13, 14, 15]
    assert page.next_cursor is None
    assert populated.count(AuditQuery(model_version="evidence-baseline@1", limit=5, offset=10)) == 15
    assert populated.count(AuditQuery(diagnosis="ORPHA:98249")) == 4
    assert populated.count(AuditQuery()) == 20


def test_iter_query_follows_every_page(populated: SqliteAuditStore) -> None:
    records = list(populated.iter_query(AuditQuery(limit=3, order="desc")))
    assert [r.seq for r in records] == list(range(20, 0, -1))


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"cursor": "42"},
        {"cursor": "s4x"},
        {"order": "sideways"},
        {"since": datetime(2024, 1, 1)},  # naive: ambiguous
    ],
)
def test_malformed_queries_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AuditQuery(**bad)  # type: ignore[arg-type]
