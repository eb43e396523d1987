"""The ledger as C2SP tlog-tiles over HTTP (gateway/tiles_http.py), checked by a client written
from the spec alone (tests/tlog_tiles_client.py) on a real ledger, at sizes that cross tile
boundaries, following the log as it grows."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from tlog_tiles_client import ClientError, HttpFetch, Missing, TlogTilesClient

from alprfed.clock import FixedClock
from alprfed.ledger.entry import PendingEntry
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.tile_source import TileSource
from alprfed.ledger.tiles import TileRef, tile_path
from alprfed.signing import SigningKey
from gateway.tiles_http import (
    CHECKPOINT_CONTENT_TYPE,
    TILE_CACHE_CONTROL,
    accepts_gzip,
    start_tiles_server,
)

ORIGIN = "ledger.alprfed.test/federation"
MAX_BATCH = 10_000


class TilesServer:
    """start_tiles_server on its own event loop in a thread, as the gateway would run it."""

    def __init__(self, source: TileSource) -> None:
        self._source = source
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner, self.port = await start_tiles_server(self._source, "127.0.0.1", 0)
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    @property
    def prefix(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> TilesServer:
        self._thread.start()
        assert self._ready.wait(timeout=30), "the tiles server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)


def grow(store: LedgerStore, size: int) -> None:
    """Append numbered query decisions until the log holds ``size`` entries."""
    while (n := store.size()) < size:
        count = min(MAX_BATCH, size - n)
        store.append_batch(
            [
                PendingEntry("query_decision", {"query_id": f"q-{n + i}", "allowed": True}, ())
                for i in range(count)
            ]
        )


def all_entries(store: LedgerStore, size: int) -> list[bytes]:
    return [
        e
        for start in range(0, size, MAX_BATCH)
        for e in store.entries(start, min(size, start + MAX_BATCH))
    ]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LedgerStore, str, str]]:
    """One SQLite ledger for the module (it grows to 70,000 entries), its vkey and a server."""
    key = SigningKey.generate()
    url = f"sqlite:///{tmp_path_factory.mktemp('tiles') / 'ledger.db'}"
    store = LedgerStore.open(url, origin=ORIGIN, signer=key, clock=FixedClock(1_764_000_000))
    vkey = NoteVerifier.for_key(ORIGIN, key.public).to_vkey()
    with TilesServer(TileSource(store)) as server:
        yield store, vkey, server.prefix
    store.close()


def test_a_spec_client_follows_the_log_across_tile_boundaries(
    big: tuple[LedgerStore, str, str],
) -> None:
    store, vkey, prefix = big
    fetch = HttpFetch(prefix)
    client = TlogTilesClient(fetch, vkey)
    assert client.update().size == 0  # the empty tree: no tiles at all
    assert client.fetched_tiles == []
    for size in (1, 255, 256, 257, 70_000, 70_001):
        grow(store, size)
        checkpoint = client.update()
        assert checkpoint.size == size
        assert client.entries == all_entries(store, size)
    # Following from 70,000 to 70,001 refetched only the partial tiles, not the full ones.
    assert client.fetched_tiles.count(tile_path(0, 0)) == 1
    # The spec's headers.
    checkpoint_headers = fetch.headers["checkpoint"]
    assert checkpoint_headers["Content-Type".lower()] == CHECKPOINT_CONTENT_TYPE
    assert checkpoint_headers["cache-control"] == "no-cache"
    tile_headers = fetch.headers[tile_path(0, 0)]
    assert tile_headers["content-type"] == "application/octet-stream"
    assert tile_headers["cache-control"] == TILE_CACHE_CONTROL
    assert "content-encoding" not in tile_headers  # hashes do not compress
    bundle_headers = fetch.headers["tile/entries/000"]
    assert bundle_headers["content-encoding"] == "gzip"
    assert bundle_headers["cache-control"] == TILE_CACHE_CONTROL


def test_bundles_are_gzipped_only_for_clients_that_accept_it(
    big: tuple[LedgerStore, str, str],
) -> None:
    store, _, prefix = big
    grow(store, 256)
    plain = get(prefix + "tile/entries/000")
    assert plain[0] == 200
    assert "Content-Encoding" not in plain[1]
    zipped = get(prefix + "tile/entries/000", {"Accept-Encoding": "gzip"})
    assert zipped[1]["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped[2]) == plain[2]
    assert len(zipped[2]) < len(plain[2]) / 2
    refused = get(prefix + "tile/entries/000", {"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused[1]
    assert refused[2] == plain[2]


def test_head_answers_the_headers_without_a_body(big: tuple[LedgerStore, str, str]) -> None:
    store, _, prefix = big
    grow(store, 256)
    request = urllib.request.Request(prefix + "tile/0/000", method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == TILE_CACHE_CONTROL
        assert response.read() == b""


def test_accept_encoding_parsing() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("br, GZIP;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("*, gzip;q=0")
    assert not accepts_gzip("gzip;q=x")


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/000/",
        "tile/00/000",
        "tile/64/000",
        "tile/0/x000/001",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/%30%30%30",  # "000", percent-encoded: one resource, one spelling
        "tile/0/000.p/1%00",
        "tile/../checkpoint",
        "tile/0/" + "9" * 5000,
        "tile/entries/x001",
        "tile/%ff",
        "tiles/0/000",
        "checkpoint/x",
        "",
    ],
)
def test_malformed_paths_are_404_without_a_traceback(
    big: tuple[LedgerStore, str, str], path: str
) -> None:
    _, _, prefix = big
    status, _headers, body = get(prefix + path)
    assert status == 404, (path, status, body)
    assert b"Traceback" not in body
    assert b'File "' not in body
    assert len(body) < 200


def test_tiles_beyond_the_published_size_are_404(big: tuple[LedgerStore, str, str]) -> None:
    store, _, prefix = big
    grow(store, 257)
    size = store.published_size()
    last_full, partial = size // 256 - 1, size % 256  # nothing beyond either is covered
    beyond = [
        tile_path(0, last_full + 1),
        tile_path(0, last_full + 1, partial + 1)
        if partial < 255
        else tile_path(0, last_full + 2, 1),
        tile_path(1, size // 65_536 + 1),
        tile_path(5, 0, 1),
        tile_path(63, 0),
        "tile/entries/" + tile_path(0, last_full + 1).split("/", 2)[2],
    ]
    for path in beyond:
        status, _, body = get(prefix + path)
        assert status == 404, path
        assert b"Traceback" not in body
    assert get(prefix + tile_path(0, last_full))[0] == 200
    assert get(prefix + tile_path(0, last_full + 1, partial))[0] == 200


def test_unexpected_failures_are_a_bare_500(big: tuple[LedgerStore, str, str]) -> None:
    class Broken(TileSource):
        def read(self, ref: TileRef) -> bytes:
            raise RuntimeError("secret detail")

    store, _, _ = big
    with TilesServer(Broken(store)) as server:
        status, _, body = get(server.prefix + "tile/0/000")
    assert status == 500
    assert b"secret" not in body
    assert b"Traceback" not in body


def test_unpublished_checkpoints_are_not_served(
    database_url: str, decision: Callable[..., PendingEntry]
) -> None:
    """With witnesses, the log serves the newest *witnessed* checkpoint and only its tiles; on
    SQLite and PostgreSQL."""
    key = SigningKey.generate()
    store = LedgerStore.open(
        database_url,
        origin=ORIGIN,
        signer=key,
        clock=FixedClock(1_764_000_000),
        publish_on_append=False,
    )
    vkey = NoteVerifier.for_key(ORIGIN, key.public).to_vkey()
    try:
        with TilesServer(TileSource(store)) as server:
            client = TlogTilesClient(HttpFetch(server.prefix), vkey)
            store.append_batch([decision(i) for i in range(300)])
            assert client.update().size == 0
            assert get(server.prefix + tile_path(0, 0))[0] == 404
            assert store.publish(300, [])
            assert client.update().size == 300
            store.append_batch([decision(300 + i) for i in range(700)])
            assert get(server.prefix + tile_path(0, 1))[0] == 404  # signed, not published
            assert client.update().size == 300
            assert store.publish(1000, [])
            assert client.update().size == 1000
            assert len(client.entries) == 1000
            assert client.entries == store.entries(0, 1000)
    finally:
        store.close()


def test_the_client_catches_a_log_that_lies(tmp_path: Path) -> None:
    """The spec client is a real check: a served tile that is not the log's fails it."""
    key = SigningKey.generate()
    store = LedgerStore.open(
        f"sqlite:///{tmp_path / 'l.db'}", origin=ORIGIN, signer=key, clock=FixedClock(0)
    )
    grow(store, 300)
    vkey = NoteVerifier.for_key(ORIGIN, key.public).to_vkey()

    class Lying(TileSource):
        def read(self, ref: TileRef) -> bytes:
            data = super().read(ref)
            if ref == TileRef(0, 0):
                return data[:100] + bytes([data[100] ^ 1]) + data[101:]
            return data

    try:
        with TilesServer(Lying(store)) as server:
            client = TlogTilesClient(HttpFetch(server.prefix), vkey)
            with pytest.raises(ClientError, match="does not hash to its parent"):
                client.update()
            with pytest.raises(Missing):
                HttpFetch(server.prefix)("tile/0/001")
    finally:
        store.close()


def test_serving_does_not_block_the_event_loop(big: tuple[LedgerStore, str, str]) -> None:
    """Many concurrent tile requests complete (database reads run in threads)."""
    store, _, prefix = big
    grow(store, 70_000)
    results: list[int] = []
    started = time.monotonic()

    def fetch(n: int) -> None:
        results.append(get(prefix + tile_path(0, n % 273))[0])

    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [200] * 40
    assert time.monotonic() - started < 30


def test_the_app_is_mountable_under_a_prefix(big: tuple[LedgerStore, str, str]) -> None:
    from gateway.tiles_http import tiles_app

    store, vkey, _ = big
    source = TileSource(store)

    async def main() -> int:
        parent = web.Application()
        parent.add_subapp("/tlog/", tiles_app(source))
        runner = web.AppRunner(parent)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])

        def check() -> int:
            return TlogTilesClient(HttpFetch(f"http://127.0.0.1:{port}/tlog/"), vkey).update().size

        try:
            return await asyncio.to_thread(check)
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == store.published_size()
