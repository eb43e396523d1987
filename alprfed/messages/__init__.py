"""Every signed message of the federation, in one home, shared by node and gateway.

Each type has ``to_canonical`` (the payload to sign, through alprfed.canonical) and a strict
``from_canonical`` (exactly its fields, each of its type; anything else is a
VerificationError). docs/PROTOCOL.md lists every field of every payload type.

    search      SearchQuery, Requester, SearchReceipt, results_digest(_of_rows),
                verify_receipt, Outcome
    purge       PurgeReport                 a node's retention purge, for the ledger
    evidence    SearchEvidence              why a node may answer: witnessed ledger entries,
                                            the warrant or exigent approval, the plate opening
    fields      strict field access

Warrants (court-signed) live with their scope checks in alprfed.policy.warrants.
"""

from __future__ import annotations

from alprfed.messages.purge import PURGE_REPORT_VERSION, PurgeReport
from alprfed.messages.search import (
    SEARCH_QUERY_VERSION,
    SEARCH_RECEIPT_VERSION,
    Outcome,
    Requester,
    SearchQuery,
    SearchReceipt,
    results_digest,
    results_digest_of_rows,
    verify_receipt,
)

__all__ = [
    "PURGE_REPORT_VERSION",
    "SEARCH_QUERY_VERSION",
    "SEARCH_RECEIPT_VERSION",
    "Outcome",
    "PurgeReport",
    "Requester",
    "SearchQuery",
    "SearchReceipt",
    "results_digest",
    "results_digest_of_rows",
    "verify_receipt",
]
