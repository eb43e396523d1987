"""The node database's tables, as SQLAlchemy Core objects (one definition for both databases).

These are the tables at the current schema version; the migrations in
``agency_node.storage.migrations`` create them step by step, each run by a revision file in
``versions/`` (alprfed.migrate keeps the ``alembic_version_node`` table). A table here must
never change shape without a new migration that alters it, and once one does, the migration
that first created the table must keep its original shape frozen in its own definition.

Units follow alprfed everywhere: instants are Unix seconds (BIGINT), positions are integer
microdegrees, confidences per mille. Sighting ids come from the database and are never reused,
because receipts and the audit ledger refer to them (SQLite needs AUTOINCREMENT for that: a
plain rowid would hand out an id again once the newest rows are purged).
"""

from __future__ import annotations

import sqlalchemy as sa

from alprfed.models import MAX_PLATE_LENGTH, MAX_TEXT, MAX_URI

MAX_CAMERA_ID = 64
MAX_CAMERA_NAME = 200
MAX_NONCE = 128
MAX_SITE = 64
MAX_PAYLOAD_TYPE = 128
MAX_KEY_ID = 64
MAX_QUERY_ID = 64
MAX_REASON = 500

# BIGINT on PostgreSQL; on SQLite only "INTEGER PRIMARY KEY" makes the column the rowid.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

cameras = sa.Table(
    "cameras",
    metadata,
    sa.Column("camera_id", sa.String(MAX_CAMERA_ID), primary_key=True),
    sa.Column("name", sa.String(MAX_CAMERA_NAME), nullable=False),
    sa.Column("lat_e6", sa.Integer, nullable=False),
    sa.Column("lon_e6", sa.Integer, nullable=False),
    # Joined at read time, so marking a camera sensitive later shields its past sightings too.
    sa.Column("sensitive_site", sa.String(MAX_SITE), nullable=True),
)

sightings = sa.Table(
    "sightings",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("plate", sa.String(MAX_PLATE_LENGTH), nullable=False),
    sa.Column("plate_state", sa.String(2), nullable=False),
    sa.Column("observed_at", sa.BigInteger, nullable=False),
    sa.Column(
        "camera_id", sa.String(MAX_CAMERA_ID), sa.ForeignKey(cameras.c.camera_id), nullable=False
    ),
    sa.Column("lat_e6", sa.Integer, nullable=False),
    sa.Column("lon_e6", sa.Integer, nullable=False),
    sa.Column("make", sa.String(MAX_TEXT), nullable=False),
    sa.Column("model", sa.String(MAX_TEXT), nullable=False),
    sa.Column("color", sa.String(MAX_TEXT), nullable=False),
    sa.Column("confidence_per_mille", sa.SmallInteger, nullable=False),
    sa.Column("image_uri", sa.String(MAX_URI), nullable=False),
    # The search: equality on plate, range on time, a few rows out of hundreds of millions.
    sa.Index("ix_sightings_plate_observed_at", "plate", "observed_at"),
    # The retention purge: everything older than the cutoff, oldest first.
    sa.Index("ix_sightings_observed_at", "observed_at"),
    sqlite_autoincrement=True,
)

# The search replay cache. It lives in the database so a restart cannot reopen a replay window.
seen_nonces = sa.Table(
    "seen_nonces",
    metadata,
    sa.Column("nonce", sa.String(MAX_NONCE), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index("ix_seen_nonces_expires_at", "expires_at"),
)

# Signed purge reports waiting to be delivered to the gateway's ledger; a report leaves the
# queue only once the ledger has acknowledged it with an index.
purge_reports = sa.Table(
    "purge_reports",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("payload_type", sa.String(MAX_PAYLOAD_TYPE), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(MAX_KEY_ID), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=True),
    sa.Index("ix_purge_reports_ledger_index", "ledger_index"),
    sqlite_autoincrement=True,
)

# The node's own durable record of every query it answered or refused: the node's side of the
# two-sided audit (auditors reconcile it with the ledger). It holds no plate: the decision
# entry it relied on commits to the plate, and the ledger's openings reveal it to auditors.
access_log = sa.Table(
    "access_log",
    metadata,
    sa.Column("seq", _ID, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("query_id", sa.String(MAX_QUERY_ID), nullable=True),  # as claimed, if readable
    sa.Column("outcome", sa.String(16), nullable=False),  # "answered" | "refused"
    sa.Column("requester_agency", sa.String(MAX_TEXT), nullable=True),
    sa.Column("requester_officer", sa.String(MAX_TEXT), nullable=True),
    sa.Column("purpose", sa.String(MAX_TEXT), nullable=True),
    sa.Column("decision_index", sa.BigInteger, nullable=True),  # the ledger entry relied on
    sa.Column("checkpoint_size", sa.BigInteger, nullable=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(MAX_REASON), nullable=False),  # why refused; "" if answered
    sa.Column("receipt_payload", sa.LargeBinary, nullable=True),  # the receipt it signed
    sa.Column("receipt_key_id", sa.String(MAX_KEY_ID), nullable=True),
    sa.Column("receipt_signature", sa.LargeBinary, nullable=True),
    sqlite_autoincrement=True,
)

# Query ids answered: one ledger decision buys one answer per node, whoever signs a new query.
answered_queries = sa.Table(
    "answered_queries",
    metadata,
    sa.Column("query_id", sa.String(MAX_QUERY_ID), primary_key=True),
)

# A read is identified by (camera, time, plate): the same read re-imported or re-delivered is
# the same row. The unique index is created by migration 4 (not declared on the table above,
# which migration 1 creates as it first shipped); inserts name these columns in ON CONFLICT.
SIGHTING_READ_KEY = ("camera_id", "observed_at", "plate")
SIGHTING_READ_INDEX = "ux_sightings_read"

# Column order of the bulk path (COPY / executemany) into sightings.
SIGHTING_INSERT_COLUMNS = (
    "plate",
    "plate_state",
    "observed_at",
    "camera_id",
    "lat_e6",
    "lon_e6",
    "make",
    "model",
    "color",
    "confidence_per_mille",
    "image_uri",
)
