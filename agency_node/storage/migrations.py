"""The node schema's migrations: the functions, each run by one Alembic revision file in
``versions/`` (alprfed.migrate), applied in place at open or by ``alprfed db upgrade``.

``alprfed.migrate.AlembicStore`` does the work shared by every alprfed store: its own version
table (``alembic_version_node``), a lock so two nodes starting at once never apply one twice,
stamping a database made before Alembic (``schema_version``), and a refusal to open a database
newer than this code (old code could misread or damage tables it does not know).

To change the schema, add a function here and one file in versions/ (docs/OPERATIONS.md,
"Migrations"); never edit one that has shipped.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from agency_node.storage.schema import (
    SIGHTING_READ_INDEX,
    SIGHTING_READ_KEY,
    access_log,
    answered_queries,
    cameras,
    purge_reports,
    seen_nonces,
    sightings,
)
from alprfed.migrate import AlembicStore, LegacyVersions


def create_core_tables(conn: sa.Connection) -> None:
    for table in (cameras, sightings, seen_nonces):
        table.create(conn)


def create_purge_report_queue(conn: sa.Connection) -> None:
    purge_reports.create(conn)


def create_access_log(conn: sa.Connection) -> None:
    access_log.create(conn)
    answered_queries.create(conn)


def identify_reads(conn: sa.Connection) -> None:
    # Databases written before this migration may hold the same read twice (a file imported
    # twice). Such rows are one read: the first stored (lowest id) is kept, so ids already
    # cited by receipts and the ledger stay valid wherever they can.
    key = ", ".join(SIGHTING_READ_KEY)
    conn.execute(
        sa.text(
            f"DELETE FROM {sightings.name} WHERE id NOT IN "  # noqa: S608 (constants only)
            f"(SELECT min(id) FROM {sightings.name} GROUP BY {key})"
        )
    )
    conn.execute(sa.text(f"CREATE UNIQUE INDEX {SIGHTING_READ_INDEX} ON {sightings.name} ({key})"))


NODE_MIGRATIONS = AlembicStore(
    store="node",
    name="agency node",
    versions=Path(__file__).resolve().parent / "versions",
    legacy=LegacyVersions(
        "schema_version",
        (
            cameras.name,
            sightings.name,
            seen_nonces.name,
            purge_reports.name,
            access_log.name,
            answered_queries.name,
        ),
    ),
)
