"""The signed warrant (v2): its prospective mark cannot lie, its salt cannot be guessed."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import pytest

from alprfed.errors import InvalidRequest
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.warrants import Warrant

NOW, DAY = 1_764_000_000, 86_400
HISTORICAL = Warrant(
    warrant_id="w-1",
    court="santa-clara-superior",
    judge="Hon. A. Rivera",
    issued_at=NOW,
    expires_at=NOW + 30 * DAY,
    agency="sjpd",
    plates=("8FXR413",),
    window=TimeWindow(NOW - 7 * DAY, NOW),  # ends at issuance: a historical search
    offense=Purpose.ROBBERY,
    prospective=False,
    salt=secrets.token_hex(32),
)


def test_round_trip() -> None:
    assert Warrant.from_canonical(HISTORICAL.to_canonical()) == HISTORICAL
    tracking = replace(HISTORICAL, window=TimeWindow(NOW - DAY, NOW + DAY), prospective=True)
    assert Warrant.from_canonical(tracking.to_canonical()) == tracking


@pytest.mark.parametrize(
    ("window", "prospective"),
    [
        (TimeWindow(NOW - DAY, NOW + 1), False),  # tracking, marked historical
        (TimeWindow(NOW - DAY, NOW), True),  # historical, marked tracking
    ],
)
def test_a_wrong_prospective_mark_is_refused(window: TimeWindow, prospective: bool) -> None:
    with pytest.raises(InvalidRequest, match="prospective exactly when"):
        replace(HISTORICAL, window=window, prospective=prospective)


@pytest.mark.parametrize("salt", ["", "00" * 31, "00" * 33, "AB" * 32, "zz" * 32, " " + "00" * 32])
def test_a_salt_that_is_not_32_random_bytes_in_hex_is_refused(salt: str) -> None:
    with pytest.raises(InvalidRequest, match="salt"):
        replace(HISTORICAL, salt=salt)


def payload(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = dict(HISTORICAL.to_canonical())
    value.update(changes)
    return value


def test_version_1_is_refused_with_a_reason() -> None:
    v1 = payload(v=1)
    del v1["salt"], v1["prospective"]
    with pytest.raises(InvalidRequest, match=r"not a version 2 warrant.*re-issue"):
        Warrant.from_canonical(v1)


@pytest.mark.parametrize(
    "bad",
    [
        payload(prospective=0),  # not a boolean
        payload(prospective="false"),
        payload(extra="field"),  # nothing beyond the listed fields
        {k: v for k, v in payload().items() if k != "salt"},
        {k: v for k, v in payload().items() if k != "prospective"},
    ],
)
def test_malformed_v2_payloads_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        Warrant.from_canonical(bad)


def test_two_warrants_alike_but_for_the_salt_hash_apart() -> None:
    # What the salt is for: the payload's hash (public in the ledger) depends on it.
    from alprfed import canonical

    again = replace(HISTORICAL, salt=secrets.token_hex(32))
    assert canonical.encode(again.to_canonical()) != canonical.encode(HISTORICAL.to_canonical())
