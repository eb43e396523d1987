"""Gateway replicas on one PostgreSQL ledger: kill -9 the sequencer, again and again.

Three `alprfed gateway serve` processes share one PostgreSQL database (a fresh schema). Clerks
register and revoke warrants and an officer queries, each client sending to one replica and
moving to the next when it is down -- what clients behind one address see -- and sending the
same request again there. Each round also sends one warrant to two replicas at the same
instant (two gateways recording the same act). Then the replica holding the ledger's
sequencer lease (found in PostgreSQL by its session's application_name) is killed with SIGKILL
mid-load; the others must go on appending, and the killed one is started again.

At the end, from the database alone (tests/fault/test_kill_gateway.py's audit): no
acknowledged act lost, none logged twice, no phantom, the registry agrees with the ledger, and
the whole ledger verifies -- one linear log, no fork; no replica logged a traceback or answered
INTERNAL. Each act sent to two replicas is registered once and both get its index.

CI kills the sequencer 3 times; ``--soak`` 30 times. A second gateway on one SQLite ledger is
refused at start-up with one line.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faults
import grpc
import pytest
import sqlalchemy as sa
from fault.test_kill_gateway import (
    CALL_TIMEOUT_S,
    RETRY_PAUSE_S,
    RETRYABLE,
    Acts,
    audit,
    clerk_acts,
    envelope_id,
    refused,
    wait_for_acks,
)
from gateways import free_port

from alprfed import wire
from alprfed.demo.layout import Layout
from alprfed.demo.processes import FederationProcesses, alprfed_command
from alprfed.rpc.tls import secure_channel
from alprfed.signing import SigningKey
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc

REPLICAS = 3
CLERKS = 3
CI_KILLS, SOAK_KILLS = 3, 30
ACKS_BETWEEN_KILLS = 6
SEQUENCER_SEARCH_S = 20  # under load some replica holds the lease nearly all the time


class Replicas:
    """Replica processes of one gateway config, each on its own ports."""

    def __init__(self, layout: Layout) -> None:
        self.processes = FederationProcesses(layout)
        self.configs: dict[str, Path] = {}
        self.addresses: dict[str, str] = {}
        base = layout.gateway_config.read_text()
        for n in range(REPLICAS):
            name = f"gateway-{n}"
            port, tiles = free_port(), free_port()
            text = base.replace(layout.gateway_address, f"127.0.0.1:{port}")
            if layout.tiles_address:
                text = text.replace(layout.tiles_address, f"127.0.0.1:{tiles}")
            path = layout.gateway_config.with_name(f"{name}.toml")
            path.write_text(text)
            self.configs[name], self.addresses[name] = path, f"127.0.0.1:{port}"

    def start(self, name: str) -> None:
        self.processes.start_gateway(name, self.configs[name])
        self.processes.wait_ready(name, self.addresses[name], "alprfed.v1.Gateway")

    def sequencer(self, engine: sa.Engine) -> str | None:
        """The replica holding the sequencer lease now, if one of ours does."""
        ours = {
            f"alprfed-sequencer pid={self.processes.pid_of(n)}": n
            for n in self.addresses
            if n in self.processes.processes
        }
        with engine.connect() as conn:
            names = conn.execute(
                sa.text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                )
            ).scalars()
            return next((ours[name] for name in names if name in ours), None)


class FailoverStub:
    """A client of every replica: sends to one, and the same request to the next when that
    one is down."""

    def __init__(self, addresses: list[str], tls: Any, start: int) -> None:
        self._channels = [secure_channel(a, tls) for a in addresses]
        self._stubs = [gateway_pb2_grpc.GatewayStub(c) for c in self._channels]
        self._at = start % len(addresses)

    def call(self, stop: threading.Event, method: str, request: Any) -> Any:
        while not stop.is_set():
            try:
                return getattr(self._stubs[self._at], method)(request, timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE:
                    raise
                self._at = (self._at + 1) % len(self._stubs)
                time.sleep(RETRY_PAUSE_S)
        return None

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


@pytest.fixture
def layout(tmp_path: Path, postgres_url: str) -> Layout:
    return faults.small_layout(tmp_path / "fed", database_urls={"gateway": postgres_url})


@pytest.fixture
def replicas(layout: Layout) -> Iterator[Replicas]:
    running = Replicas(layout)
    try:
        for name in running.addresses:
            running.start(name)
        yield running
    finally:
        running.processes.stop_all()


def clerk(layout: Layout, replicas: Replicas, acts: Acts, stop: threading.Event, n: int) -> None:
    client = FailoverStub(list(replicas.addresses.values()), faults.clerk_tls(layout), n)
    try:
        clerk_acts(layout, acts, stop, n, lambda method, r: client.call(stop, method, r))
    except grpc.RpcError as exc:
        refused(acts, f"clerk {n}", exc)
    finally:
        client.close()


def same_act_on_two_replicas(layout: Layout, replicas: Replicas, acts: Acts) -> None:
    """One warrant sent to two replicas at the same instant: both answer with its one index."""
    envelope = faults.sign_warrant(
        SigningKey.load(layout.court_key(faults.COURT)), int(time.time())
    )
    request = gateway_pb2.RegisterWarrantRequest(warrant=wire.envelope_to_pb(envelope))
    name = envelope_id(envelope)
    with acts.lock:
        acts.sent.add(name)
    alive = [a for n, a in replicas.addresses.items() if n in replicas.processes.processes]
    clients = [FailoverStub([a], faults.clerk_tls(layout), 0) for a in alive[:2]]
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(lambda c: c.call(stop, "RegisterWarrant", request), clients))
    finally:
        for client in clients:
            client.close()
    indexes = {answer.ledger_index for answer in answers}
    assert len(indexes) == 1, f"one act, two answers: {indexes}"
    with acts.lock:
        acts.registered[name] = indexes.pop()
    faults.add(races=len(clients))


@pytest.mark.postgres
def test_killing_the_sequencer_hands_the_ledger_to_another_replica(
    layout: Layout, replicas: Replicas, postgres_url: str, soak: bool
) -> None:
    kills = SOAK_KILLS if soak else CI_KILLS
    acts, stop = Acts(), threading.Event()
    clients = [
        threading.Thread(target=clerk, args=(layout, replicas, acts, stop, n), daemon=True)
        for n in range(CLERKS)
    ]
    for thread in clients:
        thread.start()
    engine = sa.create_engine(postgres_url)
    takeovers: list[float] = []
    try:
        for _ in range(kills):
            wait_for_acks(acts, acts.acknowledged() + ACKS_BETWEEN_KILLS, clients)
            same_act_on_two_replicas(layout, replicas, acts)
            deadline = time.monotonic() + SEQUENCER_SEARCH_S
            while (victim := replicas.sequencer(engine)) is None:
                assert time.monotonic() < deadline, "no replica took the sequencer lease"
                time.sleep(0.005)
            before = acts.acknowledged()
            faults.add(kills_tried=1)
            killed_at = time.monotonic()
            replicas.processes.kill(victim)  # SIGKILL, holding the lease, mid-load
            # The survivors keep appending: the lease moved on without the dead replica.
            wait_for_acks(acts, before + 1, clients)
            takeovers.append(time.monotonic() - killed_at)
            faults.add(sequencer_failovers=1)
            replicas.start(victim)
            faults.add(kills_survived=1)
        wait_for_acks(acts, acts.acknowledged() + ACKS_BETWEEN_KILLS, clients)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=CALL_TIMEOUT_S * 3)
        engine.dispose()
    replicas.processes.stop_all()
    print(
        f"\nsequencer kills {len(takeovers)}; next acknowledged act after "
        f"{min(takeovers):.3f} to {max(takeovers):.3f} s"
    )
    assert not acts.unexpected, acts.unexpected
    audit(layout, acts, postgres_url)
    assert faults.scan_logs(faults.service_logs(layout)) == []


def test_a_second_gateway_on_one_sqlite_ledger_is_refused_in_one_line(tmp_path: Path) -> None:
    layout = faults.small_layout(tmp_path / "fed")  # the gateway's database is SQLite
    replicas = Replicas(layout)
    try:
        replicas.start("gateway-0")
        second = subprocess.run(
            alprfed_command("gateway", "serve", "--config", str(replicas.configs["gateway-1"])),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        replicas.processes.stop_all()
    said = (second.stdout + second.stderr).strip().splitlines()
    assert second.returncode != 0
    assert "Traceback" not in second.stderr
    assert any(
        "database_url: another gateway already writes the SQLite ledger" in line
        and "replicas need PostgreSQL" in line
        for line in said
    ), said
