"""A query's time budget: what the gateway keeps back from the officer's deadline for the
work after the fan-out, sized by that work.

Once the last node answered or timed out, the answer still needs: the fan-out to wake up and
collect its calls, one outcome record per addressed agency (receipts included) built,
appended to the ledger and committed, the answer (every agency's outcome and sightings)
encoded and sent. That work grows with the agencies whose outcomes are still to be recorded
in this gateway: the query's own targets, and those of the queries in flight beside it, which
share the gateway's one event loop and ledger writer and whose fan-outs end at about the same
moment (a national query is ``1,024 / MAX_TARGETS`` = 16 queries of 64 sent at once, their
hanging nodes all cut at once). A reserve that was a fraction of the deadline (10%, at most
250 ms) did not grow with it: at 16 queries of 64 the outcome entries were still being logged
when the officer's deadline passed, and the officer got DEADLINE_EXCEEDED and no answer at all
although most nodes had answered. Now the reserve is sized by the agencies in flight; the
nodes get what is left, and a node still silent then is TIMED_OUT in an answer that arrives.

The per-agency sizing alone was still too short on a starved machine (two busy loops on both
cores: one query of 64 agencies logged its outcome 126 ms after its fan-out was due to end,
against a reserve of 94 ms). So the reserve also follows this gateway's own post-fan-out
times: ``PostFanoutTimes`` smooths how many times longer than the sizing they took, and the
reserve is the sizing times that (never less than the sizing, never past the ceiling).

It can still be too short (the first query on a starved machine, a sudden stall): then the
answer misses the deadline, and nothing is answered that is not logged; the outcome entry is
still written (gateway.cancellation) and its time is learned from.
"""

from __future__ import annotations

# Where the figures come from: the gateway timed from the end of its fan-out to its answer
# being encoded, federations of 64 and 256 nodes (bench.fanout_setup, nodes in 2 processes,
# one agency in 20 hanging), 2026-12-03 on the shared 2-core machine. One query of 64
# agencies: 6-20 ms (0.1-0.3 ms an agency) at load average 3-7. Four such queries at once,
# 256 agencies in flight: 25-230 ms (up to 0.9 ms an agency) at load average 7-20, and the
# fan-out itself woke 20-30 ms after its timeout.
RESERVE_FIXED_S = 0.03  # the fan-out's wake-up past its timeout, one ledger commit, the send
RESERVE_PER_AGENCY_S = 0.001  # per agency in flight: the loaded figure above, rounded up
MIN_RESERVE_S = 0.05  # floor: a 3-node query on a loaded machine still needs a commit
MAX_RESERVE_S = 1.5  # ceiling: past this the officer's deadline is the wrong one to keep
MAX_RESERVE_SHARE = 0.5  # of the time left: the nodes always get at least the other half
MIN_STEP_S = 0.001  # what a step is given when nothing is left (it then fails at once)


# Smoothing of the post-fan-out times, RFC 6298 section 2 (TCP's retransmission timer, which
# faces the same question: how long to wait for something whose time varies with load): a
# smoothed mean and a smoothed mean deviation, the estimate the mean plus K deviations.
SMOOTHING_GAIN = 1 / 8  # RFC 6298's alpha
VARIATION_GAIN = 1 / 4  # RFC 6298's beta
VARIATION_WEIGHT = 4  # RFC 6298's K: for a high quantile, not the mean
# The measurement ends when the outcome entry is committed; the answer is then still encoded
# and sent (1-30 ms for 64 outcomes, gateway.deadlines TAIL_WARN_S).
SAFETY_FACTOR = 1.25


def sized_s(agencies_in_flight: int) -> float:
    """The reserve's sizing by the agencies in flight alone, the figures above."""
    return RESERVE_FIXED_S + RESERVE_PER_AGENCY_S * max(0, agencies_in_flight)


class PostFanoutTimes:
    """How long the work after a fan-out takes on this gateway now, as a multiple of
    ``sized_s``: the load the figures above were not taken under.

    Each query's post-fan-out time (from the moment its fan-out was due to end, so a late
    wake-up counts, to its outcome entry being committed) is divided by the sizing it was
    given; those ratios are smoothed as RFC 6298 smooths round-trip times. One event loop
    only (no locking).
    """

    def __init__(self) -> None:
        self._mean: float | None = None  # RFC 6298's SRTT, of ratios
        self._deviation = 0.0  # RFC 6298's RTTVAR

    def record(self, seconds: float, agencies_in_flight: int) -> None:
        """One query's post-fan-out time, sized for ``agencies_in_flight``."""
        # Past the ceiling a ratio says nothing more: one stall must not set the reserve of
        # the next queries at the ceiling for a long while.
        ratio = min(max(0.0, seconds), MAX_RESERVE_S) / sized_s(agencies_in_flight)
        if self._mean is None:  # RFC 6298 (2.2): the first measurement
            self._mean, self._deviation = ratio, ratio / 2
            return
        # RFC 6298 (2.3): the deviation first, from the mean before this measurement.
        self._deviation += VARIATION_GAIN * (abs(self._mean - ratio) - self._deviation)
        self._mean += SMOOTHING_GAIN * (ratio - self._mean)

    def slowdown(self) -> float:
        """What to multiply ``sized_s`` by: at least 1 (the sizing is the floor), 1 until a
        time was recorded."""
        if self._mean is None:
            return 1.0
        return max(1.0, SAFETY_FACTOR * (self._mean + VARIATION_WEIGHT * self._deviation))


def reserve_s(agencies_in_flight: int, remaining_s: float, slowdown: float = 1.0) -> float:
    """Seconds to keep back from ``remaining_s`` for recording and answering
    ``agencies_in_flight`` outcomes (this query's targets plus those of the queries in
    flight beside it in this gateway), on a gateway ``slowdown`` times slower than the
    sizing's figures (``PostFanoutTimes.slowdown``; below 1 counts as 1)."""
    sized = sized_s(agencies_in_flight) * max(1.0, slowdown)
    ceiling = min(MAX_RESERVE_S, MAX_RESERVE_SHARE * max(0.0, remaining_s))
    return max(min(MIN_RESERVE_S, remaining_s), min(sized, ceiling))


def budget_s(agencies_in_flight: int, remaining_s: float, slowdown: float = 1.0) -> float:
    """Seconds the next step (witnessing, the fan-out) may take so that the answer for
    ``agencies_in_flight`` outcomes still arrives within ``remaining_s``."""
    return max(MIN_STEP_S, remaining_s - reserve_s(agencies_in_flight, remaining_s, slowdown))
