"""The witness's HTTP server (aiohttp): the C2SP tlog-witness API on one prefix, "/".

    POST /add-checkpoint           cosign a checkpoint (docs/WITNESS.md has the exact bytes)
    GET  /<sha256(origin)>/checkpoint   the newest cosigned checkpoint of that log, for monitors
    GET  /healthz                  200 when the database answers, else 503

The event loop never blocks: verification, signing and every database call run on a small
pool of threads of their own. Concurrent requests for one log are serialized by the
database's write transaction (witness.store), which is the real guard. A client is never
shown a traceback: refusals carry the spec's status and a one-line reason; anything else is a
500 naming a request id that the log holds with the traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web

from alprfed.clock import SYSTEM_CLOCK, Clock
from alprfed.errors import AlprfedError, ConfigError
from alprfed.observability.probes import ProbeServer
from alprfed.observability.telemetry import Telemetry
from alprfed.signing import SigningKey
from witness.config import WitnessConfig, WitnessTLS
from witness.observability import observing_middleware, witness_checks
from witness.protocol import MAX_REQUEST_BYTES, TEXT_CONTENT_TYPE, WitnessRefusal
from witness.service import WitnessService
from witness.store import WitnessStorageError, WitnessStore

log = logging.getLogger("alprfed.witness")

DB_THREADS = 4  # concurrent checks; more only queue on the database's write lock
SHUTDOWN_TIMEOUT_S = 10.0  # in-flight requests get this long to finish on stop()
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")
_REFUSALS_WORTH_A_WARNING = (403, 409, 422)  # someone may be attacking, or the log misbehaves

T = TypeVar("T")


class _Handlers:
    def __init__(self, service: WitnessService, executor: ThreadPoolExecutor) -> None:
        self._service = service
        self._executor = executor

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def add_checkpoint(self, request: web.Request) -> web.Response:
        request_id = secrets.token_hex(8)
        try:
            body = await request.read()  # over MAX_REQUEST_BYTES: aiohttp answers 413
            cosigned = await self._run(self._service.add_checkpoint, body)
        except web.HTTPException:
            raise
        except WitnessRefusal as refusal:
            level = (
                logging.WARNING
                if refusal.http_status in _REFUSALS_WORTH_A_WARNING
                else logging.INFO
            )
            log.log(
                level,
                "refused %d from %s (%s): %s",
                refusal.http_status,
                request.remote,
                refusal.context or "no checkpoint",
                refusal,
            )
            return web.Response(
                status=refusal.http_status,
                body=refusal.body.encode("utf-8"),
                content_type=refusal.content_type,
                charset=refusal.charset,
            )
        except WitnessStorageError as exc:
            log.error("request %s: %s", request_id, exc)
            return _text(503, f"the witness's storage is unavailable; request id {request_id}\n")
        except AlprfedError as exc:  # anticipated, e.g. a clock that cannot timestamp
            log.error("request %s: nothing cosigned: %s", request_id, exc)
            return _text(500, f"internal error; request id {request_id}\n")
        except Exception:
            log.exception("request %s failed", request_id)
            return _text(500, f"internal error; request id {request_id}\n")
        log.info(
            "cosigned %s at size %d (old size %d, time %d)",
            cosigned.origin,
            cosigned.size,
            cosigned.old_size,
            cosigned.timestamp,
        )
        return _text(200, cosigned.body)

    async def checkpoint(self, request: web.Request) -> web.Response:
        digest = request.match_info["origin_hash"]
        if not _ORIGIN_HASH.fullmatch(digest):
            return _text(404, "not a lower-case hex SHA-256 of an origin\n")
        try:
            note = await self._run(self._service.latest_checkpoint, digest)
        except WitnessStorageError as exc:
            request_id = secrets.token_hex(8)
            log.error("request %s: %s", request_id, exc)
            return _text(503, f"the witness's storage is unavailable; request id {request_id}\n")
        if note is None:
            return _text(404, "this witness never cosigned a checkpoint of that log\n")
        return _text(200, note)

    async def healthz(self, _request: web.Request) -> web.Response:
        try:
            await self._run(self._service.store.ping)
        except WitnessStorageError as exc:
            log.error("health check: %s", exc)
            return _text(503, "storage unavailable\n")
        return _text(200, "ok\n")


def _text(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body, content_type=TEXT_CONTENT_TYPE, charset="utf-8")


def build_app(
    service: WitnessService, executor: ThreadPoolExecutor, telemetry: Telemetry | None = None
) -> web.Application:
    """The aiohttp application (without a listener), for create_server and for embedding."""
    handlers = _Handlers(service, executor)
    middlewares = [observing_middleware(telemetry)] if telemetry is not None else []
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=middlewares)
    app.router.add_post("/add-checkpoint", handlers.add_checkpoint)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/{origin_hash}/checkpoint", handlers.checkpoint)
    return app


class WitnessServer:
    """A bound, not yet serving witness. ``start()`` serves; ``stop()`` drains and closes."""

    def __init__(
        self,
        service: WitnessService,
        runner: web.AppRunner,
        sock: socket.socket,
        ssl_context: ssl.SSLContext | None,
        executor: ThreadPoolExecutor,
        telemetry: Telemetry,
        probes: ProbeServer | None = None,
    ) -> None:
        self.service = service
        self.telemetry = telemetry
        self.probes = probes
        self._runner = runner
        self._sock = sock
        self._ssl_context = ssl_context
        self._executor = executor
        self.port: int = sock.getsockname()[1]

    @property
    def scheme(self) -> str:
        return "https" if self._ssl_context is not None else "http"

    async def start(self) -> None:
        site = web.SockSite(self._runner, self._sock, ssl_context=self._ssl_context)
        await site.start()
        if self.probes is not None:
            self.probes.start()

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (each one's transaction commits or
        rolls back whole), then close the database."""
        await self._runner.cleanup()
        self._sock.close()
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        if self.probes is not None:
            self.probes.stop()
        self.service.store.close()
        self.telemetry.shutdown()


async def create_server(
    config: WitnessConfig, *, clock: Clock = SYSTEM_CLOCK, telemetry: Telemetry | None = None
) -> tuple[WitnessServer, int]:
    """Open the database, load the key, bind the listener; return the server and its port.

    ``telemetry`` defaults to what ``config.observability`` says (tests pass their own).

    Raises:
        ConfigError: the key, the TLS files or the database URL are wrong, or the address
            cannot be bound.
        FailedPrecondition: the database holds a newer schema or tables not ours.
        WitnessStorageError: the database failed.
    """
    key = SigningKey.load(config.signing_key)
    if telemetry is None:
        telemetry = Telemetry.create("alprfed-witness", config.observability)
    ssl_context = _ssl_context(config.tls) if config.tls is not None else None
    store = await asyncio.to_thread(WitnessStore.open, config.database_url)
    try:
        service = WitnessService(
            name=config.name, key=key, logs=config.logs, store=store, clock=clock
        )
        sock = _bind(config.listen)
        try:
            probes = (
                ProbeServer(
                    config.observability.metrics_listen, telemetry.registry, witness_checks(store)
                )
                if config.observability.metrics_listen
                else None
            )
        except BaseException:
            sock.close()
            raise
    except BaseException:
        store.close()
        raise
    executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="witness")
    runner = web.AppRunner(
        build_app(service, executor, telemetry),
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    try:
        await runner.setup()
    except BaseException:
        sock.close()
        executor.shutdown(wait=False)
        if probes is not None:
            probes.stop()
        store.close()
        raise
    server = WitnessServer(service, runner, sock, ssl_context, executor, telemetry, probes)
    log.info(
        "witness %s for %s on port %d",
        service.verifier.to_vkey(),
        ", ".join(config.logs),
        server.port,
    )
    return server, server.port


def _bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")  # [::1]:443
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    return sock


def _ssl_context(tls: WitnessTLS) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS certificate {tls.cert} or key {tls.key}: {exc}") from None
    return context
