"""Work a cancelled call must still finish: a query, once it may have logged its decision.

A query's call is cancelled when the officer's deadline passes (grpc.aio cancels its handler
task) or the officer hangs up. What the query did by then stays done (a decision logged, nodes
asked), so it runs on to its outcome entry: in a task of its own that the cancellation does
not reach, each of its steps keeping to the deadline by itself (gateway.deadlines).
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
