"""Signed search: verify the query and its evidence, apply the node's own law, look up, sign a
receipt, and keep a record of it all in the node's access log.

Every query that reaches this service leaves an access-log record, answered or refused. An
answer's record is written, claiming its query id and its nonce in the same transaction, before
any sighting leaves the node: if it cannot be written (a replayed query id or nonce), nothing is
returned. A replayed query is thus refused after its checks and lookup rather than before, which
costs only the work of whoever holds the gateway's key and a fresh logged decision.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Protocol

from agency_node.evidence_verifier import EvidenceRefused, EvidenceVerifier
from agency_node.law_guard import NodeLawGuard
from agency_node.query_verifier import QueryVerifier, nonce_kept_until
from agency_node.storage.access import ANSWERED, REFUSED, AccessRecord
from alprfed import canonical
from alprfed.clock import Clock
from alprfed.errors import AlprfedError, Reason, VerificationError
from alprfed.messages import SearchQuery, SearchReceipt, results_digest_of_rows
from alprfed.models import SightingRow
from alprfed.observability.metrics import NodeMetrics
from alprfed.signing import SEARCH_RECEIPT_TYPE, Envelope, SigningKey

log = logging.getLogger("alprfed.node.search")


class SightingFinder(Protocol):
    def find_rows(self, plate: str, start: int, end: int) -> list[SightingRow]: ...

    def record_access(
        self, record: AccessRecord, *, nonce: tuple[str, int] | None = None
    ) -> bool: ...


@dataclass(frozen=True)
class SearchOutcome:
    # The released sightings as the store's search rows (alprfed.models.SIGHTING_ROW): the
    # receipt's digest and the response are both made straight from them, no Sighting each.
    rows: list[SightingRow]
    refusals: tuple[Reason, ...]
    receipt: Envelope


class SearchService:
    def __init__(
        self,
        *,
        node_id: str,
        verifier: QueryVerifier,
        evidence: EvidenceVerifier,
        law: NodeLawGuard,
        store: SightingFinder,
        signer: SigningKey,
        clock: Clock,
        metrics: NodeMetrics | None = None,
    ) -> None:
        """``metrics``: where the evidence check's duration goes (what it adds to a search,
        as the node itself sees it: docs/OPERATIONS.md)."""
        self._node_id = node_id
        self._verifier = verifier
        self._evidence = evidence
        self._law = law
        self._store = store
        self._signer = signer
        self._clock = clock
        self._metrics = metrics

    def search(self, envelope: Envelope, evidence: bytes | None = None) -> SearchOutcome:
        """Answer one signed query that carries the evidence of its authorization (the
        canonical bundle; the node checks every part's own signature).

        Raises:
            VerificationError: the query is not authentic, not for us, stale or replayed.
            EvidenceRefused: the evidence does not prove it was authorized and logged.
            InvalidWindow: the authentic query's window is absurd.
        """
        received_at = self._clock.now()
        try:
            query = self._verifier.verify(envelope)
        except AlprfedError as exc:
            self._refused(received_at, _claimed(envelope), str(exc))
            raise
        started = time.perf_counter()
        try:
            verified = self._evidence.verify(query, evidence)
        except EvidenceRefused as exc:
            self._evidence_checked(False, started)
            log.warning(
                "REFUSED query %s from %s/%s: its evidence failed at %s",
                query.query_id,
                query.requester.agency_id,
                query.requester.officer_id,
                exc,
            )
            self._refused(received_at, query, str(exc))
            raise
        self._evidence_checked(True, started)
        now = self._clock.now()
        decision = self._law.decide(query, now, prospective=verified.prospective)
        rows: list[SightingRow] = []
        if decision.allowed:
            start = max(query.window.start, self._law.oldest_releasable(now))
            if start <= query.window.end:
                found = self._store.find_rows(query.plate, start, query.window.end)
                rows = [row for row in found if self._law.releasable(row, now)]
        else:
            log.warning(
                "query %s from %s refused by %s law: %s",
                query.query_id,
                query.requester.agency_id,
                self._law.state,
                ", ".join(r.rule_id for r in decision.reasons),
            )
        receipt = SearchReceipt(
            query_id=query.query_id,
            node=self._node_id,
            count=len(rows),
            results_sha256=results_digest_of_rows(rows),
            refused_rules=tuple(r.rule_id for r in decision.reasons),
            signed_at=now,
        )
        signed = self._signer.sign_envelope(SEARCH_RECEIPT_TYPE, receipt.to_canonical())
        # Claims the query id and the nonce and writes the record in one commit; nothing
        # leaves before it holds.
        answered = self._store.record_access(
            replace(
                _record(received_at, query, ANSWERED, ""),
                decision_index=verified.decision_index,
                checkpoint_size=verified.checkpoint_size,
                count=len(rows),
                receipt=signed,
            ),
            nonce=(query.nonce, nonce_kept_until(query)),
        )
        if not answered:
            self._refused(received_at, query, "query id or nonce used before (replay)")
            raise VerificationError(f"query {query.query_id} replays a query id or nonce")
        return SearchOutcome(rows=rows, refusals=decision.reasons, receipt=signed)

    def _evidence_checked(self, verified: bool, started: float) -> None:
        if self._metrics is not None:
            self._metrics.evidence_checked(verified, time.perf_counter() - started)

    def _refused(self, received_at: int, query: SearchQuery | str | None, reason: str) -> None:
        try:
            self._store.record_access(_record(received_at, query, REFUSED, reason))
        except Exception:  # the refusal stands even if its record cannot be written
            log.exception("could not record a refused query in the access log")


def _record(
    received_at: int, query: SearchQuery | str | None, outcome: str, reason: str
) -> AccessRecord:
    if isinstance(query, SearchQuery):
        return AccessRecord(
            received_at=received_at,
            outcome=outcome,
            query_id=query.query_id,
            requester_agency=query.requester.agency_id,
            requester_officer=query.requester.officer_id,
            purpose=query.purpose.value,
            reason=reason,
        )
    return AccessRecord(received_at=received_at, outcome=outcome, query_id=query, reason=reason)


def _claimed(envelope: Envelope) -> str | None:
    """The query id an unverified query claims, for the access log only (never trusted)."""
    try:
        value = canonical.decode(envelope.payload)
    except AlprfedError:
        return None
    claimed = value.get("query_id") if isinstance(value, dict) else None
    return claimed[:64] if isinstance(claimed, str) else None
