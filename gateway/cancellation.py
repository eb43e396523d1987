"""Work a cancelled query must still finish: the audit of what it already did.

A query is cancelled when the officer's deadline passes (grpc.aio cancels its handler task).
What it has done by then stays done (a decision logged, nodes asked), so its record must still
be written: such work runs in a task of its own that the cancellation does not reach.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar

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
    elif (exc := task.exception()) is not None:
        log.error("%s failed after its query was cancelled: %s", what, exc, exc_info=exc)
