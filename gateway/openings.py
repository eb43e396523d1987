"""Retention of commitment openings: the plates behind the ledger's commitments are deleted.

The ledger holds only salted commitments; the gateway keeps each plate with its salt so an
auditor can open a commitment later (`alprfed ledger open`). Kept forever, that table would be a
list in clear of every plate ever queried. So openings older than the configured retention are
deleted, daily: the entries, their commitments and every proof stay valid, only the plates can
no longer be recovered. Each purge is itself a `retention_purge` entry, so monitors see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alprfed.clock import Clock
from alprfed.ledger import LedgerStore, decode_entry
from gateway.audit import AuditTrail

log = logging.getLogger("alprfed.gateway.openings")

PURGE_INTERVAL_S = 6 * 3600


def first_index_at_or_after(store: LedgerStore, instant: int) -> int:
    """The first entry whose time is >= ``instant`` (the size if none): a binary search, since
    entry times never decrease."""
    low, high = 0, store.size()
    while low < high:
        middle = (low + high) // 2
        if decode_entry(store.entry(middle)).time < instant:
            low = middle + 1
        else:
            high = middle
    return low


class OpeningsRetention:
    def __init__(
        self, store: LedgerStore, audit: AuditTrail, *, retention_seconds: int, clock: Clock
    ) -> None:
        self._store = store
        self._audit = audit
        self._retention = retention_seconds
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Delete openings of entries older than the retention; record it. Returns how many."""
        now = self._clock.now()
        before = await asyncio.to_thread(
            first_index_at_or_after, self._store, now - self._retention
        )
        deleted = await asyncio.to_thread(self._store.purge_openings, before)
        if deleted:
            await self._audit.openings_purged(
                before_index=before, deleted=deleted, retention_seconds=self._retention, ran_at=now
            )
        return deleted

    def start(self, interval_s: float = PURGE_INTERVAL_S) -> None:
        self._task = asyncio.create_task(self._loop(interval_s), name="openings-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a failed round must not end the retention for good
                log.exception("purging commitment openings failed; will retry")
            await asyncio.sleep(interval_s)
