"""The time after a fan-out is counted from when it was due to end, and teaches the reserve."""

from __future__ import annotations

import asyncio

import pytest

from gateway.budget import MAX_RESERVE_SHARE, sized_s
from gateway.deadlines import NO_DEADLINE, FanOutWindow, QueryDeadlines


def test_a_fan_out_that_woke_late_is_counted_from_when_it_was_due() -> None:
    late = FanOutWindow(timeout_s=0.5, due=10.5, sized_for=64, reserve_s=0.1, ended=10.8)
    early = FanOutWindow(timeout_s=0.5, due=10.5, sized_for=64, reserve_s=0.1, ended=10.2)
    assert late.tail_started == 10.5  # the 300 ms late wake-up is the reserve's to cover
    assert early.tail_started == 10.2


@pytest.mark.parametrize(
    ("time_remaining", "expected"), [(None, 5.0), (NO_DEADLINE + 1, 5.0), (9.0, 5.0), (0.25, 0.25)]
)
def test_the_deadline_is_the_callers_or_the_default_timeout_if_sooner(
    time_remaining: float | None, expected: float
) -> None:
    async def scenario() -> tuple[float, float, float]:
        deadlines = QueryDeadlines(default_timeout_s=5.0)
        loop = asyncio.get_running_loop()
        before = loop.time()
        deadline = deadlines.deadline(time_remaining)
        return before, deadline, loop.time()

    before, deadline, after = asyncio.run(scenario())
    assert before + expected <= deadline <= after + expected


def test_a_slow_outcome_makes_the_next_fan_out_keep_more_back() -> None:
    async def scenario() -> tuple[FanOutWindow, FanOutWindow]:
        deadlines = QueryDeadlines(default_timeout_s=5.0)
        loop = asyncio.get_running_loop()
        with deadlines.taken(64):
            first = deadlines.fan_out_window(loop.time() + 2.0, per_node_timeout_s=10.0)
            # Its outcome logged three sizings after the fan-out was due (a starved gateway).
            first.ended = first.due = loop.time() - 3 * sized_s(64)
            deadlines.outcome_logged("q1", first, deadline=loop.time() + 1.0)
            second = deadlines.fan_out_window(loop.time() + 2.0, per_node_timeout_s=10.0)
        return first, second

    first, second = asyncio.run(scenario())
    assert first.reserve_s == pytest.approx(sized_s(64))
    assert second.reserve_s > 3 * sized_s(64)
    assert second.reserve_s <= MAX_RESERVE_SHARE * 2.0
    assert second.sized_for == 64
