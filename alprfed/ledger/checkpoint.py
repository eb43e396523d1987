"""C2SP checkpoints (https://c2sp.org/tlog-checkpoint): a signed tree head as a signed note.

The note text is three lines -- the origin, the tree size in decimal without leading zeros, the
base64 RFC 6962 root -- optionally followed by extension lines. alprfed logs never write
extension lines (monitors cannot audit them) and refuse them in their own checkpoints, but the
parser accepts them so checkpoints of other logs can be read. The log signs with a key whose
name is the origin.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from alprfed.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE
from alprfed.ledger.note import (
    Note,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_note,
    sign_note,
    strict_b64decode,
)

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


class CheckpointError(NoteError):
    """A checkpoint is malformed, from another log, or not signed by a known key."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text, exactly as signed."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text (the part before the signatures).

        Raises:
            CheckpointError: fewer than three lines, an empty origin or extension line, a size
                that is not canonical decimal, or a root that is not 32 bytes of base64.
        """
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has an origin, a size and a root line")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointError("checkpoint origin is empty")
        if not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint size {size_text[:24]!r} is not a decimal size")
        try:
            root = strict_b64decode(root_text, "checkpoint root")
        except NoteError as exc:
            raise CheckpointError(exc.detail) from None
        if len(root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root is not {HASH_SIZE} bytes")
        if "" in extensions:
            raise CheckpointError("checkpoint extension lines must not be empty")
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note of ``checkpoint``.

    Raises:
        CheckpointError: the signer's key name is not the checkpoint's origin.
    """
    if signer.name != checkpoint.origin:
        raise CheckpointError(
            f"the log key is named {signer.name!r}, not after the origin {checkpoint.origin!r}"
        )
    return sign_note(checkpoint.text(), [signer])


def open_checkpoint(
    note: str | Note,
    verifiers: Sequence[NoteVerifier],
    *,
    origin: str,
    allow_extensions: bool = False,
) -> Checkpoint:
    """Verify the signatures of a checkpoint note, then parse it and check its origin.

    Raises:
        CheckpointError: malformed, not signed by a known key, a known key's signature fails,
            another origin, or extension lines where none are allowed.
    """
    try:
        parsed = open_note(note, verifiers)
    except CheckpointError:
        raise
    except NoteError as exc:
        raise CheckpointError(exc.detail) from None
    checkpoint = Checkpoint.parse(parsed.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    if checkpoint.extensions and not allow_extensions:
        raise CheckpointError("checkpoint has extension lines; alprfed logs never write them")
    return checkpoint


def read_checkpoint(note: str) -> Checkpoint:
    """Parse a checkpoint note WITHOUT verifying it: only for notes the caller itself signed
    or stored (the log reading its own head). Never for anything received.

    Raises:
        CheckpointError: malformed.
    """
    try:
        return Checkpoint.parse(parse_note(note).text)
    except CheckpointError:
        raise
    except NoteError as exc:
        raise CheckpointError(exc.detail) from None


def verifiers_origin(verifiers: Sequence[NoteVerifier]) -> str:
    """The origin an alprfed log's keys speak for: their common key name.

    Raises:
        CheckpointError: no key, or keys with different names.
    """
    names = {v.name for v in verifiers}
    if len(names) != 1:
        raise CheckpointError("give one or more log keys, all named after the log's origin")
    return names.pop()
