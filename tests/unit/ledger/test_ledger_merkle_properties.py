"""Properties of the tree and its proofs for random sizes (hypothesis).

The proofs the ledger generates from stored subtrees are compared with a direct transcription of
the RFC 6962 §2.1 recursive definitions (MTH, PATH, PROOF); every proof must verify, and any
single-bit change to a proof hash, the leaf or a root must make it fail.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alprfed.ledger.merkle import EMPTY_ROOT, MemoryTree, leaf_hash, node_hash
from alprfed.ledger.proof import ProofError, verify_consistency, verify_inclusion

MAX_LEAVES = 300


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, recursively over leaf inputs."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _k(len(leaves))
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_mth(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_mth(leaves[:k])]


def reference_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [reference_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*reference_subproof(m, leaves[:k], whole), reference_mth(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), reference_mth(leaves[:k])]


def _flip_one(hashes: list[bytes], data: st.DataObject) -> list[bytes]:
    """The hashes with one bit of one of them flipped (hypothesis picks which)."""
    target = data.draw(st.integers(0, len(hashes) - 1), label="changed hash")
    bit = data.draw(st.integers(0, 255), label="changed bit")
    changed = list(hashes)
    flipped = bytearray(changed[target])
    flipped[bit // 8] ^= 1 << (bit % 8)
    changed[target] = bytes(flipped)
    return changed


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[bytes], MemoryTree]:
    size = draw(st.integers(1, MAX_LEAVES))
    leaves = [i.to_bytes(4, "big") + b"entry" for i in range(size)]
    tree = MemoryTree()
    for data in leaves:
        tree.append(data)
    return leaves, tree


@settings(max_examples=150, deadline=None)
@given(trees(), st.data())
def test_inclusion_proofs_match_the_rfc_and_verify(
    built: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, tree = built
    size = data.draw(st.integers(1, len(leaves)), label="tree size")
    index = data.draw(st.integers(0, size - 1), label="leaf index")
    proof = tree.inclusion_proof(index, size)
    root = tree.root(size)
    assert root == reference_mth(leaves[:size])
    assert proof == reference_path(index, leaves[:size])
    verify_inclusion(index, size, leaf_hash(leaves[index]), proof, root)


@settings(max_examples=150, deadline=None)
@given(trees(), st.data())
def test_any_single_bit_change_breaks_an_inclusion_proof(
    built: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, tree = built
    size = data.draw(st.integers(1, len(leaves)), label="tree size")
    index = data.draw(st.integers(0, size - 1), label="leaf index")
    proof = tree.inclusion_proof(index, size)
    leaf, root, *path = _flip_one([leaf_hash(leaves[index]), tree.root(size), *proof], data)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, path, root)


@settings(max_examples=150, deadline=None)
@given(trees(), st.data())
def test_consistency_proofs_match_the_rfc_and_verify(
    built: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, tree = built
    new = data.draw(st.integers(1, len(leaves)), label="new size")
    old = data.draw(st.integers(1, new), label="old size")
    proof = tree.consistency_proof(old, new)
    assert proof == reference_subproof(old, leaves[:new], True)
    verify_consistency(old, new, tree.root(old), tree.root(new), proof)


@settings(max_examples=150, deadline=None)
@given(trees(), st.data())
def test_any_single_bit_change_breaks_a_consistency_proof(
    built: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, tree = built
    new = data.draw(st.integers(1, len(leaves)), label="new size")
    old = data.draw(st.integers(1, new), label="old size")
    proof = tree.consistency_proof(old, new)
    old_root, new_root, *path = _flip_one([tree.root(old), tree.root(new), *proof], data)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, path)


@settings(max_examples=100, deadline=None)
@given(trees(), st.data())
def test_proofs_of_the_wrong_length_or_position_fail(
    built: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, tree = built
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1), label="leaf index")
    proof, root, leaf = tree.inclusion_proof(index, size), tree.root(size), leaf_hash(leaves[index])
    # (A wrong tree size is not always detectable from the path alone -- leaf 0 has the same
    # path in trees of 3 and 4 leaves -- which is why the size comes from a signed checkpoint.)
    wrong = [(index, size, [*proof, root])]  # one hash too many
    if proof:
        wrong.append((index, size, proof[:-1]))  # one hash too few
    if size > 1:
        wrong.append(((index + 1) % size, size, proof))  # another leaf's position
    for claimed_index, claimed_size, claimed_proof in wrong:
        try:
            verify_inclusion(claimed_index, claimed_size, leaf, claimed_proof, root)
        except ProofError:
            continue
        raise AssertionError(
            f"verified at index {claimed_index}, size {claimed_size}, {len(claimed_proof)} hashes"
        )
