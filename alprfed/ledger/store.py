"""The ledger writer's store: atomic batch appends, one signed checkpoint per batch.

Crash safety: one transaction writes a batch's entries, their commitment openings, every
complete subtree the batch completes, the new head and the new checkpoint. A process killed
mid-append leaves either all of it or none of it, so the log on disk is always exactly the
tree of its newest checkpoint.

Fork safety: the head is advanced by compare-and-swap on the tree size (``UPDATE ... WHERE
size = :old``), the first write of the transaction. Two writers on one database (a gateway
launched twice) can therefore never both extend the same tree: the loser's update matches no
row, its transaction rolls back whole and it retries on the fresh head. On PostgreSQL the head
row is also read FOR UPDATE and on SQLite the transaction takes the write lock at BEGIN, so
writers queue instead of racing; the compare-and-swap is what makes that ordering a guarantee.

Replicas (alprfed.ledger.lease): on PostgreSQL a store appends only while it holds the ledger's
sequencer lease; on SQLite a gateway's store (``exclusive``) refuses a second writer. A store
keeps the tip it derived and signed last (``SignedTip``) and builds on it while the head still
holds that checkpoint, instead of re-verifying the signature every batch; on taking the lease
it forgets it and reloads and re-verifies the tip from storage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from alprfed.clock import Clock
from alprfed.db import DriverStatement, create_engine, writer
from alprfed.errors import (
    ActRecordedMeanwhile,
    ConfigError,
    InvalidRequest,
    LedgerConflict,
    LedgerError,
    LedgerRangeError,
)
from alprfed.ledger import schema
from alprfed.ledger.bulk import insert_rows
from alprfed.ledger.checkpoint import Checkpoint, read_checkpoint, sign_checkpoint
from alprfed.ledger.cosignature import add_signature_lines
from alprfed.ledger.entry import (
    SALT_SIZE,
    AppendedEntry,
    PendingEntry,
    encode_pending,
    plate_commitment,
)
from alprfed.ledger.lease import SequencerLease, SqliteWriterLock
from alprfed.ledger.merkle import EMPTY_ROOT, CompactRange, NodeId, leaf_hash
from alprfed.ledger.note import NoteError, NoteSigner, check_key_name
from alprfed.ledger.reader import (
    LedgerReader,
    disposed_on_failure,
    storage_error,
)
from alprfed.ledger.recent_nodes import RecentNodes
from alprfed.ledger.tip import SignedTip, TreeTip, read_tip
from alprfed.signing import SigningKey

log = logging.getLogger("alprfed.ledger")

MAX_BATCH_ENTRIES = 10_000  # one transaction; bounds its memory and lock time
MAX_APPEND_ATTEMPTS = 3  # a lost compare-and-swap is retried on the fresh head this often

RandomBytes = Callable[[int], bytes]


class LedgerStore(LedgerReader):
    """The ledger a gateway writes. Use ``LedgerStore.open``; share one per process."""

    def __init__(
        self,
        engine: Engine,
        origin: str,
        signer: NoteSigner,
        clock: Clock,
        random_bytes: RandomBytes,
        publish_on_append: bool = True,
    ) -> None:
        super().__init__(engine, origin)
        self._signer = signer
        self._clock = clock
        self._random_bytes = random_bytes
        self._publish_on_append = publish_on_append
        self._publish_engine: Engine | None = None
        self._publication_sql: _PublicationStatements | None = None
        # The newest publication announced in this process, perhaps not yet stored.
        self._announced: tuple[int, str] = (-1, "")
        self._announced_lock = threading.Lock()
        self._postgres = engine.dialect.name == "postgresql"
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._lease = SequencerLease(engine, origin) if self._postgres else None
        self._file_lock: SqliteWriterLock | None = None
        self._signed: SignedTip | None = None  # the tip this store signed last
        # One batch at a time (the lease and cache are ours); on SQLite publications too.
        self._appending = threading.Lock()
        self._recent = RecentNodes()  # what this writer appended lately, for quick proofs

    @classmethod
    def open(
        cls,
        url: str,
        *,
        origin: str,
        signer: SigningKey,
        clock: Clock,
        random_bytes: RandomBytes = os.urandom,
        publish_on_append: bool = True,
        exclusive: bool = False,
    ) -> LedgerStore:
        """Open (creating or upgrading as needed) the ledger in the database at ``url``.

        A new ledger starts with a signed checkpoint of the empty tree. ``signer`` signs
        checkpoints under the key name ``origin``; ``random_bytes`` draws commitment salts.
        ``publish_on_append`` publishes every checkpoint as it is signed (a ledger without
        witnesses); a witnessed ledger publishes through ``publish`` once a quorum cosigned.
        ``exclusive`` (a gateway) claims a SQLite ledger for this process alone; replicas on
        PostgreSQL take turns through the sequencer lease whatever it says.

        Raises:
            ConfigError: a bad URL, an origin that cannot be a note key name, a database
                holding the ledger of another origin, or (``exclusive``) a SQLite ledger
                another process writes already.
            FailedPrecondition: the database's ledger schema is newer than this code.
            LedgerError: the database failed.
        """
        try:
            check_key_name(origin)
        except NoteError as exc:
            raise ConfigError(f"ledger origin: {exc.detail}") from None
        note_signer = NoteSigner(origin, signer)
        engine = create_engine(url, durable=True)
        if engine.dialect.name == "postgresql":
            # Batch rows into multi-row INSERTs (SQLAlchemy's "insertmanyvalues", cached per
            # statement) rather than psycopg's one pipelined statement per row: a batch writes
            # three to four rows per entry, and this roughly halves the time it takes.
            engine.dialect.use_insertmanyvalues_wo_returning = True
        file_lock = None
        with disposed_on_failure(engine):
            # Upgrading is safe for concurrent openers (alprfed.db.Migrations); claiming after
            # it means a file that is no database is refused without a lock file beside it.
            schema.upgrade(engine)
            if exclusive and engine.dialect.name == "sqlite":
                file_lock = SqliteWriterLock(Path(str(engine.url.database)))
                file_lock.claim()
            try:
                stored_origin = _initialize(engine, note_signer)
            except BaseException:
                if file_lock is not None:
                    file_lock.release()
                raise
        if stored_origin != origin:
            engine.dispose()
            if file_lock is not None:
                file_lock.release()
            raise ConfigError(
                f"this database holds the ledger of origin {stored_origin!r}, not {origin!r}"
            )
        store = cls(engine, origin, note_signer, clock, random_bytes, publish_on_append)
        store._file_lock = file_lock
        return store

    def append_batch(
        self, entries: Sequence[PendingEntry], *, keep_lease: bool = False
    ) -> list[AppendedEntry]:
        """Append ``entries`` atomically under one new signed checkpoint.

        Either every entry is committed, with its openings and the checkpoint, or none is.
        On PostgreSQL the batch is written under the sequencer lease; ``keep_lease`` (more
        batches are waiting) keeps it for the next one, within the lease's turn.

        Raises:
            InvalidRequest: more than MAX_BATCH_ENTRIES, or an item that is not a PendingEntry.
            ActRecordedMeanwhile: an entry's record was stored by another writer meanwhile;
                nothing of the batch was stored (send the others again without it).
            LedgerConflict: other writers won the compare-and-swap MAX_APPEND_ATTEMPTS times.
            Unavailable: another replica held the sequencer lease too long.
            LedgerError: the database failed; nothing of the batch was stored.
        """
        if not entries:
            return []
        if len(entries) > MAX_BATCH_ENTRIES:
            raise InvalidRequest(f"a batch holds at most {MAX_BATCH_ENTRIES} entries")
        if not all(isinstance(entry, PendingEntry) for entry in entries):
            raise InvalidRequest("append_batch takes PendingEntry items")
        with self._appending:
            if self._lease is not None and self._lease.hold():
                self._signed = None  # another replica may have appended: reload, re-verify
            try:
                appended = self._append_attempts(entries)
            except BaseException:
                if self._lease is not None:
                    self._lease.release()
                raise
            if self._lease is not None and not keep_lease:
                self._lease.release()
            return appended

    def release_lease(self) -> None:
        """Hand the sequencer lease on now (kept by ``append_batch(keep_lease=True)``)."""
        with self._appending:
            if self._lease is not None:
                self._lease.release()

    def _append_attempts(self, entries: Sequence[PendingEntry]) -> list[AppendedEntry]:
        for attempt in range(1, MAX_APPEND_ATTEMPTS + 1):
            try:
                with writer(self._engine).begin() as conn:
                    tip = read_tip(conn, self._signer.verifier, self._signed)
                    appended, signed, subtrees = self._write_batch(conn, tip, entries)
                self._signed = signed  # only once committed
                self._remember(signed, subtrees)
                return appended
            except LedgerConflict:
                self._signed = None
                log.warning(
                    "ledger head moved under us (attempt %d of %d); another writer is "
                    "appending to this ledger",
                    attempt,
                    MAX_APPEND_ATTEMPTS,
                )
            except IntegrityError as exc:
                self._signed = None
                raise LedgerError(
                    "the ledger tables already hold rows beyond the head (damaged or tampered "
                    f"storage; run `alprfed ledger verify`): {storage_error(exc)}"
                ) from None
            except SQLAlchemyError as exc:
                self._signed = None  # a lost commit may or may not have happened: reload
                raise storage_error(exc) from None
        raise LedgerConflict(
            f"another writer advanced the ledger {MAX_APPEND_ATTEMPTS} times "
            "in a row; nothing of this batch was stored"
        )

    def _remember(self, signed: SignedTip, subtrees: list[tuple[NodeId, bytes]]) -> None:
        # After the commit: a failure here must not report a committed batch as failed.
        try:
            self._recent.record(signed.tip.size, signed.tip.peak_hashes, subtrees)
        except Exception:
            log.exception("could not remember the batch's subtrees; proofs come from SQL")
            self._recent = RecentNodes()

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """As ``LedgerReader.consistency_proof``; from memory when this writer appended the
        subtrees it needs (``recent_consistency_proof``)."""
        proof = self._recent.consistency_proof(old_size, new_size)
        return proof if proof is not None else super().consistency_proof(old_size, new_size)

    def recent_consistency_proof(self, old_size: int, new_size: int) -> list[bytes] | None:
        """The consistency proof between two recent sizes from this writer's memory, without
        touching the database (so callable on an event loop); None when it is not there."""
        return self._recent.consistency_proof(old_size, new_size)

    def purge_openings(self, before_index: int) -> int:
        """Delete the openings of every entry below ``before_index`` (the retention purge).

        The entries, their commitments and every proof stay valid; those commitments can no
        longer be opened. Returns how many openings were deleted. Record the purge in the
        ledger (a ``retention_purge`` entry) so monitors see it.

        Raises:
            LedgerError: the database failed.
        """
        statement = sa.delete(schema.openings).where(schema.openings.c.entry_idx < before_index)
        try:
            with writer(self._engine).begin() as conn:
                return int(conn.execute(statement).rowcount)
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None

    def announce(self, size: int, note: str) -> None:
        """Publish ``note``, the checkpoint of ``size`` with the cosignatures that met the
        quorum, to this process's readers at once; ``publish`` then stores it.

        The gateway builds receipts and evidence on a publication the moment it is reached,
        without waiting for the write; every read through this store (receipts, the ledger
        RPCs, the tiles server) sees it. If the process dies before ``publish`` stores it,
        the stored publication lags: the witnesses still hold their cosignatures and give
        them again, so nothing that was handed out becomes unprovable.
        """
        with self._announced_lock:
            if size > self._announced[0]:
                self._announced = (size, note)

    def publish(self, size: int, lines: Sequence[str]) -> bool:
        """Add witness cosignature ``lines`` to the checkpoint of ``size`` and publish it
        unless a larger one is published already. Returns whether the publication advanced.

        The cosignatures are the caller's to verify (the gateway checks each one as it
        arrives); here only signature lines are added, so the log's own signature and the
        checkpoint text stay exactly as signed.

        The write is not flushed to disk before returning (no fsync): what it records can be
        rebuilt, since every witness remembers what it cosigned and cosigns it again, and after a
        power loss the publication only lags. That spares a query one disk flush per
        checkpoint.

        Raises:
            LedgerRangeError: the log never signed a checkpoint of that size.
            LedgerError: the database failed.
        """
        statements = self._publication_statements()
        # SQLite: one write lock for the whole file, and a writer that finds it taken polls
        # with sleeps of 1, 2, 5, 10, ... ms (its busy handler). Taking this process's own
        # append lock first makes a publication and an append wait for each other on a
        # thread lock instead, which wakes the waiter the moment the other commits (measured under
        # load: an append that met a publication took 24 ms at the median instead of 4).
        serialized = self._appending if not self._postgres else contextlib.nullcontext()
        try:
            with serialized, writer(self._publications()).begin() as conn:
                if self._postgres:
                    statements.asynchronous_commit.execute(conn, {})
                found = statements.note.rows(conn, {"size": size})
                if not found:
                    raise LedgerRangeError(f"the log signed no checkpoint of size {size}")
                note = str(found[0][0])
                merged = add_signature_lines(note, lines)
                if merged != note:
                    statements.set_note.execute(conn, {"size": size, "note": merged})
                return bool(statements.advance.rows(conn, {"size": size}))
        except NoteError as exc:
            raise LedgerError(f"cannot add those cosignatures: {exc.detail}") from None
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None
        except self._driver_error as exc:
            raise LedgerError(f"the ledger database failed: {type(exc).__name__}: {exc}") from None

    def _publication_statements(self) -> _PublicationStatements:
        if self._publication_sql is None:
            self._publication_sql = _PublicationStatements.compile(self._engine.dialect)
        return self._publication_sql

    def _published_size(self, conn: sa.Connection) -> int:
        return max(super()._published_size(conn), self._announced[0])

    def _published_note(self, conn: sa.Connection) -> str:
        stored = super()._published_note(conn)
        size, note = self._announced
        return note if size > read_checkpoint(stored).size else stored

    def _publications(self) -> Engine:
        """The engine publications are written through: on SQLite one whose commits are not
        fsynced (synchronous=NORMAL), on PostgreSQL the same (each transaction opts out)."""
        if self._publish_engine is None:
            if self._engine.dialect.name == "sqlite":
                self._publish_engine = create_engine(
                    self._engine.url.render_as_string(hide_password=False), durable=False
                )
            else:
                self._publish_engine = self._engine
        return self._publish_engine

    def close(self) -> None:
        if self._publish_engine is not None and self._publish_engine is not self._engine:
            self._publish_engine.dispose()
        with self._appending:
            if self._lease is not None:
                self._lease.close()
        if self._file_lock is not None:
            self._file_lock.release()
        super().close()

    def _write_batch(
        self, conn: sa.Connection, tip: TreeTip, batch: Sequence[PendingEntry]
    ) -> tuple[list[AppendedEntry], SignedTip, list[tuple[NodeId, bytes]]]:
        """Write ``batch`` on top of ``tip`` inside the caller's transaction; return the entries,
        the new tip with the checkpoint signed of it, and the subtrees written.

        Raises:
            LedgerConflict: the head is no longer at ``tip.size`` (the caller rolls back).
        """
        if tip.size + len(batch) > schema.MAX_STORED_SIZE:
            raise LedgerError(f"the ledger is full at {schema.MAX_STORED_SIZE} entries")
        now = self._clock.now()
        subtrees: list[tuple[NodeId, bytes]] = []
        tree = CompactRange(
            tip.size,
            tip.peak_hashes,
            on_node=lambda level, idx, value: subtrees.append(((level, idx), value)),
        )
        entry_rows: list[tuple[object, ...]] = []
        opening_rows: list[tuple[object, ...]] = []
        written: list[tuple[int, bytes, bytes]] = []
        prev = tip.last_leaf
        for index, pending in enumerate(batch, start=tip.size):
            salts = [self._salt() for _ in pending.plates]
            data = encode_pending(
                pending,
                index=index,
                prev=prev,
                time=now,
                commitments=[
                    plate_commitment(s, p) for s, p in zip(salts, pending.plates, strict=True)
                ],
            )
            prev = leaf_hash(data)
            tree.append(prev)
            entry_rows.append((index, data))
            opening_rows.extend(
                (index, slot, plate, salt)
                for slot, (plate, salt) in enumerate(zip(pending.plates, salts, strict=True))
            )
            written.append((index, prev, data))
        note = sign_checkpoint(Checkpoint(self.origin, tree.size, tree.root()), self._signer)
        advanced = conn.execute(
            sa.update(schema.head)
            .where(schema.head.c.id == schema.HEAD_ROW, schema.head.c.size == tip.size)
            .values(size=tree.size, checkpoint=note)
        ).rowcount
        if advanced != 1:
            raise LedgerConflict(f"the ledger head is no longer at size {tip.size}")
        insert_rows(conn, schema.entries, entry_rows)
        insert_rows(conn, schema.nodes, [(schema.node_key(*n), h) for n, h in subtrees])
        insert_rows(conn, schema.openings, opening_rows)
        for position, pending in enumerate(batch):
            if pending.effect is not None:
                try:
                    pending.effect(conn, tip.size + position)
                except (IntegrityError, ActRecordedMeanwhile) as exc:
                    # Another process (a replica) recorded the same act between this one's
                    # check and this commit (a row inserted: IntegrityError; a row changed:
                    # the effect says so): neither the entry nor the record is stored, and
                    # the rest of the batch is sent again without it.
                    said = str(exc) if isinstance(exc, ActRecordedMeanwhile) else ""
                    raise ActRecordedMeanwhile(
                        said
                        or f"another gateway recorded this {pending.kind.replace('_', ' ')} "
                        "act first; it was not logged again",
                        position=position,
                    ) from None
        conn.execute(schema.checkpoints.insert().values(size=tree.size, note=note))
        if self._publish_on_append:
            conn.execute(sa.update(schema.publication).values(size=tree.size))
        appended = [AppendedEntry(index, leaf, data, note) for index, leaf, data in written]
        return appended, SignedTip(TreeTip(tree.size, tree.peak_hashes(), prev), note), subtrees

    def _salt(self) -> bytes:
        salt = self._random_bytes(SALT_SIZE)
        if len(salt) != SALT_SIZE:
            raise LedgerError(f"the randomness source returned {len(salt)} bytes, not {SALT_SIZE}")
        return salt


def _initialize(engine: Engine, signer: NoteSigner) -> str:
    """Create the head with a signed empty-tree checkpoint unless it exists; return the origin
    the database's ledger belongs to."""
    for _ in range(2):
        try:
            with writer(engine).begin() as conn:
                stored = conn.execute(sa.select(schema.head.c.origin)).scalar_one_or_none()
                if stored is not None:
                    return str(stored)
                note = sign_checkpoint(Checkpoint(signer.name, 0, EMPTY_ROOT), signer)
                conn.execute(
                    schema.head.insert().values(
                        id=schema.HEAD_ROW, origin=signer.name, size=0, checkpoint=note
                    )
                )
                conn.execute(schema.checkpoints.insert().values(size=0, note=note))
                conn.execute(schema.publication.insert().values(id=schema.HEAD_ROW, size=0))
                return signer.name
        except IntegrityError:
            continue  # another process created the head between our read and insert
    raise LedgerError("could not create the ledger head")


@dataclass(frozen=True)
class _PublicationStatements:
    """``publish`` runs at every witnessed checkpoint, on the path of every query: straight on
    the driver (alprfed.db.DriverStatement), which costs a fraction of SQLAlchemy's statements."""

    asynchronous_commit: DriverStatement
    note: DriverStatement
    set_note: DriverStatement
    advance: DriverStatement

    @classmethod
    def compile(cls, dialect: Dialect) -> _PublicationStatements:
        size: sa.BindParameter[int] = sa.bindparam("size")
        return cls(
            asynchronous_commit=DriverStatement(
                sa.text("SET LOCAL synchronous_commit TO OFF"), dialect
            ),
            note=DriverStatement(
                sa.select(schema.checkpoints.c.note).where(schema.checkpoints.c.size == size),
                dialect,
            ),
            set_note=DriverStatement(
                sa.update(schema.checkpoints)
                .where(schema.checkpoints.c.size == size)
                .values(note=sa.bindparam("note")),
                dialect,
            ),
            advance=DriverStatement(
                sa.update(schema.publication)
                .where(schema.publication.c.size < size)
                .values(size=size)
                .returning(schema.publication.c.size),  # a result to fetch on every driver
                dialect,
            ),
        )
