"""The reserve after the fan-out grows with the agencies in flight, within its floor and ceiling."""

from __future__ import annotations

import pytest

from gateway.budget import (
    MAX_RESERVE_S,
    MAX_RESERVE_SHARE,
    MIN_RESERVE_S,
    MIN_STEP_S,
    RESERVE_FIXED_S,
    RESERVE_PER_AGENCY_S,
    budget_s,
    reserve_s,
)


def test_the_reserve_grows_with_the_agencies_in_flight() -> None:
    one_query = reserve_s(64, remaining_s=0.9)
    national_quarter = reserve_s(256, remaining_s=0.9)
    assert one_query == pytest.approx(RESERVE_FIXED_S + 64 * RESERVE_PER_AGENCY_S)
    assert national_quarter == pytest.approx(RESERVE_FIXED_S + 256 * RESERVE_PER_AGENCY_S)
    # The old reserve: 10% of the 0.9 s left, 90 ms, whatever the work.
    assert national_quarter > 0.09 * 3


def test_the_reserve_does_not_depend_on_a_long_deadline() -> None:
    """A 5 s deadline gave the old reserve 250 ms for a 3-agency query; the work is the same
    as under a 1 s deadline, so is the reserve."""
    assert reserve_s(3, remaining_s=5.0) == reserve_s(3, remaining_s=1.0) == MIN_RESERVE_S


def test_the_nodes_always_keep_at_least_half_of_what_is_left() -> None:
    remaining = 0.4
    assert reserve_s(1_024, remaining) == pytest.approx(MAX_RESERVE_SHARE * remaining)
    assert budget_s(1_024, remaining) == pytest.approx((1 - MAX_RESERVE_SHARE) * remaining)


def test_the_ceiling_holds_for_any_load() -> None:
    assert reserve_s(100_000, remaining_s=60.0) == MAX_RESERVE_S


def test_the_floor_holds_for_a_small_query_on_a_short_deadline() -> None:
    # Half of 80 ms is below the floor: the floor wins, the nodes get the 30 ms left.
    assert reserve_s(1, remaining_s=0.08) == MIN_RESERVE_S
    assert budget_s(1, remaining_s=0.08) == pytest.approx(0.08 - MIN_RESERVE_S)


@pytest.mark.parametrize("remaining", [0.0, -0.5, 0.01])
def test_nothing_left_gives_a_step_no_time(remaining: float) -> None:
    """Past (or at) the deadline a step gets MIN_STEP_S and fails at once, never a negative
    timeout and never the time it would have had."""
    assert budget_s(64, remaining) == MIN_STEP_S
