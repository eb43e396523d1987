"""Databases for every alprfed store: engines for SQLite and PostgreSQL, versioned schemas.

Two databases are supported, with the same schema and the same code:

- SQLite (``sqlite:///path/to/file.db``) on one machine. Every connection runs in WAL mode
  (readers never block the writer), with foreign keys enforced and a busy timeout so a writer
  waits for another writer instead of failing at once.
- PostgreSQL through psycopg 3 (``postgresql+psycopg://...``).

SQLite transactions are begun by us, not by the sqlite3 module: its legacy mode starts a
transaction only before DML, so schema migrations would run in autocommit and a failed upgrade
could leave half a schema. Connections that write begin with ``BEGIN IMMEDIATE`` to take the
write lock up front; a deferred transaction that reads first and writes later can fail with
SQLITE_BUSY without ever consulting the busy timeout.

Each store (node, gateway registry, ledger, witness) versions its own tables with Alembic
(alprfed.migrate), applied in place at open or by ``alprfed db upgrade``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.compiler import SQLCompiler

from alprfed.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 64 * 1024
POSTGRES_POOL_SIZE = 20
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_CONNECT_TIMEOUT_S = 10

# Execution option that marks an engine whose transactions write (see _begin_sqlite).
WRITE_OPTION = "alprfed_write"
READ_OPTION = "alprfed_read"  # single-statement reads outside a transaction (see reader)
AUTOCOMMIT = "AUTOCOMMIT"


def _sqlite_pragmas(synchronous: str) -> tuple[str, ...]:
    return (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        f"PRAGMA synchronous={synchronous}",
        f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}",
        "PRAGMA temp_store=MEMORY",
    )


def create_engine(url: str, *, durable: bool = False, must_exist: bool = False) -> Engine:
    """Create the engine for a database URL.

    ``durable`` asks SQLite to fsync every commit (synchronous=FULL): for the audit ledger,
    where a committed entry must survive power loss. Without it (synchronous=NORMAL in WAL
    mode) no committed transaction is lost when a process crashes, only possibly the newest
    ones on power loss. PostgreSQL commits are durable by its own configuration.

    A new SQLite file is created readable by its owner only (0600): it holds plates in clear,
    and SQLite gives its -wal and -shm files the same permissions. ``must_exist`` refuses to
    create one (readers such as an auditor's tools must not leave empty databases behind).

    Raises:
        ConfigError: malformed URL, unsupported database, an in-memory SQLite database, or
            (``must_exist``) a SQLite file that does not exist.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Show only what follows the credentials: the URL may hold a password.
        raise ConfigError(f"database URL ...{url.split('@')[-1]!r} is not a valid URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in url:
            raise ConfigError(
                "the database must be a file (sqlite:///path/to/file.db), not in memory"
            )
        _create_private_file(Path(parsed.database), must_exist=must_exist)
        engine = sa.create_engine(parsed)
        pragmas = _sqlite_pragmas("FULL" if durable else "NORMAL")
        event.listen(engine, "connect", lambda conn, _rec: _configure_sqlite(conn, pragmas))
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError("use PostgreSQL through psycopg 3: postgresql+psycopg://...")
        return sa.create_engine(
            parsed,
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
            pool_pre_ping=True,  # a restarted server would hand the first caller a dead socket
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
        )
    raise ConfigError(
        f"database {backend!r} is not supported; use sqlite:///path/file.db or "
        "postgresql+psycopg://user@host/dbname"
    )


def _create_private_file(path: Path, *, must_exist: bool) -> None:
    if path.exists():
        return
    if must_exist:
        raise ConfigError(f"no database at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def writer(engine: Engine) -> Engine:
    """The same engine and pool, marked so that its SQLite transactions take the write lock."""
    return engine.execution_options(**{WRITE_OPTION: True})


def reader(engine: Engine) -> Engine:
    """The same engine and pool for single-statement reads, run outside a transaction.

    One SELECT sees one consistent snapshot on its own; skipping BEGIN and ROLLBACK saves two
    round trips per read on PostgreSQL (the node's search is the hot path).
    """
    if engine.dialect.name == "sqlite":
        # Not SQLAlchemy's AUTOCOMMIT level: resetting it on check-in would hand transaction
        # control back to the sqlite3 module (see _configure_sqlite).
        return engine.execution_options(**{READ_OPTION: True})
    return engine.execution_options(isolation_level=AUTOCOMMIT)


def _configure_sqlite(dbapi_connection: sqlite3.Connection, pragmas: Sequence[str]) -> None:
    dbapi_connection.isolation_level = None  # transactions begin in _begin_sqlite
    cursor = dbapi_connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _begin_sqlite(connection: sa.Connection) -> None:
    options = connection.get_execution_options()
    if options.get(READ_OPTION, False):
        return  # a reader(): each statement is its own implicit transaction
    writes = options.get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class DriverStatement:
    """A statement compiled once for one dialect and run straight on the DBAPI cursor.

    For hot paths: profiling the node's search and the witness's cosigning showed SQLAlchemy's
    per-execution work (statement building, compiled-cache lookup, result and row objects,
    transaction events) costing more than the statement itself.

    Only for statements whose parameters and columns need no type processing (integers and
    text on SQLite and psycopg). The caller's connection must not be inside a transaction
    SQLAlchemy began: ``rows`` runs in the driver's autocommit mode, ``claim`` makes its own.
    """

    def __init__(self, statement: sa.ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError("a DriverStatement needs a SQL statement, not DDL")
        self.sql = compiled.string
        self._order = compiled.positiontup if compiled.positional else None
        self._sqlite = dialect.name == "sqlite"

    def _params(self, values: Mapping[str, Any]) -> Any:
        return values if self._order is None else tuple(values[name] for name in self._order)

    def rows(self, conn: sa.Connection, values: Mapping[str, Any]) -> list[Any]:
        """Execute once; every row the statement returns, as tuples. Inside a transaction
        SQLAlchemy began (``engine.begin()``), the statement is part of it."""
        return self.run(conn.connection.driver_connection, values)

    def run(self, dbapi_connection: Any, values: Mapping[str, Any]) -> list[Any]:
        """``rows`` on a DBAPI connection held outside SQLAlchemy's pool (in the driver's
        autocommit mode, or inside ``dbapi_transaction``)."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, self._params(values))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def execute(self, conn: sa.Connection, values: Mapping[str, Any]) -> None:
        """Execute once, for a statement that returns no rows (``SET``, say)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, self._params(values))
        finally:
            cursor.close()

    def write(self, conn: sa.Connection, values: Mapping[str, Any]) -> list[Any]:
        """Execute as a transaction of its own; the rows it returns.

        PostgreSQL commits the single statement itself (autocommit). SQLite takes the write
        lock up front (BEGIN IMMEDIATE, see alprfed.db), so a concurrent writer makes it wait
        for the busy timeout instead of failing on a stale snapshot.
        """
        if not self._sqlite:
            return self.rows(conn, values)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute(self.sql, self._params(values))
                found = list(cursor.fetchall())
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
            return found
        finally:
            cursor.close()


@contextmanager
def driver_transaction(conn: sa.Connection) -> Iterator[None]:
    """One write transaction straight on the driver, for DriverStatement ``rows`` calls on a
    ``reader()`` connection (outside SQLAlchemy's transactions): they commit together or not
    at all, in one BEGIN/COMMIT instead of one per statement. SQLite takes the write lock up
    front (BEGIN IMMEDIATE), as every writer here does."""
    with dbapi_transaction(conn.connection.driver_connection, sqlite=conn.dialect.name == "sqlite"):
        yield


@contextmanager
def dbapi_transaction(dbapi_connection: Any, *, sqlite: bool) -> Iterator[None]:
    """``driver_transaction`` on a DBAPI connection in the driver's autocommit mode."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE" if sqlite else "BEGIN")
        try:
            yield
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
    finally:
        cursor.close()
