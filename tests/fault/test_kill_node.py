"""kill -9 a real agency node process while cameras stream sightings in, restart it, audit.

Two ingest clients stream batches of sightings (each batch one plate seen BATCH times, so a
batch is recognizable in the database) to `alprfed node serve`, which is killed with SIGKILL
while they run and started again. Afterwards, from the node's database alone: every batch the
node acknowledged is there whole (none lost), every batch is there whole or not at all (never
half: ingest is all-or-nothing), and no batch is there twice; the node logged no traceback and
answered nothing INTERNAL. CI kills it 3 times; ``--soak`` 30 times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import faults
import grpc
import pytest
import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage.schema import sightings
from alprfed import wire
from alprfed.config import load_node_config
from alprfed.demo.layout import Layout
from alprfed.demo.processes import FederationProcesses
from alprfed.models import Camera, Position, Sighting
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import node_pb2, node_pb2_grpc

CLIENTS = 2
BATCH = 25  # sightings per batch, all of one plate
CI_KILLS, SOAK_KILLS = 3, 30
BATCHES_BETWEEN_KILLS = 4
CALL_TIMEOUT_S = 10
CAMERA = Camera("cam-fault", "Fault test camera", Position(37_330_000, -121_880_000))


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return faults.small_layout(tmp_path / "fed")


@pytest.fixture
def node(layout: Layout) -> Iterator[FederationProcesses]:
    processes = FederationProcesses(layout)
    try:  # a node that is not ready in time is stopped too, not left running
        processes.start_node("sjpd")
        processes.wait_ready("sjpd", layout.node_addresses["sjpd"], "alprfed.v1.AgencyNode")
        yield processes
    finally:
        processes.stop_all()


def batch_of(plate: str, now: int) -> node_pb2.IngestBatch:
    seen = [
        Sighting.create(
            plate=plate,
            plate_state="CA",
            observed_at=now - 3600 - i,
            camera_id=CAMERA.camera_id,
            position=CAMERA.position,
            confidence_per_mille=900,
        )
        for i in range(BATCH)
    ]
    return node_pb2.IngestBatch(
        sequence=1,
        cameras=[wire.camera_to_pb(CAMERA)],
        sightings=[wire.sighting_to_pb(s) for s in seen],
    )


class Ingest:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[str] = []
        self.acknowledged: list[str] = []
        self.unexpected: list[str] = []  # refusals other than "the node is down"


def client(layout: Layout, ingest: Ingest, stop: threading.Event, number: int) -> None:
    channel = secure_channel(
        layout.node_addresses["sjpd"], faults.principal_tls(layout, "sjpd", "node")
    )
    stub = node_pb2_grpc.AgencyNodeStub(channel)
    count = 0
    try:
        while not stop.is_set():
            count += 1
            plate = f"K{number}{count:06d}"
            with ingest.lock:
                ingest.sent.append(plate)
            try:
                summary = stub.IngestSightings(
                    iter([batch_of(plate, int(time.time()))]), timeout=CALL_TIMEOUT_S
                )
            except grpc.RpcError as exc:
                if exc.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    faults.refused_unexpectedly(exc.code())
                    with ingest.lock:
                        ingest.unexpected.append(f"{exc.code().name}: {exc.details()}")
                    return
                time.sleep(0.05)  # the node is down: this batch may or may not be stored
                continue
            assert summary.sightings == BATCH
            with ingest.lock:
                ingest.acknowledged.append(plate)
    finally:
        channel.close()


def wait_for(ingest: Ingest, at_least: int, clients: list[threading.Thread]) -> None:
    deadline = time.monotonic() + 120
    while len(ingest.acknowledged) < at_least:
        assert not ingest.unexpected, ingest.unexpected
        assert all(t.is_alive() for t in clients), "an ingest client died"
        assert time.monotonic() < deadline, "the node acknowledged nothing for 2 minutes"
        time.sleep(0.02)


def test_a_killed_node_keeps_every_acknowledged_batch_whole_and_no_half_batch(
    layout: Layout, node: FederationProcesses, soak: bool
) -> None:
    ingest, stop = Ingest(), threading.Event()
    clients = [
        threading.Thread(target=client, args=(layout, ingest, stop, n), daemon=True)
        for n in range(CLIENTS)
    ]
    for thread in clients:
        thread.start()
    address = layout.node_addresses["sjpd"]
    try:
        for _ in range(SOAK_KILLS if soak else CI_KILLS):
            wait_for(ingest, len(ingest.acknowledged) + BATCHES_BETWEEN_KILLS, clients)
            faults.add(kills_tried=1)
            node.kill("sjpd")
            node.start_node("sjpd")
            node.wait_ready("sjpd", address, "alprfed.v1.AgencyNode")
            faults.add(kills_survived=1)
        wait_for(ingest, len(ingest.acknowledged) + BATCHES_BETWEEN_KILLS, clients)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=CALL_TIMEOUT_S * 3)
    node.stop_all()
    assert not ingest.unexpected, ingest.unexpected
    assert faults.scan_logs(faults.service_logs(layout)) == []
    config = load_node_config(layout.node_config("sjpd"))
    store = NodeStore.open(config.database_url)  # opens and upgrades: not damaged
    store.close()
    engine = sa.create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    sa.select(sightings.c.plate, sa.func.count())
                    .where(sightings.c.plate.like("K%"))
                    .group_by(sightings.c.plate)
                ).all()
            )
    finally:
        engine.dispose()
    lost = [p for p in ingest.acknowledged if stored.get(p) != BATCH]
    partial = {p: n for p, n in stored.items() if n != BATCH}
    phantom = [p for p in stored if p not in ingest.sent]
    faults.add(
        acknowledged=len(ingest.acknowledged),
        acknowledged_lost=len(lost),
        duplicate_or_phantom=len(partial) + len(phantom),
    )
    assert lost == []
    assert partial == {}
    assert phantom == []
