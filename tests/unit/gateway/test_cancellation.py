"""Work a cancelled caller leaves running finishes, and its failure is logged, not lost."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from alprfed.errors import Unavailable
from gateway.cancellation import finish_despite_cancellation


async def _cancel_caller_while(work: asyncio.Future[Any], release: asyncio.Event) -> set[Any]:
    """Start a caller waiting on ``work``, cancel it, then let ``work`` go on."""
    unfinished: set[asyncio.Future[Any]] = set()
    caller = asyncio.create_task(finish_despite_cancellation(work, "the test's work", unfinished))
    await asyncio.sleep(0)  # the caller is now waiting
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert len(unfinished) == 1  # cancelled caller, work still held
    release.set()
    await asyncio.wait(set(unfinished))  # (wait, unlike gather, retrieves no exception)
    await asyncio.sleep(0)  # done callbacks run
    return unfinished


def test_work_finishes_after_its_caller_is_cancelled() -> None:
    finished: list[str] = []

    async def scenario() -> set[Any]:
        release = asyncio.Event()

        async def work() -> str:
            await release.wait()
            finished.append("written")
            return "entry"

        return await _cancel_caller_while(asyncio.ensure_future(work()), release)

    unfinished = asyncio.run(scenario())
    assert finished == ["written"]
    assert not unfinished  # released once done


def test_a_failure_after_the_caller_is_gone_is_logged_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unhandled: list[dict[str, Any]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: unhandled.append(context))
        release = asyncio.Event()

        async def work() -> str:
            await release.wait()
            raise RuntimeError("the ledger batch was not stored")

        await _cancel_caller_while(asyncio.ensure_future(work()), release)

    with caplog.at_level(logging.ERROR, logger="alprfed.gateway.query"):
        asyncio.run(scenario())
        gc.collect()  # an unretrieved exception is reported when its task is collected
    assert not unhandled  # never "Task exception was never retrieved"
    (record,) = caplog.records
    assert "the test's work failed after its call was cancelled" in record.getMessage()
    assert "the ledger batch was not stored" in record.getMessage()


def test_a_caller_still_waiting_gets_the_failure_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async def work() -> str:
            raise RuntimeError("the ledger batch was not stored")

        await finish_despite_cancellation(work(), "the test's work", set())

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="not stored"):
        asyncio.run(scenario())
    assert not caplog.records  # raised to the caller, so not logged as lost too


def test_an_expected_refusal_after_the_caller_is_gone_is_a_warning_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def work() -> str:
            await release.wait()
            raise Unavailable("the decision could not be witnessed")

        await _cancel_caller_while(asyncio.ensure_future(work()), release)

    with caplog.at_level(logging.WARNING, logger="alprfed.gateway.query"):
        asyncio.run(scenario())
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "could not be witnessed" in record.getMessage()
    assert record.exc_info is None
