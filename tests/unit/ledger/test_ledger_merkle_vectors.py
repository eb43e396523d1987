"""RFC 6962 / RFC 9162 hashing and proofs against the published vectors (tests/vectors).

Every transparency-dev/merkle probe is run: each happy path must verify and each mutation
(the attack it names) must fail. Generation is checked by rebuilding the vector trees and
reproducing the published proofs byte for byte.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from alprfed.errors import LedgerRangeError
from alprfed.ledger.merkle import EMPTY_ROOT, MemoryTree, leaf_hash, node_hash
from alprfed.ledger.proof import ProofError, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "merkle"
INCLUSION_PROBES = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_PROBES = sorted((VECTORS / "consistency").rglob("*.json"))


def _probe_id(path: Path) -> str:
    return str(path.relative_to(VECTORS).with_suffix(""))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_all_vendored_probes_are_present() -> None:
    # 98 inclusion and 98 consistency probes at transparency-dev/merkle@417fb0c.
    assert (len(INCLUSION_PROBES), len(CONSISTENCY_PROBES)) == (98, 98)


@pytest.mark.parametrize("path", INCLUSION_PROBES, ids=_probe_id)
def test_inclusion_probe(path: Path) -> None:
    probe = _load(path)
    proof = [_b64(h) for h in probe["proof"] or []]

    def run() -> None:
        verify_inclusion(
            probe["leafIdx"], probe["treeSize"], _b64(probe["leafHash"]), proof, _b64(probe["root"])
        )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()


@pytest.mark.parametrize("path", CONSISTENCY_PROBES, ids=_probe_id)
def test_consistency_probe(path: Path) -> None:
    probe = _load(path)
    proof = [_b64(h) for h in probe["proof"] or []]

    def run() -> None:
        verify_consistency(
            probe["size1"], probe["size2"], _b64(probe["root1"]), _b64(probe["root2"]), proof
        )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()


def test_hash_known_answers(core_vectors: dict[str, Any]) -> None:
    known = core_vectors["hashing"]
    assert EMPTY_ROOT.hex() == known["empty_tree_root"]
    assert leaf_hash(b"").hex() == known["leaf_hash_of_empty_input"]
    assert leaf_hash(b"L123456").hex() == known["leaf_hash_of_ascii_L123456"]
    assert node_hash(b"N123", b"N456").hex() == known["node_hash_of_ascii_N123_N456"]


def _vector_tree(core_vectors: dict[str, Any]) -> MemoryTree:
    tree = MemoryTree()
    for leaf in core_vectors["tree"]["leaf_inputs_hex"]:
        tree.append(bytes.fromhex(leaf))
    return tree


def test_roots_of_every_prefix(core_vectors: dict[str, Any]) -> None:
    tree = _vector_tree(core_vectors)
    for size, root in core_vectors["tree"]["root_by_tree_size"].items():
        assert tree.root(int(size)).hex() == root, f"root of the first {size} leaves"


def test_published_inclusion_proofs_are_reproduced(core_vectors: dict[str, Any]) -> None:
    tree = _vector_tree(core_vectors)
    for case in core_vectors["inclusion"]["cases"]:
        proof = tree.inclusion_proof(case["leaf_index"], case["tree_size"])
        assert [h.hex() for h in proof] == case["proof"]
        assert tree.nodes[(0, case["leaf_index"])].hex() == case["leaf_hash"]
        verify_inclusion(
            case["leaf_index"],
            case["tree_size"],
            bytes.fromhex(case["leaf_hash"]),
            proof,
            bytes.fromhex(case["root"]),
        )


def test_published_consistency_proofs_are_reproduced(core_vectors: dict[str, Any]) -> None:
    tree = _vector_tree(core_vectors)
    for case in core_vectors["consistency"]["cases"]:
        proof = tree.consistency_proof(case["size1"], case["size2"])
        assert [h.hex() for h in proof] == case["proof"]
        verify_consistency(
            case["size1"],
            case["size2"],
            bytes.fromhex(case["root1"]),
            bytes.fromhex(case["root2"]),
            proof,
        )


def test_rfc6962_worked_examples(core_vectors: dict[str, Any]) -> None:
    """RFC 6962 §2.1.3 names the proofs of its 7-leaf example tree by node letter."""
    tree = _vector_tree(core_vectors)
    leaf = [tree.nodes[(0, i)] for i in range(7)]
    g, h, i = node_hash(leaf[0], leaf[1]), node_hash(leaf[2], leaf[3]), node_hash(leaf[4], leaf[5])
    k, l_ = node_hash(g, h), node_hash(i, leaf[6])
    assert tree.inclusion_proof(0, 7) == [leaf[1], h, l_]  # [b, h, l]
    assert tree.inclusion_proof(3, 7) == [leaf[2], g, l_]  # [c, g, l]
    assert tree.inclusion_proof(4, 7) == [leaf[5], leaf[6], k]  # [f, j, k]
    assert tree.inclusion_proof(6, 7) == [i, k]  # [i, k]
    assert tree.consistency_proof(3, 7) == [leaf[2], leaf[3], g, l_]  # [c, d, g, l]
    assert tree.consistency_proof(4, 7) == [l_]  # [l]
    assert tree.consistency_proof(6, 7) == [i, leaf[6], k]  # [i, j, k]


def test_proof_requests_outside_the_tree_are_refused(core_vectors: dict[str, Any]) -> None:
    tree = _vector_tree(core_vectors)
    for index, size in [(8, 8), (0, 0), (0, 9), (-1, 3)]:
        with pytest.raises(LedgerRangeError):
            tree.inclusion_proof(index, size)
    for old, new in [(0, 5), (0, 0), (6, 5), (3, 9)]:
        with pytest.raises(LedgerRangeError):
            tree.consistency_proof(old, new)
