"""The checkpoint cadence a log shows (:mod:`audit.cadence`): read from its automatic checkpoints only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from audit import AuditEntry, AuditStore, CheckpointSigner, SqliteAuditStore
from audit.cadence import (
    SERVER_CHECKPOINT_EVERY,
    CadenceError,
    ShownCadence,
    append_cadence,
    cadence_of,
    shown_cadence,
)


def test_the_cadence_is_the_interval_of_the_last_automatic_checkpoints_not_on_demand_ones(
    store: AuditStore, make_entry: Callable[..., AuditEntry]
) -> None:
    """The store fixture signs every 5 records (SQLite and PostgreSQL). An on-demand checkpoint (``audit checkpoint
    --key``) lands wherever the head is, and is not evidence: taken as one, 12 after 10 would show "every 2"."""
    assert shown_cadence(store) is None
    for i in range(1, 13):
        store.append(make_entry(i))
    assert shown_cadence(store) == ShownCadence(every=5, at=(5, 10))
    on_demand = store.checkpoint()
    assert on_demand.seq == 12
    assert shown_cadence(store) == ShownCadence(every=5, at=(5, 10))
    for i in range(13, 16):
        store.append(make_entry(i))
    assert shown_cadence(store) == ShownCadence(every=5, at=(10, 15))


def test_a_given_cadence_must_be_the_logs_and_none_given_takes_it_or_the_default() -> None:
    every_10 = ShownCadence(every=10, at=(30, 40))
    assert append_cadence(every_10, None) == 10
    assert append_cadence(every_10, 10) == 10
    assert append_cadence(every_10, 5) == 5  # signs where the server does and more: safe
    for wrong in (3, 20, 1000):  # each skips a position the server signs
        with pytest.raises(CadenceError) as refused:
            append_cadence(every_10, wrong)
        said = str(refused.value)
        assert said.startswith(f"--checkpoint-every {wrong} contradicts the log, which shows a checkpoint every 10")
        assert "seq 30 and 40" in said and "give 10 (or a divisor of it)" in said
    with pytest.raises(CadenceError, match=r"^DXSEARCH_AUDIT_CHECKPOINT_EVERY=1000 contradicts"):
        append_cadence(every_10, 1000, given_as="DXSEARCH_AUDIT_CHECKPOINT_EVERY=1000")
    # A log with no automatic checkpoint yet: the cadence given, else the server's default.
    assert append_cadence(None, None) == SERVER_CHECKPOINT_EVERY == 1000
    assert append_cadence(None, 7) == 7


def test_a_single_automatic_checkpoint_shows_its_position_and_takes_a_cadence_it_is_a_multiple_of(
    tmp_path: Path, make_entry: Callable[..., AuditEntry]
) -> None:
    """Signing that began mid-log (records 1..15 unsigned, then every 10): the first checkpoint is at 20, so the log
    shows "every 20" until its second one, and the server's 10 is taken (20 is a multiple), 15 is not."""
    db = tmp_path / "audit.db"
    with SqliteAuditStore(db) as store:
        for i in range(1, 16):
            store.append(make_entry(i))
    with SqliteAuditStore(db, signer=CheckpointSigner.generate(), checkpoint_every=10) as store:
        for i in range(16, 26):
            store.append(make_entry(i))
        shown = shown_cadence(store)
    assert shown == ShownCadence(every=20, at=(20,))
    assert append_cadence(shown, None) == 20
    assert append_cadence(shown, 10) == 10
    with pytest.raises(CadenceError, match="every 20 records"):
        append_cadence(shown, 15)


def test_across_a_cadence_change_the_log_shows_a_divisor_of_both_until_two_checkpoints_at_the_new() -> None:
    """A code review: the server signed every 4 (checkpoints at 4 and 8), then every 3 (at 9). The gap of the last
    two (1) was taken as the cadence and the server's new 3 refused; a single checkpoint's position (2000, signing
    begun mid-log at 1000) was taken whole, skipping 3000. Now the log shows a divisor of every cadence it holds."""
    changed = cadence_of([8, 9])
    assert changed is not None and changed.every == 1
    assert append_cadence(changed, None) == 1  # signs at every append: more checkpoints, none skipped
    with pytest.raises(CadenceError, match="every 1 records"):
        append_cadence(changed, 3)
    settled = cadence_of([9, 12])
    assert settled is not None and append_cadence(settled, 3) == 3 and append_cadence(settled, None) == 3
    begun_mid_log = cadence_of([2000])
    assert begun_mid_log is not None and begun_mid_log.every == 1000 and append_cadence(begun_mid_log, None) == 1000
