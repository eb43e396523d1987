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
the read; PostgreSQL: SELECT ... FOR UPDATE, and for a log's first checkpoint an INSERT whose
unique violation means another request got there first: the whole step is retried on the row
it wrote). The UPDATE is also a compare-and-swap on the size read, so even a lost lock could
not roll the row back. Durability: SQLite with synchronous=FULL (an fsync per commit), and
PostgreSQL with synchronous_commit forced on for the transaction, so ``advance`` returns only
once the new state is on disk -- before the cosignature is handed out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from alprfed.db import Migration, Migrations, create_engine, writer
from alprfed.errors import Unavailable
from alprfed.ledger.merkle import HASH_SIZE

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


def _create_tables(conn: sa.Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = Migrations(
    store="witness",
    version_table="witness_schema_version",
    tables=[witness_logs.name, witness_evidence.name],
    migrations=[Migration(1, "witnessed checkpoints and evidence", _create_tables)],
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
    first_line = (str(original).strip().splitlines() or [""])[0]
    return WitnessStorageError(f"witness storage failed: {type(original).__name__}: {first_line}")


class WitnessStore:
    """The witness's database. Thread-safe: each call takes its own connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
                    sa.select(witness_logs).where(witness_logs.c.origin == origin)
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
        with writer(self._engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                # The answer is a promise; make the commit wait for the WAL flush even on a
                # server whose default is asynchronous commit.
                conn.execute(sa.text("SET LOCAL synchronous_commit TO on"))
            row = conn.execute(
                sa.select(witness_logs).where(witness_logs.c.origin == origin).with_for_update()
            ).first()
            current = None if row is None else _state(row)
            new = decide(current)
            if new.origin != origin:
                raise ValueError("decide() returned the state of another log")
            values = {
                "size": new.size,
                "root": new.root,
                "checkpoint": new.checkpoint,
                "updated_at": new.updated_at,
            }
            if current is None:
                try:
                    conn.execute(witness_logs.insert().values(origin=origin, **values))
                except IntegrityError:
                    raise _LostRace from None  # leaving the block rolls the transaction back
            else:
                result = conn.execute(
                    witness_logs.update()
                    .where(witness_logs.c.origin == origin, witness_logs.c.size == current.size)
                    .values(**values)
                )
                if result.rowcount != 1:
                    raise _LostRace
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


def _state(row: sa.Row[tuple[object, ...]]) -> WitnessedState:
    return WitnessedState(
        origin=str(row.origin),
        size=int(row.size),
        root=bytes(row.root),
        checkpoint=str(row.checkpoint),
        updated_at=int(row.updated_at),
    )
