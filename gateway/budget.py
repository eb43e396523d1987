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

The reserve can still be too short (a machine far more loaded than the figures below): then,
as before, the answer misses the deadline and nothing is answered that is not logged.
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


def reserve_s(agencies_in_flight: int, remaining_s: float) -> float:
    """Seconds to keep back from ``remaining_s`` for recording and answering
    ``agencies_in_flight`` outcomes (this query's targets plus those of the queries in
    flight beside it in this gateway)."""
    sized = RESERVE_FIXED_S + RESERVE_PER_AGENCY_S * max(0, agencies_in_flight)
    ceiling = min(MAX_RESERVE_S, MAX_RESERVE_SHARE * max(0.0, remaining_s))
    return max(min(MIN_RESERVE_S, remaining_s), min(sized, ceiling))


def budget_s(agencies_in_flight: int, remaining_s: float) -> float:
    """Seconds the next step (witnessing, the fan-out) may take so that the answer for
    ``agencies_in_flight`` outcomes still arrives within ``remaining_s``."""
    return max(MIN_STEP_S, remaining_s - reserve_s(agencies_in_flight, remaining_s))
