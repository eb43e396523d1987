"""Part 2, ingest: sightings into a node through the streaming RPC and through the CSV import.

For each size and database, three fresh, empty node databases receive the same synthetic
sightings:

- the floor: the store's own ``bulk_load`` of ready-made ``Sighting`` objects, in this process
  (one transaction, the COPY / executemany fast path): the database's share of any ingest;
- ``IngestSightings``: a real node in a child process, streamed batches of MAX_BATCH_SIGHTINGS
  over mutual TLS with the node's own identity. The batches are built before the clock starts,
  as a camera would have them ready; the node validates every record, checks the cameras and
  stores each batch in its own transaction;
- ``alprfed node import``: the real command in a child process on a CSV file written
  beforehand, timed from launch to exit (interpreter start-up included), all or nothing.

Each path must leave exactly the sightings it was given in the database.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agency_node.ingest import MAX_BATCH_SIGHTINGS
from agency_node.storage import NodeStore
from alprfed import wire
from alprfed.clock import SYSTEM_CLOCK
from alprfed.demo.layout import Layout
from alprfed.models import Camera, Position, Sighting
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import node_pb2, node_pb2_grpc
from bench.datasets import synthetic
from bench.environment import DATABASE_LABELS, POSTGRES, SQLITE, BenchEnv, BenchError
from bench.federation import node_ids, node_tls, write_layout
from bench.hosts import REPO_ROOT, Host
from bench.report import Figure, PartReport, at_least

PART = "ingest"
TITLE = "Ingest: streaming RPC and CSV import, beside the store's bulk load"
RPC_TIMEOUT_S = 600.0
IMPORT_TIMEOUT_S = 1_800.0
TARGETS_PER_S = {POSTGRES: 50_000, SQLITE: 30_000}
MICRODEGREES = Decimal("0.000001")
PER_MILLE = Decimal("0.001")


@dataclass(frozen=True)
class IngestSettings:
    sizes: tuple[int, ...]
    databases: tuple[str, ...] = (SQLITE, POSTGRES)


@dataclass(frozen=True)
class _Data:
    cameras: list[Camera]
    sightings: list[Sighting]


def _count(url: str) -> int:
    with NodeStore.open(url) as store:
        return store.count_sightings()


def _check_stored(url: str, expected: int, path: str) -> None:
    stored = _count(url)
    if stored != expected:
        raise BenchError(f"{path} left {stored:,} sightings where {expected:,} were sent")


def _floor(url: str, data: _Data) -> float:
    with NodeStore.open(url) as store:
        started = time.perf_counter()
        store.bulk_load(data.cameras, data.sightings)
        elapsed = time.perf_counter() - started
    _check_stored(url, len(data.sightings), "bulk_load")
    return len(data.sightings) / elapsed


def _batches(data: _Data) -> list[node_pb2.IngestBatch]:
    batches = []
    for sequence, start in enumerate(range(0, len(data.sightings), MAX_BATCH_SIGHTINGS), 1):
        batches.append(
            node_pb2.IngestBatch(
                sequence=sequence,
                cameras=[wire.camera_to_pb(c) for c in data.cameras] if sequence == 1 else [],
                sightings=[
                    wire.sighting_to_pb(s)
                    for s in data.sightings[start : start + MAX_BATCH_SIGHTINGS]
                ],
            )
        )
    return batches


def _layout(env: BenchEnv, url: str) -> tuple[Layout, str]:
    agency = node_ids(1)[0]
    return write_layout(env.scratch(PART) / "federation", 1, database_urls={agency: url}), agency


def _through_rpc(env: BenchEnv, url: str, data: _Data) -> float:
    layout, agency = _layout(env, url)
    batches = _batches(data)
    with Host("node", [layout.node_config(agency)], layout.root / "node.log") as host:
        channel = secure_channel(f"localhost:{host.ports[0]}", node_tls(layout, agency))
        try:
            stub = node_pb2_grpc.AgencyNodeStub(channel)
            started = time.perf_counter()
            summary = stub.IngestSightings(iter(batches), timeout=RPC_TIMEOUT_S)
            elapsed = time.perf_counter() - started
        finally:
            channel.close()
    if summary.sightings != len(data.sightings):
        raise BenchError(f"the node reports {summary.sightings:,} of {len(data.sightings):,}")
    _check_stored(url, len(data.sightings), "IngestSightings")
    return len(data.sightings) / elapsed


def _write_csv(directory: Path, data: _Data) -> tuple[Path, Path]:
    """The sightings and cameras as a vendor export would have them (docs: csv_import)."""
    cameras_csv, sightings_csv = directory / "cameras.csv", directory / "sightings.csv"
    with cameras_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["camera_id", "name", "latitude", "longitude", "sensitive_site"])
        for c in data.cameras:
            site = c.sensitive_site.value if c.sensitive_site else ""
            writer.writerow([c.camera_id, c.name, *_degrees(c.position), site])
    with sightings_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["plate", "plate_state", "observed_at", "camera_id", "latitude", "longitude",
             "confidence", "vehicle_make", "vehicle_model", "vehicle_color", "image_uri"]
        )  # fmt: skip
        for s in data.sightings:
            writer.writerow(
                [s.plate, s.plate_state, s.observed_at, s.camera_id, *_degrees(s.position),
                 Decimal(s.confidence_per_mille) * PER_MILLE, s.vehicle_make, s.vehicle_model,
                 s.vehicle_color, s.image_uri]
            )  # fmt: skip
    return sightings_csv, cameras_csv


def _degrees(position: Position) -> tuple[Decimal, Decimal]:
    return (
        Decimal(position.latitude_e6) * MICRODEGREES,
        Decimal(position.longitude_e6) * MICRODEGREES,
    )


def alprfed_command() -> list[str]:
    """The installed ``alprfed`` console script, else its entry point through this Python."""
    script = shutil.which("alprfed", path=str(Path(sys.executable).parent))
    if script is not None:
        return [script]
    return [sys.executable, "-c", "from alprfed.cli.main import main; main()"]


def _through_cli(env: BenchEnv, url: str, data: _Data) -> float:
    layout, agency = _layout(env, url)
    sightings_csv, cameras_csv = _write_csv(layout.root, data)
    command = [
        *alprfed_command(),
        "node", "import", str(sightings_csv),
        "--config", str(layout.node_config(agency)),
        "--cameras", str(cameras_csv),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"alprfed node import failed ({done.returncode}): {done.stderr[-2000:]}")
    _check_stored(url, len(data.sightings), "alprfed node import")
    return len(data.sightings) / elapsed


def _data(size: int, seed: int) -> _Data:
    generated = synthetic(node_ids(1)[0], size, seed=seed, now=SYSTEM_CLOCK.now())
    return _Data(generated.cameras, list(generated.sightings))


def run(settings: IngestSettings, env: BenchEnv) -> PartReport:
    """Ingest every size into every database the run can reach, three ways each."""
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    for size in settings.sizes:
        data = _data(size, env.seed)
        for database in env.databases(settings.databases):
            label = DATABASE_LABELS[database]
            env.log(f"{PART}: {label}, {size:,} sightings")
            with env.database(database, f"{PART}_floor") as url:
                floor = _floor(url, data)
            with env.database(database, f"{PART}_rpc") as url:
                rpc = _through_rpc(env, url, data)
            with env.database(database, f"{PART}_cli") as url:
                cli = _through_cli(env, url, data)
            limit = TARGETS_PER_S[database]
            target = at_least(limit, f"≥ {limit:,}/s")
            config = f"{label}, {size:,} sightings"
            for measure, value in (
                (f"IngestSightings, batches of {MAX_BATCH_SIGHTINGS:,}", rpc),
                ("alprfed node import (CSV)", cli),
            ):
                report.add(
                    Figure(PART, measure, config, value, "/s", floor, "bulk_load", (target,))
                )
    report.notes += [
        "Sightings: synthetic traffic of one California city over 30 days (agency_node."
        "synthetic), the same list for the floor and both paths, into empty databases.",
        "The RPC's batches are built before the clock starts; the CSV import is timed from "
        "launching the command to its exit, interpreter start-up and the complete check of "
        "both files included.",
    ]
    report.seconds = time.perf_counter() - started
    return report
