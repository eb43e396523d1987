"""Timing primitives: latency samples, percentiles, and rates under concurrency.

Every benchmark times with ``time.perf_counter`` (monotonic, sub-microsecond) around exactly the
work it names, after a warm-up that is thrown away: the first calls pay for connection set-up,
statement preparation and cold caches, which a long-running service pays once.

Percentiles are nearest-rank over the sorted samples, so p99 of 1,000 samples is the tenth
slowest call, an observed value and never an interpolation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

MS_PER_S = 1_000
US_PER_S = 1_000_000


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (any order), e.g. ``fraction=0.99``.

    Raises:
        ValueError: no samples, or ``fraction`` outside (0, 1].
    """
    if not samples:
        raise ValueError("a percentile of no samples is undefined")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """A summary of per-call durations, in seconds."""

    count: int
    p50: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        """Raises: ValueError when there are no samples."""
        return cls(
            count=len(samples),
            p50=percentile(samples, 0.50),
            p99=percentile(samples, 0.99),
            mean=sum(samples) / len(samples) if samples else math.nan,
            max=max(samples),
        )


@contextlib.contextmanager
def client_heap_frozen() -> Iterator[None]:
    """The benchmark's own heap frozen while it times calls (``timeit`` turns the collector
    off altogether): its full collections walked 20-160 ms of prebuilt requests and results
    in the middle of the city part's timed searches, a pause of the client's, not the
    service's. Objects made while timing are still collected."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def time_each(call: Callable[[int], object], *, count: int, warmup: int) -> list[float]:
    """Call ``call(i)`` ``warmup`` times untimed, then ``count`` times, timing each call."""
    for i in range(warmup):
        call(i)
    samples = []
    with client_heap_frozen():
        for i in range(warmup, warmup + count):
            started = time.perf_counter()
            call(i)
            samples.append(time.perf_counter() - started)
    return samples


def rate_threads(
    call: Callable[[int], object], *, count: int, concurrency: int, warmup: int = 0
) -> float:
    """Calls per second when ``concurrency`` threads share ``count`` calls of ``call(i)``.

    Each thread takes the next index until all are taken, so the threads finish together. An
    exception in any call stops the run and is raised here.
    """
    for i in range(warmup):
        call(i)
    next_index = iter(range(warmup, warmup + count))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            call(index)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
        started = time.perf_counter()
        futures = [pool.submit(worker) for _ in range(concurrency)]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
    return count / elapsed


@dataclass(frozen=True)
class ConcurrentRun:
    """Calls per second and the latency of each call under ``concurrency`` callers."""

    per_second: float
    latency: Latency


async def run_concurrently(
    call: Callable[[int], Awaitable[object]], *, count: int, concurrency: int, warmup: int = 0
) -> ConcurrentRun:
    """Await ``count`` calls of ``call(i)`` from ``concurrency`` asyncio tasks.

    Per-call latency is measured too, so the same run gives the rate and what callers waited.
    """
    for i in range(warmup):
        await call(i)
    indices = iter(range(warmup, warmup + count))
    samples: list[float] = []

    async def worker() -> None:
        for index in indices:  # one shared iterator: tasks take turns, never the same index
            started = time.perf_counter()
            await call(index)
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return ConcurrentRun(per_second=count / elapsed, latency=Latency.of(samples))


async def time_each_async(
    call: Callable[[int], Awaitable[object]], *, count: int, warmup: int
) -> list[float]:
    """The asyncio twin of ``time_each``: one call at a time, each timed."""
    for i in range(warmup):
        await call(i)
    samples = []
    with client_heap_frozen():
        for i in range(warmup, warmup + count):
            started = time.perf_counter()
            await call(i)
            samples.append(time.perf_counter() - started)
    return samples


@dataclass(frozen=True)
class P50Difference:
    """How much ``b``'s p50 exceeds ``a``'s, from samples taken in alternation (round ``i``
    timed one call of each), with the spread of that difference, in seconds."""

    a: Latency
    b: Latency
    low: float  # the bootstrap's 95% interval of the difference of p50s
    high: float
    block_differences: tuple[float, ...]  # p50(b) - p50(a) within each block of rounds

    @property
    def difference(self) -> float:
        return self.b.p50 - self.a.p50


BOOTSTRAP_RESAMPLES = 1_000
DIFFERENCE_BLOCKS = 5


def p50_difference(a: Sequence[float], b: Sequence[float], *, rng: random.Random) -> P50Difference:
    """The difference of p50s of paired samples, with its spread: a bootstrap over rounds
    (both samples of a round drawn together, so a slow moment of the machine weighs on both
    sides alike) and the difference within each of ``DIFFERENCE_BLOCKS`` consecutive blocks
    (a drift of the machine's load shows as blocks that disagree).

    Raises:
        ValueError: ``a`` and ``b`` differ in length, or fewer than ``DIFFERENCE_BLOCKS``.
    """
    if len(a) != len(b) or len(a) < DIFFERENCE_BLOCKS:
        raise ValueError(f"need equally many paired samples, at least {DIFFERENCE_BLOCKS}")
    rounds = len(a)
    resampled = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        picks = [rng.randrange(rounds) for _ in range(rounds)]
        resampled.append(
            percentile([b[i] for i in picks], 0.5) - percentile([a[i] for i in picks], 0.5)
        )
    size = rounds // DIFFERENCE_BLOCKS
    blocks = tuple(
        percentile(b[k * size : (k + 1) * size], 0.5)
        - percentile(a[k * size : (k + 1) * size], 0.5)
        for k in range(DIFFERENCE_BLOCKS)
    )
    return P50Difference(
        a=Latency.of(a),
        b=Latency.of(b),
        low=percentile(resampled, 0.025),
        high=percentile(resampled, 0.975),
        block_differences=blocks,
    )
