"""WitnessService: one add-checkpoint request from body to cosignature (blocking; run it in a
thread). The order of the checks is the spec's, so each refusal has the spec's status:

1. parse the body (400), the checkpoint (400);
2. the origin is one this witness witnesses (404);
3. a trusted key of the origin signed it and no trusted key's signature fails (403);
4. the old size is not above the checkpoint size (400);
5. -- in one write transaction with the stored state -- the old size is the stored size
   (409), size 0 means the empty root, the proof is empty from size 0, equal sizes have equal
   roots, the consistency proof verifies (422); then cosign with the clock's time, store the
   new state and commit durably; only then is the cosignature returned.

A 422 keeps the request as evidence of log misbehaviour (its log signature verified).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from alprfed.clock import Clock
from alprfed.errors import AlprfedError
from alprfed.ledger.cosignature import MAX_TIMESTAMP, CosignatureSigner, CosignatureVerifier
from alprfed.ledger.merkle import EMPTY_ROOT
from alprfed.signing import SigningKey
from witness.config import WitnessedLog
from witness.protocol import (
    AddCheckpointRequest,
    InconsistentCheckpoint,
    SubmittedCheckpoint,
    WitnessRefusal,
    check_consistency,
    check_old_size,
    open_submitted_checkpoint,
    origin_hash,
    parse_add_checkpoint,
)
from witness.store import WitnessedState, WitnessStorageError, WitnessStore

log = logging.getLogger("alprfed.witness")


class WitnessClockError(AlprfedError):
    """The clock reads a time no cosignature may carry (0, negative, beyond 2**63 - 1).

    tlog-witness forbids a zero timestamp; a witness whose clock is broken must not cosign.
    """


@dataclass(frozen=True)
class Cosigned:
    """A cosigned checkpoint: what the witness answered and now stores."""

    origin: str
    old_size: int
    size: int
    timestamp: int
    lines: tuple[str, ...]  # the response: note signature lines, each ending in a newline

    @property
    def body(self) -> str:
        return "".join(self.lines)


class WitnessService:
    """Verifies, checks and cosigns checkpoints for the configured logs. Thread-safe."""

    def __init__(
        self,
        *,
        name: str,
        key: SigningKey,
        logs: Mapping[str, WitnessedLog],
        store: WitnessStore,
        clock: Clock,
    ) -> None:
        """Raises: NoteError for a name that cannot be a note key name."""
        self._signer = CosignatureSigner(name, key)
        self._logs = logs
        self._by_hash = {origin_hash(origin): origin for origin in logs}
        self._store = store
        self._clock = clock

    @property
    def verifier(self) -> CosignatureVerifier:
        """The witness's public identity (``verifier.to_vkey()`` is its vkey)."""
        return self._signer.verifier

    @property
    def store(self) -> WitnessStore:
        return self._store

    def add_checkpoint(self, body: bytes) -> Cosigned:
        """Check one add-checkpoint body and cosign its checkpoint.

        Raises:
            WitnessRefusal: a subclass per status (400, 403, 404, 409, 422); nothing stored,
                except evidence for a 422.
            WitnessClockError: the clock cannot timestamp a cosignature; nothing stored.
            WitnessStorageError: the database failed; nothing cosigned.
        """
        request = parse_add_checkpoint(body)
        try:
            submitted = open_submitted_checkpoint(request.note, self._logs)
        except WitnessRefusal as refusal:
            refusal.context = f"old size {request.old_size}"
            raise
        checkpoint = submitted.checkpoint
        try:
            return self._cosign(request, submitted, body)
        except WitnessRefusal as refusal:
            refusal.context = (
                f"{checkpoint.origin}, old size {request.old_size}, size {checkpoint.size}"
            )
            raise

    def _cosign(
        self, request: AddCheckpointRequest, submitted: SubmittedCheckpoint, body: bytes
    ) -> Cosigned:
        checkpoint = submitted.checkpoint
        check_old_size(request, checkpoint)
        signed: list[str] = []

        def decide(current: WitnessedState | None) -> WitnessedState:
            check_consistency(
                request,
                checkpoint,
                stored_size=0 if current is None else current.size,
                stored_root=EMPTY_ROOT if current is None else current.root,
            )
            now = self._clock.now()
            if not 0 < now <= MAX_TIMESTAMP:
                raise WitnessClockError(
                    f"the clock reads {now}; a cosignature needs a time in 1..2**63-1"
                )
            # Signed inside the transaction, so what is stored is exactly what is answered.
            line = self._signer.signature_line(submitted.text, now)
            signed[:] = [line]
            return WitnessedState(
                origin=checkpoint.origin,
                size=checkpoint.size,
                root=checkpoint.root,
                checkpoint=submitted.witnessed_note([line]),
                updated_at=now,
            )

        try:
            state = self._store.advance(checkpoint.origin, decide)
        except InconsistentCheckpoint as refusal:
            self._keep_evidence(checkpoint.origin, submitted.text, str(refusal), body)
            raise
        return Cosigned(
            checkpoint.origin, request.old_size, state.size, state.updated_at, tuple(signed)
        )

    def latest_checkpoint(self, hex_origin_hash: str) -> str | None:
        """The cosigned note of the log whose origin hashes to ``hex_origin_hash``; None when
        no configured log does or it was never cosigned.

        Raises:
            WitnessStorageError: the database failed.
        """
        origin = self._by_hash.get(hex_origin_hash)
        if origin is None:
            return None
        state = self._store.latest(origin)
        return None if state is None else state.checkpoint

    def _keep_evidence(self, origin: str, text: str, reason: str, body: bytes) -> None:
        try:
            kept = self._store.record_evidence(
                origin=origin,
                received_at=self._clock.now(),
                reason=reason,
                checkpoint_text=text,
                request=body.decode("utf-8"),  # parse_add_checkpoint decoded it already
            )
        except WitnessStorageError as exc:
            # The refusal stands either way; losing evidence must not turn it into a 500.
            log.error("could not keep evidence against %s: %s", origin, exc)
            return
        if kept:
            log.warning("kept evidence against %s: %s", origin, reason)
