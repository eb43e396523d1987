"""The bytes of tlog-tiles resources, read from the ledger's database (alprfed.ledger.tiles).

Only what the *published* checkpoint covers is served: a tile or bundle whose every hash is a
complete subtree of the published tree (``TileRef.covered_by``). Such bytes never change, which
is what lets HTTP caches and CDNs keep them forever. A tile is one indexed range query: the
store keys subtrees by ``node_key(height, index)``, so the 256 hashes of a tile are one
contiguous range of the primary key.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from alprfed.errors import LedgerError, NotFound
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.reader import LedgerReader, storage_error
from alprfed.ledger.tiles import TileRef, encode_bundle, tile_node_ids


class TileNotFound(NotFound):
    """No such tile or bundle in the published tree (yet): HTTP 404."""


class TileSource:
    """Tiles, entry bundles and the checkpoint of one ledger. Thread-safe.

    The published size only grows, so the largest size seen so far is a safe lower bound: a
    resource it covers is served without reading the checkpoint again, and only a resource
    beyond it makes the source look for a newer checkpoint.
    """

    def __init__(self, reader: LedgerReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._known_size = 0
        # As LedgerReader: tiles are immutable rows, so reads need no transaction, and on
        # PostgreSQL autocommit spares each tile the BEGIN and ROLLBACK round trips.
        engine = reader.engine
        self._reads = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @property
    def reader(self) -> LedgerReader:
        return self._reader

    @property
    def reads(self) -> Engine:
        """The engine tiles are read with (autocommit on PostgreSQL)."""
        return self._reads

    def checkpoint(self) -> str:
        """The published checkpoint note, verbatim (with any witness cosignatures).

        Raises:
            LedgerError: the database failed or holds a malformed checkpoint.
        """
        try:
            note = self._reader.latest_checkpoint()
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None
        self._remember(read_checkpoint(note).size)
        return note

    def published_size(self) -> int:
        """The size of the published checkpoint (read now).

        Raises:
            LedgerError: as ``checkpoint``.
        """
        return read_checkpoint(self.checkpoint()).size

    def read(self, ref: TileRef) -> bytes:
        """The bytes of ``ref``: a bundle or a tile.

        Raises:
            TileNotFound: the published tree does not cover ``ref``.
            LedgerError: the database failed, or is missing rows it should hold.
            BundleError: a stored entry too large for a bundle.
        """
        return self.bundle(ref) if ref.entries else self.tile(ref)

    def tile(self, ref: TileRef) -> bytes:
        """The concatenated hashes of tile ``ref``.

        Raises:
            TileNotFound, LedgerError: as ``read``.
        """
        if ref.entries:
            raise TileNotFound(f"{ref.path} is an entry bundle, not a tile")
        self._require_covered(ref)
        ids = tile_node_ids(ref)
        first, last = schema.node_key(*ids[0]), schema.node_key(*ids[-1])
        query = (
            sa.select(schema.nodes.c.node, schema.nodes.c.hash)
            .where(schema.nodes.c.node >= first, schema.nodes.c.node <= last)
            .order_by(schema.nodes.c.node)
        )
        try:
            with self._reads.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None
        if [int(row.node) for row in rows] != list(range(first, last + 1)):
            raise LedgerError(
                f"subtrees of {ref.path} are missing: the ledger's node store is damaged; "
                "run `alprfed ledger verify`"
            )
        return b"".join(bytes(row.hash) for row in rows)

    def bundle(self, ref: TileRef) -> bytes:
        """The entry bundle ``ref``: its entries, each prefixed with its uint16 length.

        Raises:
            TileNotFound, LedgerError, BundleError: as ``read``.
        """
        if not ref.entries:
            raise TileNotFound(f"{ref.path} is a tile, not an entry bundle")
        self._require_covered(ref)
        try:
            rows = self._reader.indexed_entries(ref.start, ref.end)
        except SQLAlchemyError as exc:
            raise storage_error(exc) from None
        if [index for index, _ in rows] != list(range(ref.start, ref.end)):
            raise LedgerError(
                f"entries of {ref.path} are missing: the ledger is damaged; "
                "run `alprfed ledger verify`"
            )
        return encode_bundle(data for _, data in rows)

    def _require_covered(self, ref: TileRef) -> None:
        if ref.covered_by(self._known_size):
            return
        # Beyond what we saw: perhaps a newer checkpoint was published since.
        size = self.published_size()
        if not ref.covered_by(size):
            raise TileNotFound(f"{ref.path} is not in the published tree of size {size}")

    def _remember(self, size: int) -> None:
        with self._lock:
            self._known_size = max(self._known_size, size)
