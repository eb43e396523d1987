"""The floor under a node search: the node's own search statement, run straight on the driver.

``FIND_SIGHTINGS`` compiled for the database, executed on a raw DBAPI connection (sqlite3 or
psycopg, with the same connection settings alprfed's engine applies), all rows fetched. No
SQLAlchemy execution layer, no row objects, no signature, no gRPC: what is left is the index
lookup and the rows, which no node can avoid. psycopg prepares the statement on the server
after a few executions, as it does for the node.
"""

from __future__ import annotations

import threading
from typing import Any

from agency_node.storage.statements import FIND_SIGHTINGS
from alprfed.db import create_engine
from bench.queries import Probe


class RawLookup:
    """One raw connection per calling thread; ``close`` releases them all."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)
        compiled = FIND_SIGHTINGS.compile(dialect=self._engine.dialect)
        self._sql = compiled.string
        self._order = compiled.positiontup if compiled.positional else None
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._engine.raw_connection()
            driver = connection.driver_connection
            assert driver is not None  # a live pooled connection has its driver connection
            if self._engine.dialect.name == "postgresql":
                driver.autocommit = True  # as the node's reader: no BEGIN/ROLLBACK per read
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def lookup(self, probe: Probe) -> int:
        """Run the search for ``probe``; return how many sightings it found."""
        values = {"plate": probe.plate, "start": probe.window.start, "end": probe.window.end}
        params: Any = values if self._order is None else tuple(values[n] for n in self._order)
        cursor = self._connection().cursor()
        try:
            cursor.execute(self._sql, params)
            return len(cursor.fetchall())
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._engine.dispose()
