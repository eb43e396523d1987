"""The city benchmark's data: a year of one San Jose-like city's reads in PostgreSQL, built once.

San Jose's cameras made about 361 million reads in 2024 (the issue's figure). The city preset
holds READS_PER_DAY x DAYS (100 million) reads of CAMERAS cameras in a dedicated database,
``alprfed_bench_city``, made by the node's own migrations (daily partitions and all). A table
``bench_city_build`` records the build's version and, only at the very end, that it is
complete; a database missing, incomplete or of another version is dropped and rebuilt.

The rows are generated inside PostgreSQL (``generate_series``): Python could not make 100
million rows in the hour a loaded 2-core machine has for it, and what is measured afterwards is
the node, not the generator. Each day is loaded into a standalone table, indexed once its rows
are in, then attached (``agency_node.storage.partitions``), so no index is maintained row by
row and a build interrupted mid-day leaves nothing attached for that day.

The shape: the reads of a day follow a daily cycle, busiest at 00:00 UTC (16:00 in San Jose,
the evening commute) at 1 / (1 - A) = 2x the mean rate and quietest twelve hours later; the
time warp t = u - A sin(2 pi u) / 2 pi of the read's place u in its day keeps one camera's
reads over a minute apart, so the read identity (camera, time, plate) is unique by
construction. Vehicles are drawn from VEHICLES with a skew (index = VEHICLES x r^1.5), so a
few plates pass cameras daily and most are seen a few times a year, as commuters and visitors.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage.partitions import (
    DAY_S,
    attach_partition,
    create_partition,
    index_partition,
    partition_days,
    partition_name,
)

BUILD_VERSION = 2  # bump when the generated shape changes: the cached database is rebuilt
DATABASE = "alprfed_bench_city"
CAMERAS = 480
DAYS = 365
READS_PER_DAY = 274_000  # x 365 = 100.01 million
VEHICLES = 1_200_000
CITY_READS_PER_YEAR = 361_000_000  # San Jose, 2024 (issue 13)
FIRST_DAY = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()) // DAY_S
DIURNAL_AMPLITUDE = 0.5  # the busiest hour holds 1 / (1 - A) times the mean hour's reads
# San Jose's city centre; cameras spread over about +-0.12 degrees (about 13 km).
CENTRE_LAT_E6, CENTRE_LON_E6 = 37_338_200, -121_886_300
SPREAD_E6 = 120_000

_BUILD_TABLE = "bench_city_build"


@dataclass(frozen=True)
class CityShape:
    """How big a city to build, and where; the full preset is the 100-million-read year."""

    days: int = DAYS
    reads_per_day: int = READS_PER_DAY
    database: str = DATABASE

    @property
    def reads(self) -> int:
        return self.days * self.reads_per_day


# One day's reads, made in the database. :day_start, :first_id (ids stay dense and ordered by
# day) and :n are bound; the camera of read i is i mod CAMERAS.
_GENERATE_DAY = f"""
INSERT INTO {{table}} (id, plate, plate_state, observed_at, camera_id, lat_e6, lon_e6,
                      make, model, color, confidence_per_mille, image_uri)
SELECT %(first_id)s + i,
       chr(49 + mod(h, 9)::int) || chr(65 + mod(h / 9, 26)::int) || chr(65 + mod(h / 234, 26)::int)
         || chr(65 + mod(h / 6084, 26)::int) || lpad(mod(h / 158184, 1000)::text, 3, '0'),
       'CA',
       %(day_start)s::bigint
         + floor(86400 * (u - {DIURNAL_AMPLITUDE} * sin(2 * pi() * u) / (2 * pi())))::bigint,
       c.camera_id, c.lat_e6, c.lon_e6,
       (ARRAY['Toyota','Honda','Ford','Tesla','Chevrolet','Nissan','BMW','Hyundai'])
         [1 + mod(v, 8)],
       (ARRAY['Camry','Civic','F-150','Model 3','Malibu','Altima','X3','Elantra'])
         [1 + mod(v / 8, 8)],
       (ARRAY['white','black','silver','gray','blue','red'])[1 + mod(v / 64, 6)],
       700 + mod(v, 300)::int,
       's3://sj-alpr/' || %(day_start)s::bigint || '/' || i
FROM (SELECT i, (i + 0.5) / %(n)s AS u,
             floor({VEHICLES} * power(random(), 1.5))::bigint AS v
      FROM generate_series(0, %(n)s - 1) AS i) r
CROSS JOIN LATERAL (SELECT mod(r.v * 2654435761, 158184000) AS h) k
JOIN bench_city_cameras c ON c.n = mod(r.i, {CAMERAS})
"""


def admin_url(base_url: str) -> str:
    return sa.make_url(base_url).set(database="postgres").render_as_string(hide_password=False)


def city_url(base_url: str, shape: CityShape) -> str:
    return sa.make_url(base_url).set(database=shape.database).render_as_string(hide_password=False)


def camera_id(n: int) -> str:
    return f"sj-{n:04d}"  # camera ids are lower case (alprfed.models)


def built_rows(base_url: str, shape: CityShape) -> int | None:
    """The read count of a complete build of this version and shape, or None if none."""
    engine = sa.create_engine(city_url(base_url, shape))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(f"SELECT version, complete, reads FROM {_BUILD_TABLE}")
            ).one_or_none()
    except sa.exc.DBAPIError:
        return None
    finally:
        engine.dispose()
    if row is None or row.version != BUILD_VERSION or not row.complete or row.reads != shape.reads:
        return None
    return int(row.reads)


def build(
    base_url: str,
    shape: CityShape,
    log: Callable[[str], None],
    *,
    worker: int = 0,
    workers: int = 1,
) -> int | None:
    """Build (or finish) the city database; return its read count. Resumes a partial build
    of the same version day by day; a build of another version is dropped first.

    ``worker`` of ``workers`` loads only the days whose offset is ``worker`` modulo
    ``workers``, so separate processes can load the year side by side (a day is one
    transaction, so they never meet); whichever finds every day loaded marks the build
    complete, and the others return None.
    """
    done = built_rows(base_url, shape)
    if done is not None:
        return done
    if worker == 0:
        _prepare_database(base_url, shape, log)
    url = city_url(base_url, shape)
    NodeStore.open(url).close()  # the node's own schema, partitions and all
    engine = sa.create_engine(url)
    days = shape.days
    try:
        with engine.begin() as conn:
            _prepare_cameras(conn)
            have = partition_days(conn)
        started = time.perf_counter()
        made = 0
        for offset in range(worker, days, workers):
            day = FIRST_DAY + offset
            if day in have:
                continue
            load_day(engine, shape, offset)
            made += 1
            elapsed = time.perf_counter() - started
            rate = made * shape.reads_per_day / elapsed
            left = elapsed / made * (days - offset - 1) / 60
            left /= workers
            log(f"city: day {offset + 1}/{days} loaded ({rate:,.0f} reads/s, {left:.0f} min to go)")
        with engine.begin() as conn:
            missing = shape.days - len(
                partition_days(conn) & set(range(FIRST_DAY, FIRST_DAY + days))
            )
        if missing:
            log(f"city: worker {worker} done; {missing} days are still loading elsewhere")
            return None
        # A year-old partition in production was vacuumed long ago: frozen, its hint bits and
        # visibility map set. Left unvacuumed, the first searches of each page would write
        # hint bits and measure a table no node ever holds (the server may run without
        # autovacuum, as this project's test machine does). VACUUM runs outside a transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (FREEZE, ANALYZE) sightings")
            conn.exec_driver_sql("VACUUM (ANALYZE) cameras")
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT setval('sightings_id_seq', {shape.reads})")
            conn.exec_driver_sql(
                f"UPDATE {_BUILD_TABLE} SET complete = true, reads = {shape.reads}"
            )
        return shape.reads
    finally:
        engine.dispose()


def mark_complete(engine: sa.Engine, *, complete: bool) -> None:
    """Mark the build complete or not (the benchmark unmarks it while it purges and puts
    back a day, so a run killed in between is rebuilt rather than trusted)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {_BUILD_TABLE} SET complete = :complete"),
            {"complete": complete},
        )


def _prepare_database(base_url: str, shape: CityShape, log: Callable[[str], None]) -> None:
    admin = sa.create_engine(admin_url(base_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": shape.database}
            ).scalar()
            version = None
            if exists:
                version = _existing_version(base_url, shape)
            if exists and version != BUILD_VERSION:
                log(f"city: dropping {shape.database} (version {version}, want {BUILD_VERSION})")
                conn.exec_driver_sql(f"DROP DATABASE {shape.database} WITH (FORCE)")
                exists = False
            if not exists:
                conn.exec_driver_sql(f"CREATE DATABASE {shape.database}")
    finally:
        admin.dispose()
    engine = sa.create_engine(city_url(base_url, shape))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {_BUILD_TABLE} (version integer NOT NULL, "
                "complete boolean NOT NULL, reads bigint NOT NULL)"
            )
            if conn.exec_driver_sql(f"SELECT count(*) FROM {_BUILD_TABLE}").scalar() == 0:
                conn.exec_driver_sql(
                    f"INSERT INTO {_BUILD_TABLE} VALUES ({BUILD_VERSION}, false, 0)"
                )
    finally:
        engine.dispose()


def _existing_version(base_url: str, shape: CityShape) -> int | None:
    engine = sa.create_engine(city_url(base_url, shape))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT version FROM {_BUILD_TABLE}")).scalar()
    except sa.exc.DBAPIError:
        return None
    finally:
        engine.dispose()


def _prepare_cameras(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS bench_city_cameras (n integer PRIMARY KEY, "
        "camera_id text NOT NULL, lat_e6 integer NOT NULL, lon_e6 integer NOT NULL)"
    )
    if conn.exec_driver_sql("SELECT count(*) FROM bench_city_cameras").scalar():
        return
    rows = []
    for n in range(CAMERAS):
        # A deterministic scatter over the city (a 22 x 22 grid, jittered by n).
        lat = CENTRE_LAT_E6 - SPREAD_E6 + (n // 22) * (2 * SPREAD_E6 // 22) + (n * 7919) % 5000
        lon = CENTRE_LON_E6 - SPREAD_E6 + (n % 22) * (2 * SPREAD_E6 // 22) + (n * 104729) % 5000
        rows.append({"n": n, "camera_id": camera_id(n), "lat_e6": lat, "lon_e6": lon})
    conn.execute(
        sa.text("INSERT INTO bench_city_cameras VALUES (:n, :camera_id, :lat_e6, :lon_e6)"), rows
    )
    conn.exec_driver_sql(
        "INSERT INTO cameras (camera_id, name, lat_e6, lon_e6) "
        "SELECT camera_id, 'San Jose camera ' || n, lat_e6, lon_e6 FROM bench_city_cameras "
        "ON CONFLICT DO NOTHING"
    )


def load_day(engine: sa.Engine, shape: CityShape, offset: int) -> None:
    """Day ``offset`` of the city: a standalone table, its rows, its indexes, then ATTACH, in
    one transaction (also how the benchmark puts back a day it purged)."""
    day = FIRST_DAY + offset
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        table = create_partition(conn, day, attach=False)
        conn.exec_driver_sql(
            _GENERATE_DAY.format(table=table),
            {
                "first_id": offset * shape.reads_per_day + 1,
                "day_start": day * DAY_S,
                "n": shape.reads_per_day,
            },
        )
        index_partition(conn, day)
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD FOREIGN KEY (camera_id) REFERENCES cameras (camera_id)"
        )
        attach_partition(conn, day)
        assert partition_name(day) == table
