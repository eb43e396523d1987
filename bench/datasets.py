"""Big node tables, built once and reused: ``node-<rows>.db`` in the cache directory.

A table is synthetic traffic of one California city (``agency_node.synthetic``: commuters,
errands, weekly visits, realistic plate frequencies) over DATA_DAYS days, stored through the
store's own ``bulk_load`` in transactions of LOAD_TRANSACTION_ROWS rows. The sightings indexes
are dropped for the load and rebuilt afterwards from their definitions in the node schema (a
bulk build is far faster than 10 million random B-tree inserts), then the planner statistics
are gathered.

A cached SQLite table is reused when its metadata matches this code's CACHE_VERSION and its
row count matches exactly; otherwise it is rebuilt. PostgreSQL tables are loaded into a fresh
schema on every run (``load_postgres``) with COPY and the schema is dropped after the
measurement; the rows come from the SQLite table the first time and from a binary COPY dump
cached beside it afterwards.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage import schema as node_schema
from agency_node.storage.partitions import ensure_partitions
from agency_node.storage.schema import cameras, sightings
from agency_node.synthetic import generate
from agency_node.synthetic.generate import SyntheticData
from alprfed.clock import Clock
from alprfed.db import create_engine, writer
from alprfed.models import Sighting, TimeWindow
from bench.environment import cached_build, schema_fingerprint, sqlite_url
from bench.federation import NODE_STATE, node_ids
from bench.queries import Probe

CACHE_VERSION = 1  # bump when the generated data or the schema changes
DATA_DAYS = 30
DAY_S = 86_400
LOAD_TRANSACTION_ROWS = 500_000
COPY_BLOCK_BYTES = 1 << 20
DATASET_AGENCY = node_ids(1)[0]
_SIGHTING_COLUMNS = tuple(column.name for column in sightings.columns)
_CAMERA_COLUMNS = tuple(column.name for column in cameras.columns)


@dataclass(frozen=True)
class NodeDataset:
    rows: int
    epoch: int  # the generator's "now": sightings lie in [epoch - DATA_DAYS days, epoch]
    seed: int

    def window(self, days: int) -> TimeWindow:
        return TimeWindow(self.epoch - days * DAY_S, self.epoch)


def _count_rows(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(sightings)).scalar_one())
    finally:
        engine.dispose()


def _drop_indexes(url: str) -> list[sa.Index]:
    """Drop the sightings indexes the database has (PostgreSQL's partitioned table has no
    separate time index: its primary key (observed_at, id) is one); return those dropped."""
    engine = create_engine(url)
    try:
        with writer(engine).begin() as conn:
            present = {index["name"] for index in sa.inspect(conn).get_indexes(sightings.name)}
            dropped = [index for index in sightings.indexes if index.name in present]
            for index in dropped:
                index.drop(bind=conn)
    finally:
        engine.dispose()
    return dropped


def _build_indexes(url: str, indexes: list[sa.Index]) -> None:
    """Rebuild the dropped sightings indexes as the node schema defines them, then ANALYZE."""
    engine = create_engine(url)
    try:
        with writer(engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                # A sort in memory instead of on disk; for this session only.
                conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
            for index in sorted(indexes, key=lambda i: str(i.name)):
                index.create(bind=conn)
        with writer(engine).begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()


def _settle(url: str, log: Callable[[str], None]) -> None:
    """Leave a freshly loaded PostgreSQL table as a node's months-old data is: vacuumed
    (frozen, hint bits and visibility map set; ``_build_indexes`` has analysed it) and
    checkpointed. Otherwise the timed searches would pay for the load: the first read of each
    page writes its hint bits (the server may run without autovacuum, as this project's test
    machine does), and the checkpointer writes the load's dirty buffers out for minutes after,
    on a machine whose other core the timed processes need (docs/PERFORMANCE.md, *PostgreSQL
    tables settled*). VACUUM runs outside a transaction; CHECKPOINT needs a superuser or
    pg_checkpoint, and without one the benchmark goes on and says so."""
    engine = create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (sightings, cameras):
                conn.exec_driver_sql(f"VACUUM (FREEZE) {table.name}")
            try:
                conn.exec_driver_sql("CHECKPOINT")
            except sa.exc.DBAPIError as exc:
                log(f"  the server refused CHECKPOINT ({exc.orig}); timing an unsettled table")
    finally:
        engine.dispose()


def _chunks(items: Iterator[Sighting], size: int) -> Iterator[list[Sighting]]:
    while chunk := list(islice(items, size)):
        yield chunk


def synthetic(
    agency_id: str, sightings: int, *, seed: int, now: int, demo: bool = False
) -> SyntheticData:
    """One California node's traffic over the last DATA_DAYS days before ``now``."""
    return generate(
        agency_id=agency_id,
        state=NODE_STATE,
        sightings=sightings,
        seed=seed,
        now=now,
        days=DATA_DAYS,
        demo=demo,
    )


def build_table(
    url: str, rows: int, *, epoch: int, seed: int, log: Callable[[str], None]
) -> NodeDataset:
    """Fill the (new) node database at ``url`` with ``rows`` synthetic sightings."""
    data = synthetic(DATASET_AGENCY, rows, seed=seed, now=epoch)
    with NodeStore.open(url) as store:
        store.upsert_cameras(data.cameras)
    dropped = _drop_indexes(url)
    stored, started = 0, time.perf_counter()
    with NodeStore.open(url) as store:
        for chunk in _chunks(data.sightings, LOAD_TRANSACTION_ROWS):
            stored += store.bulk_load([], chunk)
            log(f"  {stored:,} of {rows:,} sightings ({time.perf_counter() - started:.0f} s)")
    _build_indexes(url, dropped)
    return NodeDataset(rows=stored, epoch=epoch, seed=seed)


def cached_sqlite(
    cache_dir: Path, rows: int, *, seed: int, clock: Clock, log: Callable[[str], None]
) -> tuple[Path, NodeDataset]:
    """The cached SQLite node table of ``rows`` sightings (its file), built first if needed."""
    path = cache_dir / f"node-{rows}.db"
    url = sqlite_url(path)

    def build() -> dict[str, Any]:
        log(f"building a table of {rows:,} sightings (cached for later runs)")
        return {"epoch": build_table(url, rows, epoch=clock.now(), seed=seed, log=log).epoch}

    identity = {
        "version": CACHE_VERSION,
        "schema": schema_fingerprint(node_schema.metadata),
        "seed": seed,
        "rows": rows,
    }
    meta = cached_build(path, identity, still_valid=lambda: _count_rows(url) == rows, build=build)
    return path, NodeDataset(rows=rows, epoch=meta["epoch"], seed=seed)


def _copy_from_sqlite(
    cursor: Any, source: sqlite3.Connection, table: str, columns: tuple[str, ...]
) -> None:
    listed = ", ".join(columns)
    rows = source.execute(f"SELECT {listed} FROM {table}")  # schema names only, no input
    with cursor.copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load_postgres(sqlite_path: Path, url: str, log: Callable[[str], None]) -> None:
    """Fill the (new) PostgreSQL node database at ``url`` with a cached SQLite table's rows.

    The first time, the rows are copied from SQLite row by row and then dumped next to the
    SQLite file in PostgreSQL's binary COPY format (``.pgcopy``); later runs stream that dump
    back, which costs the server's COPY alone.
    """
    NodeStore.open(url).close()  # the schema, by the node's own migrations
    dropped = _drop_indexes(url)
    dump, dump_meta = sqlite_path.with_suffix(".pgcopy"), sqlite_path.with_suffix(".pgcopy.json")
    table_meta = sqlite_path.with_suffix(".json").read_text()  # the dump's identity
    reuse = dump.exists() and dump_meta.exists() and dump_meta.read_text() == table_meta
    listed = ", ".join(_SIGHTING_COLUMNS)
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        with (
            closing(sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)) as source,
            writer(engine).begin() as conn,
        ):
            driver = conn.connection.driver_connection
            assert driver is not None  # a checked-out connection has its driver connection
            with driver.cursor() as cursor:
                _copy_from_sqlite(cursor, source, "cameras", _CAMERA_COLUMNS)
                # Every day the table reaches gets its partition before the rows arrive.
                days = source.execute(f"SELECT DISTINCT observed_at / {DAY_S} FROM sightings")
                ensure_partitions(conn, (int(day) for (day,) in days))
                if reuse:
                    with (
                        dump.open("rb") as data,
                        cursor.copy(
                            f"COPY sightings ({listed}) FROM STDIN (FORMAT binary)"
                        ) as copy,
                    ):
                        while block := data.read(COPY_BLOCK_BYTES):
                            copy.write(block)
                else:
                    _copy_from_sqlite(cursor, source, "sightings", _SIGHTING_COLUMNS)
                # The ids came with the rows; the sequence must continue after them.
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('sightings', 'id'), "
                    "(SELECT max(id) FROM sightings))"
                )
                if not reuse:
                    dump_meta.unlink(missing_ok=True)
                    with (
                        dump.open("wb") as out,
                        cursor.copy(
                            # A partitioned table is copied out through a query.
                            f"COPY (SELECT {listed} FROM sightings ORDER BY id) "
                            "TO STDOUT (FORMAT binary)"
                        ) as copy,
                    ):
                        for block in copy:
                            out.write(block)
                    dump_meta.write_text(table_meta)
    finally:
        engine.dispose()
    how = "from the cached dump" if reuse else "from SQLite (dump cached for later runs)"
    log(f"  loaded into PostgreSQL {how} in {time.perf_counter() - started:.0f} s; indexing")
    _build_indexes(url, dropped)
    _settle(url, log)


def probes(
    url: str, dataset: NodeDataset, *, count: int, window_days: int, rng: random.Random
) -> list[Probe]:
    """``count`` lookups of plates read in the table, each over the last ``window_days``.

    Plates are drawn by drawing sightings, so a plate is asked for about as often as it is
    read, as an investigator asks about vehicles that were seen.
    """
    ids = [rng.randint(1, dataset.rows) for _ in range(count)]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sightings.c.id, sightings.c.plate).where(sightings.c.id.in_(ids))
            plates = {sighting_id: plate for sighting_id, plate in conn.execute(query)}
    finally:
        engine.dispose()
    window = dataset.window(window_days)
    return [Probe(plates[i], window) for i in ids if i in plates]
