"""node 3: access log: every query answered or refused."""

from agency_node.storage.migrations import create_access_log
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("node", 3, create_access_log)
