"""Who may sequence the ledger: one writer at a time, among gateway replicas.

**PostgreSQL** (replicas supported). Several gateways share one ledger; each holds the
*sequencer lease* -- a session-level advisory lock on a connection of its own -- while it
appends, and hands it on when its queue is empty or after ``LEASE_TURN_S`` of continuous use,
so every replica serves queries and appends through the lease in turn. The lock key is derived
from the database, the schema and the ledger's origin, so two ledgers (or two test schemas) on
one server never share a lease.

A killed replica's connection closes with its process and PostgreSQL releases the lock at once;
a hung one (stopped, partitioned) holds it until the server drops its idle session
(``idle_session_timeout``, ``LEASE_IDLE_LIMIT_S``) or its TCP keepalives fail. A replica waits
at most ``LEASE_WAIT_S`` for the lease, then fails that batch's callers with Unavailable.

The lease is not what prevents forks -- the head's compare-and-swap does (alprfed.ledger.store)
-- but it makes "exactly one sequencer" true and tells a writer when what it cached of the tree
may be stale: whenever it (re)takes the lease, it reloads and re-verifies the tip.

**SQLite** (replicas unsupported). The file has one writer; a second gateway opening the same
file for writing is refused (an exclusive ``flock`` on ``<file>-gateway.lock``, released by the
kernel when the holder dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from alprfed.errors import ConfigError, Unavailable
from alprfed.ledger.reader import storage_error

log = logging.getLogger("alprfed.ledger")

LEASE_WAIT_S = 10.0  # longest a replica waits for another's turn before failing its batch
LEASE_TURN_S = 0.5  # a busy holder hands the lease on this often, so no replica starves
LEASE_IDLE_LIMIT_S = 15  # the server ends a lease session idle this long (a hung holder)
LEASE_KEEPALIVE_S = 5  # server-side TCP keepalive probes on the lease session
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock wait ended by lock_timeout


def lease_key(database: str, schema: str, origin: str) -> int:
    """The advisory lock key of one ledger: a signed 64-bit integer (PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"alprfed-ledger-sequencer\0{database}\0{schema}\0{origin}".encode())
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


class SequencerLease:
    """The PostgreSQL sequencer lease of one ledger, for one store. Not thread-safe: the store
    calls it from one append at a time."""

    def __init__(self, engine: Engine, origin: str) -> None:
        self._engine = engine
        self._origin = origin
        self._conn: sa.Connection | None = None
        self._key: int | None = None
        self._held_since: float | None = None

    @property
    def held(self) -> bool:
        return self._held_since is not None

    def hold(self) -> bool:
        """Make sure this store holds the lease; return True if it was (re)taken just now, so
        the caller must reload what it cached of the tree.

        Raises:
            Unavailable: another replica held it for LEASE_WAIT_S.
            LedgerError: the database failed.
        """
        if self._held_since is not None:
            if time.monotonic() - self._held_since < LEASE_TURN_S and self._alive():
                return False
            self.release()  # our turn is over (or the session died): queue up again
        self._acquire()
        return True

    def release(self) -> None:
        """Hand the lease on (a no-op when not held). A failure here drops the session, which
        releases the lock all the same."""
        if self._held_since is None:
            return
        self._held_since = None
        try:
            assert self._conn is not None
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        except SQLAlchemyError:
            self._drop()

    def close(self) -> None:
        self.release()
        self._drop()

    def _acquire(self) -> None:
        for attempt in (1, 2):  # a session the server ended while idle is reopened once
            conn = self._session()
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
            except DBAPIError as exc:
                self._drop()
                if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                    raise Unavailable(
                        f"another gateway replica held the ledger's sequencer lease for "
                        f"{LEASE_WAIT_S:.0f} s; nothing of this batch was stored"
                    ) from None
                if attempt == 2 or not exc.connection_invalidated:
                    raise storage_error(exc) from None
                continue
            except SQLAlchemyError as exc:
                self._drop()
                raise storage_error(exc) from None
            self._held_since = time.monotonic()
            log.info("took the ledger's sequencer lease (pid %d)", os.getpid())
            return

    def _alive(self) -> bool:
        """Is the lease session still open? A session the server ended took the lock with it."""
        try:
            assert self._conn is not None
            self._conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            log.warning("the ledger's sequencer lease session was lost; taking the lease again")
            self._held_since = None
            self._drop()
            return False
        return True

    def _session(self) -> sa.Connection:
        if self._conn is not None:
            return self._conn
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.detach()  # held for good, outside the pool the batches use
            conn.execute(
                sa.text(
                    "SELECT set_config('application_name', :name, false), "
                    "set_config('lock_timeout', :wait, false), "
                    "set_config('idle_session_timeout', :idle, false), "
                    "set_config('tcp_keepalives_idle', :alive, false), "
                    "set_config('tcp_keepalives_interval', :alive, false)"
                ),
                {
                    # Operators (and the failover test) find the sequencer by this name.
                    "name": f"alprfed-sequencer pid={os.getpid()}",
                    "wait": str(int(LEASE_WAIT_S * 1000)),
                    "idle": str(LEASE_IDLE_LIMIT_S * 1000),
                    "alive": str(LEASE_KEEPALIVE_S),
                },
            )
            if self._key is None:
                database, schema = conn.execute(
                    sa.text("SELECT current_database(), current_schema()")
                ).one()
                self._key = lease_key(str(database), str(schema), self._origin)
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None
        self._conn = conn
        return conn

    def _drop(self) -> None:
        self._held_since = None
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):  # closing a dead session may fail
                self._conn.close()
            self._conn = None


class SqliteWriterLock:
    """The one-writer claim on a SQLite ledger file, held until ``release`` or process death."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-gateway.lock")
        self._file: IO[bytes] | None = None

    def claim(self) -> None:
        """Raises: ConfigError when another process writes this ledger already."""
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigError(
                f"database_url: another gateway already writes the SQLite ledger "
                f"{self.path.with_name(self.path.name.removesuffix('-gateway.lock'))}; "
                "gateway replicas need PostgreSQL (postgresql+psycopg://...)"
            ) from None
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None
