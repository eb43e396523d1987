"""gateway 1: warrants, exigent approvals, flagged queries, published bundles."""

from alprfed.migrate import migration
from gateway.registry_schema import create_v1

revision, down_revision, upgrade, downgrade = migration("gateway", 1, create_v1)
