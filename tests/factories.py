"""Builders for signed protocol messages used across tests (real keys, real signatures)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace

from alprfed.messages import Requester, SearchQuery
from alprfed.models import AgencyKind, Purpose, TimeWindow
from alprfed.signing import SEARCH_QUERY_TYPE, Envelope, SigningKey

DAY = 86_400


def requester(**overrides: object) -> Requester:
    base = Requester(
        agency_id="sjpd", officer_id="officer-garcia", state="CA", kind=AgencyKind.LOCAL
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def search_query(now: int, **overrides: object) -> SearchQuery:
    base = SearchQuery(
        query_id=uuid.uuid4().hex,
        addressees=("sjpd",),
        issued_at=now,
        expires_at=now + 60,
        nonce=secrets.token_hex(16),
        plate="7ABC123",
        window=TimeWindow(now - 7 * DAY, now),
        purpose=Purpose.HOMICIDE,
        case_number="SJ-2025-001234",
        requester=requester(),
        warrant_id="w-2025-0042",
        exigent=False,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def sign_query(key: SigningKey, query: SearchQuery) -> Envelope:
    return key.sign_envelope(SEARCH_QUERY_TYPE, query.to_canonical())
