"""RFC 6962 / RFC 9162 Merkle tree hashing, streaming roots, and inclusion and consistency proofs (stdlib only).

Hashes are SHA-256 with domain separation: leaf = SHA256(0x00 || data), node = SHA256(0x01 || left || right), and
the empty tree hashes to SHA256(""). Proof generators raise ValueError on bad arguments; verifiers never raise and
return False for anything malformed (sizes out of range, wrong proof length, hashes that are not 32 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
# Copying a context that has already absorbed the 0x01 prefix is the cheapest way to hash a node in CPython.
_NODE_CTX = hashlib.sha256(_NODE_PREFIX)


def leaf_hash(data: bytes) -> bytes:
    """MTH of a one-entry list: SHA256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node hash: SHA256(0x01 || left || right)."""
    h = _NODE_CTX.copy()
    h.update(left)
    h.update(right)
    return h.digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_leaf_hashes(leaf_hashes: Sequence[bytes]) -> None:
    if leaf_hashes and set(map(len, leaf_hashes)) != {HASH_SIZE}:
        raise ValueError(f"every leaf hash must be {HASH_SIZE} bytes")


def _mth(level: list[bytes]) -> bytes:
    """Root of a non-empty list of already-validated hashes, computed level by level.

    Pairing neighbours from the left and carrying an odd last node up unchanged builds exactly the RFC 6962 tree
    (split at the largest power of two below n), so no recursion is needed.
    """
    copy = _NODE_CTX.copy
    while (n := len(level)) > 1:
        carry = level[-1] if n & 1 else None
        nxt: list[bytes] = []
        push = nxt.append
        for left, right in zip(level[0::2], level[1::2], strict=False):  # the odd tail is carried explicitly
            h = copy()
            h.update(left)
            h.update(right)
            push(h.digest())
        if carry is not None:
            push(carry)
        level = nxt
    return level[0]


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) per RFC 6962 §2.1 for a sequence of 32-byte leaf hashes; EMPTY_ROOT for an empty sequence."""
    if not leaf_hashes:
        return EMPTY_ROOT
    _check_leaf_hashes(leaf_hashes)
    return _mth(list(leaf_hashes))


def subtree_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) for 0 <= start <= end <= len(leaf_hashes)."""
    if not (_is_size(start) and _is_size(end) and start <= end <= len(leaf_hashes)):
        raise ValueError("subtree range out of bounds")
    if start == end:
        return EMPTY_ROOT
    level = list(leaf_hashes[start:end])
    _check_leaf_hashes(level)
    return _mth(level)


class CompactRange:
    """Streaming Merkle tree builder over [0, size): O(log n) memory, root available after any append.

    The state is the list of roots of the perfect subtrees that make up the prefix, largest (leftmost) first; one
    per set bit of ``size``. ``CompactRange.from_state(size=..., hashes=...)`` resumes from a saved state.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @classmethod
    def from_state(cls, *, size: int, hashes: Sequence[bytes]) -> CompactRange:
        if not _is_size(size) or len(hashes) != size.bit_count() or not all(map(_is_hash, hashes)):
            raise ValueError("compact range state does not match its size")
        cr = cls()
        cr._size = size
        cr._stack = list(hashes)
        return cr

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Perfect-subtree roots covering [0, size), left to right."""
        return tuple(self._stack)

    def append(self, leaf_hash: bytes) -> None:
        """Add one 32-byte leaf hash (amortised one node hash per call)."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        n = self._size
        self._size = n + 1
        stack = self._stack
        if n & 1:
            pop = stack.pop
            copy = _NODE_CTX.copy
            h = leaf_hash
            while n & 1:
                ctx = copy()
                ctx.update(pop())
                ctx.update(h)
                h = ctx.digest()
                n >>= 1
            stack.append(h)
        else:
            stack.append(leaf_hash)

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes; same result as calling append() for each, with less per-call overhead."""
        n = self._size
        stack = self._stack
        push = stack.append
        pop = stack.pop
        copy = _NODE_CTX.copy
        try:
            for h in leaf_hashes:
                if type(h) is not bytes or len(h) != HASH_SIZE:
                    raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
                m = n
                n += 1
                while m & 1:
                    ctx = copy()
                    ctx.update(pop())
                    ctx.update(h)
                    h = ctx.digest()
                    m >>= 1
                push(h)
        finally:
            # Leaves appended before a bad one stay appended, exactly as with repeated append() calls.
            self._size = n

    def append_range(self, *, size: int, hashes: Sequence[bytes]) -> None:
        """Append the next ``size`` leaves given as their own compact range (``hashes``: the perfect-subtree roots
        of those leaves alone, as ``CompactRange.hashes`` gives them), e.g. computed by another process.

        The current size must be a multiple of the largest of those subtrees (ranges cut at multiples of a power of
        two are): the result is then exactly that of appending the leaves one by one.
        """
        if not _is_size(size) or len(hashes) != size.bit_count() or not all(map(_is_hash, hashes)):
            raise ValueError("compact range state does not match its size")
        if size and self._size % (1 << (size.bit_length() - 1)):
            raise ValueError("the range does not start at a multiple of its largest subtree")
        stack = self._stack
        copy = _NODE_CTX.copy
        bits = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        for height, h in zip(bits, hashes, strict=True):
            m = self._size >> height
            while m & 1:
                ctx = copy()
                ctx.update(stack.pop())
                ctx.update(h)
                h = ctx.digest()
                m >>= 1
            stack.append(h)
            self._size += 1 << height

    def root(self) -> bytes:
        """MTH of the leaves appended so far (EMPTY_ROOT when none)."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        h = stack[-1]
        for left in reversed(stack[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        cr = CompactRange()
        cr._size = self._size
        cr._stack = list(self._stack)
        return cr

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) per RFC 9162 §2.1.3.1, ordered from the leaf's sibling up to the root's child.

    O(size) hashing: each proof element is the root of a disjoint subtree, computed iteratively.
    """
    if not (_is_size(index) and _is_size(size)) or size > len(leaf_hashes) or index >= size:
        raise ValueError("need 0 <= index < size <= len(leaf_hashes)")
    _check_leaf_hashes(leaf_hashes[index : index + 1])
    path: list[bytes] = []
    lo, hi, m = 0, size, index  # current subtree is D[lo:hi], target is its m-th leaf
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_root(leaf_hashes, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()  # the recursion appends the sibling after the deeper path
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) per RFC 9162 §2.1.4.1; empty when old_size is 0 or equals new_size."""
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size or new_size > len(leaf_hashes):
        raise ValueError("need 0 <= old_size <= new_size <= len(leaf_hashes)")
    if old_size == 0 or old_size == new_size:
        return []
    path: list[bytes] = []
    lo, hi, m, whole = 0, new_size, old_size, True  # SUBPROOF(m, D[lo:hi], whole)
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            path.append(subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_root(leaf_hashes, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        path.append(subtree_root(leaf_hashes, lo, hi))
    path.reverse()
    return path


def verify_inclusion(*, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: True only if ``proof`` shows ``leaf_hash`` at ``index`` in the tree ``(size, root)``."""
    if not (_is_size(index) and _is_size(size)) or index >= size:
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root)) or not all(map(_is_hash, proof)):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: True only if ``proof`` shows the tree ``(old_size, old_root)`` is a prefix of the other.

    Equal sizes need an empty proof and equal roots. From size 0 the only valid old root is EMPTY_ROOT and the
    proof must be empty (the empty tree is a prefix of every tree).
    """
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)) or not all(map(_is_hash, proof)):
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
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
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
