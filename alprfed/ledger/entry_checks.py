"""The per-entry checks of a verification run, spread over worker processes for large logs.

Each entry must decode canonically, sit at its own index and chain to the entry before it.
Those checks cost far more than hashing (a canonical decode is a JSON parse plus a re-encode),
and they are independent page by page given the leaf hash before the page, so a large log is
checked by a pool of processes while the verifier's own process streams entries and rebuilds
the tree. Only the first failing entry matters, and pages are collected in order to find it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from alprfed.ledger.entry import entry_fault
from alprfed.ledger.merkle import leaf_hash

log = logging.getLogger("alprfed.ledger")

PARALLEL_MIN_ENTRIES = 100_000  # below this, starting worker processes costs more than it saves
MAX_WORKERS = 8
PAGES_IN_FLIGHT_PER_WORKER = 2  # bounds the memory of pages handed out and not yet checked

Fault = tuple[int, str]  # (entry index, what is wrong with it)
_Page = tuple[int, bytes, list[bytes]]  # (index of its first entry, leaf hash before it, data)


def check_page(start: int, prev: bytes, page: Sequence[bytes]) -> Fault | None:
    """The first entry of ``page`` (at indices from ``start``, chaining from the leaf hash
    ``prev``) that is not a valid entry, or None."""
    for offset, data in enumerate(page):
        fault = entry_fault(data, start + offset, prev)
        if fault is not None:
            return start + offset, fault
        prev = leaf_hash(data)
    return None


class EntryChecks:
    """Runs check_page over the pages of one verification, in order; ``workers`` > 1 uses
    that many processes (spawned, so a caller's threads, gRPC's included, are never forked).

    Spawned workers import the caller's main module, so a script that verifies a large log
    needs the usual ``if __name__ == "__main__":`` guard (the ``alprfed`` command has it). If
    the pool cannot start or breaks, the remaining pages are checked in this process.
    """

    def __init__(self, workers: int = 1) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight: deque[tuple[Future[Fault | None], _Page]] = deque()
        self._first: Fault | None = None
        self._limit = 1
        if workers > 1:
            try:
                self._pool = ProcessPoolExecutor(
                    workers, mp_context=multiprocessing.get_context("spawn")
                )
                self._limit = workers * PAGES_IN_FLIGHT_PER_WORKER
            except (OSError, NotImplementedError) as exc:  # e.g. no /dev/shm in a sandbox
                log.warning("checking entries in this process only: %s", exc)

    @classmethod
    def for_log(cls, size: int, workers: int | None = None) -> EntryChecks:
        """As many workers as CPUs for a log of at least PARALLEL_MIN_ENTRIES, else none;
        ``workers`` overrides."""
        if workers is None:
            cpus = os.cpu_count() or 1
            workers = min(cpus, MAX_WORKERS) if size >= PARALLEL_MIN_ENTRIES else 1
        return cls(workers)

    def submit(self, start: int, prev: bytes, page: Sequence[bytes]) -> None:
        if self._first is not None:
            return  # a fault is already known, and everything after it is later in the log
        if self._pool is None:
            self._first = check_page(start, prev, page)
            return
        pages = (start, prev, list(page))
        self._in_flight.append((self._pool.submit(check_page, *pages), pages))
        while len(self._in_flight) > self._limit:
            self._collect_oldest()

    def first_fault(self) -> Fault | None:
        """The first invalid entry of everything submitted so far (waits for the workers)."""
        while self._in_flight and self._first is None:
            self._collect_oldest()
        return self._first

    def _collect_oldest(self) -> None:
        future, (start, prev, page) = self._in_flight.popleft()
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            log.warning("entry-check workers failed (%s); checking in this process", exc)
            self._stop_pool()
            result = check_page(start, prev, page)
        if self._first is None:
            self._first = result

    def close(self) -> None:
        self._stop_pool()
        self._in_flight.clear()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> EntryChecks:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
