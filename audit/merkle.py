"""A Merkle tree over the audit records, hashed as certificate transparency does (RFC 6962 / RFC 9162, 2.1).

Why a tree on top of the hash chain: the chain head already commits to every record before it, but
proving one record (or that a later log extends an earlier one) from the chain alone means handing over
every record in between. The tree gives logarithmic proofs: an *inclusion proof* that a record is leaf
``index`` of the tree of ``size`` leaves, and a *consistency proof* that the tree of ``m`` leaves is a
prefix of the tree of ``n`` leaves, so an auditor who kept one signed checkpoint can check that the log
never lost or rewrote what it had then.

Hashing (domain-separated, so a leaf can never be passed off as an inner node)::

    leaf = SHA-256(0x00 || leaf bytes)            the leaf bytes of a record: audit.chain.hash_payload
    node = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256(""),  MTH of n > 1 leaves splits at k, the largest power of two < n

Everything here is a pure function of leaf hashes (``bytes`` of 32), except :class:`MerkleFrontier`, the
O(log n) state that computes the roots of a growing log in one pass. Producers raise ``ValueError`` for a
request outside the tree; verifiers never raise: anything malformed is simply not a valid proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: MTH of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash of one leaf's bytes."""
    digest = hashlib.sha256(LEAF_PREFIX)
    digest.update(data)
    return digest.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    n = end - start
    if n == 1:
        return leaves[start]
    k = _split(n)
    return node_hash(_subtree_root(leaves, start, start + k), _subtree_root(leaves, start + k, end))


def root(leaves: Sequence[bytes], size: int | None = None) -> bytes:
    """MTH of the first ``size`` leaf hashes (all of them by default)."""
    size = len(leaves) if size is None else size
    if not 0 <= size <= len(leaves):
        raise ValueError(f"tree size {size} outside 0..{len(leaves)}")
    return EMPTY_ROOT if size == 0 else _subtree_root(leaves, 0, size)


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves (RFC 9162, 2.1.3.1)."""
    if not 0 < size <= len(leaves):
        raise ValueError(f"tree size {size} outside 1..{len(leaves)}")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside 0..{size - 1}")
    proof: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            proof.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            proof.append(_subtree_root(leaves, start, start + k))
            start, m = start + k, m - k
    proof.reverse()  # collected root-down; the path runs leaf-up
    return proof


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Proof that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size`` (RFC 9162, 2.1.4.1).

    ``old_size == new_size`` gives the empty proof; an empty old tree has no proof (refused).
    """
    if not 0 < new_size <= len(leaves):
        raise ValueError(f"tree size {new_size} outside 1..{len(leaves)}")
    if not 0 < old_size <= new_size:
        raise ValueError(f"old tree size {old_size} outside 1..{new_size}")
    proof: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            proof.append(_subtree_root(leaves, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(_subtree_root(leaves, start, end))
    proof.reverse()
    return proof


def _valid_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """True iff ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``expected_root``."""
    if not (0 <= index < size) or not _valid_hashes(leaf, expected_root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True iff ``proof`` shows the tree (``old_size``, ``old_root``) is a prefix of (``new_size``, ``new_root``)."""
    if not (0 < old_size <= new_size) or not _valid_hashes(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a complete subtree: its root starts the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class MerkleFrontier:
    """The roots of the perfect subtrees covering the leaves so far (a "compact range" from leaf 0).

    ``append`` is amortised O(1) and ``root`` O(log n), so a verifier or a writer gets the root at every
    size of a growing log in one pass, keeping O(log n) hashes. The frontier of a log of ``size`` leaves
    holds one hash per set bit of ``size``, largest subtree first; :meth:`to_text` / :meth:`from_text`
    store it between processes.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count() or not _valid_hashes(*hashes):
            raise ValueError(f"a frontier of {size} leaves has {size.bit_count()} hashes of {HASH_SIZE} bytes")
        self.size = size
        self._hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        h = leaf
        size = self.size
        while size & 1:  # merge equal-sized subtrees, as a binary counter carries
            h = node_hash(self._hashes.pop(), h)
            size >>= 1
        self._hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def copy(self) -> MerkleFrontier:
        return MerkleFrontier(self.size, self._hashes)

    def to_text(self) -> str:
        """``"<size> <hex> <hex> ..."``."""
        return " ".join([str(self.size), *(h.hex() for h in self._hashes)])

    @classmethod
    def from_text(cls, text: str) -> MerkleFrontier:
        """Parse :meth:`to_text` (raises ``ValueError`` on anything else)."""
        size_text, *hex_hashes = text.split(" ")
        if not size_text.isdigit():
            raise ValueError(f"not a frontier: {text[:40]!r}")
        return cls(int(size_text), [bytes.fromhex(h) for h in hex_hashes])
