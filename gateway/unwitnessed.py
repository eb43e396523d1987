"""The witnessing of a ledger whose witness policy is ``quorum none``."""

from __future__ import annotations

import asyncio

from gateway.witnessing import WitnessedStore


class Unwitnessed:
    """The witnessing of a ledger whose policy is ``quorum none``: every checkpoint is
    published as it is signed (the store does it in the append's transaction)."""

    def __init__(self, store: WitnessedStore) -> None:
        self._store = store

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def checkpoint_signed(self, note: str) -> None:
        return None

    async def wait_published(self, size: int, timeout_s: float) -> str:
        del size, timeout_s  # published in the same transaction as the entries
        return await asyncio.to_thread(self._store.latest_checkpoint)

    def reachable_quorum(self) -> str | None:
        return None  # nothing to reach

    def describe(self) -> str:
        return "no witnesses"
