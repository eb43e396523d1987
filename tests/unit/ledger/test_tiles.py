"""C2SP tlog-tiles paths, tile sets and entry bundles (alprfed.ledger.tiles) against the spec
(tests/vectors/c2sp/tlog-tiles.md) and its examples."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from alprfed.ledger.entry import MAX_ENTRY_BYTES
from alprfed.ledger.merkle import MemoryTree
from alprfed.ledger.tiles import (
    FULL_TILE_BYTES,
    MAX_BUNDLE_ENTRY_BYTES,
    BundleError,
    TileError,
    TileRef,
    bundles_for_size,
    decode_bundle,
    encode_bundle,
    entries_path,
    parse_tile_path,
    tile_node_ids,
    tile_path,
    tiles_for_size,
)


def test_the_spec_example_index_1234067_is_x001_x234_067(c2sp_text: Any) -> None:
    assert "index 1234067 will be encoded as\n`x001/x234/067`" in c2sp_text("tlog-tiles.md")
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert parse_tile_path("tile/0/x001/x234/067") == TileRef(0, 1234067)


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1_000_000, "x001/x000/000"),
        (123_456_789, "x123/x456/789"),
    ],
)
def test_indices_are_zero_padded_three_digit_elements(index: int, encoded: str) -> None:
    assert tile_path(3, index) == f"tile/3/{encoded}"
    assert entries_path(index, 7) == f"tile/entries/{encoded}.p/7"
    assert parse_tile_path(f"tile/3/{encoded}") == TileRef(3, index)
    assert parse_tile_path(f"tile/entries/{encoded}.p/7") == TileRef(0, index, 7, entries=True)


def test_partial_tiles_carry_their_width() -> None:
    assert tile_path(1, 17, 255) == "tile/1/017.p/255"
    assert parse_tile_path("tile/1/017.p/255") == TileRef(1, 17, 255)
    assert parse_tile_path("tile/63/000.p/1") == TileRef(63, 0, 1)
    assert parse_tile_path("tile/entries/x001/234.p/1").path == "tile/entries/x001/234.p/1"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "tile/0/000/",
        "tile//000",
        "tile/00/000",  # level with a leading zero
        "tile/01/000",
        "tile/64/000",  # level beyond 63
        "tile/-1/000",
        "tile/+1/000",
        "tile/0/0",  # index not 3 digits
        "tile/0/0000",
        "tile/0/1234",
        "tile/0/001/234",  # upper element without x
        "tile/0/x001",  # last element with x
        "tile/0/x000/001",  # non-canonical leading zero element
        "tile/0/X001/234",
        "tile/0/x01/234",
        "tile/0/000.p/0",  # width 0
        "tile/0/000.p/256",  # width of a full tile
        "tile/0/000.p/01",  # width with a leading zero
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.p/1/2",
        "tile/0/000.q/1",
        "tile/0/000.p/1.p/1",
        "tile/entries/000.p/1/",
        "tile/entries/1/000",
        "tile/entry/000",
        "tile/0/ 000",
        "tile/0/\u0661\u0662\u0663",  # Arabic-Indic digits match \d but are not ASCII
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",  # past any tree size
        "tile/0/" + "x001/" * 30 + "000",
        "checkpoint",
        "tile/0/00\n",
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    "build", [lambda: tile_path(64, 0), lambda: tile_path(0, -1), lambda: tile_path(0, 0, 256)]
)
def test_paths_outside_the_spec_are_not_built(build: Any) -> None:
    with pytest.raises(TileError):
        build()


def test_a_tree_of_70000_is_the_spec_example(c2sp_text: Any) -> None:
    assert "a tree of size 70,000 will be represented by 273 full level 0" in c2sp_text(
        "tlog-tiles.md"
    )
    tiles = list(tiles_for_size(70_000))
    full = Counter(t.level for t in tiles if t.width is None)
    partial = {t.level: (t.index, t.width) for t in tiles if t.width is not None}
    assert full == {0: 273, 1: 1}
    assert partial == {0: (273, 112), 1: (1, 17), 2: (0, 1)}
    assert [t.index for t in tiles if t.level == 0 and t.width is None] == list(range(273))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (1, [TileRef(0, 0, 1)]),
        (255, [TileRef(0, 0, 255)]),
        (256, [TileRef(0, 0), TileRef(1, 0, 1)]),
        (257, [TileRef(0, 0), TileRef(0, 1, 1), TileRef(1, 0, 1)]),
        (65_536, [*(TileRef(0, n) for n in range(256)), TileRef(1, 0), TileRef(2, 0, 1)]),
    ],
)
def test_tiles_of_small_trees(size: int, expected: list[TileRef]) -> None:
    assert list(tiles_for_size(size)) == expected
    assert all(ref.covered_by(size) for ref in expected)


def test_bundles_follow_the_level_0_tiles() -> None:
    assert list(bundles_for_size(0)) == []
    assert list(bundles_for_size(513)) == [
        TileRef(0, 0, entries=True),
        TileRef(0, 1, entries=True),
        TileRef(0, 2, 1, entries=True),
    ]
    assert [(b.index, b.width) for b in bundles_for_size(70_000)] == [
        (t.index, t.width) for t in tiles_for_size(70_000) if t.level == 0
    ]


def test_what_a_size_covers() -> None:
    # A full tile (L, N) needs (N+1) * 256**(L+1) leaves; a partial one (N*256 + W) * 256**L.
    assert TileRef(0, 0).covered_by(256)
    assert not TileRef(0, 0).covered_by(255)
    assert TileRef(1, 0).covered_by(65_536)
    assert not TileRef(1, 0).covered_by(65_535)
    assert TileRef(1, 2, 3).covered_by((2 * 256 + 3) * 256)
    assert not TileRef(1, 2, 3).covered_by((2 * 256 + 3) * 256 - 1)
    assert TileRef(0, 0, 1).covered_by(10**6)  # superseded partial tiles stay valid
    assert TileRef(0, 1, entries=True).start == 256


def test_tile_hashes_are_the_stored_complete_subtrees() -> None:
    assert tile_node_ids(TileRef(0, 2, 3)) == [(0, 512), (0, 513), (0, 514)]
    assert tile_node_ids(TileRef(2, 1))[0] == (16, 256)
    assert len(tile_node_ids(TileRef(2, 1))) == 256
    # hash i of tile (L, N) = MTH(D[(N*256+i) * 256**L : (N*256+i+1) * 256**L])
    tree = MemoryTree()
    for i in range(600):
        tree.append(b"entry %d" % i)
    level_1 = b"".join(tree.nodes[node] for node in tile_node_ids(TileRef(1, 0, 2)))
    assert len(level_1) == 64
    leaves = [tree.nodes[(0, i)] for i in range(512)]
    assert level_1[:32] == _mth(leaves[:256])
    assert level_1[32:] == _mth(leaves[256:])
    assert FULL_TILE_BYTES == 8192


def _mth(hashes: list[bytes]) -> bytes:
    from alprfed.ledger.merkle import node_hash

    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def test_bundles_round_trip() -> None:
    entries = [b"", b"a", b"\x00" * 300, b"x" * MAX_ENTRY_BYTES]
    data = encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert data[5:7] == b"\x01\x2c"  # 300, big-endian
    assert len(data) == 2 * 4 + 1 + 300 + MAX_ENTRY_BYTES
    assert decode_bundle(data) == entries
    assert encode_bundle([]) == b""
    assert decode_bundle(b"") == []


def test_an_entry_too_large_for_a_uint16_length_is_refused() -> None:
    assert MAX_ENTRY_BYTES <= MAX_BUNDLE_ENTRY_BYTES == 0xFFFF  # every alprfed entry fits
    with pytest.raises(BundleError, match=re.escape(f"at most {MAX_ENTRY_BYTES} bytes")):
        encode_bundle([b"ok", b"x" * (MAX_ENTRY_BYTES + 1)])


@pytest.mark.parametrize(
    "data",
    [
        b"\x00",  # half a length
        b"\x00\x02a",  # entry cut short
        b"\x00\x01a\x00",  # a second length cut short
        b"\xff\xff" + b"x" * 100,
    ],
)
def test_truncated_bundles_are_refused(data: bytes) -> None:
    with pytest.raises(BundleError, match="truncated"):
        decode_bundle(data)
