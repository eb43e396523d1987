"""Signed search queries exactly as the gateway signs them, for clients that play the gateway.

Each query is a fresh ``SearchQuery`` with its own nonce, signed by the gateway's query key and
valid for the gateway's query lifetime, so a node treats it like any query from the gateway:
signature, addressee, freshness, window and replay checks, then its law, then the lookup.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alprfed import wire
from alprfed.clock import Clock
from alprfed.messages import Requester, SearchQuery
from alprfed.models import AgencyKind, Purpose, TimeWindow
from alprfed.signing import SEARCH_QUERY_TYPE, Envelope, SigningKey
from alprfed.v1 import node_pb2
from bench.evidence import BenchAuthority
from bench.federation import REQUESTER_AGENCY, REQUESTER_OFFICER
from gateway.service import QUERY_LIFETIME_S

NONCE_BYTES = 16  # as the gateway draws them
CASE_NUMBER = "BENCH-2026-0001"
WARRANT_ID = "w-bench-0001"
BENCH_REQUESTER = Requester(REQUESTER_AGENCY, REQUESTER_OFFICER, "CA", AgencyKind.LOCAL)


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


@dataclass(frozen=True)
class Probe:
    """One lookup: a plate and the window to search."""

    plate: str
    window: TimeWindow


class QuerySigner:
    """Signs one query per call, with a fresh nonce, as the gateway does."""

    def __init__(
        self,
        key: SigningKey,
        clock: Clock,
        *,
        requester: Requester = BENCH_REQUESTER,
        nonce: Callable[[], str] = new_nonce,
    ) -> None:
        self._key = key
        self._clock = clock
        self._requester = requester
        self._nonce = nonce

    def query(self, addressees: Sequence[str], probe: Probe) -> SearchQuery:
        now = self._clock.now()
        return SearchQuery(
            query_id=uuid.uuid4().hex,
            addressees=tuple(addressees),
            issued_at=now,
            expires_at=now + QUERY_LIFETIME_S,
            nonce=self._nonce(),
            plate=probe.plate,
            window=probe.window,
            purpose=Purpose.ROBBERY,
            case_number=CASE_NUMBER,
            requester=self._requester,
            warrant_id=f"{WARRANT_ID}-{probe.plate}".lower(),
            exigent=False,
        )

    def envelope(self, addressees: Sequence[str], probe: Probe) -> Envelope:
        return self.sign(self.query(addressees, probe))

    def sign(self, query: SearchQuery) -> Envelope:
        return self._key.sign_envelope(SEARCH_QUERY_TYPE, query.to_canonical())

    def requests(
        self, addressees: Sequence[str], probes: Sequence[Probe], authority: BenchAuthority
    ) -> list[node_pb2.SearchRequest]:
        """Signed queries with the evidence a node demands; their decisions share one
        checkpoint (pass one probe per call for a checkpoint each)."""
        queries = [self.query(addressees, probe) for probe in probes]
        return [
            node_pb2.SearchRequest(query=wire.envelope_to_pb(self.sign(query)), evidence=evidence)
            for query, evidence in zip(queries, authority.evidence(queries), strict=True)
        ]
