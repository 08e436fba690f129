"""audit.merkle against an independent reference tree, RFC 6962 test vectors, and tampered proofs.

The reference builds the tree bottom-up (pair neighbours, promote a lone right node), the way the RFC's
pictures are drawn, and its consistency proofs are a literal transcription of RFC 9162's SUBPROOF; the
module under test splits top-down. Known-answer vectors are certificate-transparency's (the 8 leaves used
by the Go and C++ implementations' tests).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# -- the reference -----------------------------------------------------------------------------------------


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [ref_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])  # a lone right node moves up unchanged
        levels.append(above)
    return levels


def ref_root(leaves: list[bytes]) -> bytes:
    return hashlib.sha256(b"").digest() if not leaves else ref_levels(leaves)[-1][0]


def ref_inclusion(leaves: list[bytes], index: int) -> list[bytes]:
    path = []
    for level in ref_levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index //= 2
    return path


def ref_consistency(leaves: list[bytes], m: int) -> list[bytes]:
    def subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if complete else [ref_root(d)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return [*subproof(m, d[:k], complete), ref_root(d[k:])]
        return [*subproof(m - k, d[k:], False), ref_root(d[:k])]

    return subproof(m, leaves, True)


# -- known answers -----------------------------------------------------------------------------------------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_HASHES = [leaf_hash(d) for d in CT_LEAVES]


def test_known_roots() -> None:
    assert root([]) == EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    for size, expected in enumerate(CT_ROOTS, start=1):
        assert root(CT_HASHES, size).hex() == expected


@pytest.mark.parametrize(
    ("old", "new", "proof"),
    [
        (1, 1, []),
        (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ],
)  # fmt: skip
def test_known_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    produced = consistency_proof(CT_HASHES, old, new)
    assert [p.hex() for p in produced] == proof
    assert verify_consistency(old, new, root(CT_HASHES, old), root(CT_HASHES, new), produced)


def test_known_inclusion_proof() -> None:
    assert [p.hex()[:16] for p in inclusion_proof(CT_HASHES, 0, 8)] == [
        "96a296d224f285c6",
        "5f083f0a1a33ca07",
        "6b47aaf29ee3c2af",
    ]


# -- against the reference, exhaustively for small trees ---------------------------------------------------

LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(70)]


def test_every_small_tree_matches_the_reference() -> None:
    frontier = MerkleFrontier()
    for n in range(1, 70):
        frontier.append(LEAVES[n - 1])
        expected = ref_root(LEAVES[:n])
        assert root(LEAVES, n) == expected == frontier.root()
        assert MerkleFrontier.from_text(frontier.to_text()).root() == expected
        for i in range(n):
            proof = inclusion_proof(LEAVES, i, n)
            assert proof == ref_inclusion(LEAVES[:n], i)
            assert verify_inclusion(LEAVES[i], i, n, proof, expected)
        for m in range(1, n + 1):
            proof = consistency_proof(LEAVES, m, n)
            assert proof == ref_consistency(LEAVES[:n], m)
            assert verify_consistency(m, n, ref_root(LEAVES[:m]), expected, proof)


# -- tampered proofs ---------------------------------------------------------------------------------------


def _bit_flips(proof: list[bytes]) -> list[list[bytes]]:
    flipped = []
    for i, node in enumerate(proof):
        for byte in (0, 31):
            changed = bytearray(node)
            changed[byte] ^= 0x01
            flipped.append([*proof[:i], bytes(changed), *proof[i + 1 :]])
    return flipped


def test_tampered_inclusion_proofs_fail() -> None:
    for n in range(1, 20):
        r = root(LEAVES, n)
        for i in range(n):
            proof = inclusion_proof(LEAVES, i, n)
            for bad in _bit_flips(proof):
                assert not verify_inclusion(LEAVES[i], i, n, bad, r)
            assert not verify_inclusion(LEAVES[i], i, n, [*proof, LEAVES[0]], r)  # extra node
            if proof:
                assert not verify_inclusion(LEAVES[i], i, n, proof[:-1], r)  # truncated
            assert not verify_inclusion(LEAVES[i], i + 1, n, proof, r)  # off-by-one index
            if i > 0:
                assert not verify_inclusion(LEAVES[i], i - 1, n, proof, r)
            # off-by-one size, each with the root a tree of that size has
            assert not verify_inclusion(LEAVES[i], i, n + 1, proof, root(LEAVES, n + 1))
            if i < n - 1:
                assert not verify_inclusion(LEAVES[i], i, n - 1, proof, root(LEAVES, n - 1))
            assert not verify_inclusion(LEAVES[i + 1], i, n, proof, r)  # another leaf
            wrong_root = bytearray(r)
            wrong_root[5] ^= 0x80
            assert not verify_inclusion(LEAVES[i], i, n, proof, bytes(wrong_root))
            # a leaf hash presented as an interior node (no domain separation would let this pass)
            assert not verify_inclusion(LEAVES[i][:31], i, n, proof, r)


def test_tampered_consistency_proofs_fail() -> None:
    for n in range(1, 20):
        new_root = root(LEAVES, n)
        for m in range(1, n + 1):
            old_root = root(LEAVES, m)
            proof = consistency_proof(LEAVES, m, n)
            for bad in _bit_flips(proof):
                assert not verify_consistency(m, n, old_root, new_root, bad)
            assert not verify_consistency(m, n, old_root, new_root, [*proof, LEAVES[0]])
            if proof:
                assert not verify_consistency(m, n, old_root, new_root, proof[:-1])
                assert not verify_consistency(m, n, old_root, new_root, list(reversed(proof))) or len(proof) == 1
            if m > 1:
                assert not verify_consistency(m - 1, n, old_root, new_root, proof)
            if m < n:
                assert not verify_consistency(m + 1, n, old_root, new_root, proof)
                assert not verify_consistency(m, n, root(LEAVES, m + 1), new_root, proof)  # another old root
            assert not verify_consistency(m, n + 1, old_root, root(LEAVES, n + 1), proof)
            if m < n:
                assert not verify_consistency(m, n - 1, old_root, root(LEAVES, n - 1), proof)
            assert not verify_consistency(m, n, old_root, root(LEAVES, n + 1), proof)  # a rewritten tail


def test_out_of_range_requests_are_refused() -> None:
    leaves = LEAVES[:8]
    for size in (0, 9, -1):
        with pytest.raises(ValueError):
            inclusion_proof(leaves, 0, size)
    for index in (-1, 8):
        with pytest.raises(ValueError):
            inclusion_proof(leaves, index, 8)
    with pytest.raises(ValueError):
        inclusion_proof(leaves, 5, 5)
    for old, new in ((0, 8), (9, 8), (5, 4), (1, 9), (-1, 3)):
        with pytest.raises(ValueError):
            consistency_proof(leaves, old, new)
    with pytest.raises(ValueError):
        root(leaves, 9)
    # verifiers refuse (never raise) out-of-range claims
    r = root(leaves)
    assert not verify_inclusion(leaves[0], 8, 8, [], r)
    assert not verify_inclusion(leaves[0], -1, 8, [], r)
    assert not verify_inclusion(leaves[0], 0, 0, [], EMPTY_ROOT)
    assert not verify_consistency(0, 8, EMPTY_ROOT, r, [])
    assert not verify_consistency(8, 4, r, root(leaves, 4), [])
    assert not verify_consistency(8, 8, r, r, [leaves[0]])  # equal sizes need the empty proof
    assert not verify_consistency(8, 8, r, root(leaves, 7), [])
    assert not verify_inclusion(leaves[0], 0, 8, [b"short"], r)
    with pytest.raises(ValueError):
        MerkleFrontier(3, [leaves[0]])
    with pytest.raises(ValueError):
        MerkleFrontier.from_text("x 00")


# -- properties --------------------------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=60, deadline=None)
@given(n=sizes, data=st.data())
def test_inclusion_round_trips_and_matches_the_reference(n: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(b"leaf-%d" % i) for i in range(n)]
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(leaves, index, n)
    assert proof == ref_inclusion(leaves, index)
    assert verify_inclusion(leaves[index], index, n, proof, ref_root(leaves))
    other = data.draw(st.integers(min_value=0, max_value=n - 1))
    if other != index:
        assert not verify_inclusion(leaves[index], other, n, proof, ref_root(leaves))


@settings(max_examples=60, deadline=None)
@given(n=sizes, data=st.data())
def test_consistency_round_trips_and_matches_the_reference(n: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(b"leaf-%d" % i) for i in range(n)]
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = consistency_proof(leaves, m, n)
    assert proof == ref_consistency(leaves, m)
    assert verify_consistency(m, n, ref_root(leaves[:m]), ref_root(leaves), proof)
    # a log that rewrote any leaf below m cannot prove it extends the old tree
    victim = data.draw(st.integers(min_value=0, max_value=m - 1))
    forged = [*leaves[:victim], leaf_hash(b"forged"), *leaves[victim + 1 :]]
    assert not verify_consistency(m, n, ref_root(leaves[:m]), ref_root(forged), consistency_proof(forged, m, n))


@settings(max_examples=40, deadline=None)
@given(leaves=st.lists(st.binary(min_size=0, max_size=8), min_size=0, max_size=100))
def test_frontier_tracks_the_root_at_every_size(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    frontier = MerkleFrontier()
    assert frontier.root() == ref_root([])
    for i, h in enumerate(hashes, start=1):
        frontier.append(h)
        assert frontier.size == i
        assert frontier.root() == ref_root(hashes[:i])
        assert MerkleFrontier.from_text(frontier.to_text()).hashes == frontier.hashes
