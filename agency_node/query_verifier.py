"""Verify, then trust: the checks a signed query passes before the node touches any data.

Order matters. The signature comes first, so an unauthenticated caller learns nothing (every
failure below it is one UNAUTHENTICATED with no detail for the caller). The nonce is claimed
last, because claiming is a durable write: a query that fails any other check leaves no trace
in the replay cache.

1. envelope payload type is a search query, the key id is a configured gateway key, and the
   Ed25519 signature over PAE(type, payload) verifies;
2. the payload is canonical JSON of the exact query shape (alprfed.messages.SearchQuery);
3. this node is among the addressees;
4. issued_at and expires_at lie within MAX_CLOCK_SKEW_S of now, and the lifetime is short;
5. the nonce is well formed;
6. the observation window is sane (INVALID_ARGUMENT: the gateway signed a malformed query);
7. the nonce was never seen (a replay cache in the node database that survives restarts for as
   long as the query could still be accepted, ``nonce_kept_until``). This last check is the
   search service's: it claims the nonce in the transaction that claims the query id and
   writes the access record (agency_node.search), before any sighting leaves, so a search
   pays one durable commit instead of two. ``verify`` does 1-6 and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alprfed.clock import Clock
from alprfed.errors import VerificationError
from alprfed.messages import SearchQuery
from alprfed.signing import SEARCH_QUERY_TYPE, Envelope, VerifyingKey, keyring, open_envelope

MAX_CLOCK_SKEW_S = 30  # tolerated disagreement between gateway and node clocks
MAX_QUERY_LIFETIME_S = 300  # expires_at - issued_at; bounds the replay cache's size
_NONCE = re.compile(r"[0-9a-f]{32,64}")


def nonce_kept_until(query: SearchQuery) -> int:
    """Until when the replay cache keeps ``query``'s nonce: as long as the query could still
    pass the freshness check."""
    return query.expires_at + MAX_CLOCK_SKEW_S


class QueryVerifier:
    """Admits a signed query only after checks 1-6 passed (see module docstring); the caller
    claims its nonce (check 7) before answering it."""

    def __init__(
        self,
        *,
        node_id: str,
        gateway_keys: Sequence[VerifyingKey],
        clock: Clock,
    ) -> None:
        if not gateway_keys:
            raise ValueError("a node needs at least one gateway key to answer anything")
        self._node_id = node_id
        self._keys = keyring(*gateway_keys)
        self._clock = clock

    def verify(self, envelope: Envelope) -> SearchQuery:
        """Return the query once it is authentic, addressed here and fresh; nothing is written.

        Raises:
            VerificationError: signature, shape, addressee or freshness check failed.
            InvalidWindow: the (authentic) query's window is inverted or absurd.
        """
        payload = open_envelope(envelope, payload_type=SEARCH_QUERY_TYPE, keys=self._keys)
        query = SearchQuery.from_canonical(payload)
        if self._node_id not in query.addressees:
            raise VerificationError(f"query {query.query_id} is not addressed to {self._node_id}")
        now = self._clock.now()
        self._check_freshness(query, now)
        if not _NONCE.fullmatch(query.nonce):
            raise VerificationError("nonce must be 32 to 64 lower-case hex digits")
        query.window.check_sane(now=now)
        return query

    @staticmethod
    def _check_freshness(query: SearchQuery, now: int) -> None:
        lifetime = query.expires_at - query.issued_at
        if lifetime <= 0 or lifetime > MAX_QUERY_LIFETIME_S:
            raise VerificationError(
                f"query lifetime {lifetime} s outside 1..{MAX_QUERY_LIFETIME_S}"
            )
        if query.issued_at > now + MAX_CLOCK_SKEW_S:
            raise VerificationError(f"query issued {query.issued_at - now} s in the future")
        if query.expires_at < now - MAX_CLOCK_SKEW_S:
            raise VerificationError(f"query expired {now - query.expires_at} s ago")
