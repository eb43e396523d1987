"""node 1: cameras, sightings, search replay cache."""

from agency_node.storage.migrations import create_core_tables
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("node", 1, create_core_tables)
