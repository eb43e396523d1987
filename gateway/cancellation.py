"""Work a cancelled call must still finish: a query, once it may have logged its decision.

A query's call is cancelled when the officer's deadline passes (grpc.aio cancels its handler
task) or the officer hangs up. What the query did by then stays done (a decision logged, nodes
asked), so it runs on to its outcome entry: in a task of its own that the cancellation does
not reach. Its network steps (the witnesses, the nodes) keep to the deadline by themselves, and
no node is asked once the deadline has passed (gateway.service); its database steps (the
authority lookup, the ledger appends) wait for the database, which is why a stop waits for such
work only so long (``UnfinishedWork.finish``).

A call that hangs up at once frees its gRPC slot while its query runs on, so the queries under
way are bounded here, not only by the server's limit on calls: past ``MAX_UNDER_WAY`` a new
query is refused before anything is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar

from alprfed.errors import AlprfedError

log = logging.getLogger("alprfed.gateway.query")

T = TypeVar("T")

MAX_UNDER_WAY = 1024  # as many as the gateway takes calls at once (gateway.server)


class UnfinishedWork:
    """The queries, and ledger entries of calls, under way in the gateway, each run to its end
    even if its call is cancelled."""

    def __init__(self, limit: int = MAX_UNDER_WAY) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()  # the loop keeps tasks only weakly
        self._limit = limit

    @property
    def full(self) -> bool:
        return len(self._tasks) >= self._limit

    async def run(self, work: Awaitable[T], what: str) -> T:
        """``work``'s result, ``work`` run to its end even if the caller is cancelled (see
        ``finish_despite_cancellation``); when full, ``work`` shares the caller's fate."""
        if self.full:
            return await work
        return await finish_despite_cancellation(work, what, self._tasks)

    async def finish(self, timeout_s: float) -> None:
        """Wait until the work the stop cut off has ended, at most ``timeout_s`` seconds; what
        is still running then is abandoned, and said so in the log."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        if pending:
            log.error(
                "stopping with %d queries or ledger entries still under way after %.0f s "
                "(the database stalled?): a decision entry may be left without its outcome",
                len(pending),
                timeout_s,
            )


async def finish_despite_cancellation(
    work: Awaitable[T], what: str, unfinished: set[asyncio.Future[Any]]
) -> T:
    """``work``'s result. Cancelling the caller does not cancel ``work``: it runs to its end,
    and if it then fails, the failure is logged as ``what`` (nobody is left to raise it to;
    never asyncio's "Task exception was never retrieved").

    ``unfinished`` holds the task until it is done: the event loop keeps tasks only weakly.

    Raises:
        asyncio.CancelledError: the caller was cancelled (``work`` goes on).
        Whatever ``work`` raises while the caller still waits for it.
    """
    task = asyncio.ensure_future(work)
    unfinished.add(task)
    task.add_done_callback(unfinished.discard)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(partial(_log_unawaited, what))
        raise


def _log_unawaited(what: str, task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        log.error("%s was cancelled before it finished", what)
    elif isinstance(exc := task.exception(), AlprfedError):
        # Refusals and outages the caller would have been told of (no traceback: expected).
        log.warning("%s went on after its call was cancelled, then failed: %s", what, exc)
    elif exc is not None:
        log.error("%s failed after its call was cancelled: %s", what, exc, exc_info=exc)
