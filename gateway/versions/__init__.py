"""The gateway store's Alembic revisions, one file per migration (alprfed.migrate)."""
