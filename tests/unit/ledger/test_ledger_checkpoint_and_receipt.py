"""C2SP checkpoints and tlog-proof receipts, built and checked without a database."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest

from alprfed.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    sign_checkpoint,
)
from alprfed.ledger.entry import GENESIS_PREV, encode_entry
from alprfed.ledger.merkle import MemoryTree
from alprfed.ledger.note import NoteSigner
from alprfed.ledger.tlog_proof import TlogProof, TlogProofError, verify_tlog_proof
from alprfed.signing import SigningKey

ORIGIN = "ledger.example/test"


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, SigningKey.generate())


def test_the_spec_example_checkpoint_parses(c2sp_text: Callable[[str], str]) -> None:
    spec = c2sp_text("tlog-checkpoint.md")
    block = re.search(r"```\n(example\.com/behind-the-sofa\n.*?)\n\n", spec, re.DOTALL)
    assert block
    checkpoint = Checkpoint.parse(block.group(1) + "\n")
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.text() == block.group(1) + "\n"


def test_signed_checkpoint_round_trips(signer: NoteSigner) -> None:
    checkpoint = Checkpoint(ORIGIN, 42, bytes(range(32)))
    note = sign_checkpoint(checkpoint, signer)
    assert note.startswith(f"{ORIGIN}\n42\n{base64.b64encode(bytes(range(32))).decode()}\n\n")
    assert open_checkpoint(note, [signer.verifier], origin=ORIGIN) == checkpoint


def test_a_checkpoint_of_another_origin_is_refused(signer: NoteSigner) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, bytes(32)), signer)
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(note, [signer.verifier], origin="other.example/log")


def test_the_log_key_must_be_named_after_the_origin(signer: NoteSigner) -> None:
    with pytest.raises(CheckpointError):
        sign_checkpoint(Checkpoint("other.example/log", 1, bytes(32)), signer)


def test_extension_lines_are_parsed_but_refused_in_our_checkpoints(signer: NoteSigner) -> None:
    checkpoint = Checkpoint(ORIGIN, 3, bytes(32), ("Timestamp: 1",))
    note = sign_checkpoint(checkpoint, signer)
    with pytest.raises(CheckpointError, match="extension"):
        open_checkpoint(note, [signer.verifier], origin=ORIGIN)
    assert (
        open_checkpoint(note, [signer.verifier], origin=ORIGIN, allow_extensions=True) == checkpoint
    )


@pytest.mark.parametrize(
    ("attack", "text"),
    [
        ("leading_zero_size", f"{ORIGIN}\n042\n{'A' * 43}=\n"),
        ("negative_size", f"{ORIGIN}\n-1\n{'A' * 43}=\n"),
        ("short_root", f"{ORIGIN}\n1\nAAAA\n"),
        ("missing_root", f"{ORIGIN}\n1\n"),
        ("empty_origin", f"\n1\n{'A' * 43}=\n"),
        ("empty_extension_line", f"{ORIGIN}\n1\n{'A' * 43}=\n\nx\n"),
        ("size_beyond_uint63", f"{ORIGIN}\n9223372036854775808\n{'A' * 43}=\n"),
    ],
)
def test_malformed_checkpoints_are_refused(attack: str, text: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse(text)


def _signed_log(signer: NoteSigner, size: int) -> tuple[MemoryTree, list[bytes], str]:
    tree, entries, prev = MemoryTree(), [], GENESIS_PREV
    for index in range(size):
        data = encode_entry(
            index=index,
            prev=prev,
            time=1_764_000_000 + index,
            kind="query_decision",
            body={"n": index},
            commitments=[],
        )
        prev = tree.append(data)
        entries.append(data)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, tree.root()), signer)
    return tree, entries, note


def _receipt(tree: MemoryTree, entries: list[bytes], note: str, index: int) -> str:
    path = tuple(tree.inclusion_proof(index, tree.size))
    return TlogProof(index, path, note, extra=entries[index]).to_text()


def test_a_receipt_verifies_offline_from_the_file_and_the_key(signer: NoteSigner) -> None:
    tree, entries, note = _signed_log(signer, 11)
    for index in (0, 5, 10):
        text = _receipt(tree, entries, note, index)
        assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
        receipt = verify_tlog_proof(text, [signer.verifier], origin=ORIGIN)
        assert (receipt.entry.index, receipt.entry.body) == (index, {"n": index})
        assert receipt.checkpoint.size == 11


def test_a_receipt_round_trips_through_its_text(signer: NoteSigner) -> None:
    tree, entries, note = _signed_log(signer, 6)
    text = _receipt(tree, entries, note, 3)
    assert TlogProof.parse(text).to_text() == text


def test_a_receipt_with_an_altered_entry_fails(signer: NoteSigner) -> None:
    tree, entries, note = _signed_log(signer, 6)
    entries[2] = entries[2].replace(b'"n":2', b'"n":7')
    with pytest.raises(TlogProofError, match="inclusion proof"):
        verify_tlog_proof(_receipt(tree, entries, note, 2), [signer.verifier], origin=ORIGIN)


def test_a_receipt_claiming_another_index_fails(signer: NoteSigner) -> None:
    tree, entries, note = _signed_log(signer, 6)
    proof = TlogProof.parse(_receipt(tree, entries, note, 2))
    moved = TlogProof(3, proof.path, proof.checkpoint, proof.extra).to_text()
    with pytest.raises(TlogProofError):
        verify_tlog_proof(moved, [signer.verifier], origin=ORIGIN)


def test_a_receipt_signed_by_another_key_fails(signer: NoteSigner) -> None:
    tree, entries, _ = _signed_log(signer, 4)
    impostor = NoteSigner(ORIGIN, SigningKey.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 4, tree.root()), impostor)
    with pytest.raises(TlogProofError, match="checkpoint"):
        verify_tlog_proof(_receipt(tree, entries, note, 1), [signer.verifier], origin=ORIGIN)


def test_the_spec_example_receipt_parses(c2sp_text: Callable[[str], str]) -> None:
    spec = c2sp_text("tlog-proof.md")
    block = re.search(r"```\n(c2sp\.org/tlog-proof@v1\n.*?)```", spec, re.DOTALL)
    assert block
    proof = TlogProof.parse(block.group(1))
    assert (proof.index, len(proof.path)) == (73894, 5)
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")


@pytest.mark.parametrize(
    ("attack", "text"),
    [
        ("wrong_header", "c2sp.org/tlog-proof@v2\nindex 1\n\ncp\n"),
        ("no_index", "c2sp.org/tlog-proof@v1\n\ncp\n"),
        ("leading_zero_index", "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n"),
        ("short_hash", "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n"),
        ("no_checkpoint", "c2sp.org/tlog-proof@v1\nindex 1\n"),
        ("bad_extra", "c2sp.org/tlog-proof@v1\nextra ***\nindex 1\n\ncp\n"),
    ],
)
def test_malformed_receipts_are_refused(attack: str, text: str) -> None:
    with pytest.raises(TlogProofError):
        TlogProof.parse(text)


def test_a_receipt_without_the_entry_is_refused(signer: NoteSigner) -> None:
    tree, _entries, note = _signed_log(signer, 2)
    bare = TlogProof(1, tuple(tree.inclusion_proof(1, 2)), note).to_text()
    with pytest.raises(TlogProofError, match="no entry"):
        verify_tlog_proof(bare, [signer.verifier], origin=ORIGIN)
