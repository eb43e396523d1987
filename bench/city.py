"""The city part: a year of a San Jose-like city (100 million reads) on one PostgreSQL node.

Not in the default run (``python -m bench city`` asks for it): the first run builds the city
database (``bench.city_data``, tens of minutes), later runs reuse it. It measures, each beside
its floor:

- node search p50/p99: a real node over mutual TLS answering signed queries with evidence (as
  the node-search part), plates drawn by sampling reads, each over the 7 days ending with the
  sampled read's day; the floor is the node's search statement straight on the driver;
- purging a day: the node store's ``purge_before`` with the cutoff at a day's end (the whole
  day is a partition: detach concurrently, count, drop); the floor is a bare DETACH and DROP
  in one transaction. Then the cutoff at a day's noon, half a day of row deletes in chunks as
  the node does them, beside one bare DELETE: what a boundary costs, and why partitions are
  a day (a week's partition would put up to seven days into this delete);
- sustained ingest: the store's ``bulk_load`` of a day's worth of new reads into the full
  table (indexes live, a new day's partition made on demand) against ten times the real
  city's peak hour; the floor is a bare COPY of the same rows into a ready partition.

Each purged day is put back (``city_data.load_day``) and each ingested day dropped, so the
cached city stays as built; while that is under way it is marked incomplete, so a run killed
in between rebuilds the missing day next time.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage.bulk import sighting_row
from agency_node.storage.partitions import DAY_S, create_partition, partition_name
from agency_node.storage.schema import SIGHTING_INSERT_COLUMNS
from alprfed.models import Position, Sighting, TimeWindow
from bench import city_data
from bench.city_data import FIRST_DAY, CityShape
from bench.environment import BenchEnv, BenchError
from bench.node_search import NodeSearchSettings, measure_floor, measure_node
from bench.queries import Probe
from bench.report import Figure, PartReport, at_least, at_most
from bench.stats import MS_PER_S, Latency

PART = "city"
TITLE = "A city's year on one node: search, purge and ingest at 100 million reads"
SEARCH_P99_LIMIT_MS = 10.0
PURGE_DAY_LIMIT_S = 1.0
PEAK_HOUR_MULTIPLE = 10


@dataclass(frozen=True)
class CitySettings:
    shape: CityShape = field(default_factory=CityShape)
    probes: int = 500
    warmup: int = 200
    latency_calls: int = 2_000
    rate_calls: int = 2_000
    concurrency: int = 8
    window_days: int = 7
    purge_repeats: int = 3
    ingest_reads: int = 274_000  # a day of the scaled city


def run(settings: CitySettings, env: BenchEnv) -> PartReport:
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    if env.postgres_url is None:
        raise BenchError("the city part needs PostgreSQL (--postgres-url)")
    shape = settings.shape
    reads = city_data.build(env.postgres_url, shape, env.log)
    url = city_data.city_url(env.postgres_url, shape)
    config = f"PostgreSQL, {reads:,} reads, {shape.days} daily partitions"
    env.log(f"{PART}: {config}")
    _search(env, url, settings, config, report)
    _purge(env, url, settings, config, report)
    _ingest(env, url, settings, config, report)
    report.notes += [
        f"One city: {city_data.CAMERAS} cameras, {shape.reads_per_day:,} reads a day for "
        f"{shape.days} days (San Jose made {city_data.CITY_READS_PER_YEAR:,} in 2024), "
        "generated in PostgreSQL and loaded a day at a time, indexes built after each day's "
        "load (bench/city_data.py).",
        "The node keeps the city's reads for the benchmark (retention set past the data).",
    ]
    report.seconds = time.perf_counter() - started
    return report


# --- search ------------------------------------------------------------------------------------


def _probes(url: str, settings: CitySettings, rng: random.Random) -> tuple[list[Probe], int]:
    """Plates drawn by sampling reads (a plate asked about as often as it is read), and how
    many partitions the plan of a mid-year one scans."""
    shape = settings.shape
    wanted = Counter(rng.randrange(shape.days) for _ in range(settings.probes))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows: list[tuple[str, int]] = []
            # Day by day: a sample of the parent table would pick the same block numbers in
            # every partition (one seed), so all or none of the days.
            for offset, count in sorted(wanted.items()):
                table = partition_name(FIRST_DAY + offset)
                rows += conn.execute(
                    sa.text(
                        f"SELECT plate, observed_at FROM {table} "
                        "TABLESAMPLE SYSTEM (1) REPEATABLE (:seed) "
                        "ORDER BY md5(plate || observed_at) LIMIT :n"
                    ),
                    {"seed": rng.randrange(1 << 30), "n": count},
                ).all()
            if not rows:
                raise BenchError("the city database has no reads to sample")
            probes = []
            for plate, observed_at in rows:
                end = (observed_at // DAY_S + 1) * DAY_S - 1  # the end of the read's day
                start = end - settings.window_days * DAY_S + 1
                probes.append(Probe(plate, TimeWindow(start, end)))
            first = probes[len(probes) // 2]  # mid-year: its whole window lies in the data
            plan = conn.execute(
                sa.text(
                    "EXPLAIN SELECT id FROM sightings WHERE plate = :plate "
                    "AND observed_at >= :start AND observed_at <= :end"
                ),
                {"plate": first.plate, "start": first.window.start, "end": first.window.end},
            ).scalars()
            scanned = sum(1 for line in plan if " on sightings_p" in line)
    finally:
        engine.dispose()
    return probes, scanned


def _search(
    env: BenchEnv, url: str, settings: CitySettings, config: str, report: PartReport
) -> None:
    lookups, scanned = _probes(url, settings, env.rng(f"{PART}:probes"))
    search = NodeSearchSettings(
        sizes=(),
        probes=len(lookups),
        warmup=settings.warmup,
        latency_calls=settings.latency_calls,
        rate_calls=settings.rate_calls,
        concurrency=settings.concurrency,
        window_days=settings.window_days,
    )
    env.log(f"{PART}: search, {len(lookups)} plates over {settings.window_days}-day windows")
    floor, floor_rate, expected = measure_floor(url, lookups, search)
    # Long enough that the node's own retention keeps every read of the cached city.
    retention = int(time.time()) - FIRST_DAY * DAY_S + 30 * DAY_S
    # The city's year is in the past: its warrants cover that year (and a week before it).
    year = TimeWindow((FIRST_DAY - 7) * DAY_S, (FIRST_DAY + settings.shape.days) * DAY_S)
    measured = measure_node(
        env, url, lookups, expected, search, retention_seconds=retention, warrant_window=year
    )
    node, shared, node_rate = measured.node, measured.shared, measured.rate
    mean = sum(expected) / len(expected)
    raw = "raw SQL lookup"
    report.add(
        Figure(
            PART,
            "search p50",
            config,
            node.p50 * MS_PER_S,
            "ms",
            floor.p50 * MS_PER_S,
            raw,
            note=f"{mean:.1f} sightings per answer; the plan scans {scanned} of the "
            f"partitions (the window's days)",
        )
    )
    report.add(
        Figure(
            PART,
            "search p99",
            config,
            node.p99 * MS_PER_S,
            "ms",
            floor.p99 * MS_PER_S,
            raw,
            (at_most(SEARCH_P99_LIMIT_MS, f"≤ {SEARCH_P99_LIMIT_MS:g} ms"),),
            note="a fresh witnessed checkpoint per query: every check afresh",
        )
    )
    report.add(
        Figure(
            PART,
            "search p99, 16 queries per checkpoint",
            config,
            shared.p99 * MS_PER_S,
            "ms",
            floor.p99 * MS_PER_S,
            raw,
            note=f"p50 {shared.p50 * MS_PER_S:.2f} ms",
        )
    )
    report.add(
        Figure(
            PART,
            f"searches/s, {settings.concurrency} callers",
            config,
            node_rate,
            "/s",
            floor_rate,
            f"raw SQL, {settings.concurrency} threads",
        )
    )


# --- purge -------------------------------------------------------------------------------------


def _put_back(engine: sa.Engine, shape: CityShape, offset: int) -> None:
    """Drop what is left of day ``offset`` and load it again as built."""
    name = partition_name(FIRST_DAY + offset)
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
            conn.exec_driver_sql(f"DROP TABLE {name}")
    city_data.load_day(engine, shape, offset)


def _purge(
    env: BenchEnv, url: str, settings: CitySettings, config: str, report: PartReport
) -> None:
    shape = settings.shape
    engine = sa.create_engine(url)
    day_end = (FIRST_DAY + 1) * DAY_S
    noon = FIRST_DAY * DAY_S + DAY_S // 2
    whole: list[float] = []
    bare: list[float] = []
    try:
        city_data.mark_complete(engine, complete=False)
        for _ in range(settings.purge_repeats):
            env.log(f"{PART}: purge the first day (whole partition), then put it back")
            with NodeStore.open(url) as store:
                began = time.perf_counter()
                deleted = store.purge_before(day_end)
                whole.append(time.perf_counter() - began)
            if deleted != shape.reads_per_day:
                raise BenchError(f"purging a day deleted {deleted:,}, not {shape.reads_per_day:,}")
            _put_back(engine, shape, 0)
            name = partition_name(FIRST_DAY)
            with engine.begin() as conn:
                began = time.perf_counter()
                conn.exec_driver_sql(f"ALTER TABLE sightings DETACH PARTITION {name}")
                conn.exec_driver_sql(f"DROP TABLE {name}")
            bare.append(time.perf_counter() - began)
            _put_back(engine, shape, 0)
        env.log(f"{PART}: purge to the first day's noon (row deletes in one partition)")
        with NodeStore.open(url) as store:
            began = time.perf_counter()
            boundary_rows = store.purge_before(noon)
            boundary = time.perf_counter() - began
        _put_back(engine, shape, 0)
        with engine.begin() as conn:
            began = time.perf_counter()
            bare_rows = conn.execute(
                sa.text("DELETE FROM sightings WHERE observed_at < :c"), {"c": noon}
            ).rowcount
            bare_boundary = time.perf_counter() - began
        _put_back(engine, shape, 0)
        city_data.mark_complete(engine, complete=True)
    finally:
        engine.dispose()
    if bare_rows != boundary_rows:
        raise BenchError(
            f"the boundary purge deleted {boundary_rows:,}, a bare DELETE {bare_rows:,}"
        )
    whole_s, bare_s = Latency.of(whole), Latency.of(bare)
    report.add(
        Figure(
            PART,
            "purge a day (whole partition)",
            config,
            whole_s.max,
            "s",
            bare_s.max,
            "bare DETACH + DROP",
            (at_most(PURGE_DAY_LIMIT_S, f"≤ {PURGE_DAY_LIMIT_S:g} s"),),
            note=f"{shape.reads_per_day:,} reads; worst of {len(whole)} "
            f"(p50 {whole_s.p50:.3f} s); DETACH CONCURRENTLY, count, DROP",
        )
    )
    rate = boundary_rows / boundary
    report.add(
        Figure(
            PART,
            "purge half a day (row deletes in the boundary partition)",
            config,
            boundary,
            "s",
            bare_boundary,
            "one bare DELETE",
            note=f"{boundary_rows:,} reads in chunks of 10,000 ({rate:,.0f} rows/s): "
            f"a weekly partition's boundary could hold {7 * shape.reads_per_day:,} rows, "
            f"about {7 * shape.reads_per_day / rate:.1f} s",
        )
    )


# --- ingest ------------------------------------------------------------------------------------


def _new_reads(count: int, day: int, rng: random.Random) -> list[Sighting]:
    """``count`` reads of the city's cameras over ``day``, in time order, as a feed sends."""
    reads = []
    for i in range(count):
        camera = i % city_data.CAMERAS
        reads.append(
            Sighting.create(
                plate=f"{rng.randrange(1, 10)}ING{rng.randrange(1000):03d}",
                plate_state="CA",
                observed_at=day * DAY_S + i * DAY_S // count,
                camera_id=city_data.camera_id(camera),
                position=Position(city_data.CENTRE_LAT_E6, city_data.CENTRE_LON_E6),
                vehicle_make="Toyota",
                vehicle_model="Camry",
                vehicle_color="white",
                confidence_per_mille=900,
                image_uri=f"s3://sj-alpr/ingest/{i}",
            )
        )
    return reads


def _peak_hour_share(engine: sa.Engine) -> float:
    with engine.connect() as conn:
        hours = conn.execute(
            sa.text(
                "SELECT count(*) FROM sightings WHERE observed_at >= :a AND observed_at < :b "
                "GROUP BY observed_at / 3600"
            ),
            {"a": FIRST_DAY * DAY_S, "b": (FIRST_DAY + 1) * DAY_S},
        ).scalars()
        counts = [int(c) for c in hours]
    return max(counts) / sum(counts)


def _ingest(
    env: BenchEnv, url: str, settings: CitySettings, config: str, report: PartReport
) -> None:
    shape = settings.shape
    rng = env.rng(f"{PART}:ingest")
    new_day = FIRST_DAY + shape.days  # the day after the year: no partition yet
    floor_day = new_day + 1
    reads = _new_reads(settings.ingest_reads, new_day, rng)
    floor_rows = [
        (*sighting_row(s)[:2], s.observed_at + DAY_S, *sighting_row(s)[3:]) for s in reads
    ]
    engine = sa.create_engine(url)
    try:
        share = _peak_hour_share(engine)
        env.log(f"{PART}: ingest {len(reads):,} new reads into the full table")
        with NodeStore.open(url) as store:
            began = time.perf_counter()
            stored = store.bulk_load([], reads)
            elapsed = time.perf_counter() - began
        if stored != len(reads):
            raise BenchError(f"ingest stored {stored:,} of {len(reads):,} reads")
        with engine.begin() as conn:
            create_partition(conn, floor_day)
        with engine.begin() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            columns = ", ".join(SIGHTING_INSERT_COLUMNS)
            began = time.perf_counter()
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY sightings ({columns}) FROM STDIN") as copy,
            ):
                for row in floor_rows:
                    copy.write_row(row)
            floor_elapsed = time.perf_counter() - began
        with engine.begin() as conn:
            for day in (new_day, floor_day):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {partition_name(day)}")
    finally:
        engine.dispose()
    city_peak_per_s = city_data.CITY_READS_PER_YEAR / 365 * share / 3600
    target = PEAK_HOUR_MULTIPLE * city_peak_per_s
    report.add(
        Figure(
            PART,
            "sustained ingest",
            config,
            len(reads) / elapsed,
            "/s",
            len(reads) / floor_elapsed,
            "bare COPY into a ready partition",
            (at_least(target, f"≥ {PEAK_HOUR_MULTIPLE}× peak hour ({target:,.0f}/s)"),),
            note=f"{len(reads):,} reads in one bulk load; the city's peak hour "
            f"({share:.1%} of a day, {city_peak_per_s:,.0f} reads/s at "
            f"{city_data.CITY_READS_PER_YEAR:,} a year)",
        )
    )
