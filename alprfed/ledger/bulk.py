"""Writing a batch's rows: binary COPY on PostgreSQL, the driver's executemany on SQLite.

A batch writes three to four rows per entry (the entry, its leaf and the parents it completes,
its openings). Through SQLAlchemy's multi-row INSERTs on PostgreSQL a third of the writer's
time went into psycopg splitting each new statement's thousands of placeholders (profiled:
``psycopg._queries._split_query``, about 40 µs per entry); COPY in binary format sends the
rows with no statement to parse, through psycopg's C row writer.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from alprfed.ledger import schema

# Column order and PostgreSQL types of each table's rows as passed to ``insert_rows``.
_COPY_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    schema.entries.name: (("idx", "data"), ("int8", "bytea")),
    schema.nodes.name: (("node", "hash"), ("int8", "bytea")),
    schema.openings.name: (
        ("entry_idx", "slot", "plate", "salt"),
        ("int8", "int2", "text", "bytea"),
    ),
}

# Built from the schema's own table and column names above, never from input.
_SQLITE_INSERTS = {
    name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"  # noqa: S608
    for name, (cols, _) in _COPY_TYPES.items()
}


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert ``rows`` (tuples in the column order above) in ``conn``'s transaction.

    Raises:
        IntegrityError: a row's key is stored already (the caller's transaction is then
            aborted and must roll back).
    """
    if not rows:
        return
    columns, types = _COPY_TYPES[table.name]
    if conn.dialect.name != "postgresql":
        # Straight to sqlite3's executemany: SQLAlchemy's per-row parameter processing cost
        # more than the insert itself.
        conn.exec_driver_sql(_SQLITE_INSERTS[table.name], rows)
        return
    driver = conn.connection.driver_connection
    assert driver is not None  # a checked-out connection always has its driver connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    integrity_error = conn.dialect.loaded_dbapi.IntegrityError
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
    except integrity_error as exc:
        # The same error SQLAlchemy's INSERT raises, so callers handle one.
        raise IntegrityError(statement, None, exc) from None
