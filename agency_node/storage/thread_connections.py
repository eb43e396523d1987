"""One database connection per search thread, held for the thread's life: the search's hot path.

Every signed search runs two statements groups (the lookup, then the access record's
transaction), and each used to check a connection out of SQLAlchemy's pool and back in: about
40-70 µs a checkout on this project's 2-core machine, a tenth of the node's own work per search.
A node answers on a fixed pool of gRPC worker threads, so each keeps one DBAPI connection of
its own instead, in the driver's autocommit mode (each statement its own transaction, or an
explicit ``dbapi_transaction``), exactly as the pooled ``reader()`` connections run.

The connection comes from the engine (so it is configured as every other: SQLite pragmas,
PostgreSQL's custom plans) and is then detached from the pool, so held connections never
starve the pool the node's other work (ingest, retention, purge reports) draws from. A
connection that raised a driver error is closed and dropped (a PostgreSQL restart, say): the
thread's next search connects afresh, as the pool's pre-ping would have.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

T = TypeVar("T")
log = logging.getLogger("alprfed.node.store")


class ThreadConnections:
    """DBAPI connections of ``engine``, one per calling thread. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: set[Any] = set()  # every live one, to close with the store
        self._closed = False

    def run(self, work: Callable[[Any], T]) -> T:
        """``work(dbapi_connection)`` on this thread's connection.

        Raises: whatever ``work`` raises; after a driver error the connection is discarded.
        """
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
        try:
            return work(connection)
        except self._engine.dialect.loaded_dbapi.Error:
            self._discard(connection)
            raise

    def close(self) -> None:
        """Close every held connection; threads that search afterwards fail."""
        with self._lock:
            self._closed = True
            held, self._held = self._held, set()
        for connection in held:
            _close_quietly(connection)

    def _connect(self) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("the node store is closed")
        proxied = self._engine.raw_connection()
        connection: Any = proxied.driver_connection
        proxied.detach()  # ours now: it frees its pool slot and is never returned there
        if self._postgres:
            connection.autocommit = True  # as reader() connections run
        with self._lock:
            self._held.add(connection)
        self._local.connection = connection
        return connection

    def _discard(self, connection: Any) -> None:
        self._local.connection = None
        with self._lock:
            self._held.discard(connection)
        _close_quietly(connection)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception as exc:  # already broken, or closed from another thread (SQLite)
        log.debug("closing a search connection failed: %s", exc)
