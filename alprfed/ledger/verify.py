"""Verify a whole ledger on one's own, as an oversight body does: ``verify_ledger``.

1. Every entry is recomputed: it decodes canonically, its index is its position, its ``prev``
   is the leaf hash of the entry before it, and the RFC 6962 tree is rebuilt from the leaves.
2. Every checkpoint the log lists is signature-checked and its root compared with the rebuilt
   root at its size; no entry may lie beyond the newest checkpoint (alprfed.ledger.replay).
3. With a monitor state file, the newest checkpoint must extend the one this verifier accepted
   last: no rollback, the same history (rebuilt peaks equal the remembered ones) and a valid
   RFC 9162 consistency proof from the log between the two. The state advances only after all
   of this passed (verify, then trust).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alprfed.errors import LedgerError, LedgerVerificationError
from alprfed.ledger.checkpoint import Checkpoint, verifiers_origin
from alprfed.ledger.monitor import MonitorState
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.proof import verify_consistency
from alprfed.ledger.replay import VERIFY_PAGE, ReplayResult, replay
from alprfed.ledger.source import LedgerSource
from alprfed.ledger.witness_policy import WitnessPolicy, WitnessPolicyError


@dataclass(frozen=True)
class VerificationReport:
    """What a successful verification established."""

    checkpoint: Checkpoint  # the newest checkpoint, now trusted
    checkpoint_note: str
    checkpoints_checked: int
    previous_size: int | None  # the size this verifier had accepted before, if any
    cosigners: dict[str, int] = field(default_factory=dict)  # witness -> cosignature time

    @property
    def size(self) -> int:
        return self.checkpoint.size


def verify_ledger(
    source: LedgerSource,
    verifiers: Sequence[NoteVerifier],
    *,
    state_file: Path | None = None,
    page_size: int = VERIFY_PAGE,
    workers: int | None = None,
    witness_policy: WitnessPolicy | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Verify everything the source holds; with ``state_file``, also against the last
    checkpoint this verifier accepted, and remember the new one.

    The log's origin is the key name of ``verifiers`` (a log key is named after its origin).
    Without a state file the first run trusts on first use, after recomputing everything.
    ``workers``: processes for the per-entry checks (default: one per CPU for large logs).
    With ``witness_policy``, the published checkpoint must carry the policy's quorum of
    witness cosignatures, and every cosignature of a known witness on any checkpoint must
    verify: only then is a split view (another history shown to someone else) excluded.

    Raises:
        LedgerVerificationError: the ledger does not verify; ``index`` names the first bad
            entry when one is at fault.
        LedgerError: the state file is unreadable or for another log.
    """
    origin = verifiers_origin(verifiers)
    state = MonitorState.load(state_file) if state_file is not None else None
    if state is not None and state.origin != origin:
        raise LedgerError(f"the monitor state is for the log {state.origin!r}, not {origin!r}")
    witnesses = witness_policy.witness_verifiers() if witness_policy else []
    result = replay(
        source,
        verifiers,
        origin=origin,
        page_size=page_size,
        remember_size=None if state is None else state.size,
        workers=workers,
        witnesses=witnesses,
        on_progress=on_progress,
    )
    cosigners: dict[str, int] = {}
    if witness_policy is not None:
        try:
            cosigners = dict(
                witness_policy.check(
                    result.newest_note, logs=tuple(verifiers), origin=origin
                ).cosigners
            )
        except WitnessPolicyError as exc:
            raise LedgerVerificationError(
                f"the published checkpoint is not witnessed as the policy requires: {exc}",
                index=result.newest.size,
            ) from None
    if state is not None:
        _check_extends(source, state, result)
    if state_file is not None:
        MonitorState(
            origin, result.newest.size, result.newest.root, result.final_peaks, result.newest_note
        ).save(state_file)
    return VerificationReport(
        result.newest,
        result.newest_note,
        result.checkpoints,
        None if state is None else state.size,
        cosigners,
    )


def _check_extends(source: LedgerSource, state: MonitorState, result: ReplayResult) -> None:
    newest = result.newest
    if newest.size < state.size:
        raise LedgerVerificationError(
            f"the log was rolled back: its newest checkpoint has {newest.size} entries, but "
            f"this verifier already accepted a checkpoint of {state.size}; this entry and "
            "those after it were removed",
            index=newest.size,
        )
    if result.remembered_peaks is None or result.remembered_peaks != state.peaks:
        recomputed = result.remembered_peaks or ()
        index = state.first_difference(recomputed) if recomputed else 0
        raise LedgerVerificationError(
            f"the log's history was rewritten: its first {state.size} entries no longer make "
            "up the tree this verifier accepted; the first differing subtree starts here",
            index=index,
        )
    if 0 < state.size < newest.size:
        try:
            proof = source.consistency_proof(state.size, newest.size)
            verify_consistency(state.size, newest.size, state.root, newest.root, proof)
        except LedgerError as exc:
            raise LedgerVerificationError(
                f"the log's consistency proof from size {state.size} to {newest.size} fails "
                f"although its entries are consistent: {exc}"
            ) from None
