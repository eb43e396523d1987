"""Offline receipts in the C2SP tlog-proof format (https://c2sp.org/tlog-proof, v1).

::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's canonical bytes>
    index <decimal>
    <base64 inclusion-path hash, leaf sibling first>
    ...
    <blank line>
    <the checkpoint, verbatim>

alprfed always puts the entry itself in the ``extra`` line, so a verifier needs nothing but
the file and the log's verifier key: it hashes the entry, checks the checkpoint's signature,
then the inclusion proof. The extra data is unauthenticated until that proof holds.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from alprfed.errors import LedgerVerificationError
from alprfed.ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from alprfed.ledger.entry import MAX_ENTRY_BYTES, LedgerEntryView, decode_entry
from alprfed.ledger.merkle import HASH_SIZE, leaf_hash
from alprfed.ledger.note import NoteError, NoteVerifier, strict_b64decode
from alprfed.ledger.proof import verify_inclusion
from alprfed.ledger.witness_policy import WitnessPolicy, WitnessPolicyError

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64  # a tree of 2**63 leaves needs 63
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


class TlogProofError(LedgerVerificationError):
    """A tlog-proof file is malformed or does not verify."""


@dataclass(frozen=True)
class TlogProof:
    index: int
    path: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None

    def to_text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.path)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        """Raises: TlogProofError for anything but a well-formed tlog-proof@v1."""
        head, separator, checkpoint = text.partition("\n\n")
        if not separator or not checkpoint:
            raise TlogProofError("a tlog-proof needs a blank line and then the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise TlogProofError(f"the first line must be {HEADER!r}")
        position, extra = 1, None
        if len(lines) > position and lines[position].startswith("extra "):
            extra = _b64(lines[position][len("extra ") :], "extra data")
            if len(extra) > MAX_ENTRY_BYTES:
                raise TlogProofError(f"extra data exceeds {MAX_ENTRY_BYTES} bytes")
            position += 1
        if len(lines) <= position or not lines[position].startswith("index "):
            raise TlogProofError("missing 'index <decimal>' line")
        index_text = lines[position][len("index ") :]
        if not _DECIMAL.fullmatch(index_text):
            raise TlogProofError("the index must be decimal without leading zeros")
        hashes = lines[position + 1 :]
        if len(hashes) > MAX_PROOF_HASHES:
            raise TlogProofError(f"more than {MAX_PROOF_HASHES} proof hashes")
        path = tuple(_b64(line, "proof hash") for line in hashes)
        if any(len(h) != HASH_SIZE for h in path):
            raise TlogProofError(f"every proof hash must be {HASH_SIZE} bytes")
        return cls(int(index_text), path, checkpoint, extra)


def _b64(text: str, what: str) -> bytes:
    try:
        return strict_b64decode(text, what)
    except NoteError as exc:
        raise TlogProofError(exc.detail) from None


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a verified tlog-proof establishes: this entry is in the log the checkpoint signs."""

    entry: LedgerEntryView
    checkpoint: Checkpoint


def verify_tlog_proof(
    text: str,
    verifiers: Sequence[NoteVerifier],
    *,
    origin: str,
    witness_policy: WitnessPolicy | None = None,
) -> VerifiedReceipt:
    """Verify an alprfed receipt offline: checkpoint signature, witness quorum (with
    ``witness_policy``), inclusion, entry format.

    Raises:
        TlogProofError: malformed file, no entry in the extra line, a checkpoint not signed by
            a known key or of another origin, a checkpoint below the policy's witness
            quorum or with a bad cosignature, a failing inclusion proof, or entry bytes that
            are not an alprfed entry at the proof's index.
    """
    proof = TlogProof.parse(text)
    if proof.extra is None:
        raise TlogProofError("this receipt carries no entry (no 'extra' line)")
    try:
        checkpoint = open_checkpoint(proof.checkpoint, verifiers, origin=origin)
    except CheckpointError as exc:
        raise TlogProofError(f"checkpoint: {exc.detail}") from None
    if witness_policy is not None:
        try:
            witness_policy.check(proof.checkpoint, logs=tuple(verifiers), origin=origin)
        except WitnessPolicyError as exc:
            raise TlogProofError(f"checkpoint: {exc}") from None
    try:
        verify_inclusion(
            proof.index, checkpoint.size, leaf_hash(proof.extra), proof.path, checkpoint.root
        )
        entry = decode_entry(proof.extra)
    except LedgerVerificationError as exc:
        raise TlogProofError(str(exc), index=proof.index) from None
    if entry.index != proof.index:
        raise TlogProofError(f"the entry says index {entry.index}", index=proof.index)
    return VerifiedReceipt(entry, checkpoint)
