"""node 4: a read is identified by (camera, time, plate); duplicates merged."""

from agency_node.storage.migrations import identify_reads
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("node", 4, identify_reads)
