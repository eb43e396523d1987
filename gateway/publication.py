"""Storing the witnessed publication in the background (gateway/witnessing.py).

A publication is shown to this gateway's readers the moment its quorum is reached
(``LedgerStore.announce``); its rows are written a little later, off the query's path, and
several publications meanwhile make one write of the newest. Other replicas and anything
reading the stored rows see a publication that much later (``PUBLICATION_DELAY_S`` in
gateway/witnessing.py, 50 ms). The write is not flushed (see
``LedgerStore.publish``): if the gateway dies first, the stored publication only lags, since
every witness remembers what it cosigned and cosigns it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from alprfed.errors import LedgerError

log = logging.getLogger("alprfed.gateway.witnessing")


class PublishingStore(Protocol):
    def publish(self, size: int, lines: Sequence[str]) -> bool: ...


class BackgroundPublication:
    """One background task writing the newest publication; ``latest`` says what it is."""

    def __init__(self, store: PublishingStore, latest: Callable[[], tuple[int, list[str]]]) -> None:
        self._store = store
        self._latest = latest
        self._task: asyncio.Task[None] | None = None
        self._pending = False

    def store_soon(self, delay_s: float) -> None:
        """Write the newest publication in ``delay_s`` (or with the write already coming)."""
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write(delay_s))

    async def flush(self) -> None:
        """Wait for the write under way, if any (the gateway stopping)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _write(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        while self._pending:
            self._pending = False
            size, lines = self._latest()
            try:
                await asyncio.to_thread(self._store.publish, size, lines)
            except LedgerError as exc:
                # Readers of this gateway see the publication all the same; the next one
                # stores it (a stored publication only lags, see LedgerStore.announce).
                log.warning("could not store the publication of checkpoint %d: %s", size, exc)
