"""RFC 6962 / RFC 9162 Merkle library: published known-answer vectors, proof-corruption probes, property tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimvault.security.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# --- Known-answer vectors ------------------------------------------------------------------------------------------
# Leaf inputs, node hashes and roots: transparency-dev/merkle testonly/constants.go (LeafInputs, NodeHashes,
# RootHashes, CompactTrees), which are the Certificate Transparency RFC 6962 test vectors.
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
ROOTS = [  # indexed by tree size, 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# testonly/constants.go CompactTrees: (level, index) of the perfect-subtree roots of each prefix.
COMPACT_TREES: list[list[tuple[int, int]]] = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]
LEAF_HASHES = [leaf_hash(d) for d in LEAF_INPUTS]

# proof/verify_test.go: inclusionProofs ({leaf (1-based), size, proof}) and consistencyProofs.
VERIFY_TEST_INCLUSION = [
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (3, 3, ["fac54203"]),
    (2, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
VERIFY_TEST_CONSISTENCY = [
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]


def _full(prefix: str) -> bytes:
    """Expand an 8-hex-digit prefix from the vectors above to the full node hash it names (all are distinct)."""
    [match] = [x for level in NODE_HASHES for x in level if x.hex().startswith(prefix)]
    return match


def nh(level: int, index: int) -> bytes:
    return NODE_HASHES[level][index]


# Tree of size 7 drawn in proof/proof_test.go: l = hash(i, j) is the right child of the root, i = (1, 2), j = (0, 6).
L7 = node_hash(nh(1, 2), nh(0, 6))
# proof/proof_test.go TestInclusion (node IDs, rehash ranges resolved), restricted to the 8-leaf vector tree.
PROOF_TEST_INCLUSION: list[tuple[int, int, list[bytes]]] = [
    (0, 1, []),
    (0, 2, [nh(0, 1)]),
    (1, 2, [nh(0, 0)]),
    (1, 3, [nh(0, 0), nh(0, 2)]),
    (0, 7, [nh(0, 1), nh(1, 1), L7]),
    (1, 7, [nh(0, 0), nh(1, 1), L7]),
    (2, 7, [nh(0, 3), nh(1, 0), L7]),
    (3, 7, [nh(0, 2), nh(1, 0), L7]),
    (4, 7, [nh(0, 5), nh(0, 6), nh(2, 0)]),
    (5, 7, [nh(0, 4), nh(0, 6), nh(2, 0)]),
    (6, 7, [nh(1, 2), nh(2, 0)]),
    (2, 4, [nh(0, 3), nh(1, 0)]),
    (3, 5, [nh(0, 2), nh(1, 0), nh(0, 4)]),
    (3, 6, [nh(0, 2), nh(1, 0), nh(1, 2)]),
    (4, 6, [nh(0, 5), nh(2, 0)]),
]
# proof/proof_test.go TestConsistency, restricted to the 8-leaf vector tree.
PROOF_TEST_CONSISTENCY: list[tuple[int, int, list[bytes]]] = [
    (1, 2, [nh(0, 1)]),
    (1, 4, [nh(0, 1), nh(1, 1)]),
    (1, 6, [nh(0, 1), nh(1, 1), nh(1, 2)]),
    (2, 3, [nh(0, 2)]),
    (2, 8, [nh(1, 1), nh(2, 1)]),
    (3, 7, [nh(0, 2), nh(0, 3), nh(1, 0), L7]),
    (4, 7, [L7]),
    (5, 7, [nh(0, 4), nh(0, 5), nh(0, 6), nh(2, 0)]),
    (6, 7, [nh(1, 2), nh(0, 6), nh(2, 0)]),
    (7, 8, [nh(0, 6), nh(0, 7), nh(1, 2), nh(2, 0)]),
    (2, 4, [nh(1, 1)]),
    (3, 5, [nh(0, 2), nh(0, 3), nh(1, 0), nh(0, 4)]),
    (3, 6, [nh(0, 2), nh(0, 3), nh(1, 0), nh(1, 2)]),
    (4, 6, [nh(1, 2)]),
    (1, 7, [nh(0, 1), nh(1, 1), L7]),
    *[(n, n, []) for n in range(1, 9)],
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")  # verify_test.go sha256SomeHash


# --- A direct transcription of the RFC recursive definitions, used as an oracle -----------------------------------
def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return d[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# --- Corruption probes, after proof/verify_test.go corruptInclusionProof / corruptConsistencyProof -------------------
def flip(x: bytes, mask: int) -> bytes:
    return bytes([x[0] ^ mask]) + x[1:]


def inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """(description, index, size, proof, root, leaf_hash) tuples that must all be rejected."""
    p = proof
    probes = [
        ("index - 1", index - 1, size, p, root, leaf),
        ("index + 1", index + 1, size, p, root, leaf),
        ("index ^ 2", index ^ 2, size, p, root, leaf),
        ("index = size", size, size, p, root, leaf),
        ("index > size", size + 5, size, p, root, leaf),
        ("size * 2", index, size * 2, p, root, leaf),
        ("size // 2", index, size // 2, p, root, leaf),
        ("size 0", index, 0, p, root, leaf),
        ("negative size", index, -size, p, root, leaf),
        ("wrong leaf (short)", index, size, p, root, b"WrongLeaf"),
        ("wrong leaf", index, size, p, root, leaf_hash(b"WrongLeaf")),
        ("flipped leaf", index, size, p, root, flip(leaf, 1)),
        ("empty root", index, size, p, EMPTY_ROOT, leaf),
        ("random root", index, size, p, SOME_HASH, leaf),
        ("short root", index, size, p, root[:31], leaf),
        ("trailing garbage", index, size, [*p, b""], root, leaf),
        ("trailing root", index, size, [*p, root], root, leaf),
        ("trailing hash", index, size, [*p, SOME_HASH], root, leaf),
        ("preceding garbage", index, size, [b"", *p], root, leaf),
        ("preceding root", index, size, [root, *p], root, leaf),
        ("preceding hash", index, size, [SOME_HASH, *p], root, leaf),
    ]
    if p:
        probes += [
            ("empty proof", index, size, [], root, leaf),
            ("drop last", index, size, p[:-1], root, leaf),
            ("drop first", index, size, p[1:], root, leaf),
            ("inserted component", index, size, [p[0], SOME_HASH, *p[1:]], root, leaf),
            # Same bytes fed to the first node hash, split differently: only hash-length checks can catch it.
            ("byte moved proof[0] -> leaf", index, size, [p[0][:31], *p[1:]], root, p[0][31:] + leaf),
        ]
    if p != p[::-1]:
        probes.append(("reversed", index, size, p[::-1], root, leaf))
    for i, x in enumerate(p):
        for desc, bad in (("bit 3", flip(x, 8)), ("31 bytes", x[:31]), ("33 bytes", x + b"\x00"), ("str", x.hex())):
            probes.append((f"proof[{i}] {desc}", index, size, [*p[:i], bad, *p[i + 1 :]], root, leaf))  # type: ignore[list-item]
    return probes


def consistency_probes(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """(description, size1, size2, root1, root2, proof) tuples that must all be rejected (proof non-empty)."""
    p = proof
    probes: list[tuple[str, int, int, bytes, bytes, list[bytes]]] = [
        ("size1 - 1", size1 - 1, size2, root1, root2, p),
        ("size1 + 1", size1 + 1, size2, root1, root2, p),
        ("size1 ^ 2", size1 ^ 2, size2, root1, root2, p),
        ("size1 > size2", size2 + 1, size2, root1, root2, p),
        ("size2 * 2", size1, size2 * 2, root1, root2, p),
        ("size2 // 2", size1, size2 // 2, root1, root2, p),
        ("negative size1", -size1, size2, root1, root2, p),
        ("wrong root1 (short)", size1, size2, b"WrongRoot", root2, p),
        ("wrong root2 (short)", size1, size2, root1, b"WrongRoot", p),
        ("wrong root1", size1, size2, SOME_HASH, root2, p),
        ("wrong root2", size1, size2, root1, SOME_HASH, p),
        ("flipped root1", size1, size2, flip(root1, 1), root2, p),
        ("flipped root2", size1, size2, root1, flip(root2, 1), p),
        ("swapped roots", size1, size2, root2, root1, p),
        ("empty proof", size1, size2, root1, root2, []),
        ("trailing garbage", size1, size2, root1, root2, [*p, b""]),
        ("trailing root1", size1, size2, root1, root2, [*p, root1]),
        ("trailing root2", size1, size2, root1, root2, [*p, root2]),
        ("preceding garbage", size1, size2, root1, root2, [b"", *p]),
        ("preceding root1", size1, size2, root1, root2, [root1, *p]),
        ("preceding root2", size1, size2, root1, root2, [root2, *p]),
        ("preceding proof[0]", size1, size2, root1, root2, [p[0], *p]),
        ("drop last", size1, size2, root1, root2, p[:-1]),
        ("drop first", size1, size2, root1, root2, p[1:]),
        ("same size", size2, size2, root1, root2, p),
        ("from empty", 0, size2, EMPTY_ROOT, root2, p),
    ]
    if len(p) > 1:
        # Same bytes fed to the first node hashes, split differently: only hash-length checks can catch it.
        for desc, moved in (
            ("byte moved proof[1] -> proof[0]", [p[1][31:] + p[0], p[1][:31], *p[2:]]),
            ("byte moved proof[0] -> proof[1]", [p[0] + p[1][:1], p[1][1:], *p[2:]]),
        ):
            probes.append((desc, size1, size2, root1, root2, moved))
    for i in range(len(p) - 1):
        if p[i] != p[i + 1]:
            probes.append((f"swap {i},{i + 1}", size1, size2, root1, root2, [*p[:i], p[i + 1], p[i], *p[i + 2 :]]))
    for i, x in enumerate(p):
        for desc, bad in (("bit 4", flip(x, 16)), ("31 bytes", x[:31]), ("33 bytes", x + b"\x00")):
            probes.append((f"proof[{i}] {desc}", size1, size2, root1, root2, [*p[:i], bad, *p[i + 1 :]]))
    return probes


def check_inclusion_and_corruptions(leaves: Sequence[bytes], index: int, size: int, proof: list[bytes]) -> None:
    root = root_from_leaf_hashes(leaves[:size])
    assert verify_inclusion(leaf_hash=leaves[index], index=index, size=size, proof=proof, root=root)
    accepted = [
        desc
        for desc, i, s, p, r, lf in inclusion_probes(index, size, proof, root, leaves[index])
        if verify_inclusion(leaf_hash=lf, index=i, size=s, proof=p, root=r)
    ]
    # A proof for one tree size presented against the (different) signed root of a neighbouring size.
    for other in (size - 1, size + 1):
        if index < other <= len(leaves):
            other_root = root_from_leaf_hashes(leaves[:other])
            if verify_inclusion(leaf_hash=leaves[index], index=index, size=other, proof=proof, root=other_root):
                accepted.append(f"size {other} with its own root")
    assert accepted == [], f"inclusion({index}, {size}) corrupted proofs accepted: {accepted}"


def check_consistency_and_corruptions(leaves: Sequence[bytes], size1: int, size2: int, proof: list[bytes]) -> None:
    root1, root2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves[:size2])
    assert verify_consistency(old_size=size1, new_size=size2, old_root=root1, new_root=root2, proof=proof)
    if not proof:
        return
    accepted = [
        desc
        for desc, s1, s2, r1, r2, p in consistency_probes(size1, size2, root1, root2, proof)
        if verify_consistency(old_size=s1, new_size=s2, old_root=r1, new_root=r2, proof=p)
    ]
    for s1, s2 in ((size1 - 1, size2), (size1 + 1, size2), (size1, size2 - 1), (size1, size2 + 1)):
        if 0 < s1 < s2 <= len(leaves) and (s1, s2) != (size1, size2):
            r1, r2 = root_from_leaf_hashes(leaves[:s1]), root_from_leaf_hashes(leaves[:s2])
            if verify_consistency(old_size=s1, new_size=s2, old_root=r1, new_root=r2, proof=proof):
                accepted.append(f"sizes {s1}->{s2} with their own roots")
    assert accepted == [], f"consistency({size1}, {size2}) corrupted proofs accepted: {accepted}"


# --- Hashing and roots -------------------------------------------------------------------------------------------
def test_rfc6962_hasher_vectors() -> None:
    # rfc6962/rfc6962_test.go TestRFC6962Hasher
    assert h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == EMPTY_ROOT
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    assert node_hash(b"N123", b"N456") == h("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(a, b) != leaf_hash(a + b)  # domain separation
    assert node_hash(a, b) != node_hash(b, a)


def test_node_hash_table_matches_leaves() -> None:
    assert NODE_HASHES[0] == LEAF_HASHES
    for level in range(1, 4):
        for i, x in enumerate(NODE_HASHES[level]):
            assert node_hash(nh(level - 1, 2 * i), nh(level - 1, 2 * i + 1)) == x


@pytest.mark.parametrize("size", range(9))
def test_roots_for_every_size(size: int) -> None:
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    assert ref_mth(LEAF_HASHES[:size]) == ROOTS[size]
    assert subtree_root(LEAF_HASHES, 0, size) == ROOTS[size]


def test_compact_range_states_and_roots() -> None:
    cr = CompactRange()
    assert (cr.size, cr.root(), cr.hashes) == (0, EMPTY_ROOT, ())
    for size in range(1, 9):
        cr.append(LEAF_HASHES[size - 1])
        assert cr.size == size
        assert cr.hashes == tuple(nh(lv, i) for lv, i in COMPACT_TREES[size])
        assert cr.root() == ROOTS[size]
        resumed = CompactRange.from_state(size=cr.size, hashes=cr.hashes)
        assert resumed.root() == ROOTS[size]
    batch = CompactRange()
    batch.extend(LEAF_HASHES)
    assert (batch.size, batch.hashes, batch.root()) == (cr.size, cr.hashes, ROOTS[8])


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, bytearray(32), "0" * 32])
def test_malformed_leaf_hashes_are_refused(bad: object) -> None:
    cr = CompactRange()
    with pytest.raises(ValueError):
        cr.append(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cr.extend([LEAF_HASHES[0], bad])  # type: ignore[list-item]
    assert cr.size == 1 and cr.root() == ROOTS[1]  # the good leaf before the bad one stays
    if isinstance(bad, bytes):
        with pytest.raises(ValueError):
            root_from_leaf_hashes([*LEAF_HASHES[:3], bad])
    with pytest.raises(ValueError):
        CompactRange.from_state(size=3, hashes=[ROOTS[2]])  # size 3 needs two subtree roots


# --- Inclusion ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("leaf", "size", "prefixes"), VERIFY_TEST_INCLUSION)
def test_inclusion_verify_test_vectors(leaf: int, size: int, prefixes: list[str]) -> None:
    expected = [_full(x) for x in prefixes]
    assert inclusion_proof(LEAF_HASHES, leaf - 1, size) == expected
    check_inclusion_and_corruptions(LEAF_HASHES, leaf - 1, size, expected)


@pytest.mark.parametrize(("index", "size", "expected"), PROOF_TEST_INCLUSION)
def test_inclusion_proof_test_vectors(index: int, size: int, expected: list[bytes]) -> None:
    assert inclusion_proof(LEAF_HASHES, index, size) == expected
    assert ref_path(index, LEAF_HASHES[:size]) == expected
    check_inclusion_and_corruptions(LEAF_HASHES, index, size, expected)


def test_inclusion_single_entry() -> None:
    # verify_test.go TestVerifyInclusionSingleEntry: root and leaf hash of a one-entry tree coincide.
    x = leaf_hash(b"data")
    assert verify_inclusion(leaf_hash=x, index=0, size=1, proof=[], root=x)
    assert not verify_inclusion(leaf_hash=b"", index=0, size=1, proof=[], root=x)
    assert not verify_inclusion(leaf_hash=x, index=0, size=1, proof=[], root=b"")
    assert not verify_inclusion(leaf_hash=b"", index=0, size=1, proof=[], root=b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_degenerate_probes(index: int, size: int) -> None:
    # verify_test.go TestVerifyInclusion probes: every combination is invalid.
    assert not verify_inclusion(leaf_hash=SOME_HASH, index=index, size=size, proof=[], root=b"")
    assert not verify_inclusion(leaf_hash=b"", index=index, size=size, proof=[], root=EMPTY_ROOT)
    assert not verify_inclusion(leaf_hash=SOME_HASH, index=index, size=size, proof=[], root=EMPTY_ROOT)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (8, 7), (-1, 3), (0, 9)])
def test_inclusion_proof_refuses_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(LEAF_HASHES, index, size)


# --- Consistency -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("size1", "size2", "prefixes"), VERIFY_TEST_CONSISTENCY)
def test_consistency_verify_test_vectors(size1: int, size2: int, prefixes: list[str]) -> None:
    expected = [_full(x) for x in prefixes]
    assert consistency_proof(LEAF_HASHES, size1, size2) == expected
    check_consistency_and_corruptions(LEAF_HASHES, size1, size2, expected)


@pytest.mark.parametrize(("size1", "size2", "expected"), PROOF_TEST_CONSISTENCY)
def test_consistency_proof_test_vectors(size1: int, size2: int, expected: list[bytes]) -> None:
    assert consistency_proof(LEAF_HASHES, size1, size2) == expected
    assert ref_subproof(size1, LEAF_HASHES[:size2], True) == expected
    check_consistency_and_corruptions(LEAF_HASHES, size1, size2, expected)


def test_consistency_trivial_and_degenerate_cases() -> None:
    # After verify_test.go TestVerifyConsistency, with 32-byte roots required and size 0 bound to EMPTY_ROOT.
    r1, r2 = SOME_HASH, flip(SOME_HASH, 1)
    ok = verify_consistency
    assert ok(old_size=0, new_size=0, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[])
    assert ok(old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=ROOTS[5], proof=[])
    assert ok(old_size=3, new_size=3, old_root=ROOTS[3], new_root=ROOTS[3], proof=[])
    assert consistency_proof(LEAF_HASHES, 0, 5) == [] and consistency_proof(LEAF_HASHES, 4, 4) == []
    rejected = [
        (0, 0, r1, r2, []),
        (1, 1, r1, r2, []),
        (0, 1, r1, r2, []),  # the empty tree's root is EMPTY_ROOT, nothing else
        (1, 0, r1, r2, []),  # time travel
        (2, 1, r1, r2, []),
        (1, 2, r1, r2, []),  # proof needed
        (1, 2, ROOTS[1], ROOTS[2], []),
        (0, 0, EMPTY_ROOT, r2, []),
        (1, 1, EMPTY_ROOT, r2, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),  # roots match but the proof is not empty
        (0, 1, EMPTY_ROOT, ROOTS[1], [EMPTY_ROOT]),
        (1, 1, ROOTS[1], ROOTS[1], [EMPTY_ROOT]),
        (3, 3, ROOTS[3][:31], ROOTS[3][:31], []),  # wrong hash length
        (-1, 3, EMPTY_ROOT, ROOTS[3], []),
    ]
    for s1, s2, a, b, p in rejected:
        assert not ok(old_size=s1, new_size=s2, old_root=a, new_root=b, proof=p), (s1, s2)


@pytest.mark.parametrize(("size1", "size2"), [(5, 0), (9, 8), (3, 9), (-1, 4)])
def test_consistency_proof_refuses_bad_arguments(size1: int, size2: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof(LEAF_HASHES, size1, size2)


def test_every_proof_in_the_vector_tree() -> None:
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(LEAF_HASHES, index, size)
            assert proof == ref_path(index, LEAF_HASHES[:size])
            check_inclusion_and_corruptions(LEAF_HASHES, index, size, proof)
        for size1 in range(1, size + 1):
            proof = consistency_proof(LEAF_HASHES, size1, size)
            assert proof == ref_subproof(size1, LEAF_HASHES[:size], True)
            check_consistency_and_corruptions(LEAF_HASHES, size1, size, proof)


# --- Properties --------------------------------------------------------------------------------------------------
# Distinct entries: with duplicate leaves some "wrong index" probes would be genuinely valid proofs.
leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=300, unique=True).map(
    lambda xs: [leaf_hash(x) for x in xs]
)
PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(leaves=leaf_lists, data=st.data())
def test_property_inclusion_proofs_verify(leaves: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(leaves, index, size)
    assert proof == ref_path(index, leaves[:size])
    check_inclusion_and_corruptions(leaves, index, size, proof)


@PROPS
@given(leaves=leaf_lists, data=st.data())
def test_property_consistency_proofs_verify(leaves: list[bytes], data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, len(leaves)), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    proof = consistency_proof(leaves, size1, size2)
    assert proof == ref_subproof(size1, leaves[:size2], True)
    check_consistency_and_corruptions(leaves, size1, size2, proof)


@PROPS
@given(leaves=leaf_lists)
def test_property_compact_range_matches_root_at_every_prefix(leaves: list[bytes]) -> None:
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT
    for n, x in enumerate(leaves, start=1):
        cr.append(x)
        assert cr.size == n
        assert len(cr.hashes) == n.bit_count()
        assert cr.root() == root_from_leaf_hashes(leaves[:n])
    assert cr.root() == ref_mth(leaves)
    resumed = CompactRange.from_state(size=cr.size // 2, hashes=_state_at(leaves, len(leaves) // 2))
    resumed.extend(leaves[len(leaves) // 2 :])
    assert (resumed.size, resumed.root()) == (cr.size, cr.root())


def _state_at(leaves: list[bytes], size: int) -> tuple[bytes, ...]:
    cr = CompactRange()
    cr.extend(leaves[:size])
    return cr.hashes


@PROPS
@given(leaves=leaf_lists, data=st.data())
def test_property_subtree_root_matches_reference(leaves: list[bytes], data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(leaves)))
    end = data.draw(st.integers(start, len(leaves)))
    assert subtree_root(leaves, start, end) == ref_mth(leaves[start:end])


# --- Scale smoke test --------------------------------------------------------------------------------------------
def test_large_tree_roots_and_proofs_agree() -> None:
    n = 100_000
    leaves = [leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]
    cr = CompactRange()
    checkpoints: dict[int, bytes] = {}
    for i, x in enumerate(leaves, start=1):
        cr.append(x)
        if i in (1, 65_536, 77_777, n):
            checkpoints[i] = cr.root()
    root = root_from_leaf_hashes(leaves)
    assert cr.root() == root == checkpoints[n]
    assert checkpoints[65_536] == root_from_leaf_hashes(leaves[:65_536])
    proof = inclusion_proof(leaves, 54_321, n)
    assert len(proof) == 17
    assert verify_inclusion(leaf_hash=leaves[54_321], index=54_321, size=n, proof=proof, root=root)
    assert not verify_inclusion(leaf_hash=leaves[54_320], index=54_321, size=n, proof=proof, root=root)
    cproof = consistency_proof(leaves, 77_777, n)
    assert verify_consistency(old_size=77_777, new_size=n, old_root=checkpoints[77_777], new_root=root, proof=cproof)
    assert not verify_consistency(
        old_size=77_777, new_size=n, old_root=checkpoints[65_536], new_root=root, proof=cproof
    )
