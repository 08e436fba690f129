"""Inclusion and consistency proofs for a stored log (:mod:`audit.merkle` over :func:`audit.chain.hash_payload`).

What an auditor asks the log's operator for, and checks with nothing but a checkpoint they trust:

* :func:`prove_inclusion`: record ``seq`` is leaf ``seq - 1`` of the tree of ``size`` records, whose root
  a signed checkpoint of that size states;
* :func:`prove_consistency`: the tree of ``old_size`` records (a checkpoint kept earlier) is a prefix of
  the tree of ``new_size`` records (a later checkpoint): nothing it covered was removed or rewritten.

Proofs are built by reading the leaves of the first ``size`` records (one pass, as :func:`audit.verify`
does); the verifiers are the pure functions of :mod:`audit.merkle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.canonical import JsonValue
from audit.chain import hash_payload
from audit.errors import AuditError
from audit.merkle import consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion
from audit.store import AuditStore


@dataclass(frozen=True, slots=True)
class InclusionProof:
    seq: int
    size: int
    leaf_hash: str
    path: tuple[str, ...]
    root_hash: str

    def verify(self) -> bool:
        return verify_inclusion(
            bytes.fromhex(self.leaf_hash),
            self.seq - 1,
            self.size,
            [bytes.fromhex(h) for h in self.path],
            bytes.fromhex(self.root_hash),
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "seq": self.seq,
            "tree_size": self.size,
            "leaf_hash": self.leaf_hash,
            "path": list(self.path),
            "root_hash": self.root_hash,
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: tuple[str, ...]

    def verify(self) -> bool:
        return verify_consistency(
            self.old_size,
            self.new_size,
            bytes.fromhex(self.old_root),
            bytes.fromhex(self.new_root),
            [bytes.fromhex(h) for h in self.path],
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root,
            "new_root": self.new_root,
            "path": list(self.path),
        }


def leaf_hashes(store: AuditStore, size: int) -> list[bytes]:
    """The Merkle leaf hashes of records 1..size (raises :class:`AuditError` if the log has fewer or a gap)."""
    leaves: list[bytes] = []
    for record in store.iter_stored(up_to_seq=size):
        if record.seq != len(leaves) + 1:
            raise AuditError(f"record {len(leaves) + 1} is missing; run `audit verify`")
        leaves.append(leaf_hash(hash_payload(record)))
    if len(leaves) != size:
        raise AuditError(f"the log has {len(leaves)} records, not {size}")
    return leaves


def _head_size(store: AuditStore, size: int | None) -> int:
    head = store.head()
    head_seq = 0 if head is None else head.seq
    if size is None:
        return head_seq
    if not 1 <= size <= head_seq:
        raise AuditError(f"tree size {size} outside 1..{head_seq}")
    return size


def prove_inclusion(store: AuditStore, seq: int, size: int | None = None) -> InclusionProof:
    """Proof that record ``seq`` is in the tree of ``size`` records (the current head by default)."""
    size = _head_size(store, size)
    if not 1 <= seq <= size:
        raise AuditError(f"record {seq} outside 1..{size}")
    leaves = leaf_hashes(store, size)
    return InclusionProof(
        seq=seq,
        size=size,
        leaf_hash=leaves[seq - 1].hex(),
        path=tuple(h.hex() for h in inclusion_proof(leaves, seq - 1, size)),
        root_hash=root(leaves).hex(),
    )


def prove_consistency(store: AuditStore, old_size: int, new_size: int | None = None) -> ConsistencyProof:
    """Proof that the tree of ``old_size`` records is a prefix of the tree of ``new_size`` (the head by default)."""
    new_size = _head_size(store, new_size)
    if not 1 <= old_size <= new_size:
        raise AuditError(f"old tree size {old_size} outside 1..{new_size}")
    leaves = leaf_hashes(store, new_size)
    return ConsistencyProof(
        old_size=old_size,
        new_size=new_size,
        old_root=root(leaves, old_size).hex(),
        new_root=root(leaves).hex(),
        path=tuple(h.hex() for h in consistency_proof(leaves, old_size, new_size)),
    )
