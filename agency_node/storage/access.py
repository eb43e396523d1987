"""One access-log record: what the node did with one query, as auditors read it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alprfed.signing import Envelope

ANSWERED, REFUSED = "answered", "refused"
MAX_ACCESS_PAGE = 1000
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class AccessRecord:
    """``query_id``, requester and purpose are as the query claimed them (a refused query may
    be forged); ``decision_index`` and ``checkpoint_size`` are the ledger evidence relied on."""

    received_at: int
    outcome: str
    query_id: str | None = None
    requester_agency: str | None = None
    requester_officer: str | None = None
    purpose: str | None = None
    decision_index: int | None = None
    checkpoint_size: int | None = None
    count: int = 0
    reason: str = ""
    receipt: Envelope | None = None
    seq: int = 0  # assigned by the database

    def to_row(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at,
            "query_id": self.query_id,
            "outcome": self.outcome,
            "requester_agency": self.requester_agency,
            "requester_officer": self.requester_officer,
            "purpose": self.purpose,
            "decision_index": self.decision_index,
            "checkpoint_size": self.checkpoint_size,
            "count": self.count,
            "reason": self.reason[:MAX_REASON_CHARS],
            "receipt_payload": self.receipt.payload if self.receipt else None,
            "receipt_key_id": self.receipt.key_id if self.receipt else None,
            "receipt_signature": self.receipt.signature if self.receipt else None,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AccessRecord:
        receipt = None
        if row["receipt_payload"] is not None:
            from alprfed.signing import SEARCH_RECEIPT_TYPE

            receipt = Envelope(
                SEARCH_RECEIPT_TYPE,
                bytes(row["receipt_payload"]),
                str(row["receipt_key_id"]),
                bytes(row["receipt_signature"]),
            )
        return cls(
            received_at=int(row["received_at"]),
            outcome=str(row["outcome"]),
            query_id=row["query_id"],
            requester_agency=row["requester_agency"],
            requester_officer=row["requester_officer"],
            purpose=row["purpose"],
            decision_index=row["decision_index"],
            checkpoint_size=row["checkpoint_size"],
            count=int(row["count"]),
            reason=str(row["reason"]),
            receipt=receipt,
            seq=int(row["seq"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as auditors download it: its columns, the receipt as one object."""
        row = self.to_row()
        for column in ("receipt_payload", "receipt_key_id", "receipt_signature"):
            del row[column]
        receipt = None
        if self.receipt is not None:
            receipt = {
                "payload": base64.b64encode(self.receipt.payload).decode("ascii"),
                "key_id": self.receipt.key_id,
                "signature": base64.b64encode(self.receipt.signature).decode("ascii"),
            }
        return {"seq": self.seq, **row, "receipt": receipt}
