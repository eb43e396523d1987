"""PostgreSQL sightings partitioned by UTC day: creation ahead of ingest, on demand, and purge.

On PostgreSQL ``sightings`` is a declarative range-partitioned table on ``observed_at`` with
one partition per UTC day, ``sightings_pYYYYMMDD`` holding [day start, next day start). Why a
day: the retention cutoff moves a day at a time, so a daily purge drops one whole partition and
deletes rows only in the one partition the cutoff falls inside; with weekly partitions that
boundary delete would be up to a week of rows (see docs/PERFORMANCE.md, "A city's year on one
node"). A search names its window, so the planner touches only the days inside it.

The partition key must be part of every unique index, so the primary key is
(observed_at, id) and the read identity (camera_id, observed_at, plate) already contains it.
Ids still come from the one ``sightings_id_seq`` sequence, so they stay unique across
partitions and are never reused.

A partition is made standalone and then ATTACHed: ATTACH PARTITION takes only SHARE UPDATE
EXCLUSIVE on the parent, which searches and other ingest do not conflict with, whereas CREATE
TABLE ... PARTITION OF would take ACCESS EXCLUSIVE and stall every search until the import that
needed the partition commits. Attaching inside the importing transaction keeps a batch
all-or-nothing: if the batch rolls back, so does its new partition.

Lock order. Attaching also takes SHARE ROW EXCLUSIVE on ``cameras`` (the partition's foreign
key), which conflicts with the ROW EXCLUSIVE a camera upsert holds. So a batch whose reads are
all in hand makes its partitions first, before it touches cameras (``NodeStore.bulk_load``),
in the same order as a retention run (advisory lock, sightings, cameras). A streamed batch (a
file import, whose days are known only as it reads them) takes the advisory lock before it
touches cameras and holds it to its commit: partition changes (the retention run's, another
import's new day) wait for that import, and nothing deadlocks.

SQLite keeps the single table; nothing here runs there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import sqlalchemy as sa

from agency_node.storage.schema import SIGHTING_READ_INDEX, SIGHTING_READ_KEY, sightings

DAY_S = 86_400
PARTITION_PREFIX = f"{sightings.name}_p"
_PARTITION_NAME = re.compile(rf"^{PARTITION_PREFIX}(\d{{8}})$")
# Partitions made ahead of the clock at open and at every retention run, so a live feed never
# waits on DDL: today and the next few days.
DAYS_AHEAD = 7
# One statement may create at most this many partitions on demand; an import spanning more
# days than a decade of retention is a bad file, not a city.
MAX_NEW_PARTITIONS = 4_000
_CAMERA_KEY = f"{sightings.name}_camera_id_fkey"
_PARTITION_LOCK = 0x616C7070  # advisory lock serialising partition DDL between node processes


def day_of(observed_at: int) -> int:
    """The UTC day number (days since the Unix epoch) of an instant."""
    return observed_at // DAY_S


def partition_name(day: int) -> str:
    date = dt.datetime.fromtimestamp(day * DAY_S, tz=dt.UTC).date()
    return f"{PARTITION_PREFIX}{date:%Y%m%d}"


def partition_day(name: str) -> int | None:
    """The day a partition of ours holds, or None for any other table name."""
    match = _PARTITION_NAME.match(name)
    if match is None:
        return None
    date = dt.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=dt.UTC)
    return int(date.timestamp()) // DAY_S


def is_partitioned(conn: sa.Connection) -> bool:
    """True when ``sightings`` is a partitioned table (PostgreSQL after migration 5)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:table)"),
        {"table": sightings.name},
    ).scalar()
    return kind == "p"


def partition_days(conn: sa.Connection) -> set[int]:
    """The days that have a partition attached (a detach in progress still counts)."""
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:table)"
        ),
        {"table": sightings.name},
    ).scalars()
    return {day for name in names if (day := partition_day(name)) is not None}


def ensure_partitions(conn: sa.Connection, days: Iterable[int]) -> list[int]:
    """Attach a partition for each of ``days`` that has none, in ``conn``'s transaction.

    Returns the days created. Serialised by an advisory lock held to the end of the
    transaction, so two importers needing the same day never both create it.

    Raises:
        ValueError: more than MAX_NEW_PARTITIONS days would be created at once.
    """
    wanted = set(days)
    missing = sorted(wanted - partition_days(conn))
    if not missing:
        return []
    lock_partition_ddl(conn)
    missing = sorted(wanted - partition_days(conn))  # another process may have made some
    if len(missing) > MAX_NEW_PARTITIONS:
        raise ValueError(
            f"observed_at: the reads span {len(missing)} days without a partition, more than "
            f"the {MAX_NEW_PARTITIONS} one batch may create"
        )
    for day in missing:
        create_partition(conn, day)
    return missing


def lock_partition_ddl(conn: sa.Connection) -> None:
    """Hold, to the end of ``conn``'s transaction, the lock every partition change takes.

    A streamed import takes it before it touches cameras (its new days are known only as it
    reads them), so it never holds cameras while waiting for this lock: lock order is always
    this lock, then cameras. The lock is reentrant within the transaction.
    """
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PARTITION_LOCK)))


def create_partition(conn: sa.Connection, day: int, *, attach: bool = True) -> str:
    """Create the standalone table for ``day``; ATTACH it unless ``attach`` is False.

    The CHECK constraint matching the partition bound lets ATTACH skip its validation scan
    (it matters for a table loaded before it is attached, as the city benchmark does).
    """
    name = partition_name(day)
    low, high = day * DAY_S, (day + 1) * DAY_S
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {sightings.name} INCLUDING DEFAULTS)"  # constants only
    )
    conn.exec_driver_sql(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_bound "
        f"CHECK (observed_at >= {low} AND observed_at < {high})"
    )
    if attach:
        attach_partition(conn, day)
    return name


def attach_partition(conn: sa.Connection, day: int) -> None:
    name = partition_name(day)
    low, high = day * DAY_S, (day + 1) * DAY_S
    conn.exec_driver_sql(
        f"ALTER TABLE {sightings.name} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})"
    )


def index_partition(conn: sa.Connection, day: int) -> None:
    """Build a detached partition's indexes and keys the way ATTACH will adopt them.

    For bulk loads that fill a partition before attaching it: building an index once over
    loaded rows is several times faster than maintaining it row by row during the load.
    """
    name = partition_name(day)
    key = ", ".join(SIGHTING_READ_KEY)
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD PRIMARY KEY (observed_at, id)")
    conn.exec_driver_sql(f"CREATE INDEX ON {name} (plate, observed_at)")
    conn.exec_driver_sql(f"CREATE UNIQUE INDEX ON {name} ({key})")


def partition_sightings(conn: sa.Connection) -> None:
    """Node migration 5 (PostgreSQL): turn ``sightings`` into daily range partitions in place.

    Every row moves with its id, so receipts and ledger entries that cite ids stay valid, and
    the id sequence is handed to the new table, so no id is ever given out again. The whole
    move is one transaction (the migration's): an interrupted upgrade leaves version 4 intact.
    SQLite is left as it is.
    """
    if conn.dialect.name != "postgresql":
        return
    old = f"{sightings.name}_unpartitioned"
    key = ", ".join(SIGHTING_READ_KEY)
    columns = ", ".join(column.name for column in sightings.columns)
    for statement in (
        f"ALTER TABLE {sightings.name} RENAME TO {old}",
        # Index names share the schema's namespace: free them for the new table's indexes.
        f"ALTER TABLE {old} RENAME CONSTRAINT {sightings.name}_pkey TO {old}_pkey",
        f"ALTER TABLE {old} RENAME CONSTRAINT {_CAMERA_KEY} TO {old}_camera_id_fkey",
        "DROP INDEX ix_sightings_plate_observed_at",
        "DROP INDEX ix_sightings_observed_at",
        f"DROP INDEX {SIGHTING_READ_INDEX}",
        # LIKE copies every column, its type, NOT NULL and the id's nextval default.
        f"CREATE TABLE {sightings.name} (LIKE {old} INCLUDING DEFAULTS, "
        "PRIMARY KEY (observed_at, id), "
        f"CONSTRAINT {_CAMERA_KEY} FOREIGN KEY (camera_id) REFERENCES cameras (camera_id)"
        ") PARTITION BY RANGE (observed_at)",
        f"ALTER SEQUENCE {sightings.name}_id_seq OWNED BY {sightings.name}.id",
        # The search: equality on plate, range on time, in each day of the window.
        f"CREATE INDEX ix_sightings_plate_observed_at ON {sightings.name} (plate, observed_at)",
        f"CREATE UNIQUE INDEX {SIGHTING_READ_INDEX} ON {sightings.name} ({key})",
        _partition_existing_days(old),
        f"INSERT INTO {sightings.name} ({columns}) "  # noqa: S608 (constants only)
        f"SELECT {columns} FROM {old} ORDER BY id",
        f"DROP TABLE {old}",
    ):
        # sa.text through execute, never a read: `alprfed db upgrade --sql` renders this
        # function through a mock connection that only records statements.
        conn.execute(sa.text(statement))


def _partition_existing_days(table: str) -> str:
    """One server-side statement making a partition for each day ``table`` holds reads of,
    named, bounded and attached as create_partition does (the days are data, and the
    migration must also render as SQL for a DBA without reading any)."""
    return f"""DO $migration$
DECLARE
  part_day bigint;
  part_name text;
BEGIN
  FOR part_day IN SELECT DISTINCT observed_at / {DAY_S} FROM {table} ORDER BY 1 LOOP
    part_name := '{PARTITION_PREFIX}'
      || to_char(to_timestamp(part_day * {DAY_S}) AT TIME ZONE 'UTC', 'YYYYMMDD');
    EXECUTE format('CREATE TABLE %I (LIKE {sightings.name} INCLUDING DEFAULTS)', part_name);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK '
                   '(observed_at >= %s AND observed_at < %s)',
                   part_name, part_name || '_bound',
                   part_day * {DAY_S}, (part_day + 1) * {DAY_S});
    EXECUTE format('ALTER TABLE {sightings.name} ATTACH PARTITION %I '
                   'FOR VALUES FROM (%s) TO (%s)',
                   part_name, part_day * {DAY_S}, (part_day + 1) * {DAY_S});
  END LOOP;
END
$migration$"""  # noqa: S608 (constants and a table name we chose)


def ensure_days_ahead(conn: sa.Connection, now: int, days_ahead: int = DAYS_AHEAD) -> list[int]:
    """Partitions for today and the next ``days_ahead`` days, made before reads arrive."""
    today = day_of(now)
    return ensure_partitions(conn, range(today, today + days_ahead + 1))


def drop_partitions_before(engine: sa.Engine, cutoff: int) -> int:
    """Detach and drop every partition wholly before ``cutoff``; return the rows they held.

    DETACH ... CONCURRENTLY (two short transactions, never ACCESS EXCLUSIVE on the parent) so
    searches and ingest carry on. Rows are counted once the partition is detached, when no
    insert can reach it any more, so the purge report's count is exact. A detach or drop cut
    short by a crash is finished by the next run: a detach left pending is finalized, and a
    detached table left behind is counted and dropped.
    """
    with engine.connect() as conn:
        tables = _partition_tables(conn)
    dropped = 0
    for day, (attached, pending) in sorted(tables.items()):
        if (day + 1) * DAY_S > cutoff:
            continue
        name = partition_name(day)
        if attached:
            mode = "FINALIZE" if pending else "CONCURRENTLY"
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"ALTER TABLE {sightings.name} DETACH PARTITION {name} {mode}")
        with engine.begin() as conn:
            dropped += int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())  # noqa: S608
            conn.exec_driver_sql(f"DROP TABLE {name}")
    return dropped


def _partition_tables(conn: sa.Connection) -> dict[int, tuple[bool, bool]]:
    """Every table named as a partition of ours: day -> (attached, detach pending)."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, i.inhrelid IS NOT NULL, coalesce(i.inhdetachpending, false) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname LIKE :prefix"
        ),
        {"prefix": f"{PARTITION_PREFIX}%"},
    )
    found: dict[int, tuple[bool, bool]] = {}
    for name, attached, pending in rows:
        day = partition_day(name)
        if day is not None:
            found[day] = (bool(attached), bool(pending))
    return found
