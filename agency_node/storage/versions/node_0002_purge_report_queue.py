"""node 2: queue of signed purge reports awaiting the gateway."""

from agency_node.storage.migrations import create_purge_report_queue
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("node", 2, create_purge_report_queue)
