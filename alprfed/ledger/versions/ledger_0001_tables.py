"""ledger 1: entries, subtree hashes, checkpoints, head, openings."""

from alprfed.ledger.schema import create_tables
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("ledger", 1, create_tables)
