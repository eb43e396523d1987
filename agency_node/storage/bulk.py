"""The fast path into ``sightings``: COPY on PostgreSQL, one executemany on SQLite.

Both run inside the caller's transaction, so a bulk load is still all-or-nothing. They bypass
SQLAlchemy's per-row parameter handling, which would cost more than the insert itself at tens of
thousands of rows per second; the column order is ``schema.SIGHTING_INSERT_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from agency_node.storage.schema import SIGHTING_INSERT_COLUMNS, sightings
from alprfed.models import Sighting

# Built from constants of this package only; no input ever reaches these strings.
_COLUMN_LIST = ", ".join(SIGHTING_INSERT_COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO {sightings.name} ({_COLUMN_LIST}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in SIGHTING_INSERT_COLUMNS)})"
)
_POSTGRES_COPY = f"COPY {sightings.name} ({_COLUMN_LIST}) FROM STDIN"

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


def insert_sightings(conn: sa.Connection, batch: Sequence[Sighting]) -> None:
    """Insert ``batch`` in the transaction that ``conn`` has begun."""
    if not batch:
        return
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None  # a checked-out connection always has its driver connection
        with driver.cursor() as cursor, cursor.copy(_POSTGRES_COPY) as copy:
            for sighting in batch:
                copy.write_row(sighting_row(sighting))
    else:
        conn.exec_driver_sql(_SQLITE_INSERT, [sighting_row(s) for s in batch])
