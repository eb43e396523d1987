"""The evidence bundle the gateway sends with a query: what each node checks before answering.

Built after the decision entry is published (cosigned by the witness quorum), from the ledger
alone plus the court-signed warrant the registry keeps: the published checkpoint, the decision
entry and its inclusion proof, the salt that opens its plate commitment, and the warrant (or
exigent approval) with its registration entry and proof. alprfed.messages.evidence documents
the format; agency_node.evidence_verifier what a node checks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.messages.evidence import LoggedEntry, SearchEvidence
from alprfed.signing import Envelope


class EvidenceSource(Protocol):
    """What the evidence is read from (alprfed.ledger.LedgerStore has it)."""

    def entry(self, index: int) -> bytes: ...

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]: ...

    def open_commitments(self, index: int) -> list[tuple[str, bytes]]: ...


def build_evidence(
    ledger: EvidenceSource,
    *,
    query_id: str,
    checkpoint: str,
    decision_index: int,
    warrant: Envelope | None = None,
    warrant_index: int | None = None,
    approval_index: int | None = None,
    consent: Envelope | None = None,
    certificate_chain: bytes = b"",
) -> SearchEvidence:
    """Blocking SQL: run in a worker thread.

    Raises:
        LedgerError, NotFound: the ledger cannot produce an entry, proof or opening (a purged
            opening of an approval makes an exigent query unanswerable, as it should).
    """
    size = read_checkpoint(checkpoint).size

    def logged(index: int) -> LoggedEntry:
        return LoggedEntry(index, ledger.entry(index), tuple(ledger.inclusion_proof(index, size)))

    (_, salt), *_ = ledger.open_commitments(decision_index)
    evidence = SearchEvidence(
        query_id=query_id,
        checkpoint=checkpoint,
        decision=logged(decision_index),
        plate_salt=salt,
    )
    if warrant is not None and warrant_index is not None:
        evidence = replace(evidence, warrant=warrant, warrant_entry=logged(warrant_index))
    if approval_index is not None:
        (_, approval_salt), *_ = ledger.open_commitments(approval_index)
        evidence = replace(
            evidence,
            exigent_entry=logged(approval_index),
            exigent_plate_salt=approval_salt,
            consent=consent,
            certificate_chain=certificate_chain,
        )
    return evidence
