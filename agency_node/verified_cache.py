"""A bounded memory of what the node has verified, keyed by the exact bytes it verified.

A signature over given bytes cannot start failing, so a checkpoint note or a warrant verified
once need not be verified again; checks that depend on the time (freshness, expiry) are the
caller's and run on every use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class VerifiedCache(Generic[K, V]):
    """What was verified, by the exact bytes verified: least recently used dropped first, so
    the checkpoint all current queries share stays however many others pass. Thread-safe
    (the node answers on a thread pool)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
