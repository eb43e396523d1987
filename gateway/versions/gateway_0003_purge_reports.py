"""gateway 3: node purge reports accepted, once each."""

from alprfed.migrate import migration
from gateway.registry_schema import create_purge_reports

revision, down_revision, upgrade, downgrade = migration("gateway", 3, create_purge_reports)
