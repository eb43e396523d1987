"""gateway 2: supervisors' signed consents to exigent queries."""

from alprfed.migrate import migration
from gateway.registry_schema import create_consents

revision, down_revision, upgrade, downgrade = migration("gateway", 2, create_consents)
