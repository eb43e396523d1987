"""The one exception tree of alprfed. Every error we raise on purpose is an AlprfedError.

Each class carries the gRPC status it maps to; the mapping happens in exactly one place,
alprfed.rpc.errors, so servicers raise domain errors and never touch status codes.

    AlprfedError                        INTERNAL (anything we did not anticipate)
    ├── InvalidRequest                  INVALID_ARGUMENT   bad input, with the field and why
    │   ├── InvalidPlate
    │   ├── InvalidWindow
    │   ├── BatchRejected               a bad record or an oversized batch; nothing of it stored
    │   ├── CanonicalError              (alprfed.canonical) not in the canonical JSON subset
    │   ├── UnknownCamera               (agency_node.storage.store) a sighting's camera is unknown
    │   ├── ImportRejected              (agency_node.formats.problems) bad records in a file to
    │   │                               import (CSV or a vendor format); none imported
    │   └── TileError                   (alprfed.ledger.tiles) not a C2SP tlog-tiles path or tile
    ├── Unauthenticated                 UNAUTHENTICATED    the caller learns no detail
    │   └── VerificationError           a signature, addressee, freshness or replay check failed
    ├── PermissionDenied                PERMISSION_DENIED  with reasons: rule, state, citation
    │   └── EvidenceRefused             (agency_node.evidence_verifier) a query's evidence does
    │                                   not prove it was authorized and logged; fixed message
    ├── NotFound                        NOT_FOUND
    │   └── TileNotFound                (alprfed.ledger.tile_source) beyond the published size
    ├── AlreadyExists                   ALREADY_EXISTS
    │   └── ActRecordedMeanwhile        (alprfed.ledger.store) another gateway replica recorded
    │                                   the same act first; this entry was not logged
    ├── FailedPrecondition              FAILED_PRECONDITION
    ├── Unavailable                     UNAVAILABLE
    ├── ConfigError                     (start-up only) a config or policy file is wrong
    └── LedgerError                     INTERNAL
        ├── LedgerRangeError            INVALID_ARGUMENT   an index, size or range the log lacks
        ├── LedgerConflict              UNAVAILABLE        another writer advanced the log; retry
        └── LedgerVerificationError     the log does not verify; names the first bad index
            ├── ProofError              (alprfed.ledger.proof) a Merkle proof fails or is malformed
            ├── TlogProofError          (alprfed.ledger.tlog_proof) a receipt file does not verify
            ├── WitnessPolicyError      (alprfed.ledger.witness_policy) no (fresh) witness quorum
            ├── BundleError             (alprfed.ledger.tiles) a malformed tlog-tiles entry bundle
            ├── ExportConflict          (alprfed.ledger.tile_export) an exported tile differs
            └── NoteError               (alprfed.ledger.note) a signed note is malformed or unsigned
                ├── CheckpointError     (alprfed.ledger.checkpoint) a bad or foreign checkpoint
                └── CosignatureError    (alprfed.ledger.cosignature) a bad witness cosignature

Unauthenticated errors keep their detail for the server log (``detail``) but show the caller
only a fixed message: telling an attacker *which* check failed helps the attacker.

The ledger's errors are about logs and notes the *reader* checks (a monitor, an auditor, a node
checking a query's evidence, the gateway checking a witness's answer), or about the gateway's own
stored log: a failure there is not the remote caller's failure to authenticate. Whoever turns
one into an answer for a remote caller picks the status there (agency_node.evidence_verifier
refuses with EvidenceRefused). ``detail`` on a LedgerVerificationError is its message without the
entry index, for wrapping it into another error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Status(Enum):
    """gRPC status codes we use, by name, so this module does not import grpc."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class Reason:
    """Why something was refused: the rule, the state whose law it encodes, the citation.

    ``source`` says whether the rule was checked against statute text ("statute"), rests on
    secondary sources ("secondary") or on a table with no page to cite ("unverified"); rules of
    our own (Casbin, warrant scope) use "policy".
    """

    gate: str
    rule_id: str
    message: str
    state: str = ""
    citation: str = ""
    source: str = "policy"

    def explain(self) -> str:
        """One line for an officer: ``denied by IL — 625 ILCS 5/2-130(b): ...``."""
        who = f"denied by {self.state}" if self.state else f"denied by {self.gate}"
        where = f" — {self.citation}" if self.citation else ""
        return f"{who}{where}: {self.message} [{self.rule_id}]"


# Every character str.splitlines() breaks a line at, as the escape Python writes for it. An
# error quoting input (a path, a value, a line of a file) that holds one would otherwise print
# as several lines, where the CLI and the logs promise one.
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


class AlprfedError(Exception):
    """Base of every error alprfed raises on purpose. Its message is always one line: line
    breaks in it (from quoted input) are shown escaped."""

    status: Status = Status.INTERNAL

    def __init__(self, message: object = "") -> None:
        super().__init__(str(message).translate(_LINE_BREAKS))

    def public_message(self) -> str:
        """What the remote caller is told."""
        return str(self)


class InvalidRequest(AlprfedError):
    """The request is malformed; the message names the field and what is wrong."""

    status = Status.INVALID_ARGUMENT

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidPlate(InvalidRequest):
    """A plate that does not normalize to 1-10 characters of A-Z and 0-9."""


class InvalidWindow(InvalidRequest):
    """A time window that is inverted, too long, in the future or otherwise absurd."""


class BatchRejected(InvalidRequest):
    """An ingest batch was refused whole; ``position`` is the 0-based record index, if any."""

    def __init__(
        self, message: str, *, sequence: int, position: int | None = None, stored_batches: int = 0
    ) -> None:
        where = f"batch {sequence}" + (f", record {position}" if position is not None else "")
        super().__init__(
            f"{where}: {message}; this batch was refused whole and nothing of it was stored; "
            f"{stored_batches} earlier batch(es) of this stream were stored"
        )
        self.sequence = sequence
        self.position = position
        self.stored_batches = stored_batches


class Unauthenticated(AlprfedError):
    """The caller or its signed request could not be authenticated."""

    status = Status.UNAUTHENTICATED
    PUBLIC_MESSAGE = "request could not be authenticated"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def public_message(self) -> str:
        return self.PUBLIC_MESSAGE


class VerificationError(Unauthenticated):
    """A signature, addressee, freshness, window or replay check failed (detail is for logs)."""


class PermissionDenied(AlprfedError):
    """An authenticated caller may not do this; ``reasons`` say which rules refused."""

    status = Status.PERMISSION_DENIED

    def __init__(self, message: str, reasons: Sequence[Reason] = ()) -> None:
        self.reasons = tuple(reasons)
        lines = [message, *(r.explain() for r in self.reasons)]
        super().__init__("; ".join(lines))


class NotFound(AlprfedError):
    status = Status.NOT_FOUND


class AlreadyExists(AlprfedError):
    status = Status.ALREADY_EXISTS


class ActRecordedMeanwhile(AlreadyExists):
    """The record an entry logs (a warrant, a revocation, a purge report ...) was stored by
    another writer between this gateway's check and its commit -- two replicas handling the
    same act. Neither this entry nor its record was stored; ``position`` is the entry's place
    in the batch it was sent in (the other entries of that batch are unaffected).

    An entry's effect raises it (without a position) when the row it changes is no longer as
    the act was checked against; the ledger store raises it again with the position."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class FailedPrecondition(AlprfedError):
    status = Status.FAILED_PRECONDITION


class Unavailable(AlprfedError):
    status = Status.UNAVAILABLE


class ConfigError(AlprfedError):
    """A configuration, federation or policy file is missing or wrong (raised at start-up)."""


class LedgerError(AlprfedError):
    """The ledger could not do what was asked (storage failure, bad range, bad proof request)."""


class LedgerRangeError(LedgerError):
    """A proof or entry request names an index, tree size or range the log does not have."""

    status = Status.INVALID_ARGUMENT


class LedgerConflict(LedgerError):
    """Another writer advanced the log between our read and our write; nothing was written."""

    status = Status.UNAVAILABLE


class LedgerVerificationError(LedgerError):
    """The ledger does not verify. ``index`` is the first bad entry index, when there is one."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(f"entry {index}: {message}" if index is not None else message)
        self.index = index
        # What went wrong, without the index: note errors are re-raised as checkpoint, proof and
        # policy errors by their message (they once were Unauthenticated, which has ``detail``).
        self.detail = message
