"""Part 3, gateway fan-out: federated queries through the real gateway, beside a bare fan-out.

For 1, 8 and 32 nodes (``bench.fanout_setup``): officer-garcia of San Jose PD asks the gateway
for a warranted plate over mutual TLS. Per query the gateway runs the three gates, appends the
decision to its ledger (durably) before anything leaves, signs one query for every node, asks
them in parallel, verifies every receipt, appends the outcome and returns a tlog-proof receipt.
Every answer is checked: complete, and every node with results.

The floor is a bare client in this process with the gateway's own key and identity: it signs
the same query for the same nodes and sends it to all of them at once over long-lived
channels, waiting for every answer. No gates, no ledger, no receipts verified.

Witnessed, at the target's node count: the same queries through a federation whose ledger
three witness processes cosign (quorum 2 of 3), running beside the unwitnessed one and asked in
alternation with it (``bench.fanout_witnessed``); the target is what witnessing adds to the p50.

Faults, at the target's node count (8): one node dead (nothing listens) or hanging (accepts
TCP, never answers). Each query carries the officer's deadline; the answer must come within
it plus 10%, incomplete, naming the node UNAVAILABLE or TIMED_OUT and every other node with
results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import DEFAULT_PER_NODE_TIMEOUT_MS
from alprfed.demo.layout import Layout
from alprfed.models import TimeWindow
from alprfed.rpc.tls import secure_channel
from alprfed.signing import SigningKey
from alprfed.v1 import gateway_pb2, node_pb2_grpc
from bench.environment import BenchEnv, BenchError
from bench.evidence import BenchAuthority
from bench.fanout_setup import (
    PLATE,
    WINDOW_S,
    Officer,
    Running,
    is_complete,
    running_federation,
    seed_nodes,
)
from bench.fanout_witnessed import witnessed_figure
from bench.federation import (
    gateway_tls,
    node_ids,
    write_layout,
)
from bench.queries import Probe, QuerySigner
from bench.report import Figure, Goal, PartReport, Target, at_least
from bench.stats import MS_PER_S, ConcurrentRun, Latency, run_concurrently, time_each_async

PART = "fanout"
TITLE = "Gateway fan-out: federated queries through the gateway, beside a bare fan-out"
TARGET_NODES = 8
LATENCY_LIMIT = 1.5  # times the bare fan-out
RATE_LIMIT_PER_S = 200
DEADLINE_SLACK = 1.1  # an answer within the deadline + 10%
# The bare fan-out gives each node what the gateway gives it by default.
PER_NODE_TIMEOUT_S = DEFAULT_PER_NODE_TIMEOUT_MS / 1000
EVIDENCE_BATCH = 16  # bare fan-out queries whose decisions share one checkpoint


@dataclass(frozen=True)
class FanoutSettings:
    node_counts: tuple[int, ...] = (1, 8, 32)
    sightings_per_node: int = 5_000
    warmup: int = 30
    latency_calls: int = 300
    rate_calls: int = 600
    concurrency: int = 16
    deadline_s: float = 1.0  # the officer's deadline in the fault runs
    fault_calls: int = 20
    target_nodes: int = TARGET_NODES  # where the targets apply and the faults are measured


@dataclass(frozen=True)
class _Side:
    latency: Latency  # one query at a time: every answer complete
    run: ConcurrentRun  # many at once: some nodes may miss their deadline
    incomplete: int  # answers of ``run`` that lacked a node

    @property
    def complete_per_second(self) -> float:
        return self.run.per_second * (1 - self.incomplete / self.run.latency.count)


class _BareFanout:
    """The floor: the same signed query to every node at once, as the gateway's own client."""

    def __init__(
        self, running: Running, agencies: list[str], now: int, *, count: int, scratch: Path
    ) -> None:
        layout = running.layout
        key = SigningKey.load(layout.root / "keys" / "gateway-query.pem")
        signer = QuerySigner(key, SYSTEM_CLOCK)
        probe = Probe(PLATE, TimeWindow(now - WINDOW_S, now))
        # Every query carries the evidence nodes demand, logged before the clock starts (16
        # decisions per checkpoint, as the gateway's writer batches them under load).
        authority = BenchAuthority(layout, scratch, witnessed=False)
        try:
            self._requests = [
                request
                for start in range(0, count, EVIDENCE_BATCH)
                for request in signer.requests(
                    agencies, [probe] * min(EVIDENCE_BATCH, count - start), authority
                )
            ]
        finally:
            authority.close()
        tls = gateway_tls(layout)
        self._channels = [
            secure_channel(layout.node_addresses[a], tls, asynchronous=True) for a in agencies
        ]
        self._stubs = [node_pb2_grpc.AgencyNodeStub(c) for c in self._channels]

    async def query(self) -> bool:
        """Whether every node answered within the gateway's per-node deadline."""
        request = self._requests.pop()
        answers = await asyncio.gather(
            *(stub.Search(request, timeout=PER_NODE_TIMEOUT_S) for stub in self._stubs),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, grpc.aio.AioRpcError):
                if answer.code() not in (
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.UNAVAILABLE,
                ):
                    raise BenchError(f"a node refused the bare fan-out: {answer.code()}")
            elif isinstance(answer, BaseException):
                raise answer
            elif not answer.sightings:
                raise BenchError("a node answered the bare fan-out without the plate's sightings")
        return not any(isinstance(answer, BaseException) for answer in answers)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels))


async def _side(query: Callable[[], Awaitable[bool]], s: FanoutSettings) -> _Side:
    """One query at a time for the latency (each must be complete), then ``s.concurrency`` at
    once for the rate (incomplete answers counted). ``query`` says whether it was complete."""

    async def strict(_: int) -> None:
        if not await query():
            raise BenchError("an answer was incomplete with only one query in flight")

    incomplete = 0

    async def counted(_: int) -> None:
        nonlocal incomplete
        incomplete += not await query()

    samples = await time_each_async(strict, count=s.latency_calls, warmup=s.warmup)
    concurrent = await run_concurrently(counted, count=s.rate_calls, concurrency=s.concurrency)
    return _Side(Latency.of(samples), concurrent, incomplete)


async def _measure_gateway(running: Running, nodes: int, now: int, s: FanoutSettings) -> _Side:
    officer = Officer(running, now)

    async def query() -> bool:
        return is_complete(await officer.query(), nodes)

    try:
        return await _side(query, s)
    finally:
        await officer.close()


async def _measure_bare(
    running: Running, agencies: list[str], now: int, s: FanoutSettings
) -> _Side:
    bare = _BareFanout(
        running,
        agencies,
        now,
        count=s.warmup + s.latency_calls + s.rate_calls,
        scratch=running.layout.root / "bare-ledger",
    )
    try:
        return await _side(bare.query, s)
    finally:
        await bare.close()


async def _measure_fault(
    running: Running, agencies: list[str], faulty: str, expected: int, now: int, s: FanoutSettings
) -> Latency:
    officer = Officer(running, now)
    samples = []
    try:
        for _ in range(s.fault_calls):
            started = time.perf_counter()
            answer = await officer.query(timeout=s.deadline_s)
            samples.append(time.perf_counter() - started)
            by_agency = {o.agency_id: o.outcome for o in answer.outcomes}
            healthy = {a: gateway_pb2.OUTCOME_RESULTS for a in agencies if a != faulty}
            if answer.complete or by_agency != {**healthy, faulty: expected}:
                got = {a: gateway_pb2.Outcome.Name(o) for a, o in by_agency.items()}
                raise BenchError(f"unexpected answer with {faulty} failing: {got}")
    except grpc.aio.AioRpcError as exc:
        raise BenchError(
            f"the gateway gave no answer with {faulty} failing: {exc.code()}"
        ) from None
    finally:
        await officer.close()
    return Latency.of(samples)


def _figures(nodes: int, gateway: _Side, bare: _Side, s: FanoutSettings) -> list[Figure]:
    config = f"{nodes} node{'s' if nodes > 1 else ''}"
    floor = "bare fan-out"
    at_target = nodes == s.target_nodes
    latency_target = Target(Goal.TIMES_FLOOR_AT_MOST, LATENCY_LIMIT, f"≤ {LATENCY_LIMIT:g}x floor")
    rate_target = at_least(RATE_LIMIT_PER_S, f"≥ {RATE_LIMIT_PER_S}/s")
    return [
        Figure(
            PART, "federated query p50", config, gateway.latency.p50 * MS_PER_S, "ms",
            bare.latency.p50 * MS_PER_S, floor, (latency_target,) if at_target else (),
        ),
        Figure(
            PART, "federated query p99", config, gateway.latency.p99 * MS_PER_S, "ms",
            bare.latency.p99 * MS_PER_S, floor,
        ),
        Figure(
            PART, f"complete answers/s, {s.concurrency} in flight", config,
            gateway.complete_per_second, "/s", bare.complete_per_second, floor,
            (rate_target,) if at_target else (),
            note=f"p50 under that load {gateway.run.latency.p50 * MS_PER_S:.1f} ms; "
            f"incomplete (a node past its {PER_NODE_TIMEOUT_S:g} s deadline): "
            f"{gateway.incomplete} of {gateway.run.latency.count} through the gateway, "
            f"{bare.incomplete} bare",
        ),
    ]  # fmt: skip


def _fault_figure(kind: str, latency: Latency, s: FanoutSettings) -> Figure:
    return Figure(
        PART,
        f"answer time, slowest of {latency.count}",
        f"{s.target_nodes} nodes, one {kind}",
        latency.max * MS_PER_S,
        "ms",
        s.deadline_s * MS_PER_S,
        "the officer's deadline",
        (Target(Goal.TIMES_FLOOR_AT_MOST, DEADLINE_SLACK, "≤ deadline + 10%"),),
        note=f"p50 {latency.p50 * MS_PER_S:.0f} ms",
    )


def _faults(
    env: BenchEnv, s: FanoutSettings, layout: Layout, agencies: list[str], now: int
) -> list[Figure]:
    faulty = agencies[-1]
    figures = []
    for kind, dead, hanging, expected in (
        ("dead", (faulty,), (), gateway_pb2.OUTCOME_UNAVAILABLE),
        ("hanging", (), (faulty,), gateway_pb2.OUTCOME_TIMED_OUT),
    ):
        env.log(f"{PART}: {s.target_nodes} nodes, one {kind}")
        with running_federation(layout, agencies, now=now, dead=dead, hanging=hanging) as running:
            latency = asyncio.run(_measure_fault(running, agencies, faulty, expected, now, s))
        figures.append(_fault_figure(kind, latency, s))
    return figures


def run(settings: FanoutSettings, env: BenchEnv) -> PartReport:
    """Measure every node count, then the faults at ``settings.target_nodes``."""
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    now = SYSTEM_CLOCK.now()
    for nodes in settings.node_counts:
        env.log(f"{PART}: {nodes} nodes")
        agencies = node_ids(nodes)
        layout = write_layout(env.scratch(f"{PART}-{nodes}") / "federation", nodes)
        seed_nodes(layout, agencies, sightings=settings.sightings_per_node, seed=env.seed, now=now)
        with running_federation(layout, agencies, now=now) as running:
            gateway = asyncio.run(_measure_gateway(running, nodes, now, settings))
            bare = asyncio.run(_measure_bare(running, agencies, now, settings))
            for figure in _figures(nodes, gateway, bare, settings):
                report.add(figure)
            if nodes == settings.target_nodes:
                report.add(
                    witnessed_figure(
                        env, running, agencies, part=PART,
                        sightings=settings.sightings_per_node, now=now,
                        rounds=settings.latency_calls, warmup=settings.warmup,
                        rate_calls=settings.rate_calls, concurrency=settings.concurrency,
                    )
                )  # fmt: skip
        if nodes == settings.target_nodes:
            for figure in _faults(env, settings, layout, agencies, now):
                report.add(figure)
    report.notes += [
        f"Nodes: California agencies of {settings.sightings_per_node:,} synthetic sightings "
        "each (SQLite), split over two child processes (one per core), each node a real gRPC "
        "server with its own port, database and keys; the gateway (grpc.aio, ledger on SQLite "
        "with fsync per batch) in a third; the clients in the benchmark's process.",
        f"Latency: {settings.latency_calls} sequential queries after {settings.warmup} warm-up; "
        f"rate: {settings.rate_calls} queries, {settings.concurrency} in flight at once. Every "
        "answer checked complete with sightings from every node.",
        f"Faults: the officer's deadline is {settings.deadline_s:g} s; a dead node has nothing "
        "listening on its port, a hanging one accepts TCP connections and never answers.",
    ]
    report.seconds = time.perf_counter() - started
    return report
