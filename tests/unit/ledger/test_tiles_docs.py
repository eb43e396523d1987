"""docs/TILES.md describes the tlog-tiles encoding byte for byte: its example must be true.

The worked example is docs/LEDGER.md's three-entry log, rebuilt here the way
test_ledger_docs.py rebuilds it, and compared with the code's tile, bundle and paths.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from alprfed.ledger.entry import GENESIS_PREV, encode_entry, plate_commitment
from alprfed.ledger.merkle import MemoryTree, node_hash
from alprfed.ledger.tiles import (
    TileRef,
    decode_bundle,
    encode_bundle,
    entries_path,
    parse_tile_path,
    tile_node_ids,
    tile_path,
    tiles_for_size,
)
from gateway.tiles_http import CHECKPOINT_CACHE_CONTROL, TILE_CACHE_CONTROL

DOCS = Path(__file__).resolve().parents[3] / "docs"
DOC = (DOCS / "TILES.md").read_text(encoding="utf-8")
LEDGER_DOC = (DOCS / "LEDGER.md").read_text(encoding="utf-8")
FLAT = " ".join(DOC.split())  # for phrases the prose wraps across lines


def _block_after(marker: str) -> str:
    """The first fenced block after the text ``marker``, with its lines joined."""
    rest = DOC[DOC.index(marker) :]
    match = re.search(r"```\n(.*?)```", rest, re.DOTALL)
    assert match, marker
    return "".join(match.group(1).split())


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    salts = [hashlib.sha256(b"example salt").digest(), hashlib.sha256(b"example salt 2").digest()]
    bodies: list[tuple[str, dict[str, Any], list[str]]] = [
        ("policy_bundle", {"bundle_sha256": "9f" * 32}, []),
        (
            "warrant_registered",
            {"warrant_id": "w-2025-0042", "court": "ca-superior-sc"},
            [plate_commitment(salts[0], "7ABC123")],
        ),
        (
            "query_decision",
            {"query_id": "5be0c2d1e8a94b1f9d2c7e6a3b4f5a6d", "decision": "allowed"},
            [plate_commitment(salts[1], "7ABC123")],
        ),
    ]
    tree, prev, entries = MemoryTree(), GENESIS_PREV, []
    for index, (kind, body, commitments) in enumerate(bodies):
        data = encode_entry(
            index=index,
            prev=prev,
            time=1_764_000_000 + index,
            kind=kind,
            body=body,
            commitments=commitments,
        )
        prev = tree.append(data)
        entries.append(data)
    return {"tree": tree, "entries": entries}


def test_the_example_is_the_ledger_docs_log(example: dict[str, Any]) -> None:
    root = base64.b64encode(example["tree"].root()).decode()
    assert f"`{root}`" in DOC
    assert f"3\n{root}\n" in LEDGER_DOC  # the checkpoint of size 3 there


def test_the_documented_tile_is_the_codes(example: dict[str, Any]) -> None:
    tree = example["tree"]
    (ref,) = tiles_for_size(3)
    assert ref == TileRef(0, 0, 3)
    assert ref.path == "tile/0/000.p/3"
    assert f"The tile, `{ref.path}`, 96 bytes" in FLAT
    tile = b"".join(tree.nodes[node] for node in tile_node_ids(ref))
    assert _block_after("The tile, `tile/0/000.p/3`") == tile.hex()
    h0, h1, h2 = (tile[i : i + 32] for i in (0, 32, 64))
    assert node_hash(node_hash(h0, h1), h2) == tree.root()


def test_the_documented_bundle_is_the_codes(example: dict[str, Any]) -> None:
    entries = example["entries"]
    bundle = encode_bundle(entries)
    assert f"The bundle, `{entries_path(0, 3)}`, {len(bundle)} bytes" in FLAT
    assert _block_after("The bundle,") == bundle.hex()
    assert decode_bundle(bundle) == entries
    assert hashlib.sha256(bundle).hexdigest() in DOC
    for entry in entries:
        assert f"`{len(entry).to_bytes(2, 'big').hex()}` ({len(entry)})" in FLAT


def test_the_documented_paths_and_headers_are_the_codes() -> None:
    for index, encoded in [(0, "000"), (5, "005"), (1000, "x001/000"), (1234067, "x001/x234/067")]:
        assert f"`{index}` → `{encoded}`" in DOC
        assert tile_path(0, index) == f"tile/0/{encoded}"
    assert parse_tile_path("tile/1/000.p/1") == TileRef(1, 0, 1)
    assert f"`{CHECKPOINT_CACHE_CONTROL}`" in DOC
    assert f"`{TILE_CACHE_CONTROL}`" in DOC
    assert "size 70,000 is 273 full level-0 tiles, a partial level-0 tile of width 112" in FLAT
