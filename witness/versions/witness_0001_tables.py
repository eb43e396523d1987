"""witness 1: witnessed checkpoints and evidence."""

from alprfed.migrate import migration
from witness.store import create_tables

revision, down_revision, upgrade, downgrade = migration("witness", 1, create_tables)
