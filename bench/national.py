"""Part 8, a national query: one officer's query to 1,024 real nodes, 5% of them dead or hanging.

1,024 California agency nodes, each a real ``AgencyNode`` gRPC server over mutual TLS with its
own certificate, signing key, port and small SQLite database, hosted 128 to a process in 8
child processes (``bench.hosts``); one node in 20 is dead (nothing listens on its port) or
hanging (accepts TCP, never answers), alternately. The real gateway (its own process, ledger on
SQLite) has three witness processes cosigning its ledger (quorum 2) when ``witnessed``.

A national query is officer-garcia's warranted plate query to every node, under the officer's
deadline. One query may address at most ``alprfed.query.MAX_TARGETS`` agencies (a query's
decision and outcome are one ledger entry each, of at most 65,535 bytes), so the national
query is that many queries sent at once, each listing its share of the agencies: the gateway
decides, logs, witnesses and fans out all of them together. Its answer time is the slowest
share's. Every answer is checked: each healthy node RESULTS (or, late, TIMED_OUT), each dead
one UNAVAILABLE, each hanging one TIMED_OUT; anything else stops the benchmark.

Measured interleaved, one national query through the gateway, then one bare: the floor is a
client in this process with the gateway's key and identity sending the same shares of signed
queries (evidence logged and cosigned with the witnesses' own keys beforehand) straight to the
same servers over long-lived channels, each node given the officer's deadline; its time is
when the last answer came (a hanging node holds any answer to the deadline, so the gateway's
answer time is bound to it while the floor is what the live nodes need). No gates, no ledger,
no receipts verified. Gateway CPU is its process's user + system time (``/proc``) over
the national queries, per node addressed. The decision is ``Gates.decide`` on this
federation's own bundle, one query aimed at all its agencies.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from alprfed import wire
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import bundled_policies_dir, load_federation
from alprfed.demo.layout import Layout
from alprfed.models import TimeWindow
from alprfed.policy.bundle import build_bundle, load_policy
from alprfed.query import MAX_TARGETS
from alprfed.rpc.tls import secure_channel
from alprfed.signing import SigningKey
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc, node_pb2, node_pb2_grpc
from bench.datasets import DAY_S
from bench.decision import warranted_query
from bench.environment import BenchEnv, BenchError
from bench.evidence import BenchAuthority, layout_cosigners
from bench.fanout_setup import (
    PLATE,
    Running,
    running_federation,
    seed_by_copies,
    warranted_request,
)
from bench.federation import (
    HOST,
    REQUESTER_AGENCY,
    REQUESTER_OFFICER,
    gateway_tls,
    node_ids,
    person_tls,
    write_layout,
)
from bench.queries import Probe, QuerySigner
from bench.report import Figure, PartReport, at_most
from bench.stats import MS_PER_S, US_PER_S, Latency, time_each

PART = "national"
TITLE = "National query: 1,024 real nodes, 5% dead or hanging, through the witnessed gateway"
P99_LIMIT_S = 1.0  # within the officer's deadline
DECISION_LIMIT_US = 5_000.0
WINDOW_S = 3 * DAY_S
# Before each national query: until the federation's processes go quiet (the nodes finishing
# searches past the last deadline), so every query meets an idle federation, as a latency
# figure should; bounded, in case the machine never quietens.
QUIET_CPU_FRACTION = 0.25  # of one core, over QUIET_SAMPLE_S
QUIET_SAMPLE_S = 0.5
QUIET_MAX_S = 60.0
NO_ANSWER = -1  # the agency's share got no answer from the gateway within the deadline
RESULTS, UNAVAILABLE, TIMED_OUT = (
    gateway_pb2.OUTCOME_RESULTS,
    gateway_pb2.OUTCOME_UNAVAILABLE,
    gateway_pb2.OUTCOME_TIMED_OUT,
)
FAULTY = (UNAVAILABLE, TIMED_OUT)
# Not the other parts' range: a thousand ports chosen minutes before the servers bind them
# were taken meanwhile by other benchmarks drawing from it (Address already in use).
NATIONAL_PORTS = range(10_000, 20_000)


@dataclass(frozen=True)
class NationalSettings:
    nodes: int = 1_024
    host_processes: int = 8  # 128 node servers each
    sightings_per_node: int = 300  # small databases (the demo plates need about 130)
    faulty_every: int = 20  # one node in 20 (5%) dead or hanging, alternately
    deadline_s: float = 1.0
    warmup: int = 3  # national queries before the clock starts (channels, caches)
    queries: int = 20  # national queries through the gateway, each followed by a bare one
    decision_calls: int = 500
    witnessed: bool = True
    agencies_per_query: int = MAX_TARGETS


@dataclass(frozen=True)
class Faults:
    dead: frozenset[str]
    hanging: frozenset[str]

    @classmethod
    def among(cls, agencies: Sequence[str], every: int) -> Faults:
        """Every ``every``-th agency, alternately dead and hanging."""
        faulty = agencies[every - 1 :: every]
        return cls(frozenset(faulty[0::2]), frozenset(faulty[1::2]))

    def expected(self, agency: str) -> int:
        if agency in self.dead:
            return UNAVAILABLE
        return TIMED_OUT if agency in self.hanging else RESULTS

    @property
    def count(self) -> int:
        return len(self.dead) + len(self.hanging)


@dataclass
class Tally:
    """National queries of one side: answer times, and how many healthy nodes were late."""

    seconds: list[float]
    late: list[int]  # healthy nodes without results, per national query
    unanswered: int = 0  # shares the gateway did not answer within the deadline
    cpu_s: float = 0.0  # of the process sending them: the gateway's, or the bare client's
    nodes_cpu_s: float = 0.0  # of the node processes, until they went quiet after each

    @classmethod
    def empty(cls) -> Tally:
        return cls([], [])

    @property
    def complete(self) -> int:
        """National queries in which every healthy node answered."""
        return sum(1 for late in self.late if late == 0)


def shares(agencies: Sequence[str], size: int) -> list[list[str]]:
    return [list(agencies[i : i + size]) for i in range(0, len(agencies), size)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far (``/proc/PID/stat``, fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pids: Sequence[int]) -> float:
    """Wait until ``pids`` together use less than QUIET_CPU_FRACTION of a core, at most
    QUIET_MAX_S; return the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < QUIET_MAX_S:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(QUIET_SAMPLE_S)
        if sum(cpu_seconds(pid) for pid in pids) - before < QUIET_CPU_FRACTION * QUIET_SAMPLE_S:
            break
    return time.perf_counter() - started


class _Officer:
    """officer-garcia's client: every share of the national query at once, one aio channel."""

    def __init__(self, running: Running, agencies: Sequence[str], now: int, size: int) -> None:
        tls = person_tls(running.layout, REQUESTER_AGENCY, REQUESTER_OFFICER)
        self._channel = secure_channel(f"{HOST}:{running.gateway_port}", tls, asynchronous=True)
        self._stub = gateway_pb2_grpc.GatewayStub(self._channel)
        self._requests = [
            warranted_request(running, now, WINDOW_S, share) for share in shares(agencies, size)
        ]

    async def national(self, deadline_s: float) -> tuple[float, dict[str, int], int]:
        """The answer time of the slowest share, every agency's outcome (NO_ANSWER for a share
        past the deadline), and how many shares were past it.

        Raises: BenchError when the gateway refuses a share."""
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(self._stub.Query(r, timeout=deadline_s) for r in self._requests),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
        outcomes: dict[str, int] = {}
        unanswered = 0
        for request, answer in zip(self._requests, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                if answer.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise BenchError(f"the gateway refused: {answer.code()} {answer.details()}")
                unanswered += 1
                outcomes.update(dict.fromkeys(request.agencies, NO_ANSWER))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                outcomes.update({o.agency_id: o.outcome for o in answer.outcomes})
        return seconds, outcomes, unanswered

    async def close(self) -> None:
        await self._channel.close()


class _Bare:
    """The floor: the same shares of signed queries straight to the nodes, as the gateway."""

    def __init__(self, layout: Layout, agencies: Sequence[str], now: int, *, size: int) -> None:
        self._signer = QuerySigner(
            SigningKey.load(layout.root / "keys" / "gateway-query.pem"), SYSTEM_CLOCK
        )
        self._probe = Probe(PLATE, TimeWindow(now - WINDOW_S, now))
        self._shares = shares(agencies, size)
        self._authority = BenchAuthority(
            layout, layout.root / "bare-ledger", cosigners=layout_cosigners(layout)
        )
        tls = gateway_tls(layout)
        self._channels = {
            a: secure_channel(layout.node_addresses[a], tls, asynchronous=True) for a in agencies
        }
        self._stubs = {a: node_pb2_grpc.AgencyNodeStub(c) for a, c in self._channels.items()}

    def prepare(self) -> list[node_pb2.SearchRequest]:
        """The next national query's requests, built just before it is sent (a signed query
        lives 60 s, and a loaded machine takes longer than that for twenty): the shares'
        decisions in one batch, as the gateway's writer commits them, on one checkpoint
        cosigned with the layout's witnesses' own keys."""
        queries = [self._signer.query(share, self._probe) for share in self._shares]
        evidence = self._authority.evidence(queries)
        return [
            node_pb2.SearchRequest(
                query=wire.envelope_to_pb(self._signer.sign(query)), evidence=bundle
            )
            for query, bundle in zip(queries, evidence, strict=True)
        ]

    async def national(
        self, requests: list[node_pb2.SearchRequest], deadline_s: float
    ) -> tuple[float, dict[str, int]]:
        answered: dict[str, float] = {}  # when each node's answer came

        async def ask(agency: str, request: node_pb2.SearchRequest) -> node_pb2.SearchResponse:
            response: node_pb2.SearchResponse = await self._stubs[agency].Search(
                request, timeout=deadline_s
            )
            answered[agency] = time.perf_counter()
            return response

        calls = [
            (agency, ask(agency, request))
            for share, request in zip(self._shares, requests, strict=True)
            for agency in share
        ]
        started = time.perf_counter()
        answers = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
        # What the nodes need: the last answer that came (a hanging node's never does).
        seconds = max(answered.values(), default=time.perf_counter()) - started
        outcomes: dict[str, int] = {}
        for (agency, _), answer in zip(calls, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                code = answer.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    outcomes[agency] = TIMED_OUT
                elif code == grpc.StatusCode.UNAVAILABLE:
                    outcomes[agency] = UNAVAILABLE
                else:
                    raise BenchError(f"{agency} refused the bare query: {code} {answer.details()}")
            elif isinstance(answer, BaseException):
                raise answer
            elif not answer.sightings:
                raise BenchError(f"{agency} answered the bare query without the plate's sightings")
            else:
                outcomes[agency] = RESULTS
        return seconds, outcomes

    async def close(self) -> None:
        self._authority.close()
        await asyncio.gather(*(c.close() for c in self._channels.values()))


def _late(outcomes: dict[str, int], agencies: Sequence[str], faults: Faults) -> int:
    """Healthy nodes that did not answer in time. Raises: BenchError for a wrong answer."""
    if set(outcomes) != set(agencies):
        raise BenchError(f"{len(outcomes)} outcomes for {len(agencies)} agencies")
    late = 0
    for agency in agencies:
        expected, got = faults.expected(agency), outcomes[agency]
        if expected == RESULTS and got in (TIMED_OUT, NO_ANSWER):
            late += 1
        # A faulty node is UNAVAILABLE or TIMED_OUT, whichever gRPC saw first: a refused
        # connection seen only after the deadline on a loaded machine, or a handshake to a
        # hanging node that failed on an earlier query. Either is a right answer.
        elif got != NO_ANSWER and got != expected and not (expected != RESULTS and got in FAULTY):
            name = gateway_pb2.Outcome.Name
            raise BenchError(f"{agency} answered {name(got)}, expected {name(expected)}")
    return late


async def _measure(
    running: Running, agencies: list[str], faults: Faults, now: int, s: NationalSettings
) -> tuple[Tally, Tally]:
    """National queries through the gateway and bare, interleaved (so both see the same
    machine), with the CPU of the gateway's process and of the bare client's."""
    officer = _Officer(running, agencies, now, s.agencies_per_query)
    bare = _Bare(running.layout, agencies, now, size=s.agencies_per_query)
    gateway, floor = Tally.empty(), Tally.empty()
    try:
        federation = (*running.node_pids, running.gateway_pid)
        for number in range(s.warmup + s.queries):
            timed = number >= s.warmup
            await asyncio.to_thread(settle, federation)
            nodes_before = sum(cpu_seconds(pid) for pid in running.node_pids)
            before = cpu_seconds(running.gateway_pid)
            seconds, outcomes, unanswered = await officer.national(s.deadline_s)
            if timed:
                gateway.cpu_s += cpu_seconds(running.gateway_pid) - before
                gateway.seconds.append(seconds)
                gateway.late.append(_late(outcomes, agencies, faults))
                gateway.unanswered += unanswered
            requests = bare.prepare()
            await asyncio.to_thread(settle, federation)
            if timed:  # the nodes' whole work for the query, late answers included
                gateway.nodes_cpu_s += sum(cpu_seconds(p) for p in running.node_pids) - nodes_before
            before = time.process_time()  # this process: the bare client (and idle blackholes)
            seconds, outcomes = await bare.national(requests, s.deadline_s)
            if timed:
                floor.cpu_s += time.process_time() - before
                floor.seconds.append(seconds)
                floor.late.append(_late(outcomes, agencies, faults))
    finally:
        await officer.close()
        await bare.close()
    return gateway, floor


def _decision(layout: Layout, s: NationalSettings, now: int) -> tuple[Latency, int]:
    """``Gates.decide`` for one query aimed at every agency, on the gateway's own bundle."""
    federation = load_federation(layout.federation_file)
    gates = load_policy(build_bundle(bundled_policies_dir(), federation)).gates
    facts, warrant = warranted_query(federation, now)
    permitted = len(gates.decide(facts, warrant=warrant).permitted)
    if permitted != len(facts.targets):
        raise BenchError(f"the gates permitted {permitted} of {len(facts.targets)} agencies")
    samples = time_each(
        lambda _: gates.decide(facts, warrant=warrant), count=s.decision_calls, warmup=10
    )
    return Latency.of(samples), permitted


def _figures(s: NationalSettings, faults: Faults, gateway: Tally, floor: Tally) -> list[Figure]:
    config = (
        f"{s.nodes:,} nodes ({len(faults.dead)} dead, {len(faults.hanging)} hanging), "
        f"{-(-s.nodes // s.agencies_per_query)} queries of ≤ {s.agencies_per_query}"
    )
    g, b = Latency.of(gateway.seconds), Latency.of(floor.seconds)
    healthy = s.nodes - faults.count
    floor_label = "bare fan-out: last node's answer"

    def late(t: Tally) -> str:
        return (
            f"{t.complete} of {len(t.late)} with every healthy node; at worst {max(t.late)} "
            f"of {healthy} healthy nodes late"
        )

    addressed = s.queries * s.nodes
    return [
        Figure(
            PART, "national answer p50", config, g.p50 * MS_PER_S, "ms", b.p50 * MS_PER_S,
            floor_label, note=f"deadline {s.deadline_s:g} s",
        ),
        Figure(
            PART, "national answer p99", config, g.p99 * MS_PER_S, "ms", b.p99 * MS_PER_S,
            floor_label, (at_most(P99_LIMIT_S * MS_PER_S, f"≤ {P99_LIMIT_S:g} s"),),
            note=f"through the gateway {late(gateway)}; bare {late(floor)}",
        ),
        Figure(
            PART, "gateway CPU per addressed node", config,
            gateway.cpu_s / addressed * US_PER_S, "µs", floor.cpu_s / addressed * US_PER_S,
            "the bare client's CPU per node",
            note=f"{gateway.cpu_s:.1f} CPU s over {s.queries} national queries (user + system, "
            f"/proc); shares past the deadline: {gateway.unanswered}; the nodes' CPU per "
            f"search {gateway.nodes_cpu_s / addressed * MS_PER_S:.1f} ms",
        ),
    ]  # fmt: skip


def run(settings: NationalSettings, env: BenchEnv) -> PartReport:
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    s = settings
    now = SYSTEM_CLOCK.now()
    agencies = node_ids(s.nodes)
    faults = Faults.among(agencies, s.faulty_every)
    healthy = [a for a in agencies if a not in faults.dead and a not in faults.hanging]
    env.log(f"{PART}: writing {s.nodes} nodes' keys, certificates and configs")
    layout = write_layout(
        env.scratch(PART) / "federation",
        s.nodes,
        witnessed=s.witnessed,
        listen_ports=NATIONAL_PORTS,
    )
    env.log(f"{PART}: {len(healthy)} databases of {s.sightings_per_node} sightings")
    seed_by_copies(
        layout,
        healthy,
        templates=s.host_processes,
        sightings=s.sightings_per_node,
        seed=env.seed,
        now=now,
    )
    decision, permitted = _decision(layout, s, now)
    report.add(
        Figure(
            PART, "decision p50", f"{s.nodes:,} agencies, one query aimed at all",
            decision.p50 * US_PER_S, "µs", decision.p50 * US_PER_S / permitted,
            "per agency", (at_most(DECISION_LIMIT_US, f"≤ {DECISION_LIMIT_US / 1000:g} ms"),),
            note=f"p99 {decision.p99 * US_PER_S:,.0f} µs; one holder state (all California)",
        )
    )  # fmt: skip
    env.log(f"{PART}: starting {s.nodes - faults.count} nodes in {s.host_processes} processes")
    begun = time.perf_counter()
    with running_federation(
        layout,
        agencies,
        now=now,
        dead=faults.dead,
        hanging=faults.hanging,
        host_processes=s.host_processes,
    ) as running:
        start_s = time.perf_counter() - begun
        env.log(f"{PART}: serving after {start_s:.0f} s; {s.queries} national queries")
        gateway, floor = asyncio.run(_measure(running, agencies, faults, now, s))
    for figure in _figures(s, faults, gateway, floor):
        report.add(figure)
    witnesses = "three witness processes (quorum 2)" if s.witnessed else "no witnesses"
    report.notes += [
        f"{s.nodes:,} California nodes of {s.sightings_per_node} synthetic sightings each "
        f"(SQLite; {s.host_processes} distinct databases, each copied to every "
        f"{s.host_processes}th node), {s.host_processes} child processes hosting them, each "
        "node a real gRPC server with its own port, certificate, key and database; one in "
        f"{s.faulty_every} dead (nothing listens) or hanging (accepts TCP, never answers). "
        f"The gateway (grpc.aio, ledger on SQLite) in its own process with {witnesses}; "
        f"the officer and the bare client in the benchmark's process. Started in "
        f"{start_s:.0f} s.",
        f"A national query is {-(-s.nodes // s.agencies_per_query)} queries sent at once, "
        f"each listing at most {s.agencies_per_query} agencies (one query's decision and "
        "outcome must each fit one ledger entry of 65,535 bytes). "
        f"{s.queries} national queries after {s.warmup} warm-up, each through the gateway "
        "then bare, with the officer's deadline of "
        f"{s.deadline_s:g} s; every outcome checked against the node's state.",
    ]
    report.seconds = time.perf_counter() - started
    return report
