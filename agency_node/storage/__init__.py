"""The agency node's database: schema, in-place migrations and the store the services use."""

from agency_node.storage.store import (
    BULK_CHUNK_ROWS,
    PURGE_CHUNK_ROWS,
    NodeStore,
    QueuedReport,
    UnknownCamera,
)

__all__ = [
    "BULK_CHUNK_ROWS",
    "PURGE_CHUNK_ROWS",
    "NodeStore",
    "QueuedReport",
    "UnknownCamera",
]
