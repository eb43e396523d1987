"""What every numbered step of the node's evidence check shares (agency_node.evidence_verifier
lists the steps): the refusal it raises, the clock skew it tolerates, and an entry proved
included in the witnessed checkpoint.
"""

from __future__ import annotations

from agency_node.verified_cache import VerifiedCache
from alprfed.errors import LedgerVerificationError, PermissionDenied
from alprfed.ledger.entry import LedgerEntryView, decode_entry
from alprfed.ledger.merkle import leaf_hash
from alprfed.ledger.proof import verify_inclusion
from alprfed.ledger.witness_policy import WitnessedCheckpoint
from alprfed.messages.evidence import LoggedEntry

MAX_CLOCK_SKEW_S = 30

# Entry bytes -> (leaf hash, decoded entry). Only for entries that recur across queries (a
# warrant's registration); each query's own decision entry is new bytes every time.
EntryMemo = VerifiedCache[bytes, tuple[bytes, LedgerEntryView]]


class EvidenceRefused(PermissionDenied):
    """The query's evidence does not prove it was authorized and logged. The caller sees only
    the fixed public message; ``step`` and the detail go to the node's logs."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"step {step}: {detail}")
        self.step = step
        self.detail = detail

    def public_message(self) -> str:
        return "the query's evidence does not authorize it"


def included(
    logged: LoggedEntry, witnessed: WitnessedCheckpoint, step: str, memo: EntryMemo | None = None
) -> LedgerEntryView:
    """The entry ``logged`` holds, once its inclusion proof leads to the checkpoint's root and
    it says it is the entry at its index. ``memo`` remembers the decoding by the exact bytes
    (decoding is a function of them alone); the proof is checked every time, since each
    checkpoint is another tree. Callers only read the view, which the memo shares.

    Raises: EvidenceRefused at ``step``."""
    checkpoint = witnessed.checkpoint
    known = memo.get(logged.entry) if memo is not None else None
    try:
        leaf = known[0] if known is not None else leaf_hash(logged.entry)
        verify_inclusion(logged.index, checkpoint.size, leaf, logged.proof, checkpoint.root)
        view = known[1] if known is not None else decode_entry(logged.entry)
    except LedgerVerificationError as exc:
        raise EvidenceRefused(step, f"entry {logged.index}: {exc}") from None
    if view.index != logged.index:
        raise EvidenceRefused(step, f"the entry says it is entry {view.index}")
    if memo is not None and known is None:
        memo.put(logged.entry, (leaf, view))
    return view
