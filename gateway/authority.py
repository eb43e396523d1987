"""The authority a query cites: its warrant or exigent approval, looked up for the gates.

Read from the gateway registry (blocking SQL: callers run ``resolve`` in a worker thread), with
the ledger's commitment slot of the queried plate, which the node is later shown the opening
of (gateway.evidence).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import WarrantView
from alprfed.query import QueryInput
from alprfed.signing import Envelope
from gateway.registry import GatewayRegistry

MAX_REMEMBERED_SLOTS = 4096  # warrant/approval plate matches kept in memory


class CommitmentMatcher(Protocol):
    """alprfed.ledger.LedgerStore has this."""

    def match_commitment(self, index: int, plate: str) -> int | None: ...


@dataclass(frozen=True)
class Resolved:
    """The cited warrant or approval as the gates and the evidence need it (all None when
    none is cited, or the cited one is not on file)."""

    warrant: WarrantView | None = None
    warrant_envelope: Envelope | None = None
    warrant_entry: int | None = None
    warrant_plate_slot: int | None = None
    approval: ApprovalView | None = None
    approval_consent: Envelope | None = None
    approval_chain: bytes = b""
    approval_entry: int | None = None
    approval_plate_slot: int | None = None


class AuthorityResolver:
    def __init__(self, registry: GatewayRegistry, ledger: CommitmentMatcher) -> None:
        self._registry = registry
        self._ledger = ledger
        # (ledger entry, plate) -> matching commitment slot. Safe to remember: an entry and its
        # commitments never change, and openings outlive any warrant or approval citing them.
        # Registry rows (revocations) are still read fresh for every query.
        self._slots: OrderedDict[tuple[int, str], int | None] = OrderedDict()
        self._slots_lock = threading.Lock()  # resolve runs on worker threads

    def resolve(self, query: QueryInput) -> Resolved:
        """Look up the cited warrant or approval (blocking SQL: run it in a worker thread)."""
        if query.warrant_id:
            record = self._registry.get_warrant(query.warrant_id)
            if record is None:
                return Resolved()
            view = record.view(query.plate)
            slot = self._slot(record.ledger_index, query.plate) if view.plate_listed else None
            return Resolved(
                warrant=view,
                warrant_envelope=record.envelope,
                warrant_entry=record.ledger_index,
                warrant_plate_slot=slot,
            )
        if query.exigent_approval_id:
            approval = self._registry.get_approval(query.exigent_approval_id)
            if approval is None:
                return Resolved()
            approval_view = approval.view(query.plate)
            slot = (
                self._slot(approval.ledger_index, query.plate)
                if approval_view.plate_matches
                else None
            )
            return Resolved(
                approval=approval_view,
                approval_consent=approval.consent,
                approval_chain=approval.certificate_chain,
                approval_entry=approval.ledger_index,
                approval_plate_slot=slot,
            )
        return Resolved()

    def _slot(self, entry: int, plate: str) -> int | None:
        key = (entry, plate)
        with self._slots_lock:
            if key in self._slots:
                self._slots.move_to_end(key)
                return self._slots[key]
        slot = self._ledger.match_commitment(entry, plate)
        with self._slots_lock:
            self._slots[key] = slot
            if len(self._slots) > MAX_REMEMBERED_SLOTS:
                self._slots.popitem(last=False)
        return slot
