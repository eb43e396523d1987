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
import socket
import threading
from collections.abc import Iterator, Sequence
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
from bench.hosts import Host, start_all
from bench.queries import CASE_NUMBER

NODE_HOST_PROCESSES = 2  # one per core of the 2-core machine the targets are stated for
WARRANT_VALIDITY_S = 30 * DAY_S
REGISTER_TIMEOUT_S = 30.0
ACCEPT_POLL_S = 0.05
PLATE = SUSPECT.plate  # every seeded node saw it within the last two days
WINDOW_S = 3 * DAY_S  # the officer's query window
QUERY_TIMEOUT_S = 30.0


def seed_nodes(
    layout: Layout, agencies: Sequence[str], *, sightings: int, seed: int, now: int
) -> None:
    """Synthetic traffic (with the demo plates) in each node's own database."""
    for agency in agencies:
        config = load_node_config(layout.node_config(agency), insecure=True)
        data = synthetic(agency, sightings, seed=seed, now=now, demo=True)
        with NodeStore.open(config.database_url) as store:
            store.bulk_load(data.cameras, data.sightings)


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
    dead: str | None = None,
    hanging: str | None = None,
) -> Iterator[Running]:
    """Start the layout's witnesses, the nodes (but ``dead`` and ``hanging``) and the gateway;
    register a warrant."""
    serving = [a for a in agencies if a not in (dead, hanging)]
    with ExitStack() as stack:
        stack.enter_context(running_witnesses(layout))
        if hanging is not None:
            port = int(layout.node_addresses[hanging].rpartition(":")[2])
            stack.callback(Blackhole(port).close)
        groups = split([layout.node_config(a) for a in serving], NODE_HOST_PROCESSES)
        *hosts, gateway = start_all(
            stack,
            [
                *(
                    Host("node", group, layout.root / f"nodes-{i}.log")
                    for i, group in enumerate(groups)
                ),
                Host("gateway", [layout.gateway_config], layout.root / "gateway.log"),
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
        self._request = gateway_pb2.QueryRequest(
            plate=PLATE,
            window_from=now - WINDOW_S,
            window_to=now,
            purpose="robbery",
            case_number=CASE_NUMBER,
            warrant_id=running.warrant_id,
        )

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
