"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the log as static tiles and entry bundles.

Everything here is pure: resource paths, which tiles a tree of a given size consists of, which
stored complete subtrees make up a tile, and the entry-bundle encoding. The spec is vendored
unchanged as tests/vectors/c2sp/tlog-tiles.md; docs/TILES.md describes every byte.

A tile at level ``L`` holds consecutive Merkle Tree Hashes at tree height ``8 * L``: hash ``i``
of tile ``(L, N)`` is MTH(D[(N*256+i) * 256**L : (N*256+i+1) * 256**L]) (tlog-tiles, "Merkle
Tree"), which is exactly the complete subtree that alprfed.ledger.merkle names
``(8 * L, N * 256 + i)`` and the store keeps. Paths are relative to the log's prefix and carry
no leading slash (``tile/0/x001/x234/067``), so they serve as URL paths and as file names.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from alprfed.errors import InvalidRequest, LedgerVerificationError
from alprfed.ledger.entry import MAX_ENTRY_BYTES
from alprfed.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE, NodeId

TILE_HEIGHT = 8  # tlog-tiles: a tile is a subtree of height 8 ...
TILE_WIDTH = 1 << TILE_HEIGHT  # ... so a full tile holds 256 hashes
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE  # 8,192 bytes
MAX_TILE_LEVEL = 63  # "<L> MUST be a decimal ASCII integer between 0 and 63"
BUNDLE_LENGTH_BYTES = 2  # "big-endian uint16 length-prefixed log entries"
# 65,535; alprfed.ledger.entry bounds entries (MAX_ENTRY_BYTES) so that every one fits.
MAX_BUNDLE_ENTRY_BYTES = (1 << (8 * BUNDLE_LENGTH_BYTES)) - 1
CHECKPOINT_PATH = "checkpoint"
TILE_DIR = "tile"
ENTRIES_DIR = "entries"
# Longest path we parse: a level, 7 index elements (enough for any index below 2**63) and a
# width. Refusing longer input first keeps garbage from costing more than a string compare.
MAX_TILE_PATH_LENGTH = 64
_INDEX_DIGITS = 3  # "zero-padded 3-digit path elements"
_INDEX_ELEMENT_BASE = 10**_INDEX_DIGITS
_MAX_INDEX_ELEMENTS = 7

_LEVEL = re.compile(r"0|[1-9][0-9]?")  # no leading zeros; 0..99 here, then range-checked
_INDEX_ELEMENT = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")  # no leading zeros; 1..999 here, then range-checked
_LENGTH = struct.Struct(">H")


class TileError(InvalidRequest):
    """A path or tile reference that C2SP tlog-tiles does not allow (or no tree can have)."""


class BundleError(LedgerVerificationError):
    """An entry bundle that does not decode, or an entry too large to be put in one."""


@dataclass(frozen=True)
class TileRef:
    """One tlog-tiles resource: the tile ``(level, index)``, or the entry bundle ``index``
    (``entries``, always level 0); ``width`` is None for a full tile, else 1..255 hashes.

    Raises (on construction):
        TileError: a level outside 0..63, a negative index, a width outside 1..255, a bundle
            above level 0, or a tile starting beyond any tree size.
    """

    level: int
    index: int
    width: int | None = None
    entries: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_TILE_LEVEL:
            raise TileError(f"tile level {self.level} is not in 0..{MAX_TILE_LEVEL}")
        if self.entries and self.level != 0:
            raise TileError("entry bundles are level-0 resources")
        if self.index < 0:
            raise TileError(f"tile index {self.index} is negative")
        if self.width is not None and not 0 < self.width < TILE_WIDTH:
            raise TileError(f"partial tile width {self.width} is not in 1..{TILE_WIDTH - 1}")
        if self.start > MAX_TREE_SIZE:
            raise TileError("the tile starts beyond any tree size")

    @property
    def hash_count(self) -> int:
        """The number of hashes (or entries) in the resource: 256, or the partial width."""
        return TILE_WIDTH if self.width is None else self.width

    @property
    def start(self) -> int:
        """The tile's start index, n * 256**(l+1): its first leaf."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def end(self) -> int:
        """One past the last leaf the resource's hashes cover: (n*256 + width) * 256**l."""
        return (self.index * TILE_WIDTH + self.hash_count) << (TILE_HEIGHT * self.level)

    @property
    def path(self) -> str:
        if self.entries:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)

    def covered_by(self, size: int) -> bool:
        """Whether a tree of ``size`` leaves holds every hash of this resource, all of them
        complete subtrees: then its bytes never change (what the log may serve for it)."""
        return self.end <= size


def _index_elements(index: int) -> str:
    """tlog-tiles: "zero-padded 3-digit path elements. All but the last path element MUST
    begin with an x" (1234067 -> x001/x234/067)."""
    if index < 0:
        raise TileError(f"tile index {index} is negative")
    groups = [f"{index % _INDEX_ELEMENT_BASE:03d}"]
    index //= _INDEX_ELEMENT_BASE
    while index:
        groups.append(f"x{index % _INDEX_ELEMENT_BASE:03d}")
        index //= _INDEX_ELEMENT_BASE
    return "/".join(reversed(groups))


def _suffix(width: int | None) -> str:
    if width is None:
        return ""
    if not 0 < width < TILE_WIDTH:
        raise TileError(f"partial tile width {width} is not in 1..{TILE_WIDTH - 1}")
    return f".p/{width}"


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]``, relative to the log's prefix.

    Raises:
        TileError: a level outside 0..63, a negative index or a width outside 1..255.
    """
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise TileError(f"tile level {level} is not in 0..{MAX_TILE_LEVEL}")
    return f"{TILE_DIR}/{level}/{_index_elements(index)}{_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    """``tile/entries/<N>[.p/<W>]``, relative to the log's prefix.

    Raises:
        TileError: a negative index or a width outside 1..255.
    """
    return f"{TILE_DIR}/{ENTRIES_DIR}/{_index_elements(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> TileRef:
    """The resource named by ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``.

    Strict: exactly the spelling ``tile_path`` and ``entries_path`` produce, so each resource
    has one path (no leading zeros in L or W, no ``x000`` leading element, no empty elements).

    Raises:
        TileError: anything else.
    """
    if len(path) > MAX_TILE_PATH_LENGTH or not path.isascii():
        raise TileError("not a tile path")
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != TILE_DIR:
        raise TileError("not a tile path")
    is_entries = parts[1] == ENTRIES_DIR
    if not is_entries and not _LEVEL.fullmatch(parts[1]):
        raise TileError("not a tile path: bad level")
    rest = parts[2:]
    width: int | None = None
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _WIDTH.fullmatch(rest[-1]):
            raise TileError("not a tile path: bad partial width")
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][: -len(".p")]]
    if not 0 < len(rest) <= _MAX_INDEX_ELEMENTS:
        raise TileError("not a tile path: bad index")
    *upper, last = rest
    if not _INDEX_ELEMENT.fullmatch(last) or not all(
        element[:1] == "x" and _INDEX_ELEMENT.fullmatch(element[1:]) for element in upper
    ):
        raise TileError("not a tile path: bad index")
    if upper and upper[0] == "x000":
        raise TileError("not a tile path: index with a leading zero element")
    index = 0
    for element in rest:
        index = index * _INDEX_ELEMENT_BASE + int(element.removeprefix("x"))
    ref = TileRef(0 if is_entries else int(parts[1]), index, width, is_entries)
    if ref.path != path:  # defence in depth: one resource, one spelling
        raise TileError("not a canonical tile path")
    return ref


def tiles_for_size(size: int) -> Iterator[TileRef]:
    """The tiles a tree of ``size`` leaves consists of, level by level from 0, full tiles
    first: while the level has hashes, ``count // 256`` full tiles and, when ``count % 256``
    is not zero, one partial tile of that width, where ``count = size // 256**L`` is the
    number of complete level-L hashes ("floor(s / 256**l) mod 256 entries"). Empty tiles are
    never yielded ("Empty tiles MUST NOT be served").

    Raises:
        TileError: a size outside 0..2**63 - 1.
    """
    _check_size(size)
    level, count = 0, size
    while count:
        yield from (TileRef(level, n) for n in range(count // TILE_WIDTH))
        if count % TILE_WIDTH:
            yield TileRef(level, count // TILE_WIDTH, count % TILE_WIDTH)
        level, count = level + 1, count // TILE_WIDTH


def bundles_for_size(size: int) -> Iterator[TileRef]:
    """The entry bundles of a tree of ``size`` entries: one per level-0 tile.

    Raises:
        TileError: a size outside 0..2**63 - 1.
    """
    _check_size(size)
    yield from (TileRef(0, n, entries=True) for n in range(size // TILE_WIDTH))
    if size % TILE_WIDTH:
        yield TileRef(0, size // TILE_WIDTH, size % TILE_WIDTH, entries=True)


def _check_size(size: int) -> None:
    if not 0 <= size <= MAX_TREE_SIZE:
        raise TileError(f"{size} is not a tree size (0 to 2**63 - 1)")


def tile_node_ids(ref: TileRef) -> list[NodeId]:
    """The stored complete subtrees whose hashes make up tile ``ref``, in tile order: hash i
    of tile (L, N) is the subtree of height 8L with index N*256 + i. For a bundle, the
    leaves its entries hash to."""
    height, first = TILE_HEIGHT * ref.level, ref.index * TILE_WIDTH
    return [(height, first + i) for i in range(ref.hash_count)]


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """tlog-tiles "Log entries": each entry prefixed with its length as a big-endian uint16.

    Raises:
        BundleError: an entry longer than MAX_ENTRY_BYTES (65,535), which no alprfed log
            holds: its ledger would be damaged.
    """
    parts: list[bytes] = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise BundleError(
                f"entry {position} of the bundle is {len(entry)} bytes; an entry bundle holds "
                f"entries of at most {MAX_ENTRY_BYTES} bytes"
            )
        parts += (_LENGTH.pack(len(entry)), entry)
    return b"".join(parts)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle, in order.

    Raises:
        BundleError: a length prefix or an entry cut short.
    """
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < BUNDLE_LENGTH_BYTES:
            raise BundleError(f"entry bundle truncated in the length of entry {len(entries)}")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += BUNDLE_LENGTH_BYTES
        if len(data) - offset < length:
            raise BundleError(
                f"entry bundle truncated: entry {len(entries)} needs {length} bytes, "
                f"{len(data) - offset} remain"
            )
        entries.append(bytes(data[offset : offset + length]))
        offset += length
    return entries
