"""The node store's Alembic revisions, one file per migration (alprfed.migrate)."""
