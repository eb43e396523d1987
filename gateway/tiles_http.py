"""The ledger over HTTP as a C2SP tlog-tiles log (https://c2sp.org/tlog-tiles).

Serves ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]`` and ``/tile/entries/<N>[.p/<W>]`` relative to
wherever the application is mounted (``app.add_subapp("/tlog/", tiles_app(source))``), so any
tlog-tiles client can follow and verify the ledger. Tiles and bundles are immutable and
cached forever; the checkpoint is mutable and not cached. Database reads run in worker
threads (asyncio.to_thread) so the event loop never blocks on SQL.

Every failure is a short plain-text answer: a path that is not a tile, or a tile the published
tree does not cover, is 404; anything unexpected is logged here and answered 500 with no
detail (never a traceback).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web import ContentCoding

from alprfed.ledger.tile_source import TileNotFound, TileSource
from alprfed.ledger.tiles import TileError, TileRef, parse_tile_path

log = logging.getLogger(__name__)

CHECKPOINT_CONTENT_TYPE = "text/plain; charset=utf-8"  # tlog-tiles "Checkpoints"
TILE_CONTENT_TYPE = "application/octet-stream"  # tlog-tiles "Merkle Tree", "Log entries"
# "This endpoint is mutable, so its headers SHOULD prevent caching beyond a few seconds."
CHECKPOINT_CACHE_CONTROL = "no-cache"
# Tiles and bundles are immutable: one year, the longest max-age caches honour (RFC 9111).
IMMUTABLE_MAX_AGE_S = 365 * 24 * 3600
TILE_CACHE_CONTROL = f"public, max-age={IMMUTABLE_MAX_AGE_S}, immutable"
SOURCE_KEY = web.AppKey("tile_source", TileSource)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


@web.middleware
async def _no_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unexpected failures become a bare 500 here, logged with the request's path."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (TileError, TileNotFound):
        return _plain(404, "not found")
    except Exception:  # any failure at all: logged, and the caller learns nothing
        log.exception("tlog-tiles request %s failed", request.path[:200])
        return _plain(500, "internal error")


async def _checkpoint(request: web.Request) -> web.Response:
    note = await asyncio.to_thread(request.app[SOURCE_KEY].checkpoint)
    response = web.Response(body=note.encode("utf-8"))
    response.headers[hdrs.CONTENT_TYPE] = CHECKPOINT_CONTENT_TYPE
    response.headers[hdrs.CACHE_CONTROL] = CHECKPOINT_CACHE_CONTROL
    return response


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header (RFC 9110 §12.5.3) admits gzip: listed (or ``*``)
    with a non-zero q-value."""
    allowed: dict[str, bool] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        allowed[coding.strip().lower()] = quality > 0
    return allowed.get("gzip", allowed.get("*", False))


async def _tile(request: web.Request) -> web.Response:
    raw = request.rel_url.raw_path
    # Parse what the client sent, not a percent-decoded form: one resource, one spelling.
    if "%" in raw:
        return _plain(404, "not found")
    ref: TileRef = parse_tile_path("tile/" + request.match_info["tail"])
    data = await asyncio.to_thread(request.app[SOURCE_KEY].read, ref)
    response = web.Response(body=data)
    response.headers[hdrs.CONTENT_TYPE] = TILE_CONTENT_TYPE
    response.headers[hdrs.CACHE_CONTROL] = TILE_CACHE_CONTROL
    if ref.entries:
        # "Entry bundles SHOULD be compressed at the HTTP layer" (JSON compresses ~4x);
        # tiles are hashes and would not shrink.
        response.headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
        if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            response.enable_compression(ContentCoding.gzip)
    return response


def tiles_app(source: TileSource) -> web.Application:
    """The tlog-tiles application over ``source`` (GET and HEAD)."""
    app = web.Application(middlewares=[_no_tracebacks])
    app[SOURCE_KEY] = source
    app.router.add_get("/checkpoint", _checkpoint)
    app.router.add_get("/tile/{tail:.+}", _tile)
    return app


async def start_tiles_server(
    source: TileSource,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve ``tiles_app(source)`` on ``host``:``port`` (0 picks a free port).

    Returns the runner (``await runner.cleanup()`` stops the server) and the bound port.

    Raises:
        OSError: the address cannot be bound.
    """
    runner = web.AppRunner(tiles_app(source), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    return runner, int(bound)
