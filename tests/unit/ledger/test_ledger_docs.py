"""docs/LEDGER.md tells third parties how to verify without alprfed: its example must be true.

The worked example is rebuilt from the key seed the document names and compared value by
value, and the document's stand-alone Python verifier (standard library and `cryptography`
only) is run on the document's receipt.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprfed.ledger.checkpoint import Checkpoint, sign_checkpoint
from alprfed.ledger.entry import GENESIS_PREV, encode_entry, plate_commitment
from alprfed.ledger.merkle import MemoryTree
from alprfed.ledger.note import NoteSigner, NoteVerifier
from alprfed.ledger.tlog_proof import TlogProof, verify_tlog_proof
from alprfed.signing import SigningKey

DOC = (Path(__file__).resolve().parents[3] / "docs" / "LEDGER.md").read_text(encoding="utf-8")
ORIGIN = "ledger.example-federation.org/v1"


def _blocks(language: str = "") -> list[str]:
    """The contents of the fenced code blocks tagged ``language`` (untagged by default)."""
    found, current, tag = [], None, ""
    for line in DOC.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, tag = [], line[3:].strip()
            else:
                if tag == language:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def _block_starting(prefix: str) -> str:
    """The first untagged block starting with ``prefix`` that is an example, not a template."""
    return next(b for b in _blocks() if b.startswith(prefix) and "<" not in b)


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """The example log, rebuilt from the seed the document names."""
    seed_text = re.search(r"seed is\s+SHA-256 of `([^`]+)`", DOC)
    assert seed_text
    seed = hashlib.sha256(seed_text.group(1).encode()).digest()
    signer = NoteSigner(ORIGIN, SigningKey(Ed25519PrivateKey.from_private_bytes(seed)))
    salts = [hashlib.sha256(b"example salt").digest(), hashlib.sha256(b"example salt 2").digest()]
    bodies = [
        ("policy_bundle", {"bundle_sha256": "9f" * 32}, []),
        (
            "warrant_registered",
            {"warrant_id": "w-2025-0042", "court": "ca-superior-sc"},
            [plate_commitment(salts[0], "7ABC123")],
        ),
        (
            "query_decision",
            {"query_id": "5be0c2d1e8a94b1f9d2c7e6a3b4f5a6d", "decision": "allowed"},
            [plate_commitment(salts[1], "7ABC123")],
        ),
    ]
    tree, prev, entries = MemoryTree(), GENESIS_PREV, []
    for index, (kind, body, commitments) in enumerate(bodies):
        data = encode_entry(
            index=index,
            prev=prev,
            time=1_764_000_000 + index,
            kind=kind,
            body=body,
            commitments=commitments,
        )
        prev = tree.append(data)
        entries.append(data)
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, tree.root()), signer)
    receipt = TlogProof(1, tuple(tree.inclusion_proof(1, 3)), note, extra=entries[1]).to_text()
    return {
        "signer": signer,
        "tree": tree,
        "entries": entries,
        "note": note,
        "receipt": receipt,
        "salt": salts[0],
    }


def test_the_documented_values_are_the_example_logs(example: dict[str, Any]) -> None:
    assert example["signer"].verifier.to_vkey() + "\n" in _blocks()
    entry = example["entries"][1]
    assert entry.decode() + "\n" in _blocks()
    assert f"{len(entry)} bytes" in DOC
    for index in range(3):
        leaf = example["tree"].nodes[(0, index)].hex()
        assert f"`{leaf[:8]}...{leaf[-5:]}`" in DOC
    assert example["note"] in _blocks()
    assert example["receipt"] in _blocks()
    assert example["salt"].hex() in DOC
    for value in example["tree"].consistency_proof(1, 3):
        assert f"`{base64.b64encode(value).decode()}`" in DOC


def test_the_documented_receipt_verifies_with_alprfed() -> None:
    vkey = _block_starting(ORIGIN + "+").strip()
    receipt = verify_tlog_proof(
        _block_starting("c2sp.org/tlog-proof@v1"), [NoteVerifier.from_vkey(vkey)], origin=ORIGIN
    )
    assert receipt.entry.body["warrant_id"] == "w-2025-0042"


def test_the_documented_standalone_verifier_works_and_refuses_a_forgery() -> None:
    code = next(b for b in _blocks("python") if "def verify_receipt" in b)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/LEDGER.md", "exec"), namespace)  # the document's own code
    vkey = _block_starting(ORIGIN + "+").strip()
    receipt = _block_starting("c2sp.org/tlog-proof@v1")
    assert namespace["verify_receipt"](receipt, vkey)["index"] == 1
    forged = receipt.replace("index 1\n", "index 0\n")
    with pytest.raises(AssertionError):
        namespace["verify_receipt"](forged, vkey)
