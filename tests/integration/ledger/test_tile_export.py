"""`export_tiles` and `alprfed ledger export-tiles`: the static tlog-tiles tree, checked by the
spec-only client (tests/tlog_tiles_client.py) reading the files, incremental, checkpoint last,
and refusing to overwrite a tile that differs (a fork)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from click.testing import CliRunner
from tlog_tiles_client import ClientError, FileFetch, TlogTilesClient

from alprfed.cli.exit_codes import ExitCode
from alprfed.cli.ledger_tiles import export_tiles_command
from alprfed.clock import FixedClock
from alprfed.ledger.entry import PendingEntry
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.tile_export import ExportConflict, export_tiles
from alprfed.ledger.tile_source import TileSource
from alprfed.ledger.tiles import TileRef, entries_path, parse_tile_path, tile_path
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"


@pytest.fixture
def log(database_url: str) -> Iterator[tuple[LedgerStore, str]]:
    key = SigningKey.generate()
    store = LedgerStore.open(
        database_url, origin=ORIGIN, signer=key, clock=FixedClock(1_764_000_000)
    )
    yield store, NoteVerifier.for_key(ORIGIN, key.public).to_vkey()
    store.close()


def grow(store: LedgerStore, size: int, decision: Callable[..., PendingEntry]) -> None:
    while (n := store.size()) < size:
        store.append_batch([decision(n + i) for i in range(min(10_000, size - n))])


def test_the_exported_tree_verifies_and_grows_incrementally(
    log: tuple[LedgerStore, str],
    tmp_path: Path,
    decision: Callable[..., PendingEntry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, vkey = log
    out = tmp_path / "tlog"
    client = TlogTilesClient(FileFetch(out), vkey)

    report = export_tiles(store, out)
    assert (report.size, report.written, report.unchanged) == (0, ["checkpoint"], 0)
    assert client.update().size == 0

    grow(store, 300, decision)
    report = export_tiles(store, out)
    assert report.size == 300
    assert report.written == [
        tile_path(0, 0),
        entries_path(0),
        tile_path(0, 1, 44),
        entries_path(1, 44),
        tile_path(1, 0, 1),
        "checkpoint",
    ]
    assert client.update().size == 300
    assert client.entries == store.entries(0, 300)
    assert (out / "tile/0/000").stat().st_size == 8192
    assert (out / "checkpoint").read_text("utf-8") == store.latest_checkpoint()
    assert oct((out / "tile/0/000").stat().st_mode & 0o777) == "0o644"

    # Nothing new: nothing written.
    assert export_tiles(store, out).written == []

    # Growth: only the new resources, full ones first, the checkpoint strictly last.
    grow(store, 600, decision)
    replaced: list[str] = []
    real_replace = os.replace

    def recording(src: Any, dst: Any) -> None:
        replaced.append(Path(dst).relative_to(out).as_posix())
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    report = export_tiles(store, out)
    monkeypatch.undo()
    assert report.written == [
        tile_path(0, 1),
        entries_path(1),
        tile_path(0, 2, 88),
        entries_path(2, 88),
        tile_path(1, 0, 2),
        "checkpoint",
    ]
    assert replaced == report.written
    assert report.unchanged == 2  # tile/0/000 and tile/entries/000, compared and kept
    # The superseded partial tiles stay: clients holding the older checkpoint may need them.
    assert (out / tile_path(0, 1, 44)).is_file()
    assert client.update().size == 600
    assert client.entries == store.entries(0, 600)
    assert not list(out.rglob("*.tmp"))


def test_a_tampered_tile_makes_the_export_refuse(
    log: tuple[LedgerStore, str], tmp_path: Path, decision: Callable[..., PendingEntry]
) -> None:
    store, vkey = log
    out = tmp_path / "tlog"
    grow(store, 256, decision)
    export_tiles(store, out)
    old_checkpoint = (out / "checkpoint").read_bytes()
    tile = out / tile_path(0, 0)
    data = bytearray(tile.read_bytes())
    data[0] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(ClientError):
        TlogTilesClient(FileFetch(out), vkey).update()

    grow(store, 600, decision)
    with pytest.raises(ExportConflict, match=r"tile/0/000 exists with other bytes"):
        export_tiles(store, out)
    assert (out / "checkpoint").read_bytes() == old_checkpoint  # the old checkpoint stays
    assert not (out / tile_path(0, 1)).exists()  # nothing written after the conflict


def test_export_matches_what_http_serves(
    tmp_path: Path, decision: Callable[..., PendingEntry]
) -> None:
    key = SigningKey.generate()
    store = LedgerStore.open(
        f"sqlite:///{tmp_path / 'l.db'}", origin=ORIGIN, signer=key, clock=FixedClock(0)
    )
    try:
        grow(store, 70_000, decision)
        out = tmp_path / "tlog"
        report = export_tiles(store, out)
        # 273 + 1 full tiles and 273 full bundles; 3 partial tiles and one partial bundle.
        assert len(report.written) == 274 + 273 + 3 + 1 + 1
        source = TileSource(store)
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert len(files) == len(report.written)
        for path in files:
            if path != "checkpoint":
                assert (out / path).read_bytes() == source.read(parse_tile_path(path)), path
        assert source.read(TileRef(2, 0, 1)) == (out / "tile/2/000.p/1").read_bytes()
        vkey = NoteVerifier.for_key(ORIGIN, key.public).to_vkey()
        client = TlogTilesClient(FileFetch(out), vkey)
        assert client.update().size == 70_000
        assert len(client.entries) == 70_000
    finally:
        store.close()


def _cli(
    *args: str, obj: Any = None
) -> click.testing.Result:  # a `ledger`-like group, as the command will be mounted
    @click.group()
    @click.option("--database")
    @click.pass_context
    def ledger(ctx: click.Context, database: str | None) -> None:
        ctx.obj = SimpleNamespace(database=database)

    ledger.add_command(export_tiles_command)
    return CliRunner().invoke(ledger, list(args), catch_exceptions=False)


def test_the_cli_exports_and_reports(
    log: tuple[LedgerStore, str],
    database_url: str,
    tmp_path: Path,
    decision: Callable[..., PendingEntry],
) -> None:
    store, vkey = log
    grow(store, 3, decision)
    out = tmp_path / "out"
    result = _cli("export-tiles", "--database", database_url, "--list", str(out))
    assert result.exit_code == 0, result.output
    assert "tile/0/000.p/3\n" in result.output
    assert "exported the tree of size 3" in result.output
    assert "3 file(s) written" in result.output  # tile, bundle, checkpoint
    assert TlogTilesClient(FileFetch(out), vkey).update().size == 3
    # The group's --database works as for every other ledger command.
    again = _cli("--database", database_url, "export-tiles", str(out))
    assert again.exit_code == 0, again.output
    assert "0 file(s) written, 2 already there" in again.output


def test_the_cli_json_lists_every_file_written(
    log: tuple[LedgerStore, str],
    database_url: str,
    tmp_path: Path,
    decision: Callable[..., PendingEntry],
) -> None:
    store, vkey = log
    grow(store, 3, decision)
    out = tmp_path / "out"
    result = _cli("--database", database_url, "export-tiles", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["size"] == 3
    assert report["directory"] == str(out)
    assert report["unchanged"] == 0
    assert sorted(report["written"]) == sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
    )
    assert TlogTilesClient(FileFetch(out), vkey).update().size == 3
    again = json.loads(_cli("--database", database_url, "export-tiles", str(out), "--json").stdout)
    assert (again["written"], again["unchanged"]) == ([], 2)


def test_the_cli_names_a_conflict_without_a_traceback(
    log: tuple[LedgerStore, str], tmp_path: Path, decision: Callable[..., PendingEntry]
) -> None:
    store, _ = log
    grow(store, 3, decision)
    out = tmp_path / "out"
    url = str(store.engine.url.render_as_string(hide_password=False))
    assert _cli("export-tiles", "--database", url, str(out)).exit_code == 0
    (out / "tile/0/000.p/3").write_bytes(b"\x00" * 96)
    result = CliRunner().invoke(
        export_tiles_command, ["--database", url, str(out)], catch_exceptions=False
    )
    assert result.exit_code == ExitCode.NOT_VERIFIED
    message = result.output
    assert len(message.strip().splitlines()) == 1  # one line, however long the path
    assert "tile/0/000.p/3 exists with other bytes" in message
    assert "Traceback" not in message
    missing = CliRunner().invoke(export_tiles_command, [str(out)], catch_exceptions=False)
    assert missing.exit_code == 2
    assert "--database" in missing.output
