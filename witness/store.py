"""The witness's durable state: per log, the newest checkpoint it cosigned; and evidence.

- ``witness_logs``: one row per origin, the size, root and note (log signature plus this
  witness's cosignature) of the newest checkpoint cosigned. The witness's whole promise rests
  on this row never going backwards.
- ``witness_evidence``: validly signed checkpoints that failed a consistency check (a fork, a
  non-empty tree of size 0, or a proof that did not verify), with the request and why. Kept
  once per distinct checkpoint text: only the log can sign one, so the table cannot be grown
  by replaying a request with other proofs.

Atomicity: ``advance`` reads the row, lets the caller check it and sign, and writes the new
row in ONE write transaction (SQLite: BEGIN IMMEDIATE, the database's write lock, taken before
the read; PostgreSQL: SELECT ... FOR UPDATE, and for a log's first checkpoint an INSERT ... ON
CONFLICT DO NOTHING that writes nothing when another request got there first: the whole step
is retried on the row it wrote). The UPDATE is also a compare-and-swap on the size read, so
even a lost lock could not roll the row back. Durability: SQLite with synchronous=FULL (an
fsync per commit), and PostgreSQL with synchronous_commit forced on for the transaction, so
``advance`` returns only once the new state is on disk -- before the cosignature is handed out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from alprfed.db import DriverStatement, create_engine, writer
from alprfed.errors import Unavailable
from alprfed.ledger.merkle import HASH_SIZE
from alprfed.migrate import AlembicStore, LegacyVersions

log = logging.getLogger("alprfed.witness.store")

MAX_ORIGIN_LENGTH = 255  # as the ledger's own origin column
MAX_ADVANCE_ATTEMPTS = 3  # a lost first-insert race is retried on the row the winner wrote

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid

metadata = sa.MetaData()

witness_logs = sa.Table(
    "witness_logs",
    metadata,
    sa.Column("origin", sa.String(MAX_ORIGIN_LENGTH), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(HASH_SIZE), nullable=False),
    sa.Column("checkpoint", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),  # Unix seconds, the witness's clock
    sa.CheckConstraint("size >= 0", name="witness_logs_size"),
)

witness_evidence = sa.Table(
    "witness_evidence",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("origin", sa.String(MAX_ORIGIN_LENGTH), nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("checkpoint_sha256", sa.LargeBinary(HASH_SIZE), nullable=False),
    sa.Column("request", sa.Text, nullable=False),  # the add-checkpoint body, as received
    sa.UniqueConstraint("origin", "checkpoint_sha256", name="witness_evidence_once"),
)


def create_tables(conn: sa.Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = AlembicStore(
    store="witness",
    name="witness",
    versions=Path(__file__).resolve().parent / "versions",
    legacy=LegacyVersions("witness_schema_version", (witness_logs.name, witness_evidence.name)),
)


class WitnessStorageError(Unavailable):
    """The witness's database failed; nothing was cosigned."""


@dataclass(frozen=True)
class WitnessedState:
    """The newest checkpoint the witness cosigned for one log."""

    origin: str
    size: int
    root: bytes
    checkpoint: str  # the note: checkpoint, the log's signature(s), the cosignature(s)
    updated_at: int


@dataclass(frozen=True)
class Evidence:
    id: int
    origin: str
    received_at: int
    reason: str
    request: str


class _LostRace(Exception):
    """The row changed between our read and our write; retry the whole step."""


def _storage_error(exc: SQLAlchemyError) -> WitnessStorageError:
    # The first line only: SQLAlchemy appends the statement and its parameters.
    original = getattr(exc, "orig", None) or exc
    return WitnessStorageError(
        f"witness storage failed: {type(original).__name__}: {_first_line(original)}"
    )


class WitnessStore:
    """The witness's database. Thread-safe: each call takes its own connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._postgres = dialect.name == "postgresql"
        self._driver_error: type[Exception] = dialect.loaded_dbapi.Error
        self._synchronous_commit = DriverStatement(
            sa.text("SET LOCAL synchronous_commit TO on"), dialect
        )
        select = sa.select(*_STATE_COLUMNS).where(witness_logs.c.origin == sa.bindparam("origin"))
        self._select = DriverStatement(
            select.with_for_update() if self._postgres else select, dialect
        )
        values: dict[str, sa.BindParameter[object]] = {
            c: sa.bindparam(c) for c in ("size", "root", "checkpoint", "updated_at")
        }
        insert = postgresql.insert if self._postgres else sqlite.insert
        self._insert = DriverStatement(
            insert(witness_logs)
            .values(origin=sa.bindparam("origin"), **values)
            .on_conflict_do_nothing(index_elements=[witness_logs.c.origin])
            .returning(witness_logs.c.origin),
            dialect,
        )
        # A compare-and-swap on the size read: even a lost lock could not roll the row back.
        self._update = DriverStatement(
            witness_logs.update()
            .where(
                witness_logs.c.origin == sa.bindparam("origin"),
                witness_logs.c.size == sa.bindparam("old_size"),
            )
            .values(**values)
            .returning(witness_logs.c.origin),
            dialect,
        )

    @classmethod
    def open(cls, url: str) -> WitnessStore:
        """Open (creating or upgrading) the witness database at ``url``, fsync'ing commits.

        Raises:
            ConfigError: a bad URL or an unsupported database.
            FailedPrecondition: the schema is newer than this code, or the tables are not ours.
            WitnessStorageError: the database failed.
        """
        engine = create_engine(url, durable=True)
        try:
            MIGRATIONS.upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise _storage_error(exc) from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        """Raises: WitnessStorageError when the database does not answer."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1)))
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    def latest(self, origin: str) -> WitnessedState | None:
        """The newest checkpoint cosigned for ``origin``; None if never.

        Raises:
            WitnessStorageError: the database failed.
        """
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(*_STATE_COLUMNS).where(witness_logs.c.origin == origin)
                ).first()
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        return None if row is None else _state(row)

    def advance(
        self, origin: str, decide: Callable[[WitnessedState | None], WitnessedState]
    ) -> WitnessedState:
        """Atomically replace the state of ``origin`` with what ``decide`` makes of it.

        ``decide`` gets the current state (None for a log never cosigned) inside the write
        transaction, and either returns the new state or raises, which changes nothing.
        It may be called more than once (after a lost race), each time with fresh state.
        Returns only after the new state is committed durably.

        Raises:
            whatever ``decide`` raises (nothing is written);
            WitnessStorageError: the database failed, or the race was lost too often.
        """
        for _ in range(MAX_ADVANCE_ATTEMPTS):
            try:
                return self._advance_once(origin, decide)
            except _LostRace:
                log.info("witness state of %s changed under us; retrying", origin)
            except SQLAlchemyError as exc:
                raise _storage_error(exc) from None
        raise WitnessStorageError(
            f"the state of {origin!r} kept changing; {MAX_ADVANCE_ATTEMPTS} attempts failed"
        )

    def _advance_once(
        self, origin: str, decide: Callable[[WitnessedState | None], WitnessedState]
    ) -> WitnessedState:
        # Straight on the driver, inside SQLAlchemy's transaction: this runs on every
        # cosignature, and SQLAlchemy's per-statement work cost more than the statements.
        try:
            with writer(self._engine).begin() as conn:
                if self._postgres:
                    # The answer is a promise; make the commit wait for the WAL flush even on
                    # a server whose default is asynchronous commit.
                    self._synchronous_commit.execute(conn, {})
                found = self._select.rows(conn, {"origin": origin})
                current = _state(found[0]) if found else None
                new = decide(current)
                if new.origin != origin:
                    raise ValueError("decide() returned the state of another log")
                values = {
                    "origin": origin,
                    "size": new.size,
                    "root": new.root,
                    "checkpoint": new.checkpoint,
                    "updated_at": new.updated_at,
                }
                if current is None:
                    written = self._insert.rows(conn, values)
                else:
                    written = self._update.rows(conn, {**values, "old_size": current.size})
                if not written:
                    raise _LostRace  # leaving the block rolls the transaction back
        except self._driver_error as exc:
            raise WitnessStorageError(
                f"witness storage failed: {type(exc).__name__}: {_first_line(exc)}"
            ) from None
        return new

    def record_evidence(
        self, *, origin: str, received_at: int, reason: str, checkpoint_text: str, request: str
    ) -> bool:
        """Keep a validly signed, inconsistent checkpoint; False if it was already kept.

        Raises:
            WitnessStorageError: the database failed.
        """
        digest = hashlib.sha256(checkpoint_text.encode("utf-8")).digest()
        try:
            with writer(self._engine).begin() as conn:
                exists = conn.execute(
                    sa.select(witness_evidence.c.id).where(
                        witness_evidence.c.origin == origin,
                        witness_evidence.c.checkpoint_sha256 == digest,
                    )
                ).first()
                if exists is not None:
                    return False
                conn.execute(
                    witness_evidence.insert().values(
                        origin=origin,
                        received_at=received_at,
                        reason=reason,
                        checkpoint_sha256=digest,
                        request=request,
                    )
                )
        except IntegrityError:
            return False  # kept by a concurrent request
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        return True

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        """The evidence kept, oldest first (of ``origin`` only, if given).

        Raises:
            WitnessStorageError: the database failed.
        """
        query = sa.select(witness_evidence).order_by(witness_evidence.c.id)
        if origin is not None:
            query = query.where(witness_evidence.c.origin == origin)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        return [Evidence(r.id, r.origin, r.received_at, r.reason, r.request) for r in rows]


_STATE_COLUMNS = (
    witness_logs.c.origin,
    witness_logs.c.size,
    witness_logs.c.root,
    witness_logs.c.checkpoint,
    witness_logs.c.updated_at,
)


def _state(row: Sequence[object]) -> WitnessedState:
    """A state from a row of ``_STATE_COLUMNS`` (an SQLAlchemy row or a driver tuple)."""
    origin, size, root, checkpoint, updated_at = row
    return WitnessedState(
        origin=str(origin),
        size=int(size),  # type: ignore[call-overload]
        root=bytes(root),  # type: ignore[call-overload]
        checkpoint=str(checkpoint),
        updated_at=int(updated_at),  # type: ignore[call-overload]
    )


def _first_line(exc: BaseException) -> str:
    # The first line only: SQLAlchemy appends the statement and its parameters.
    return (str(exc).strip().splitlines() or [""])[0]
