"""What witnessing adds to a federated query, measured interleaved (part of the fan-out part).

Two federations run at once, alike but for their ledger: the unwitnessed one publishes every
checkpoint as it signs it; in the witnessed one three ``alprfed witness serve`` processes
cosign (quorum 2 of 3), so the gateway waits for a quorum-cosigned checkpoint holding the
decision before the fan-out, and every node checks the cosignatures. One officer asks both
in alternation (one query to each per round, the order swapped every round), so whatever
else loads the machine falls on both sides alike; the figure is the difference of the two
p50s, with its spread (a bootstrap over rounds, and the difference within blocks of rounds).
Measuring the two one after the other moved this difference by 10 ms between quick runs.

Each query is sent ``SETTLE_S`` after the previous answer. The witnessed gateway witnesses a
query's outcome entry in a round no query waits for, coalesced for up to ``COALESCE_DELAY_S``;
sent back to back, that round's work (three witness processes, the cosignature checks) lands
on whichever query comes next -- half the time the *unwitnessed* twin's -- and the difference
understated witnessing's cost (docs/PERFORMANCE.md, "Idle after the second round of merges").
Settled, each query meets two quiet federations, and the difference is what the one round a
query waits for adds to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from bench.environment import BenchEnv, BenchError
from bench.fanout_setup import Officer, Running, is_complete, running_federation, seed_nodes
from bench.federation import write_layout
from bench.report import Figure, Goal, Target
from bench.stats import MS_PER_S, P50Difference, p50_difference, run_concurrently
from gateway.witnessing import COALESCE_DELAY_S

WITNESSING_LIMIT_MS = 5.0  # what witnessing may add to a federated query's p50
# Past the coalescing delay and the unwaited round that follows it (about 10-20 ms idle).
SETTLE_S = COALESCE_DELAY_S + 0.1


async def _alternate(
    unwitnessed: Running, witnessed: Running, nodes: int, now: int, *, rounds: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Per round one query to each federation, the first of the two alternating; the
    seconds of each (warm-up rounds not kept). Every answer must be complete."""
    officers = (Officer(unwitnessed, now), Officer(witnessed, now))
    samples: tuple[list[float], list[float]] = ([], [])
    try:
        for i in range(warmup + rounds):
            for side in (0, 1) if i % 2 == 0 else (1, 0):
                started = time.perf_counter()
                answer = await officers[side].query()
                elapsed = time.perf_counter() - started
                if not is_complete(answer, nodes):
                    raise BenchError("an answer was incomplete with only one query in flight")
                if i >= warmup:
                    samples[side].append(elapsed)
                await asyncio.sleep(SETTLE_S)
    finally:
        await asyncio.gather(*(officer.close() for officer in officers))
    return samples


async def _rate(running: Running, nodes: int, now: int, *, count: int, concurrency: int) -> str:
    officer = Officer(running, now)
    incomplete = 0

    async def counted(_: int) -> None:
        nonlocal incomplete
        incomplete += not is_complete(await officer.query(), nodes)

    try:
        run = await run_concurrently(counted, count=count, concurrency=concurrency)
    finally:
        await officer.close()
    complete = run.per_second * (1 - incomplete / count)
    return f"{complete:.0f} complete answers/s witnessed with {concurrency} in flight"


def witnessed_figure(
    env: BenchEnv,
    unwitnessed: Running,
    agencies: Sequence[str],
    *,
    part: str,
    sightings: int,
    now: int,
    rounds: int,
    warmup: int,
    rate_calls: int,
    concurrency: int,
) -> Figure:
    """Start a witnessed twin of the running ``unwitnessed`` federation, alternate queries
    between the two, and say what witnessing adds to the p50."""
    nodes = len(agencies)
    env.log(f"{part}: {nodes} nodes, witnessed and unwitnessed interleaved")
    layout = write_layout(
        env.scratch(f"{part}-{nodes}-witnessed") / "federation", nodes, witnessed=True
    )
    seed_nodes(layout, agencies, sightings=sightings, seed=env.seed, now=now)
    with running_federation(layout, agencies, now=now) as witnessed:
        plain, cosigned = asyncio.run(
            _alternate(unwitnessed, witnessed, nodes, now, rounds=rounds, warmup=warmup)
        )
        rate = asyncio.run(_rate(witnessed, nodes, now, count=rate_calls, concurrency=concurrency))
    difference = p50_difference(plain, cosigned, rng=env.rng(f"{part}-witnessed"))
    return _figure(difference, nodes, rounds, rate)


def _figure(d: P50Difference, nodes: int, rounds: int, rate: str) -> Figure:
    blocks = ", ".join(f"{x * MS_PER_S:+.1f}" for x in d.block_differences)
    return Figure(
        "fanout", "federated query p50, witnessed", f"{nodes} nodes, 3 witness processes",
        d.b.p50 * MS_PER_S, "ms", d.a.p50 * MS_PER_S, "the same queries, unwitnessed",
        (Target(Goal.OVER_FLOOR_AT_MOST, WITNESSING_LIMIT_MS,
                f"witnessing adds ≤ {WITNESSING_LIMIT_MS:g} ms"),),
        note=f"interleaved: {rounds} rounds of one query to each federation, both running, each "
        f"query {SETTLE_S:g} s after the last answer (both federations quiet); "
        f"witnessing adds {d.difference * MS_PER_S:+.1f} ms to the p50 (95% bootstrap interval "
        f"{d.low * MS_PER_S:+.1f} to {d.high * MS_PER_S:+.1f} ms; by block of "
        f"{rounds // len(d.block_differences)} rounds: {blocks} ms); p99 "
        f"{d.b.p99 * MS_PER_S:.1f} ms witnessed, {d.a.p99 * MS_PER_S:.1f} ms unwitnessed; {rate}",
    )  # fmt: skip
