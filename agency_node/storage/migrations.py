"""The node schema's history: an ordered list of migrations applied in place at open.

``alprfed.db.Migrations`` does the work shared by every alprfed store: the ``schema_version``
table (one row per applied migration), one transaction per migration together with the row that
records it, a lock so two nodes starting at once never apply one twice, and a refusal to open a
database newer than this code (old code could misread or damage tables it does not know).

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import sqlalchemy as sa

from agency_node.storage.partitions import partition_sightings
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
from alprfed.db import Migration, Migrations


def _create_core_tables(conn: sa.Connection) -> None:
    for table in (cameras, sightings, seen_nonces):
        table.create(conn)


def _create_purge_report_queue(conn: sa.Connection) -> None:
    purge_reports.create(conn)


def _create_access_log(conn: sa.Connection) -> None:
    access_log.create(conn)
    answered_queries.create(conn)


def _identify_reads(conn: sa.Connection) -> None:
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


NODE_MIGRATIONS = Migrations(
    store="agency node",
    version_table="schema_version",
    tables=[
        cameras.name,
        sightings.name,
        seen_nonces.name,
        purge_reports.name,
        access_log.name,
        answered_queries.name,
    ],
    migrations=[
        Migration(1, "cameras, sightings, search replay cache", _create_core_tables),
        Migration(
            2, "queue of signed purge reports awaiting the gateway", _create_purge_report_queue
        ),
        Migration(3, "access log: every query answered or refused", _create_access_log),
        Migration(
            4, "a read is identified by (camera, time, plate); duplicates merged", _identify_reads
        ),
        # All of it in partition_sightings, so it ports as one revision.
        Migration(
            5, "PostgreSQL sightings partitioned by UTC day of observed_at", partition_sightings
        ),
    ],
)
LATEST_VERSION = NODE_MIGRATIONS.latest
