"""Inclusion and consistency proofs from a stored log, checked against the roots its checkpoints signed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from audit import AuditError, AuditStore
from audit.proofs import prove_consistency, prove_inclusion


def test_proofs_check_against_signed_checkpoint_roots(store: AuditStore, fill: Callable[..., None]) -> None:
    fill(store, 12)
    roots = {c.seq: c.root_hash for c in store.checkpoints()}
    assert set(roots) == {5, 10}
    for seq in range(1, 11):
        proof = prove_inclusion(store, seq, 10)
        assert proof.verify() and proof.root_hash == roots[10]
    head = prove_inclusion(store, 12)
    assert head.size == 12 and head.verify()
    assert not replace(head, seq=11).verify()
    assert not replace(head, leaf_hash=prove_inclusion(store, 11).leaf_hash).verify()

    consistency = prove_consistency(store, 5, 10)
    assert (consistency.old_root, consistency.new_root) == (roots[5], roots[10])
    assert consistency.verify()
    assert prove_consistency(store, 10).verify()
    assert not replace(consistency, old_root=roots[10]).verify()
    assert prove_consistency(store, 10).to_json()["new_size"] == 12


def test_out_of_range_proof_requests_are_refused(store: AuditStore, fill: Callable[..., None]) -> None:
    fill(store, 4)
    for args in ((0, None), (5, None), (3, 2), (1, 5)):
        with pytest.raises(AuditError):
            prove_inclusion(store, *args)
    for args in ((0, None), (5, None), (3, 2)):
        with pytest.raises(AuditError):
            prove_consistency(store, *args)
