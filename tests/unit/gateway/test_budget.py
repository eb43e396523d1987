"""The reserve after the fan-out grows with the agencies in flight and with this gateway's own
post-fan-out times, within its floor and ceiling."""

from __future__ import annotations

import pytest

from gateway.budget import (
    MAX_RESERVE_S,
    MAX_RESERVE_SHARE,
    MIN_RESERVE_S,
    MIN_STEP_S,
    RESERVE_FIXED_S,
    RESERVE_PER_AGENCY_S,
    SAFETY_FACTOR,
    VARIATION_WEIGHT,
    PostFanoutTimes,
    budget_s,
    reserve_s,
    sized_s,
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


def test_the_reserve_is_the_sizing_until_a_post_fan_out_time_is_known() -> None:
    assert PostFanoutTimes().slowdown() == 1.0
    assert reserve_s(64, 0.9, PostFanoutTimes().slowdown()) == reserve_s(64, 0.9)


def test_post_fan_out_times_within_the_sizing_keep_the_sizing_as_the_floor() -> None:
    times = PostFanoutTimes()
    for _ in range(50):
        times.record(0.2 * sized_s(64), agencies_in_flight=64)  # an idle machine
    assert times.slowdown() == 1.0
    assert reserve_s(64, 0.9, times.slowdown()) == pytest.approx(sized_s(64))


def test_a_starved_gateway_keeps_back_more_from_its_first_slow_query_on() -> None:
    """The figures of docs/PERFORMANCE.md: one query of 64 agencies logged its outcome
    126 ms after its fan-out was due, against the 94 ms the sizing kept back."""
    times = PostFanoutTimes()
    times.record(0.126, agencies_in_flight=64)
    reserve = reserve_s(64, 0.9, times.slowdown())
    assert reserve > 0.126 * SAFETY_FACTOR
    # As RFC 6298 (2.2) starts: the mean is the first time, the deviation half of it.
    ratio = 0.126 / sized_s(64)
    assert times.slowdown() == pytest.approx(SAFETY_FACTOR * (ratio + VARIATION_WEIGHT * ratio / 2))


def test_the_reserve_follows_the_load_back_down() -> None:
    times = PostFanoutTimes()
    times.record(3 * sized_s(64), agencies_in_flight=64)
    starved = times.slowdown()
    for _ in range(40):
        times.record(0.5 * sized_s(64), agencies_in_flight=64)
    assert 1.0 <= times.slowdown() < starved / 2
    assert times.slowdown() == pytest.approx(1.0)


def test_times_are_compared_with_the_sizing_of_their_own_load() -> None:
    """A national query's 512 agencies in flight taking 0.4 s is no slower than the sizing
    says; one query of 3 taking that long is far slower."""
    national, small = PostFanoutTimes(), PostFanoutTimes()
    national.record(0.4, agencies_in_flight=512)
    small.record(0.4, agencies_in_flight=3)
    assert national.slowdown() < small.slowdown()


def test_one_stall_counts_at_most_as_a_time_at_the_ceiling() -> None:
    stalled, at_ceiling = PostFanoutTimes(), PostFanoutTimes()
    stalled.record(30.0, agencies_in_flight=64)
    at_ceiling.record(MAX_RESERVE_S, agencies_in_flight=64)
    assert stalled.slowdown() == at_ceiling.slowdown()


def test_a_slowdown_still_leaves_the_nodes_half_and_the_ceiling_holds() -> None:
    times = PostFanoutTimes()
    times.record(MAX_RESERVE_S, agencies_in_flight=1)
    assert reserve_s(1, 0.4, times.slowdown()) == pytest.approx(MAX_RESERVE_SHARE * 0.4)
    assert reserve_s(1, 60.0, times.slowdown()) == MAX_RESERVE_S
    assert reserve_s(1, 0.4, slowdown=0.1) == reserve_s(1, 0.4)  # below 1 counts as 1
