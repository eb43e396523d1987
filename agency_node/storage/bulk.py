"""The fast path into ``sightings``: COPY on PostgreSQL, one executemany on SQLite.

Both run inside the caller's transaction, so a bulk load is still all-or-nothing. They bypass
SQLAlchemy's per-row parameter handling, which would cost more than the insert itself at tens of
thousands of rows per second; the column order is ``schema.SIGHTING_INSERT_COLUMNS``.

Both skip a read already stored (same camera, time and plate: ``schema.SIGHTING_READ_KEY``)
and report how many rows they inserted. COPY cannot skip conflicts, so on PostgreSQL a chunk is
first copied straight in under a savepoint (new reads, the common case, cost nothing more); only
if that meets a read already stored is it rolled back to the savepoint and copied into a
session-local staging table, then moved with INSERT ... ON CONFLICT DO NOTHING (measured about
half the speed of the straight COPY, so it is kept for chunks that need it).

On PostgreSQL ``sightings`` is partitioned by day (``partitions``): before a chunk is copied,
every day it touches gets its partition, attached in the same transaction, so no read is
refused for lack of one and a batch that rolls back takes its new partitions with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from psycopg.errors import UniqueViolation

from agency_node.storage.partitions import day_of, ensure_partitions
from agency_node.storage.schema import SIGHTING_INSERT_COLUMNS, SIGHTING_READ_KEY, sightings
from alprfed.models import Sighting

# Built from constants of this package only; no input ever reaches these strings.
_COLUMN_LIST = ", ".join(SIGHTING_INSERT_COLUMNS)
_ON_CONFLICT = f"ON CONFLICT ({', '.join(SIGHTING_READ_KEY)}) DO NOTHING"
_SQLITE_INSERT = (
    f"INSERT INTO {sightings.name} ({_COLUMN_LIST}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in SIGHTING_INSERT_COLUMNS)}) {_ON_CONFLICT}"
)
_STAGING = "incoming_sightings"
# Session-local; its rows never outlive the transaction that copied them. Its own ordinal
# keeps the file's order without drawing ids from the sightings sequence.
_POSTGRES_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} ("
    "ord bigint GENERATED ALWAYS AS IDENTITY, plate text, plate_state text, "
    "observed_at bigint, camera_id text, lat_e6 integer, lon_e6 integer, make text, "
    "model text, color text, confidence_per_mille smallint, image_uri text"
    ") ON COMMIT DELETE ROWS"
)
_POSTGRES_COPY_DIRECT = f"COPY {sightings.name} ({_COLUMN_LIST}) FROM STDIN"
_POSTGRES_COPY = f"COPY {_STAGING} ({_COLUMN_LIST}) FROM STDIN"
_POSTGRES_MOVE = (
    f"INSERT INTO {sightings.name} ({_COLUMN_LIST}) "  # noqa: S608
    f"SELECT {_COLUMN_LIST} FROM {_STAGING} ORDER BY ord {_ON_CONFLICT}"
)
_POSTGRES_EMPTY = f"TRUNCATE {_STAGING}"

SightingRow = tuple[str, str, int, str, int, int, str, str, str, int, str]


def sighting_row(sighting: Sighting) -> SightingRow:
    """A sighting as the values of SIGHTING_INSERT_COLUMNS (its id is the database's to give)."""
    return (
        sighting.plate,
        sighting.plate_state,
        sighting.observed_at,
        sighting.camera_id,
        sighting.position.latitude_e6,
        sighting.position.longitude_e6,
        sighting.vehicle_make,
        sighting.vehicle_model,
        sighting.vehicle_color,
        sighting.confidence_per_mille,
        sighting.image_uri,
    )


def insert_sightings(conn: sa.Connection, batch: Sequence[Sighting]) -> int:
    """Insert ``batch`` in the transaction that ``conn`` has begun, skipping reads already
    stored (or repeated within the batch); return how many rows were inserted."""
    if not batch:
        return 0
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None  # a checked-out connection always has its driver connection
        rows = [sighting_row(sighting) for sighting in batch]
        ensure_partitions(conn, {day_of(sighting.observed_at) for sighting in batch})
        with driver.cursor() as cursor:
            cursor.execute("SAVEPOINT bulk_chunk")
            try:
                with cursor.copy(_POSTGRES_COPY_DIRECT) as copy:
                    for row in rows:
                        copy.write_row(row)
            except UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT bulk_chunk")
            else:
                cursor.execute("RELEASE SAVEPOINT bulk_chunk")
                return len(rows)
            cursor.execute("RELEASE SAVEPOINT bulk_chunk")
            cursor.execute(_POSTGRES_STAGING)
            with cursor.copy(_POSTGRES_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            # ORDER BY the staging ordinal: ids follow the file's order.
            cursor.execute(_POSTGRES_MOVE)
            inserted = cursor.rowcount
            cursor.execute(_POSTGRES_EMPTY)
        return int(inserted)
    # sqlite3 sums the rows changed over an executemany; an ignored conflict changes none.
    return int(conn.exec_driver_sql(_SQLITE_INSERT, [sighting_row(s) for s in batch]).rowcount)
