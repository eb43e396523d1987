"""Verification of inclusion and consistency proofs, literally as RFC 9162 specifies them.

Pure functions that return None or raise ``ProofError``. On top of the RFC algorithms they are
strict where the RFC leaves room: every proof hash and leaf hash must be 32 bytes, a proof must
have exactly the length the sizes imply (the RFC loops fail on too long and too short proofs),
and a consistency proof from the empty tree is refused (docs/LEDGER.md, "The size-0 rule"),
as transparency-dev/merkle does. Roots are only compared, never length-checked: a root of the
wrong length can never equal a computed hash.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from alprfed.errors import LedgerVerificationError
from alprfed.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE, NODE_PREFIX, node_hash


class ProofError(LedgerVerificationError):
    """A proof is malformed or does not lead to the expected root."""


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for position, value in enumerate(hashes):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError(f"{what} {position} is not a {HASH_SIZE}-byte hash")


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def root_from_inclusion_proof(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-5, returning the root the proof leads to.

    Raises:
        ProofError: index >= tree_size, a hash that is not 32 bytes, or a proof of the wrong
            length for this index and size.
    """
    if not 0 <= index < tree_size <= MAX_TREE_SIZE:
        raise ProofError(f"leaf index {index} is not below the tree size {tree_size}")
    _check_hashes("leaf hash", [leaf])
    _check_hashes("proof hash", proof)
    fn, sn = index, tree_size - 1  # step 2
    result = leaf  # step 3
    # node_hash inlined (HASH(0x01 || left || right)): every evidence check a node makes runs
    # this loop over two proofs, so a function call per tree level is worth saving.
    sha256 = hashlib.sha256
    for sibling in proof:  # step 4
        if sn == 0:  # 4a: the path is longer than the tree is deep
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:  # 4b: the sibling is on the left
            result = sha256(NODE_PREFIX + sibling + result).digest()
            if not fn & 1:  # a right-most node without a right sibling: climb past it
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:  # the sibling is on the right
            result = sha256(NODE_PREFIX + result + sibling).digest()
        fn >>= 1  # 4c
        sn >>= 1
    if sn != 0:  # step 5
        raise ProofError("inclusion proof is too short")
    return result


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is leaf ``index`` of the tree of ``tree_size`` leaves with ``root``.

    Raises:
        ProofError: the proof is malformed or leads to another root.
    """
    if not _same(root_from_inclusion_proof(index, tree_size, leaf, proof), root):
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the root of the "
            f"tree of size {tree_size}"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """RFC 9162 §2.1.4.2: the tree of ``new_size`` leaves extends the one of ``old_size``.

    Raises:
        ProofError: old_size is 0 (meaningless, refused), old_size > new_size, equal sizes
            with a non-empty proof or different roots, a hash that is not 32 bytes, a proof of
            the wrong length, or a proof that leads to other roots.
    """
    if old_size == 0:
        raise ProofError(
            "a consistency proof from the empty tree is meaningless; a monitor "
            "without state verifies the whole tree instead"
        )
    if not 0 < old_size <= new_size <= MAX_TREE_SIZE:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    _check_hashes("proof hash", proof)
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if not _same(old_root, new_root):
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if not proof:  # step 1
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: the old tree is a complete subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    first = second = path[0]  # step 5
    for node in path[1:]:  # step 6
        if sn == 0:  # 6a
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:  # 6b
            first = node_hash(node, first)
            second = node_hash(node, second)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1  # 6c
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError("consistency proof is too short")
    if not _same(first, old_root):
        raise ProofError(f"consistency proof does not lead to the root of size {old_size}")
    if not _same(second, new_root):
        raise ProofError(f"consistency proof does not lead to the root of size {new_size}")
