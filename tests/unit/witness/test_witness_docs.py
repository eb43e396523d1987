"""docs/WITNESS.md tells oversight bodies the exact bytes: its worked example must be true.

The example is rebuilt from the key seeds the document names, compared block by block, and its
request is submitted to a real witness whose answer must be the document's, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprfed.clock import FixedClock
from alprfed.ledger.checkpoint import Checkpoint, sign_checkpoint
from alprfed.ledger.cosignature import CosignatureSigner, cosigned_message
from alprfed.ledger.merkle import EMPTY_ROOT, MemoryTree
from alprfed.ledger.note import NoteSigner
from alprfed.signing import SigningKey
from witness.config import WitnessedLog, load_witness_config
from witness.protocol import SizeConflict
from witness.service import WitnessService
from witness.store import WitnessStore

DOC = (Path(__file__).resolve().parents[3] / "docs" / "WITNESS.md").read_text(encoding="utf-8")
ORIGIN = "ledger.example-federation.org/v1"
NAME = "witness.ca-state-auditor.example/w1"
TIME = 1_764_000_000


def _blocks() -> list[str]:
    """The contents of the untagged fenced code blocks that start in column 0."""
    found: list[str] = []
    current: list[str] | None = None
    tag = ""
    for line in DOC.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, tag = [], line[3:].strip()
            else:
                if not tag:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def _block_starting(prefix: str) -> str:
    return next(b for b in _blocks() if b.startswith(prefix))


def _key(role: str) -> SigningKey:
    """The example key whose seed the document names: SHA-256 of `... example: <role> key`."""
    seeds = dict((r, s) for s, r in re.findall(r"`(alprfed witness example: (\w+) key)`", DOC))
    seed = hashlib.sha256(seeds[role].encode()).digest()
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))


@pytest.fixture(scope="module")
def example() -> dict[str, object]:
    log = NoteSigner(ORIGIN, _key("log"))
    witness = CosignatureSigner(NAME, _key("witness"))
    tree = MemoryTree()
    for i in range(8):
        tree.append(f"entry {i}".encode())
    proof = tree.consistency_proof(5, 8)
    cp8 = Checkpoint(ORIGIN, 8, tree.root(8))
    request = (
        "old 5\n"
        + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        + "\n"
        + sign_checkpoint(cp8, log)
    )
    return {
        "log": log,
        "witness": witness,
        "stored": sign_checkpoint(Checkpoint(ORIGIN, 5, tree.root(5)), log),
        "request": request,
        "message": cosigned_message(cp8.text(), TIME).decode(),
        "response": witness.signature_line(cp8.text(), TIME),
    }


def test_the_vkeys_are_the_documented_ones(example: dict[str, object]) -> None:
    log, witness = example["log"], example["witness"]
    assert isinstance(log, NoteSigner)
    assert isinstance(witness, CosignatureSigner)
    vkeys = _block_starting(ORIGIN + "+")
    assert vkeys == f"{log.verifier.to_vkey()}\n{witness.verifier.to_vkey()}\n"


def test_the_stored_checkpoint_request_message_and_response_are_exact(
    example: dict[str, object],
) -> None:
    assert _block_starting(f"{ORIGIN}\n5\n") == example["stored"]
    request = _block_starting("old 5\n")
    assert request == example["request"]
    assert f"The request body, {len(request.encode())} bytes" in DOC
    assert _block_starting("cosignature/v1\ntime 1764000000\n") == example["message"]
    response = _block_starting(f"\u2014 {NAME} ")
    assert response == example["response"]
    raw = base64.b64decode(response.split()[2])
    assert f"key ID `{raw[:4].hex()}`" in DOC
    assert f"timestamp `{raw[4:12].hex()}` ({int.from_bytes(raw[4:12], 'big')})" in DOC


def test_a_real_witness_answers_the_documented_request_with_the_documented_bytes(
    example: dict[str, object], tmp_path: Path
) -> None:
    log = example["log"]
    assert isinstance(log, NoteSigner)
    store = WitnessStore.open(f"sqlite:///{tmp_path / 'w.db'}")
    clock = FixedClock(TIME - 60)
    try:
        service = WitnessService(
            name=NAME,
            key=_key("witness"),
            logs=MappingProxyType({ORIGIN: WitnessedLog(ORIGIN, (log.verifier,))}),
            store=store,
            clock=clock,
        )
        stored = _block_starting(f"{ORIGIN}\n5\n")
        service.add_checkpoint(b"old 0\n\n" + stored.encode())  # the witness is at size 5
        clock.set(TIME)
        request = _block_starting("old 5\n").encode()
        answer = service.add_checkpoint(request)
        assert answer.body == _block_starting(f"\u2014 {NAME} ")
        with pytest.raises(SizeConflict) as again:  # "Sending the same request again"
            service.add_checkpoint(request)
        assert again.value.body == "8\n"
        assert "with body `8\\n`" in DOC
    finally:
        store.close()


def test_the_documented_empty_root_is_sha256_of_nothing() -> None:
    assert f"`{base64.b64encode(EMPTY_ROOT).decode()}`" in DOC


def test_the_documented_configuration_loads(tmp_path: Path, example: dict[str, object]) -> None:
    toml_block = DOC.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "witness-cert.pem").write_text("placeholder")
    (tmp_path / "witness-tls-key.pem").write_text("placeholder")
    path = tmp_path / "witness.toml"
    path.write_text(toml_block)
    config = load_witness_config(path)
    log = example["log"]
    assert isinstance(log, NoteSigner)
    assert config.name == NAME
    assert config.logs[ORIGIN].keys == (log.verifier,)
    assert config.tls is not None
