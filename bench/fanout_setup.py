"""A running benchmark federation: seeded nodes in a few child processes, a gateway, a warrant.

The nodes of a layout are split over NODE_HOST_PROCESSES child processes (``bench.hosts``):
one process per core, each hosting its share as separate real gRPC servers; the gateway runs
in a process of its own, each witness (a witnessed layout) in its own ``alprfed witness
serve``, and the benchmark's clients in the parent. A node can be left out
(a dead node: nothing listens on its port) or replaced by a ``Blackhole`` that accepts
connections and never answers (a hanging node).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from agency_node.storage import NodeStore
from agency_node.synthetic.demo import SUSPECT
from alprfed import wire
from alprfed.config import load_node_config
from alprfed.demo.layout import Layout
from alprfed.demo.processes import FederationProcesses
from alprfed.errors import Unavailable
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.warrants import WARRANT_SALT_BYTES, Warrant
from alprfed.rpc.tls import secure_channel
from alprfed.signing import WARRANT_TYPE, SigningKey
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc
from bench.datasets import DAY_S, synthetic
from bench.environment import BenchError
from bench.federation import (
    COURT,
    COURT_CLERK,
    HOST,
    REQUESTER_AGENCY,
    REQUESTER_OFFICER,
    person_tls,
)
from bench.hosts import READY_TIMEOUT_S, Host, start_all
from bench.queries import CASE_NUMBER

NODE_HOST_PROCESSES = 2  # one per core of the 2-core machine the targets are stated for
WARRANT_VALIDITY_S = 30 * DAY_S
REGISTER_TIMEOUT_S = 30.0
GATEWAY_READY_PER_NODE_S = 0.5
ACCEPT_POLL_S = 0.05
PLATE = SUSPECT.plate  # every seeded node saw it within the last two days
WINDOW_S = 3 * DAY_S  # the officer's query window
QUERY_TIMEOUT_S = 30.0
SQLITE_PREFIX = "sqlite:///"


def seed_nodes(
    layout: Layout, agencies: Sequence[str], *, sightings: int, seed: int, now: int
) -> None:
    """Synthetic traffic (with the demo plates) in each node's own database."""
    for agency in agencies:
        config = load_node_config(layout.node_config(agency), insecure=True)
        data = synthetic(agency, sightings, seed=seed, now=now, demo=True)
        with NodeStore.open(config.database_url) as store:
            store.bulk_load(data.cameras, data.sightings)


def seed_by_copies(
    layout: Layout, agencies: Sequence[str], *, templates: int, sightings: int, seed: int, now: int
) -> None:
    """Seed the first ``templates`` agencies' databases, then give every other agency its own
    copy of one of them (round robin): a thousand nodes seeded one by one take minutes (a
    database created and migrated each), during which the layout's ports may be taken by other
    processes of the machine. No row of a node's database names the node."""
    seeded = list(agencies[:templates])
    seed_nodes(layout, seeded, sightings=sightings, seed=seed, now=now)
    sources = [_sqlite_path(layout, a) for a in seeded]
    for number, agency in enumerate(agencies[templates:]):
        shutil.copyfile(sources[number % len(sources)], _sqlite_path(layout, agency))


def _sqlite_path(layout: Layout, agency: str) -> Path:
    url = load_node_config(layout.node_config(agency), insecure=True).database_url
    if not url.startswith(SQLITE_PREFIX):
        raise BenchError(f"{agency}: copies need an SQLite database, not {url}")
    return Path(url.removeprefix(SQLITE_PREFIX))


def split(items: Sequence[Path], parts: int) -> list[list[Path]]:
    """``items`` in at most ``parts`` groups of nearly equal size, none empty."""
    groups = [list(items[i::parts]) for i in range(parts)]
    return [group for group in groups if group]


class Blackhole:
    """A hanging node: accepts TCP connections on ``port`` and never sends a byte."""

    def __init__(self, port: int) -> None:
        self._server = socket.create_server((HOST, port))
        # accept() in another thread does not wake when the socket is closed: poll instead.
        self._server.settimeout(ACCEPT_POLL_S)
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self._held.append(connection)

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self._server.close()
        for connection in self._held:
            connection.close()


@dataclass(frozen=True)
class Running:
    layout: Layout
    gateway_port: int
    node_pids: tuple[int, ...]
    gateway_pid: int
    warrant_id: str


@contextmanager
def running_federation(
    layout: Layout,
    agencies: Sequence[str],
    *,
    now: int,
    dead: Collection[str] = (),
    hanging: Collection[str] = (),
    host_processes: int = NODE_HOST_PROCESSES,
) -> Iterator[Running]:
    """Start the layout's witnesses, the nodes (but ``dead`` and ``hanging``) over
    ``host_processes`` child processes, and the gateway; register a warrant."""
    serving = [a for a in agencies if a not in dead and a not in hanging]
    with ExitStack() as stack:
        stack.enter_context(running_witnesses(layout))
        for agency in hanging:
            port = int(layout.node_addresses[agency].rpartition(":")[2])
            stack.callback(Blackhole(port).close)
        groups = split([layout.node_config(a) for a in serving], host_processes)
        *hosts, gateway = start_all(
            stack,
            [
                *(
                    Host("node", group, layout.root / f"nodes-{i}.log")
                    for i, group in enumerate(groups)
                ),
                # Its start publishes the federation and takes every node's first purge
                # report: with a thousand nodes, minutes on a loaded 2-core machine.
                Host(
                    "gateway",
                    [layout.gateway_config],
                    layout.root / "gateway.log",
                    ready_timeout_s=READY_TIMEOUT_S + GATEWAY_READY_PER_NODE_S * len(serving),
                ),
            ],
        )
        warrant_id = register_warrant(layout, gateway.ports[0], now)
        yield Running(
            layout, gateway.ports[0], tuple(h.pid for h in hosts), gateway.pid, warrant_id
        )


@contextmanager
def running_witnesses(layout: Layout) -> Iterator[None]:
    """The layout's witnesses (none for an unwitnessed one), each its own real process."""
    processes = FederationProcesses(layout)
    try:
        for witness_id in layout.witness_addresses:
            processes.start_witness(witness_id)
        for witness_id, address in layout.witness_addresses.items():
            try:
                processes.wait_http_ready(witness_id, address)
            except Unavailable as exc:
                raise BenchError(str(exc)) from None
        yield
    finally:
        processes.stop_all()


def warranted_request(
    running: Running, now: int, window_s: int, agencies: Sequence[str] = ()
) -> gateway_pb2.QueryRequest:
    """officer-garcia's query for PLATE over the last ``window_s`` under the registered
    warrant; ``agencies``: those it names (none: every node)."""
    return gateway_pb2.QueryRequest(
        plate=PLATE,
        window_from=now - window_s,
        window_to=now,
        purpose="robbery",
        case_number=CASE_NUMBER,
        warrant_id=running.warrant_id,
        agencies=agencies,
    )


def register_warrant(layout: Layout, gateway_port: int, now: int) -> str:
    """A court-signed warrant for PLATE, registered by the court's clerk through the gateway."""
    warrant = Warrant(
        warrant_id=f"w-bench-{secrets.token_hex(4)}",
        court=COURT,
        judge="Hon. A. Rivera",
        issued_at=now - 60,
        expires_at=now + WARRANT_VALIDITY_S,
        agency=REQUESTER_AGENCY,
        plates=(PLATE,),
        window=TimeWindow(now - 7 * DAY_S, now),
        offense=Purpose.ROBBERY,
        prospective=True,  # the window ends a minute after issuance
        salt=secrets.token_hex(WARRANT_SALT_BYTES),
    )
    envelope = SigningKey.load(layout.court_key(COURT)).sign_envelope(
        WARRANT_TYPE, warrant.to_canonical()
    )
    channel = secure_channel(f"{HOST}:{gateway_port}", person_tls(layout, COURT, COURT_CLERK))
    try:
        status = gateway_pb2_grpc.GatewayStub(channel).RegisterWarrant(
            gateway_pb2.RegisterWarrantRequest(warrant=wire.envelope_to_pb(envelope)),
            timeout=REGISTER_TIMEOUT_S,
        )
    finally:
        channel.close()
    return str(status.warrant_id)


class Officer:
    """officer-garcia's client: one aio channel to the gateway. Create inside the loop."""

    def __init__(self, running: Running, now: int) -> None:
        tls = person_tls(running.layout, REQUESTER_AGENCY, REQUESTER_OFFICER)
        self._channel = secure_channel(f"{HOST}:{running.gateway_port}", tls, asynchronous=True)
        self._stub = gateway_pb2_grpc.GatewayStub(self._channel)
        self._request = warranted_request(running, now, WINDOW_S)

    async def query(self, timeout: float = QUERY_TIMEOUT_S) -> gateway_pb2.QueryResponse:
        answer: gateway_pb2.QueryResponse = await self._stub.Query(self._request, timeout=timeout)
        return answer

    async def close(self) -> None:
        await self._channel.close()


# A node that misses its deadline under load leaves an answer incomplete, as designed; a node
# answering anything but its sightings is a wrong answer and stops the benchmark.
_LATE = (gateway_pb2.OUTCOME_TIMED_OUT, gateway_pb2.OUTCOME_UNAVAILABLE)


def is_complete(answer: gateway_pb2.QueryResponse, nodes: int) -> bool:
    """Raises: BenchError for a wrong answer (a refusal, a bad receipt, no sightings)."""
    if len(answer.outcomes) != nodes:
        raise BenchError(f"{len(answer.outcomes)} outcomes for {nodes} nodes")
    for outcome in answer.outcomes:
        if outcome.outcome == gateway_pb2.OUTCOME_RESULTS and not outcome.sightings:
            raise BenchError(f"{outcome.agency_id} answered without the plate's sightings")
        if outcome.outcome not in (gateway_pb2.OUTCOME_RESULTS, *_LATE):
            name = gateway_pb2.Outcome.Name(outcome.outcome)
            raise BenchError(f"{outcome.agency_id} answered {name}: {outcome.detail}")
    return answer.complete and all(
        o.outcome == gateway_pb2.OUTCOME_RESULTS for o in answer.outcomes
    )
