"""The statements of the store worth reading on their own: the search, the purge, the upserts.

The store builds those of its hot paths once for its dialect; SQLAlchemy caches the compiled
form, and psycopg prepares statements it sees repeatedly on the server. The query-plan tests run the
database's EXPLAIN on exactly these.

The statements of every signed search (the lookup, the nonce and query claims, the access
log) run as ``alprfed.db.DriverStatement``: compiled once, executed on the DBAPI cursor.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from agency_node.storage.schema import (
    access_log,
    answered_queries,
    cameras,
    seen_nonces,
    sightings,
)

# The search, built once: SQLAlchemy caches its compiled form and psycopg prepares it on the
# server after a few executions.
FIND_SIGHTINGS = (
    sa.select(
        sightings.c.id,
        sightings.c.plate,
        sightings.c.plate_state,
        sightings.c.observed_at,
        sightings.c.camera_id,
        sightings.c.lat_e6,
        sightings.c.lon_e6,
        sightings.c.make,
        sightings.c.model,
        sightings.c.color,
        sightings.c.confidence_per_mille,
        sightings.c.image_uri,
        cameras.c.sensitive_site,
    )
    .join_from(sightings, cameras, sightings.c.camera_id == cameras.c.camera_id)
    .where(
        sightings.c.plate == sa.bindparam("plate"),
        sightings.c.observed_at >= sa.bindparam("start"),
        sightings.c.observed_at <= sa.bindparam("end"),
    )
    .order_by(sightings.c.observed_at, sightings.c.id)
)


def purge_chunk_statement(chunk_rows: int, *, postgres: bool) -> sa.Delete:
    """Delete up to ``chunk_rows`` sightings observed before the bound ``cutoff``.

    On SQLite the ids come from the observed_at index. On PostgreSQL whole days go first, as
    dropped partitions (``partitions.drop_partitions_before``); this then deletes rows only in
    the day the cutoff falls inside. Its keys (observed_at, id) come from that day's primary
    key, an array so each row is found by it; the outer ``observed_at < cutoff`` lets the
    planner prune every later partition, where a bare key lookup would probe each day's index.
    """
    if postgres:
        key = sa.tuple_(sightings.c.observed_at, sightings.c.id)
        doomed = (
            sa.select(sightings.c.observed_at, sightings.c.id)
            .where(sightings.c.observed_at < sa.bindparam("cutoff"))
            .order_by(sightings.c.observed_at)
            .limit(chunk_rows)
        )
        return sa.delete(sightings).where(
            sightings.c.observed_at < sa.bindparam("cutoff"), key.in_(doomed)
        )
    doomed_ids = (
        sa.select(sightings.c.id)
        .where(sightings.c.observed_at < sa.bindparam("cutoff"))
        .limit(chunk_rows)
        .scalar_subquery()
    )
    return sa.delete(sightings).where(sightings.c.id.in_(doomed_ids))


def _insert(table: sa.Table, *, postgres: bool) -> postgresql.Insert | sqlite.Insert:
    # Both dialects spell ON CONFLICT alike, but SQLAlchemy builds it per dialect.
    return postgresql.insert(table) if postgres else sqlite.insert(table)


def camera_upsert(*, postgres: bool) -> postgresql.Insert | sqlite.Insert:
    """Insert a camera or update the one with its id.

    A sensitive-site category can be set or changed by an upsert but never cleared: a camera
    record without one (a re-import that left the column empty, a camera resending its
    position) must not quietly expose the past sightings of a clinic's camera, which are
    shielded by the category joined at read time. Clearing it is a deliberate act done in
    the database by the agency, not a side effect of ingest.
    """
    statement = _insert(cameras, postgres=postgres)
    return statement.on_conflict_do_update(
        index_elements=[cameras.c.camera_id],
        set_={
            "name": statement.excluded.name,
            "lat_e6": statement.excluded.lat_e6,
            "lon_e6": statement.excluded.lon_e6,
            "sensitive_site": sa.func.coalesce(
                statement.excluded.sensitive_site, cameras.c.sensitive_site
            ),
        },
    )


def nonce_claim(*, postgres: bool) -> sa.Insert:
    """Record the bound ``nonce`` and ``expires_at``; returns a row only if this inserted it.

    RETURNING rather than rowcount: drivers disagree on the rowcount of an ignored insert.
    """
    return (
        _insert(seen_nonces, postgres=postgres)
        .values(nonce=sa.bindparam("nonce"), expires_at=sa.bindparam("expires_at"))
        .on_conflict_do_nothing(index_elements=[seen_nonces.c.nonce])
        .returning(seen_nonces.c.nonce)
    )


def query_claim(*, postgres: bool) -> sa.Insert:
    """Record the bound ``query_id`` as answered; returns a row only if this inserted it."""
    return (
        _insert(answered_queries, postgres=postgres)
        .values(query_id=sa.bindparam("query_id"))
        .on_conflict_do_nothing(index_elements=[answered_queries.c.query_id])
        .returning(answered_queries.c.query_id)
    )


def access_log_insert() -> sa.Insert:
    """Append one access-log record, every column but ``seq`` bound by its name."""
    return (
        access_log.insert()
        .values({c.name: sa.bindparam(c.name) for c in access_log.columns if c.name != "seq"})
        .returning(access_log.c.seq)  # a result to fetch on every driver
    )
