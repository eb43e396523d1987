"""ledger 2: the published (witnessed) checkpoint."""

from alprfed.ledger.schema import add_publication
from alprfed.migrate import migration

revision, down_revision, upgrade, downgrade = migration("ledger", 2, add_publication)
