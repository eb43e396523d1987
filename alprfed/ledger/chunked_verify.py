"""Verify a large ledger database in parallel: every entry, every subtree, every checkpoint.

The sequential walk (alprfed.ledger.replay) reads and hashes every entry in one process, which
alone takes about 6 s per million entries -- a minute for a year of national searches before
any entry is decoded. Here the tree is cut into aligned chunks of ``2**CHUNK_LEVEL`` leaves,
and each worker process reads its own chunk straight from the database and does everything
the walk would do for it:

- checks every entry (canonical decoding, its index, its ``prev``: the first entry's is checked
  against the hash of the entry before the chunk, read by the worker itself);
- recomputes every complete subtree inside the chunk and compares it with the stored hash;
- returns the chunk's root, and for every checkpoint size ``m`` that falls in it the root of
  the peaks inside the chunk.

Because a chunk is aligned and a power of two, the peaks of the tree of any size ``m`` are the
complete subtrees made of whole chunks before ``m``'s chunk followed by the peaks inside it
(RFC 9162 §2.1.1 splits at the largest power of two below the size), and a root folds its
peaks from the right, so ``root(m)`` is the fold of the whole-chunk peaks and that in-chunk
root. This process rebuilds the root at every checkpoint from the chunk roots alone, compares
it with the signed root, and checks the stored subtrees above chunk level itself.

It only ever answers "the whole ledger verifies". On any finding it returns None and the caller
runs the sequential walk, which names the first bad entry exactly as it always has -- so a
finding costs a second pass, and the messages and indexes a monitor sees do not depend on how
the ledger was verified.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from alprfed.db import DriverStatement
from alprfed.errors import AlprfedError
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import Checkpoint
from alprfed.ledger.entry import GENESIS_PREV, entry_fault
from alprfed.ledger.merkle import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    NODE_PREFIX,
    CompactRange,
    NodeId,
    complete_subtrees,
    fold_right,
    leaf_hash,
    node_hash,
)
from alprfed.ledger.reader import LedgerReader

CHUNK_LEVEL = 16  # 65,536 entries per chunk: a few seconds of one worker's time
READ_PAGE = 8_192  # entries per read inside a chunk
NODE_BATCH = 20_000  # stored subtree hashes fetched per query
CHUNKS_IN_FLIGHT_PER_WORKER = 2  # bounds the memory of results not yet combined

_sha256 = hashlib.sha256
# Straight on the driver's cursor (alprfed.db.DriverStatement): SQLAlchemy's per-row result
# handling cost more than reading the row. Node keys of one level are consecutive integers
# (schema.node_key), so a chunk's stored subtrees are one range per level, compared in order.
_ENTRY_DATA = (
    sa.select(schema.entries.c.data)
    .where(
        schema.entries.c.idx >= sa.bindparam("start"), schema.entries.c.idx < sa.bindparam("end")
    )
    .order_by(schema.entries.c.idx)
)
_NODE_HASHES = (
    sa.select(schema.nodes.c.hash)
    .where(schema.nodes.c.node >= sa.bindparam("low"), schema.nodes.c.node < sa.bindparam("high"))
    .order_by(schema.nodes.c.node)
)


@dataclass(frozen=True)
class ChunkResult:
    """What one worker found in its chunk; ``sound`` is False on any finding."""

    sound: bool
    end_peaks: tuple[bytes, ...] = ()  # peaks of the chunk's leaves (one: its root, if full)
    inner_roots: Mapping[int, bytes] = field(default_factory=dict)  # size -> in-chunk root
    remembered: tuple[bytes, ...] = ()  # the in-chunk peaks at the size asked to remember


@dataclass(frozen=True)
class ChunkedTree:
    """The rebuilt tree: its peaks at the size asked to remember, and its final peaks."""

    remembered_peaks: tuple[bytes, ...] | None
    final_peaks: tuple[bytes, ...]


_READERS: dict[str, LedgerReader] = {}  # one open reader per database, per worker process


def _reader(url: str) -> LedgerReader:
    if url not in _READERS:
        _READERS[url] = LedgerReader.open_readonly(url)
    return _READERS[url]


def check_chunk(
    url: str, chunk: int, end: int, sizes: Sequence[int], remember: int | None, level: int
) -> ChunkResult:
    """Check chunk ``chunk`` of the ledger at ``url`` (its leaves below ``end``), returning
    its in-chunk root at each of ``sizes`` and its peaks at ``remember`` (tree sizes inside
    it). Runs in a worker process."""
    reader = _reader(url)
    try:
        return _check_chunk(reader, chunk, end, sizes, remember, level)
    except (AlprfedError, SQLAlchemyError, reader.engine.dialect.loaded_dbapi.Error):
        return ChunkResult(sound=False)  # unreadable: the sequential walk says what it is


def _check_chunk(
    reader: LedgerReader,
    chunk: int,
    end: int,
    sizes: Sequence[int],
    remember: int | None,
    level: int,
) -> ChunkResult:
    start = chunk << level
    stop = min(end, start + (1 << level))
    dialect = reader.engine.dialect
    entry_rows = DriverStatement(_ENTRY_DATA, dialect)
    with reader.engine.connect() as conn:
        if start == 0:
            prev = GENESIS_PREV
        else:
            before = entry_rows.rows(conn, {"start": start - 1, "end": start})
            if len(before) != 1:
                return ChunkResult(sound=False)
            prev = leaf_hash(before[0][0])
        leaves: list[bytes] = []
        position = start
        while position < stop:
            page = entry_rows.rows(
                conn, {"start": position, "end": min(stop, position + READ_PAGE)}
            )
            if not page:
                return ChunkResult(sound=False)  # missing entries
            for (data,) in page:
                if entry_fault(data, position, prev) is not None:
                    return ChunkResult(sound=False)
                prev = _sha256(LEAF_PREFIX + data).digest()
                leaves.append(prev)
                position += 1
        if position != stop:
            return ChunkResult(sound=False)
        levels = _complete_levels(leaves)
        node_rows = DriverStatement(_NODE_HASHES, dialect)
        for height, hashes in enumerate(levels):
            first = schema.node_key(height, start >> height)
            stored = node_rows.rows(conn, {"low": first, "high": first + len(hashes)})
            if [bytes(row[0]) for row in stored] != hashes:
                return ChunkResult(sound=False)  # a stored subtree is missing or wrong

    def subtrees(size: int) -> list[bytes]:
        return [levels[n][i - (start >> n)] for n, i in complete_subtrees(start, size)]

    inner_roots = {size: fold_right(subtrees(size)) for size in sizes}
    # ``remember`` is the same for every chunk; only the one it ends in has its peaks.
    remembered = (
        tuple(subtrees(remember)) if remember is not None and start < remember <= stop else ()
    )
    return ChunkResult(True, tuple(subtrees(stop)), inner_roots, remembered)


def _complete_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree over ``leaves`` (an aligned run starting at a multiple of a
    power of two at least its length), level by level from the leaves up: RFC 9162 §2.1.1's
    interior nodes, built a level at a time instead of leaf by leaf."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [
                _sha256(NODE_PREFIX + below[i] + below[i + 1]).digest()
                for i in range(0, len(below) - 1, 2)
            ]
        )
    return levels


def _stored_match(reader: LedgerReader, heard: dict[NodeId, bytes]) -> bool:
    stored = reader.stored_nodes(list(heard))
    same = all(stored.get(node) == value for node, value in heard.items())
    heard.clear()
    return same


def verify_in_chunks(
    url: str,
    checkpoints: Sequence[Checkpoint],
    *,
    end: int,
    remember_size: int | None,
    workers: int,
    source: LedgerReader,
    chunk_level: int = CHUNK_LEVEL,
    on_progress: Callable[[int], None] | None = None,
) -> ChunkedTree | None:
    """Rebuild the tree of the first ``end`` leaves of the ledger at ``url`` in ``workers``
    processes; None unless every entry and subtree is sound and every checkpoint's signed root
    (already signature-checked by the caller) is the rebuilt one. The subtrees above chunk
    level are compared with the stored hashes of ``source`` (the same database) here.
    ``on_progress`` is called with how many more entries were checked, once per chunk.
    """
    signed = {c.size: c.root for c in checkpoints}
    if any(size > end for size in signed) or (remember_size or 0) > end:
        return None
    chunk_count = (end + (1 << chunk_level) - 1) >> chunk_level
    by_chunk: dict[int, list[int]] = {}
    for size in sorted(signed):
        if size:
            by_chunk.setdefault((size - 1) >> chunk_level, []).append(size)
    remember_chunk = None if not remember_size else (remember_size - 1) >> chunk_level
    above: dict[NodeId, bytes] = {}
    chunk_tree = CompactRange(
        on_node=lambda level, index, value: (
            above.__setitem__((level + chunk_level, index), value) if level else None
        )
    )
    if 0 in signed and signed[0] != EMPTY_ROOT:
        return None
    remembered: tuple[bytes, ...] | None = () if remember_size == 0 else None
    final: tuple[bytes, ...] = ()
    context = multiprocessing.get_context("spawn")  # never fork a caller's threads
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        chunks = _in_order(
            pool, url, chunk_count, end, by_chunk, remember_size, workers, chunk_level
        )
        for chunk, result in chunks:
            if not result.sound:
                return None
            whole = chunk_tree.peak_hashes()  # the subtrees of every chunk before this one
            for size, inner_root in result.inner_roots.items():
                if _fold([*whole, inner_root]) != signed[size]:
                    return None
            if chunk == remember_chunk:
                remembered = (*whole, *result.remembered)
            if (chunk + 1) << chunk_level <= end:
                (root,) = result.end_peaks
                chunk_tree.append(root)
            else:
                final = (*whole, *result.end_peaks)
            if len(above) >= NODE_BATCH and not _stored_match(source, above):
                return None
            if on_progress is not None:
                on_progress(min(end, (chunk + 1) << chunk_level) - (chunk << chunk_level))
    if end % (1 << chunk_level) == 0:
        final = tuple(chunk_tree.peak_hashes())
    if not _stored_match(source, above):
        return None
    return ChunkedTree(remembered, final)


def _in_order(
    pool: ProcessPoolExecutor,
    url: str,
    chunk_count: int,
    end: int,
    by_chunk: Mapping[int, list[int]],
    remember: int | None,
    workers: int,
    level: int,
) -> Iterator[tuple[int, ChunkResult]]:
    in_flight: list[tuple[int, Future[ChunkResult]]] = []
    for chunk in range(chunk_count):
        sizes = by_chunk.get(chunk, [])
        in_flight.append((chunk, pool.submit(check_chunk, url, chunk, end, sizes, remember, level)))
        while len(in_flight) > workers * CHUNKS_IN_FLIGHT_PER_WORKER:
            done, future = in_flight.pop(0)
            yield done, future.result()
    for done, future in in_flight:
        yield done, future.result()


def _fold(peak_hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from its peaks, largest (leftmost) first (RFC 9162 §2.1.1)."""
    root = peak_hashes[-1]
    for peak in reversed(peak_hashes[:-1]):
        root = node_hash(peak, root)
    return root
