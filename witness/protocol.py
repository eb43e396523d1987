"""The add-checkpoint request of C2SP tlog-witness and its checks, in the spec's order (pure).

The body is, every line ending in U+000A::

    old <size, decimal, no leading zeros>
    <zero to 63 lines: base64 of one 32-byte hash of the consistency proof>
    <an empty line>
    <the checkpoint note: text, blank line, signature lines>

Each refusal is a ``WitnessRefusal`` carrying its HTTP status: 400 malformed (or old size above
the checkpoint's), 403 not signed by a trusted key of the origin or a trusted key's signature
fails, 404 unknown origin, 409 old size is not the size the witness last cosigned (the body is
that size), 422 the checkpoint is not consistent with the one the witness last cosigned.

Extension lines after the checkpoint's root are accepted and cosigned: the cosignature covers
them (tlog-cosignature), but like every C2SP witness this one states nothing about them.
alprfed's own verifiers refuse checkpoints with extension lines, so its logs never write them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alprfed.errors import AlprfedError
from alprfed.ledger.checkpoint import Checkpoint, open_checkpoint
from alprfed.ledger.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE
from alprfed.ledger.note import SIGNATURE_PREFIX, NoteError, parse_note, strict_b64decode
from alprfed.ledger.proof import ProofError, verify_consistency
from witness.config import WitnessedLog

MAX_PROOF_LINES = 63  # tlog-witness: clients MUST NOT send more (a proof of a 2**63 tree)
# An add-checkpoint body is the old size line, at most 63 hash lines of 45 bytes and a
# checkpoint with a few signatures: about 4 KiB. 64 KiB leaves room for many cosignatures.
MAX_REQUEST_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"  # the 409 answer: the size the witness is at
TEXT_CONTENT_TYPE = "text/plain"  # every other answer, in UTF-8
_OLD_SIZE = re.compile(r"old (0|[1-9][0-9]{0,18})")


class WitnessRefusal(AlprfedError):
    """The witness refuses to cosign; ``http_status`` is the status tlog-witness prescribes.

    ``str`` is for the witness's log and the client; ``body`` is the exact response body.
    """

    http_status = 400
    content_type = TEXT_CONTENT_TYPE
    charset: str | None = "utf-8"

    def __init__(self, message: str, *, body: str | None = None) -> None:
        super().__init__(message)
        self.body = body if body is not None else message + "\n"
        self.context = ""  # origin and sizes, once known: for the witness's log


class MalformedRequest(WitnessRefusal):
    """400: the body is not an add-checkpoint request, or old size > checkpoint size."""

    http_status = 400


class UntrustedCheckpoint(WitnessRefusal):
    """403: no trusted key of the origin signed it, or a trusted key's signature fails."""

    http_status = 403


class UnknownLog(WitnessRefusal):
    """404: the witness does not witness this origin."""

    http_status = 404


class SizeConflict(WitnessRefusal):
    """409: the old size is not the size of the checkpoint the witness last cosigned."""

    http_status = 409
    content_type = SIZE_CONTENT_TYPE
    charset = None  # tlog-witness names the type alone; the body is ASCII digits

    def __init__(self, stored_size: int, old_size: int) -> None:
        super().__init__(
            f"old size {old_size} is not the witnessed size {stored_size}",
            body=f"{stored_size}\n",
        )
        self.stored_size = stored_size


class InconsistentCheckpoint(WitnessRefusal):
    """422: the checkpoint does not extend the witnessed one (a fork, or a bad proof).

    The checkpoint itself carries a valid log signature, so the request is kept as evidence.
    """

    http_status = 422


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the submitted checkpoint note, not verified yet


@dataclass(frozen=True)
class SubmittedCheckpoint:
    """A checkpoint whose signature by a trusted key of its origin verified."""

    log: WitnessedLog
    checkpoint: Checkpoint
    text: str  # the note text exactly as received and signed: what the cosignature covers
    log_signature_lines: tuple[str, ...]  # the lines of trusted keys, which verified

    def witnessed_note(self, cosignature_lines: Sequence[str]) -> str:
        """The note the witness stores and serves to monitors: the checkpoint, the log's
        verified signatures and the witness's cosignatures (no lines of unknown keys)."""
        return self.text + "\n" + "".join(self.log_signature_lines) + "".join(cosignature_lines)


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Split an add-checkpoint body into its old size, proof and checkpoint note.

    Raises:
        MalformedRequest: too large, not UTF-8, a bad old size line (leading zeros, sign,
            spaces), a proof line that is not canonical base64 of 32 bytes, more than 63 proof
            lines, no empty line before the checkpoint, or no checkpoint.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise MalformedRequest(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the request is not UTF-8") from None
    lines = text.split("\n")
    # split() leaves the text after the last newline as the final element: for a body whose
    # every line is newline-terminated, that is the empty string, checked with the note below.
    match = _OLD_SIZE.fullmatch(lines[0]) if len(lines) > 1 else None
    if match is None:
        raise MalformedRequest("the first line must be 'old <size>' (decimal, no leading zeros)")
    old_size = int(match.group(1))
    if old_size > MAX_TREE_SIZE:
        raise MalformedRequest(f"old size {old_size} is beyond 2**63 - 1")
    proof: list[bytes] = []
    for position, line in enumerate(lines[1:-1], start=1):
        if not line:
            note = "\n".join(lines[position + 1 :])
            if not note:
                raise MalformedRequest("no checkpoint after the empty line")
            return AddCheckpointRequest(old_size, tuple(proof), note)
        if len(proof) == MAX_PROOF_LINES:
            raise MalformedRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            value = strict_b64decode(line, f"proof line {position}")
        except NoteError as exc:
            raise MalformedRequest(exc.detail) from None
        if len(value) != HASH_SIZE:
            raise MalformedRequest(f"proof line {position} is not a {HASH_SIZE}-byte hash")
        proof.append(value)
    raise MalformedRequest("no empty line between the consistency proof and the checkpoint")


def open_submitted_checkpoint(note: str, logs: Mapping[str, WitnessedLog]) -> SubmittedCheckpoint:
    """Parse the checkpoint, find its log, verify the log's signature (unknown keys ignored).

    Raises:
        MalformedRequest: not a signed note, or its text not a checkpoint.
        UnknownLog: an origin this witness does not witness.
        UntrustedCheckpoint: no trusted key of the origin signed it, or a trusted key's
            signature fails to verify.
    """
    try:
        parsed = parse_note(note)
        checkpoint = Checkpoint.parse(parsed.text)
    except NoteError as exc:
        raise MalformedRequest(f"the checkpoint is malformed: {exc.detail}") from None
    log = logs.get(checkpoint.origin)
    if log is None:
        raise UnknownLog(f"this witness does not witness the log {checkpoint.origin!r}")
    try:
        open_checkpoint(note, log.keys, origin=log.origin, allow_extensions=True)
    except NoteError as exc:  # CheckpointError: the note parsed above, so a signature failed
        raise UntrustedCheckpoint(f"checkpoint of {log.origin!r}: {exc.detail}") from None
    trusted = {(key.name, key.key_id) for key in log.keys}
    lines: list[str] = []
    for signature in parsed.signatures:
        if (signature.name, signature.key_id) in trusted:
            raw = base64.b64encode(signature.key_id + signature.signature).decode("ascii")
            line = f"{SIGNATURE_PREFIX}{signature.name} {raw}\n"
            if line not in lines:
                lines.append(line)
    return SubmittedCheckpoint(log, checkpoint, parsed.text, tuple(lines))


def check_old_size(request: AddCheckpointRequest, checkpoint: Checkpoint) -> None:
    """Raises: MalformedRequest when the old size is above the checkpoint's size."""
    if request.old_size > checkpoint.size:
        raise MalformedRequest(
            f"old size {request.old_size} is larger than the checkpoint size {checkpoint.size}"
        )


def check_consistency(
    request: AddCheckpointRequest,
    checkpoint: Checkpoint,
    *,
    stored_size: int,
    stored_root: bytes,
) -> None:
    """The checks against the witnessed state (size 0 and EMPTY_ROOT for a new log).

    Raises:
        SizeConflict: the old size is not the stored size.
        InconsistentCheckpoint: size 0 with a root other than the empty tree's, a non-empty
            proof from size 0, the same size with another root (a fork), or a consistency
            proof that does not lead from the stored root to the checkpoint's.
    """
    if request.old_size != stored_size:
        raise SizeConflict(stored_size, request.old_size)
    if checkpoint.size == 0 and not hmac.compare_digest(checkpoint.root, EMPTY_ROOT):
        raise InconsistentCheckpoint("a checkpoint of size 0 must have the empty tree's root")
    if request.old_size == 0:
        # The empty tree is a prefix of every tree: nothing to prove (alprfed's own verifier
        # refuses any proof from size 0, so it is never asked).
        if request.proof:
            raise InconsistentCheckpoint("a consistency proof from size 0 must be empty")
        return
    if request.old_size == checkpoint.size and not hmac.compare_digest(
        checkpoint.root, stored_root
    ):
        raise InconsistentCheckpoint(
            f"fork: size {checkpoint.size} was witnessed with root "
            f"{base64.b64encode(stored_root).decode()}, this checkpoint has "
            f"{base64.b64encode(checkpoint.root).decode()}"
        )
    try:
        verify_consistency(
            request.old_size, checkpoint.size, stored_root, checkpoint.root, request.proof
        )
    except ProofError as exc:
        raise InconsistentCheckpoint(
            f"no consistency from size {request.old_size} to {checkpoint.size}: {exc}"
        ) from None


def origin_hash(origin: str) -> str:
    """The monitoring endpoint's path segment: lower-case hex SHA-256 of the origin."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()
