"""Every check a signed query passes before a node touches data, each failing alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import DAY, search_query, sign_query

from agency_node.query_verifier import MAX_CLOCK_SKEW_S, QueryVerifier
from alprfed.clock import FixedClock
from alprfed.errors import InvalidWindow, VerificationError
from alprfed.models import TimeWindow
from alprfed.signing import SEARCH_QUERY_TYPE, SigningKey

NOW = 1_764_000_000


@pytest.fixture
def setup() -> tuple[QueryVerifier, SigningKey, FixedClock]:
    key, clock = SigningKey.generate(), FixedClock(NOW)
    verifier = QueryVerifier(node_id="sjpd", gateway_keys=[key.public], clock=clock)
    return verifier, key, clock


def test_authentic_query_is_admitted(setup) -> None:
    verifier, key, _ = setup
    query = search_query(NOW)
    assert verifier.verify(sign_query(key, query)) == query


def test_wrong_key(setup) -> None:
    verifier, _, _ = setup
    with pytest.raises(VerificationError):
        verifier.verify(sign_query(SigningKey.generate(), search_query(NOW)))


def test_one_tampered_byte(setup) -> None:
    verifier, key, _ = setup
    env = sign_query(key, search_query(NOW))
    tampered = env.payload.replace(b"7ABC123", b"7ABC124")
    with pytest.raises(VerificationError):
        verifier.verify(replace(env, payload=tampered))


def test_expired_query(setup) -> None:
    verifier, key, clock = setup
    env = sign_query(key, search_query(NOW))
    clock.advance(60 + MAX_CLOCK_SKEW_S + 1)
    with pytest.raises(VerificationError, match="expired"):
        verifier.verify(env)


def test_clock_skew_inside_the_tolerance_is_accepted(setup) -> None:
    verifier, key, clock = setup
    clock.advance(-MAX_CLOCK_SKEW_S)  # node clock behind the gateway's
    verifier.verify(sign_query(key, search_query(NOW)))


def test_issued_in_the_future(setup) -> None:
    verifier, key, _ = setup
    query = search_query(NOW, issued_at=NOW + 600, expires_at=NOW + 660)
    with pytest.raises(VerificationError, match="future"):
        verifier.verify(sign_query(key, query))


def test_overlong_lifetime(setup) -> None:
    verifier, key, _ = setup
    with pytest.raises(VerificationError, match="lifetime"):
        verifier.verify(sign_query(key, search_query(NOW, expires_at=NOW + 3600)))


def test_addressed_to_another_node(setup) -> None:
    verifier, key, _ = setup
    with pytest.raises(VerificationError, match="not addressed"):
        verifier.verify(sign_query(key, search_query(NOW, addressees=("chicago-pd",))))


@pytest.mark.parametrize(
    "window",
    [
        TimeWindow(NOW, NOW - DAY),
        TimeWindow(NOW + 2 * DAY, NOW + 3 * DAY),
        TimeWindow(NOW - 1000 * DAY, NOW),
    ],
)
def test_inverted_or_absurd_window(setup, window: TimeWindow) -> None:
    verifier, key, _ = setup
    with pytest.raises(InvalidWindow):
        verifier.verify(sign_query(key, search_query(NOW, window=window)))


def test_malformed_nonce(setup) -> None:
    verifier, key, _ = setup
    with pytest.raises(VerificationError, match="nonce"):
        verifier.verify(sign_query(key, search_query(NOW, nonce="short")))


def test_extra_field_in_a_signed_payload_is_refused(setup) -> None:
    verifier, key, _ = setup
    body = search_query(NOW).to_canonical()
    body["scope"] = "everything"
    with pytest.raises(VerificationError, match="fields differ"):
        verifier.verify(key.sign_envelope(SEARCH_QUERY_TYPE, body))


def test_key_rotation_accepts_either_configured_key() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    verifier = QueryVerifier(
        node_id="sjpd",
        gateway_keys=[old.public, new.public],
        clock=FixedClock(NOW),
    )
    verifier.verify(sign_query(old, search_query(NOW)))
    verifier.verify(sign_query(new, search_query(NOW)))
