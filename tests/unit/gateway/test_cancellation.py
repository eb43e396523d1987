"""Work a cancelled caller leaves running finishes, and its failure is logged, not lost."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from alprfed.errors import Unavailable
from gateway.cancellation import UnfinishedWork, finish_despite_cancellation


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


def test_when_full_new_work_shares_its_callers_fate_and_nothing_piles_up() -> None:
    """Callers that hang up at once must not pile up work without bound: past the limit a
    caller's work is cancelled with it (the query itself is refused before it starts)."""

    async def scenario() -> tuple[bool, bool, int]:
        work = UnfinishedWork(limit=1)
        forever = asyncio.Event()
        first = asyncio.create_task(work.run(forever.wait(), "the first"))
        await asyncio.sleep(0)
        full = work.full
        held_up = asyncio.ensure_future(forever.wait())
        second = asyncio.create_task(work.run(held_up, "the second"))
        await asyncio.sleep(0)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await asyncio.sleep(0)
        outcome = held_up.cancelled()
        first.cancel()
        forever.set()
        await work.finish(timeout_s=1.0)
        return full, outcome, len(work._tasks)

    full, second_cancelled_with_its_caller, left = asyncio.run(scenario())
    assert full
    assert second_cancelled_with_its_caller
    assert left == 0  # the first, cut off, ran on to its end and was waited for


def test_the_stop_waits_only_so_long_for_stalled_work(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        work = UnfinishedWork()
        stalled = asyncio.Event()  # a database that never answers
        caller = asyncio.create_task(work.run(stalled.wait(), "a stalled query"))
        await asyncio.sleep(0)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await work.finish(timeout_s=0.05)
        stalled.set()  # let the loop close cleanly
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="alprfed.gateway.query"):
        asyncio.run(scenario())
    (record,) = caplog.records
    assert "1 queries or ledger entries still under way" in record.getMessage()
