"""The ledger's tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL).

- ``ledger_entries``: the canonical bytes of every entry, by index. The authority.
- ``ledger_nodes``: the hash of every complete subtree, leaves at level 0, keyed by one integer
  ``node_key(level, index)`` so a proof is one ``IN`` list of primary-key lookups (a two-column
  row-value ``IN`` is not served from the index by SQLite). Derived data: never trusted.
- ``ledger_checkpoints``: every checkpoint the log signed, by tree size (one per batch).
- ``ledger_head``: one row, the size and checkpoint of the newest batch. Writers advance it by
  compare-and-swap on the size, which is what keeps two writers from signing forks.
- ``ledger_publication``: one row, the size of the newest *published* checkpoint: the newest one
  the witnesses cosigned to the gateway's quorum (or every checkpoint, with no witnesses).
  Receipts, evidence and the public views are built on it; the cosignatures collected for a
  checkpoint are appended to its note in ``ledger_checkpoints``.
- ``commitment_openings``: plate and salt of each plate commitment. Deleting rows here (the
  retention purge) makes commitments unopenable and leaves every hash and proof intact.

The tables are versioned by Alembic (alprfed.migrate, ``alembic_version_ledger``; before it,
``ledger_schema_version``). To change the schema, add a function here and a file in
versions/; never edit one that has shipped.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprfed.ledger.entry import SALT_SIZE
from alprfed.ledger.merkle import HASH_SIZE
from alprfed.migrate import AlembicStore, LegacyVersions
from alprfed.models import MAX_PLATE_LENGTH

MAX_ORIGIN_LENGTH = 255
HEAD_ROW = 1

# BIGINT on PostgreSQL; on SQLite only "INTEGER PRIMARY KEY" makes the column the rowid.
_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("idx", _INDEX, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

nodes = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("node", _INDEX, primary_key=True, autoincrement=False),  # node_key(level, index)
    sa.Column("hash", sa.LargeBinary(HASH_SIZE), nullable=False),
)

# A node key packs (level, index) into one signed 64-bit integer: level in the top bits, the
# index of the subtree at that level below. Levels reach 56 and indices 2**56 - 1, which bounds
# a stored log at 2**56 entries (7e16), far beyond any ledger's life.
NODE_INDEX_BITS = 56
MAX_STORED_SIZE = 1 << NODE_INDEX_BITS


def node_key(level: int, index: int) -> int:
    return (level << NODE_INDEX_BITS) | index


def node_of_key(key: int) -> tuple[int, int]:
    return key >> NODE_INDEX_BITS, key & (MAX_STORED_SIZE - 1)


checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("size", _INDEX, primary_key=True, autoincrement=False),
    sa.Column("note", sa.Text, nullable=False),
)

head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("origin", sa.String(MAX_ORIGIN_LENGTH), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint", sa.Text, nullable=False),
    sa.CheckConstraint(f"id = {HEAD_ROW}", name="ledger_head_single_row"),
)

openings = sa.Table(
    "commitment_openings",
    metadata,
    sa.Column("entry_idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("slot", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("plate", sa.String(MAX_PLATE_LENGTH), nullable=False),
    sa.Column("salt", sa.LargeBinary(SALT_SIZE), nullable=False),
)

publication = sa.Table(
    "ledger_publication",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.CheckConstraint(f"id = {HEAD_ROW}", name="ledger_publication_single_row"),
)

_V1_TABLES = (entries, nodes, checkpoints, head, openings)
_TABLES = (*_V1_TABLES, publication)


def create_tables(conn: sa.Connection) -> None:
    for table in _V1_TABLES:
        table.create(conn)


def add_publication(conn: sa.Connection) -> None:
    # Ledgers written before witnessing published every checkpoint as it was signed.
    # One INSERT ... SELECT, not a read then a write, so `alprfed db upgrade --sql` can print it.
    publication.create(conn)
    conn.execute(
        publication.insert().from_select(
            ["id", "size"],
            sa.select(sa.literal(HEAD_ROW), head.c.size).where(head.c.id == HEAD_ROW),
        )
    )


MIGRATIONS = AlembicStore(
    store="ledger",
    name="ledger",
    versions=Path(__file__).resolve().parent / "versions",
    legacy=LegacyVersions("ledger_schema_version", tuple(table.name for table in _TABLES)),
)


def upgrade(engine: Engine) -> int:
    """Bring the ledger tables to the current version. Raises: FailedPrecondition."""
    return MIGRATIONS.upgrade(engine)
