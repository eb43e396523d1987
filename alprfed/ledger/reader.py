"""Reading the ledger from its database: entries, checkpoints, proofs, receipts, openings.

Proofs never recompute anything from leaves: a proof hash is the root of a leaf range made of a
few complete subtrees (alprfed.ledger.merkle), and the store keeps every complete subtree's hash
by (level, index), so any proof is one query of O(log n) primary-key lookups.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from alprfed.db import create_engine
from alprfed.errors import (
    FailedPrecondition,
    LedgerError,
    LedgerRangeError,
    LedgerVerificationError,
    NotFound,
)
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.entry import decode_entry, plate_commitment
from alprfed.ledger.merkle import (
    NodeId,
    ProofPlan,
    assemble,
    consistency_plan,
    inclusion_plan,
    plan_nodes,
)
from alprfed.ledger.tlog_proof import TlogProof
from alprfed.models import normalize_plate

MAX_ENTRIES_PER_READ = 10_000  # bounds the memory of one entries() call


def storage_error(exc: SQLAlchemyError) -> LedgerError:
    """A LedgerError for a database failure that names the failure but never its parameters
    (they can hold plates headed for the openings table)."""
    original = getattr(exc, "orig", None) or exc
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return LedgerError(f"ledger storage failed: {type(original).__name__}: {first_line}")


@contextmanager
def disposed_on_failure(engine: Engine) -> Iterator[None]:
    """Dispose of ``engine`` if the block fails (opening a store must not leak a pool);
    database failures become LedgerErrors."""
    try:
        yield
    except SQLAlchemyError as exc:
        engine.dispose()
        raise storage_error(exc) from None
    except BaseException:
        engine.dispose()
        raise


class LedgerReader:
    """Read access to one ledger database. Thread-safe: each call uses its own connection."""

    def __init__(self, engine: Engine, origin: str) -> None:
        self._engine = engine
        self.origin = origin
        # Reads need no transaction: entries, subtrees and checkpoints never change once
        # written, and each read takes the head first. On PostgreSQL autocommit spares a
        # proof the BEGIN and ROLLBACK round trips; SQLite reads begin locally anyway.
        self._reads = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @classmethod
    def open_readonly(cls, url: str) -> LedgerReader:
        """Open an existing ledger for reading (auditors, the CLI); never creates or upgrades.

        Raises:
            ConfigError: a malformed or unsupported URL, or no such SQLite file.
            LedgerError: the database holds no ledger, or one of another schema version.
        """
        engine = create_engine(url, durable=True, must_exist=True)
        with disposed_on_failure(engine), engine.connect() as conn:
            version = schema.MIGRATIONS.current_version(conn)
            origin = (
                conn.execute(sa.select(schema.head.c.origin)).scalar_one_or_none()
                if version
                else None
            )
        if version != schema.MIGRATIONS.latest or origin is None:
            engine.dispose()
            raise LedgerError(
                "this database holds no alprfed ledger (or one of schema version "
                f"{version}, not {schema.MIGRATIONS.latest})"
            )
        return cls(engine, origin)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    # --- the head and the checkpoints -----------------------------------------------------

    def size(self) -> int:
        """The number of entries committed (the size of the newest checkpoint)."""
        with self._reads.connect() as conn:
            return self._size(conn)

    def latest_checkpoint(self) -> str:
        """The newest *published* checkpoint, verbatim, with the witness cosignatures collected
        for it: what receipts, evidence and every public view are built on."""
        with self._reads.connect() as conn:
            return self._published_note(conn)

    def published_size(self) -> int:
        with self._reads.connect() as conn:
            return self._published_size(conn)

    def head_checkpoint(self) -> str:
        """The newest checkpoint the log signed, published or not (what witnesses are sent)."""
        with self._reads.connect() as conn:
            return str(conn.execute(sa.select(schema.head.c.checkpoint)).scalar_one())

    def stored_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """The stored hashes of the complete subtrees ``ids`` (derived data: ``ledger verify``
        holds each against the entries)."""
        try:
            with self._reads.connect() as conn:
                return fetch_nodes(conn, ids)
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None

    def checkpoints(
        self, min_size: int = 0, max_size: int | None = None, *, limit: int | None = None
    ) -> list[str]:
        """Every checkpoint the log signed with min_size <= size <= max_size, oldest first;
        at most ``limit`` of them when given."""
        query = sa.select(schema.checkpoints.c.note).where(schema.checkpoints.c.size >= min_size)
        if max_size is not None:
            query = query.where(schema.checkpoints.c.size <= max_size)
        query = query.order_by(schema.checkpoints.c.size)
        if limit is not None:
            query = query.limit(limit)
        with self._reads.connect() as conn:
            return list(conn.execute(query).scalars())

    # --- entries ----------------------------------------------------------------------------

    def entries(self, start: int, end: int) -> list[bytes]:
        """The stored bytes of the entries with start <= index < end, in index order.

        Returns what the table holds, so a damaged table shows as a gap or a surplus that
        verification reports; it is not padded or cut to the head.

        Raises:
            LedgerRangeError: a negative or inverted range, or more than MAX_ENTRIES_PER_READ.
        """
        return [data for _, data in self.indexed_entries(start, end)]

    def indexed_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """As ``entries``, each with the index it is stored under.

        Raises:
            LedgerRangeError: a negative or inverted range, or more than MAX_ENTRIES_PER_READ.
        """
        if not 0 <= start <= end or end - start > MAX_ENTRIES_PER_READ:
            raise LedgerRangeError(
                f"entries [{start}, {end}) is not a range of at most {MAX_ENTRIES_PER_READ} indices"
            )
        query = (
            sa.select(schema.entries.c.idx, schema.entries.c.data)
            .where(schema.entries.c.idx >= start, schema.entries.c.idx < end)
            .order_by(schema.entries.c.idx)
        )
        with self._reads.connect() as conn:
            return [(int(idx), bytes(data)) for idx, data in conn.execute(query)]

    def entry(self, index: int) -> bytes:
        """Raises: LedgerRangeError when index is not below the size."""
        with self._reads.connect() as conn:
            return self._entry(conn, index, self._size(conn))

    # --- proofs -----------------------------------------------------------------------------

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """The RFC 9162 §2.1.3 audit path of entry ``index`` in the tree of ``tree_size``.

        Raises:
            LedgerRangeError: index >= tree_size, or tree_size beyond the log's size.
        """
        plan = inclusion_plan(index, tree_size)
        with self._reads.connect() as conn:
            return self._proof(conn, plan, tree_size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 §2.1.4 proof that the tree of ``new_size`` extends that of ``old_size``.

        Raises:
            LedgerRangeError: old_size is 0 (see docs/LEDGER.md), old_size > new_size, or
                new_size beyond the log's size.
        """
        plan = consistency_plan(old_size, new_size)
        with self._reads.connect() as conn:
            return self._proof(conn, plan, new_size)

    def tlog_proof(self, index: int, *, checkpoint: str | None = None) -> str:
        """An offline receipt for entry ``index`` against the newest published checkpoint
        (tlog-proof@v1 with the entry's bytes in the extra line, and the checkpoint with its
        witness cosignatures).

        ``checkpoint``: against this note of the log instead, taken as given (the gateway
        builds a receipt on its batch's checkpoint while the witnesses cosign it).

        Raises:
            LedgerRangeError: no such entry, or a ``checkpoint`` that does not cover it.
            FailedPrecondition: the entry is not yet covered by a published checkpoint.
        """
        with self._reads.connect() as conn:
            note = self._published_note(conn) if checkpoint is None else checkpoint
            size = read_checkpoint(note).size
            if size <= index < self._size(conn):
                if checkpoint is not None:
                    raise LedgerRangeError(f"a checkpoint of size {size} lacks entry {index}")
                raise FailedPrecondition(
                    f"entry {index} is not yet in a published (witnessed) checkpoint; "
                    f"the log publishes {size} entries"
                )
            data = self._entry(conn, index, size)
            plan = inclusion_plan(index, size)
            path = _assemble_or_fail(plan, fetch_nodes(conn, plan_nodes(plan)))
        return TlogProof(index, tuple(path), note, extra=data).to_text()

    # --- plate commitments ------------------------------------------------------------------

    def open_commitments(self, index: int) -> list[tuple[str, bytes]]:
        """Plate and salt of each plate commitment of entry ``index``, in slot order.

        Each opening is checked against the commitment in the entry before it is returned.

        Raises:
            LedgerRangeError: no such entry.
            NotFound: the entry has commitments but their openings were purged.
            LedgerVerificationError: an opening does not match its commitment.
        """
        query = (
            sa.select(schema.openings.c.slot, schema.openings.c.plate, schema.openings.c.salt)
            .where(schema.openings.c.entry_idx == index)
            .order_by(schema.openings.c.slot)
        )
        with self._reads.connect() as conn:
            data = self._entry(conn, index, self._size(conn))
            rows = conn.execute(query).all()
        commitments = decode_entry(data).commitments
        if not commitments:
            return []
        if not rows:
            raise NotFound(
                f"the plate commitments of entry {index} can no longer be opened: "
                "their openings were purged"
            )
        if [row.slot for row in rows] != list(range(len(commitments))):
            raise LedgerVerificationError(
                "the stored openings do not match the entry's commitments slot for slot",
                index=index,
            )
        openings = [(str(row.plate), bytes(row.salt)) for row in rows]
        for slot, (plate, salt) in enumerate(openings):
            if not hmac.compare_digest(plate_commitment(salt, plate), commitments[slot]):
                raise LedgerVerificationError(
                    f"opening of slot {slot} does not match its commitment", index=index
                )
        return openings

    def match_commitment(self, index: int, plate: str) -> int | None:
        """Which slot of entry ``index`` commits to ``plate`` (normalized), or None.

        Links an entry to a plate known from elsewhere (a registered warrant) without the
        ledger ever showing the plate.

        Raises:
            InvalidPlate: ``plate`` is not a plate.
            LedgerRangeError, NotFound, LedgerVerificationError: as open_commitments.
        """
        wanted = normalize_plate(plate)
        commitments = decode_entry(self.entry(index)).commitments
        for slot, (_, salt) in enumerate(self.open_commitments(index)):
            if hmac.compare_digest(plate_commitment(salt, wanted), commitments[slot]):
                return slot
        return None

    # --- helpers ----------------------------------------------------------------------------

    def _published_size(self, conn: sa.Connection) -> int:
        return int(conn.execute(_PUBLISHED_SIZE).scalar_one())

    def _published_note(self, conn: sa.Connection) -> str:
        note = conn.execute(_PUBLISHED_NOTE).scalar_one_or_none()
        if note is None:
            raise LedgerError("the published checkpoint is missing: damaged storage")
        return str(note)

    @staticmethod
    def _size(conn: sa.Connection) -> int:
        return int(conn.execute(sa.select(schema.head.c.size)).scalar_one())

    @staticmethod
    def _proof(conn: sa.Connection, plan: ProofPlan, tree_size: int) -> list[bytes]:
        """The proof hashes of ``plan`` for a tree of ``tree_size``: the log's size and the
        subtree hashes come in one round trip."""
        keys = [schema.node_key(*node) for node in plan_nodes(plan)]
        rows = conn.execute(_SIZE_AND_NODES[conn.dialect.name], {"keys": keys}).all()
        size = int(rows[0].size)
        if tree_size > size:
            raise LedgerRangeError(f"tree size {tree_size} is beyond the log's size {size}")
        hashes = {
            schema.node_of_key(int(r.node)): bytes(r.hash) for r in rows if r.node is not None
        }
        return _assemble_or_fail(plan, hashes)

    @staticmethod
    def _entry(conn: sa.Connection, index: int, size: int) -> bytes:
        if not 0 <= index < size:
            raise LedgerRangeError(f"entry {index} does not exist; the log has {size} entries")
        data = conn.execute(
            sa.select(schema.entries.c.data).where(schema.entries.c.idx == index)
        ).scalar_one_or_none()
        if data is None:
            raise LedgerError(
                f"entry {index} is missing from the entries table: the ledger "
                "is damaged; run `alprfed ledger verify`"
            )
        return bytes(data)


def _assemble_or_fail(plan: ProofPlan, hashes: dict[NodeId, bytes]) -> list[bytes]:
    try:
        return assemble(plan, hashes)
    except KeyError as missing:
        raise LedgerError(
            f"subtree {missing.args[0]} is missing: the ledger's node store "
            "is damaged; run `alprfed ledger verify`"
        ) from None


def _is_wanted(dialect: str) -> sa.ColumnElement[bool]:
    """``node`` is one of the keys bound as "keys": an expanding IN list, or on PostgreSQL one
    array parameter (``= ANY``), which spares rendering a parameter per key on every proof."""
    if dialect == "postgresql":
        return schema.nodes.c.node == sa.any_(
            sa.bindparam("keys", type_=postgresql.ARRAY(sa.BigInteger))
        )
    return schema.nodes.c.node.in_(sa.bindparam("keys", expanding=True))


_PUBLISHED_SIZE = sa.select(schema.publication.c.size)
_PUBLISHED_NOTE = sa.select(schema.checkpoints.c.note).select_from(
    schema.publication.join(
        schema.checkpoints, schema.checkpoints.c.size == schema.publication.c.size
    )
)

# The head's size with each wanted subtree (or one row of NULLs): one round trip per proof.
_SIZE_AND_NODES = {
    dialect: sa.select(schema.head.c.size, schema.nodes.c.node, schema.nodes.c.hash).select_from(
        schema.head.outerjoin(schema.nodes, _is_wanted(dialect))
    )
    for dialect in ("postgresql", "sqlite")
}
_FETCH_NODES = {
    dialect: sa.select(schema.nodes.c.node, schema.nodes.c.hash).where(_is_wanted(dialect))
    for dialect in ("postgresql", "sqlite")
}


def fetch_nodes(conn: sa.Connection, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
    """The stored hashes of the complete subtrees ``ids``, in one indexed query."""
    if not ids:
        return {}
    keys = [schema.node_key(*node) for node in ids]
    rows = conn.execute(_FETCH_NODES[conn.dialect.name], {"keys": keys})
    return {schema.node_of_key(int(key)): bytes(value) for key, value in rows}
