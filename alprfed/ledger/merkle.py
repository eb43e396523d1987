"""The RFC 6962 / RFC 9162 Merkle tree: hashing, incremental building and proof plans.

Everything here is pure. The tree over leaves d(0) .. d(n-1) is the one of RFC 9162 §2.1.1
(identical to RFC 6962 §2.1): SHA-256, leaf hash ``H(0x00 || d)``, interior node
``H(0x01 || left || right)``, and for n > 1 the left subtree holds the largest power of two
smaller than n leaves, so the shape depends on n alone.

A *node id* ``(level, index)`` names the complete (perfect) subtree of ``2**level`` leaves that
starts at leaf ``index * 2**level``. Such a subtree never changes once its last leaf exists, so
the store keeps every one of them and answers any proof with a handful of lookups: every hash
in an RFC 6962 proof is the root of a range of leaves, and each such range is a few complete
subtrees folded together (``fold_right``). ``inclusion_plan`` and ``consistency_plan`` say which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from alprfed.errors import LedgerRangeError

HASH_SIZE = 32  # bytes of SHA-256
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}), RFC 9162 §2.1.1
MAX_TREE_SIZE = 2**63 - 1  # tree sizes are uint64 on the wire; stay inside signed BIGINT

NodeId = tuple[int, int]  # (level, index): the complete subtree of leaves [i * 2**l, (i+1) * 2**l)
ProofPlan = list[list[NodeId]]  # per proof hash: the complete subtrees it folds, left to right


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the parent of two subtrees, SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1 with k < n <= 2k (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """The root of adjacent complete subtrees given left to right, largest first.

    A range that RFC 6962 splits at the largest power of two is exactly its complete subtrees,
    largest first; its root hashes the first with the root of the rest, recursively.
    """
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def complete_subtrees(start: int, end: int) -> list[NodeId]:
    """Split the leaf range [start, end) into maximal aligned complete subtrees, left to right."""
    ids: list[NodeId] = []
    while start < end:
        alignment = (start & -start).bit_length() - 1 if start else 63
        level = min(alignment, (end - start).bit_length() - 1)
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def peaks(size: int) -> list[NodeId]:
    """The complete subtrees that make up a tree of ``size`` leaves (its compact range)."""
    return complete_subtrees(0, size)


def _check_size(size: int, what: str) -> None:
    if not 0 <= size <= MAX_TREE_SIZE:
        raise LedgerRangeError(f"{what} {size} is not a tree size (0 to 2**63 - 1)")


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Which subtrees make up the audit path of leaf ``index`` in a tree of ``size`` leaves.

    RFC 9162 §2.1.3.1 (RFC 6962 §2.1.1): PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when
    m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]). The deepest sibling comes first.

    Raises:
        LedgerRangeError: index >= size.
    """
    _check_size(size, "tree size")
    if not 0 <= index < size:
        raise LedgerRangeError(f"leaf index {index} is not below the tree size {size}")
    ranges: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        k = largest_power_of_two_below(high - low)
        if index < low + k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            low += k
    return [complete_subtrees(a, b) for a, b in reversed(ranges)]


def consistency_plan(old_size: int, new_size: int) -> ProofPlan:
    """Which subtrees make up the consistency proof from ``old_size`` to ``new_size``.

    RFC 9162 §2.1.4.1 (RFC 6962 §2.1.2): PROOF(m, D[n]) = SUBPROOF(m, D[n], true), with
    SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) = {MTH(D[m])}, and for m < n:
    m <= k gives SUBPROOF(m, D[0:k], b) : MTH(D[k:n]); m > k gives
    SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).

    Raises:
        LedgerRangeError: old_size is 0 (a proof from the empty tree is meaningless: see
            docs/LEDGER.md) or larger than new_size.
    """
    _check_size(new_size, "new tree size")
    if old_size <= 0:
        raise LedgerRangeError(
            "a consistency proof from the empty tree is meaningless; "
            "a monitor without state verifies the whole tree instead"
        )
    if old_size > new_size:
        raise LedgerRangeError(f"old size {old_size} is larger than new size {new_size}")
    ranges: list[tuple[int, int]] = []
    low, high, remaining, whole = 0, new_size, old_size, True
    while remaining != high - low:
        k = largest_power_of_two_below(high - low)
        if remaining <= k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            low += k
            remaining -= k
            whole = False
    if not whole:
        ranges.append((low, high))
    return [complete_subtrees(a, b) for a, b in reversed(ranges)]


def plan_nodes(plan: ProofPlan) -> list[NodeId]:
    """Every node a plan needs, each once, to fetch them in one query."""
    return list(dict.fromkeys(node for element in plan for node in element))


def assemble(plan: ProofPlan, hashes: Mapping[NodeId, bytes]) -> list[bytes]:
    """The proof hashes of ``plan`` from the fetched node hashes.

    Raises:
        KeyError: a node of the plan is missing from ``hashes``.
    """
    return [fold_right([hashes[node] for node in element]) for element in plan]


class CompactRange:
    """The right border of a growing tree: enough to append leaves and compute the root.

    Holds the roots of the complete subtrees that make up the first ``size`` leaves (at most
    one per level). ``on_node`` hears every complete subtree the moment it exists -- the leaf
    itself at level 0 and each parent it completes -- which is what the store persists.
    """

    __slots__ = ("_on_node", "_peaks", "size")

    def __init__(
        self,
        size: int = 0,
        peak_hashes: Sequence[bytes] = (),
        on_node: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        if len(peak_hashes) != len(peaks(size)):
            raise ValueError(
                f"a tree of {size} leaves has {len(peaks(size))} peaks, not {len(peak_hashes)}"
            )
        self.size = size
        self._peaks = list(peak_hashes)
        self._on_node = on_node

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash on the right."""
        index, level, current = self.size, 0, leaf
        if self._on_node is not None:
            self._on_node(0, index, current)
        # Each trailing one bit of the old size is a complete left sibling waiting to merge.
        while (index >> level) & 1:
            current = node_hash(self._peaks.pop(), current)
            level += 1
            if self._on_node is not None:
                self._on_node(level, index >> level, current)
        self._peaks.append(current)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def peak_hashes(self) -> list[bytes]:
        return list(self._peaks)

    def root(self) -> bytes:
        """MTH of the first ``size`` leaves (the empty-tree hash for size 0)."""
        return fold_right(self._peaks) if self._peaks else EMPTY_ROOT

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._peaks)


class MemoryTree:
    """An in-memory tree answering proofs exactly as the SQL store does (same plans, same
    stored subtrees): for tests, tools and anyone checking the store against a second build."""

    def __init__(self) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self._range = CompactRange(on_node=self._keep)

    def _keep(self, level: int, index: int, value: bytes) -> None:
        self.nodes[(level, index)] = value

    @property
    def size(self) -> int:
        return self._range.size

    def append(self, data: bytes) -> bytes:
        """Add one entry's bytes; return its leaf hash."""
        leaf = leaf_hash(data)
        self._range.append(leaf)
        return leaf

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise LedgerRangeError(f"tree size {size} is beyond the tree's {self.size} leaves")
        return fold_right([self.nodes[node] for node in peaks(size)]) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """Raises: LedgerRangeError as inclusion_plan, or for a size beyond the tree."""
        self.root(tree_size)
        return assemble(inclusion_plan(index, tree_size), self.nodes)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Raises: LedgerRangeError as consistency_plan, or for a size beyond the tree."""
        self.root(new_size)
        return assemble(consistency_plan(old_size, new_size), self.nodes)
