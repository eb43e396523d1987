"""Group commit: many concurrent asyncio callers, one transaction and one checkpoint per batch.

Callers ``await writer.append(...)``. Their entries queue up; one worker task takes up to
``max_batch`` of them, appends them in one transaction on a worker thread (the event loop never
blocks on SQL) and hands every caller its own committed entry. While a batch commits the next
one gathers, so batches grow with load: one caller waits for one commit, a thousand callers
share a few. Batching also means a checkpoint does not reveal which single query it covers.

An entry is validated when ``append`` is called, so a bad entry fails its own caller at once
and never the batch it would have joined. A batch that fails in storage fails each of its
callers with a LedgerError, and nothing of it is stored. An entry whose record another gateway
replica stored first (ActRecordedMeanwhile) fails its own caller only: the batch is sent again
without it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alprfed.errors import ActRecordedMeanwhile, ConfigError, LedgerError
from alprfed.ledger.entry import AppendedEntry, Effect, PendingEntry
from alprfed.ledger.store import MAX_BATCH_ENTRIES, LedgerStore

log = logging.getLogger("alprfed.ledger")

DEFAULT_MAX_BATCH = 256

_Waiter = tuple[PendingEntry, "asyncio.Future[AppendedEntry]"]


class LedgerWriter:
    """Batches appends from concurrent coroutines of one event loop into atomic commits."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        on_commit: Callable[[str], None] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        """``on_commit`` is called (on the event loop) with each committed batch's checkpoint
        note, before the batch's callers resume: the gateway's witnessing starts from it.
        ``on_batch`` gets each committed batch's entry count and commit time in seconds (the
        gateway's metrics)."""
        if not 1 <= max_batch <= MAX_BATCH_ENTRIES:
            raise ConfigError(f"max_batch must be 1 to {MAX_BATCH_ENTRIES}")
        self._on_commit = on_commit
        self._on_batch = on_batch
        self._store = store
        self._max_batch = max_batch
        self._waiting: deque[_Waiter] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._lease_kept = False

    async def append(
        self,
        kind: str,
        body: Mapping[str, Any],
        plates: Sequence[str] = (),
        *,
        effect: Effect | None = None,
    ) -> AppendedEntry:
        """Append one entry; return it once its batch and checkpoint are committed.

        ``body`` is encoded when its batch commits: do not change it (or anything it holds)
        before this returns. A caller cancelled after its batch began is still logged.
        ``effect`` runs inside the batch's transaction (see PendingEntry): if it raises, the
        whole batch fails and nothing of it is stored.

        Raises:
            InvalidRequest: a bad kind, body or plate (raised at once; nothing queued).
            LedgerError: the writer is closed, or the batch failed in storage.
        """
        if self._closed:
            raise LedgerError("the ledger writer is closed")
        pending = PendingEntry(kind, dict(body), tuple(plates), effect)
        future: asyncio.Future[AppendedEntry] = asyncio.get_running_loop().create_future()
        self._waiting.append((pending, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="ledger-writer")
        return await future

    @property
    def accepting(self) -> bool:
        """Whether appends are taken (until ``close``)."""
        return not self._closed

    async def close(self) -> None:
        """Refuse new appends and wait until everything queued is committed or failed."""
        self._closed = True
        if self._worker is not None:
            await self._worker

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._take_batch()
            if batch:
                await self._commit(batch)
        if self._lease_kept:  # the batch it was kept for was cancelled by all its callers
            self._lease_kept = False
            await asyncio.to_thread(self._store.release_lease)

    def _take_batch(self) -> list[_Waiter]:
        batch: list[_Waiter] = []
        while self._waiting and len(batch) < self._max_batch:
            waiter = self._waiting.popleft()
            if not waiter[1].cancelled():  # its caller gave up before it was written
                batch.append(waiter)
        return batch

    async def _commit(self, batch: list[_Waiter]) -> None:
        started = time.perf_counter()
        # More waiting: keep the sequencer lease for the next batch (within its turn).
        keep_lease = self._lease_kept = bool(self._waiting)
        while True:
            try:
                appended = await asyncio.to_thread(
                    self._store.append_batch,
                    [pending for pending, _ in batch],
                    keep_lease=keep_lease,
                )
                break
            except ActRecordedMeanwhile as exc:
                if exc.position is None:  # not from the store: no entry to drop
                    self._fail(batch, exc)
                    return
                _, refused = batch.pop(exc.position)
                if not refused.done():
                    refused.set_exception(exc)
                if not batch:
                    return
            except Exception as exc:
                self._fail(batch, exc)
                return
        if self._on_batch is not None:
            self._on_batch(len(appended), time.perf_counter() - started)
        if self._on_commit is not None and appended:
            self._on_commit(appended[-1].checkpoint)
        for (_, future), entry in zip(batch, appended, strict=True):
            if not future.done():  # a caller cancelled mid-commit; its entry is in the log
                future.set_result(entry)

    @staticmethod
    def _fail(batch: list[_Waiter], exc: Exception) -> None:
        """Every failure reaches every caller of the batch; none is swallowed."""
        if not isinstance(exc, LedgerError):
            log.exception("ledger batch of %d entries failed", len(batch))
        for _, future in batch:
            if not future.done():
                failure = LedgerError(f"the ledger batch was not stored: {exc}")
                failure.__cause__ = exc
                future.set_exception(failure)
