"""Signed search: verify the query, apply the node's own law, look up, sign a receipt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from agency_node.law_guard import NodeLawGuard
from agency_node.query_verifier import QueryVerifier
from alprfed.clock import Clock
from alprfed.errors import Reason
from alprfed.messages import SearchReceipt, results_digest
from alprfed.models import Sighting
from alprfed.signing import SEARCH_RECEIPT_TYPE, Envelope, SigningKey

log = logging.getLogger("alprfed.node.search")


class SightingFinder(Protocol):
    def find_sightings(self, plate: str, start: int, end: int) -> list[Sighting]: ...


@dataclass(frozen=True)
class SearchOutcome:
    sightings: list[Sighting]
    refusals: tuple[Reason, ...]
    receipt: Envelope


class SearchService:
    def __init__(
        self,
        *,
        node_id: str,
        verifier: QueryVerifier,
        law: NodeLawGuard,
        store: SightingFinder,
        signer: SigningKey,
        clock: Clock,
    ) -> None:
        self._node_id = node_id
        self._verifier = verifier
        self._law = law
        self._store = store
        self._signer = signer
        self._clock = clock

    def search(self, envelope: Envelope) -> SearchOutcome:
        """Answer one signed query.

        Raises:
            VerificationError: the query is not authentic, not for us, stale or replayed.
            InvalidWindow: the authentic query's window is absurd.
        """
        query = self._verifier.verify(envelope)
        now = self._clock.now()
        decision = self._law.decide(query, now)
        sightings: list[Sighting] = []
        if decision.allowed:
            start = max(query.window.start, self._law.oldest_releasable(now))
            if start <= query.window.end:
                found = self._store.find_sightings(query.plate, start, query.window.end)
                sightings = [s for s in found if self._law.releasable(s, now)]
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
            count=len(sightings),
            results_sha256=results_digest(sightings),
            refused_rules=tuple(r.rule_id for r in decision.reasons),
            signed_at=now,
        )
        return SearchOutcome(
            sightings=sightings,
            refusals=decision.reasons,
            receipt=self._signer.sign_envelope(SEARCH_RECEIPT_TYPE, receipt.to_canonical()),
        )
