"""node 5: PostgreSQL sightings partitioned by UTC day of observed_at (SQLite unchanged)."""

from agency_node.storage.partitions import partition_sightings
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("node", 5, partition_sightings)
