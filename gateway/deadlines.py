"""The time side of the queries in this gateway: when each answer is due, what each step may
take of it, and what the work after the fan-out has been taking (the sizing: gateway.budget).

All on the gateway's one event loop, in its clock (``loop.time()``, what grpc.aio deadlines
and asyncio timeouts use).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gateway.budget import PostFanoutTimes, budget_s, reserve_s

log = logging.getLogger("alprfed.gateway.query")

NO_DEADLINE = 1e9  # Python gRPC reports "no deadline" as a huge time_remaining
# Why no node was asked, when the deadline passed before the fan-out (the outcome entry says).
DEADLINE_PASSED = "the deadline passed before the nodes were asked"
# Less left than this once the outcome is logged, and the answer (encoded, then sent) may miss
# the deadline: worth a line in the log (1-30 ms to encode 64 outcomes, docs/PERFORMANCE.md).
TAIL_WARN_S = 0.01


@dataclass
class FanOutWindow:
    """One query's fan-out: the time it was given and what that was sized for."""

    timeout_s: float
    due: float  # event-loop time by which the fan-out is to end
    sized_for: int  # agencies in flight in this gateway when it was given its timeout
    reserve_s: float  # what was kept back for after it
    ended: float | None = None  # event-loop time it did end
    missed: bool = False  # its outcome was logged past the deadline (and that was logged)

    @property
    def tail_started(self) -> float:
        """When the work after it began: its end, or when it was due to end if it woke late
        (a late wake-up is the loop's load, and the reserve's to cover)."""
        return self.due if self.ended is None else min(self.ended, self.due)


class QueryDeadlines:
    """Deadlines, step budgets and the post-fan-out times they are sized by."""

    def __init__(self, default_timeout_s: float) -> None:
        self._default_timeout = default_timeout_s
        # Targets of the queries taken and not yet answered: what the reserve after each
        # fan-out is sized by (gateway.budget).
        self._in_flight = 0
        self._tails = PostFanoutTimes()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def taken(self, targets: int) -> Iterator[None]:
        """A query to ``targets`` agencies, in flight while the block runs."""
        self._in_flight += targets
        try:
            yield
        finally:
            self._in_flight -= targets

    def deadline(self, time_remaining: float | None) -> float:
        """The event-loop time by which the answer must be sent: the caller's deadline, or
        the gateway's default timeout if that is sooner or there is none."""
        remaining = self._default_timeout
        if time_remaining is not None and time_remaining < NO_DEADLINE:
            remaining = min(remaining, time_remaining)
        return _now() + remaining

    def budget(self, deadline: float) -> float:
        """Seconds the next step may take so the answer still arrives before ``deadline``."""
        return budget_s(self._in_flight, deadline - _now(), self._tails.slowdown())

    @property
    def longest_s(self) -> float:
        """The longest deadline a query is given (the gateway's default timeout)."""
        return self._default_timeout

    def passed(self, deadline: float) -> bool:
        return _now() >= deadline

    def fan_out_window(self, deadline: float, per_node_timeout_s: float) -> FanOutWindow:
        """The time a fan-out starting now gets: the node timeout, or less to keep the
        reserve for after it."""
        now, slowdown = _now(), self._tails.slowdown()
        reserve = reserve_s(self._in_flight, deadline - now, slowdown)
        timeout = min(per_node_timeout_s, budget_s(self._in_flight, deadline - now, slowdown))
        return FanOutWindow(timeout, now + timeout, self._in_flight, reserve)

    def outcome_logged(self, query_id: str, window: FanOutWindow, deadline: float) -> None:
        """Learn from the time the outcome took to log after ``window``; run whether or not
        the query was cancelled meanwhile, for those are the times that matter most."""
        now = _now()
        taken = now - window.tail_started
        self._tails.record(taken, window.sized_for)
        if now > deadline:
            window.missed = True
            log.warning(
                "query %s: outcome logged %.0f ms after its fan-out, %.0f ms past its "
                "deadline (%d agencies in flight, reserve %.0f ms): the officer got no answer; "
                "the reserve is now %.1f times its sizing",
                query_id,
                taken * 1000,
                (now - deadline) * 1000,
                window.sized_for,
                window.reserve_s * 1000,
                self._tails.slowdown(),
            )

    def check_tail(self, query_id: str, window: FanOutWindow, deadline: float) -> None:
        """Warn when the work after the fan-out left the answer less than it needs to be
        sent: the reserve is too small for this machine's load."""
        now = _now()
        if deadline - now < TAIL_WARN_S and not window.missed:
            log.warning(
                "query %s: recorded %.0f ms after its fan-out, %.0f ms before its deadline "
                "(%d agencies in flight, reserve %.0f ms): the answer may not arrive in time",
                query_id,
                (now - window.tail_started) * 1000,
                (deadline - now) * 1000,
                window.sized_for,
                window.reserve_s * 1000,
            )


def _now() -> float:
    return asyncio.get_running_loop().time()
