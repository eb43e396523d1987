"""The node's HTTPS webhook receiver: camera engines post their reads as they happen.

    POST /v1/webhooks/<format>   format: platerecognizer-webhook, rekor-alpr-group, verkada-lpr
    GET  /healthz                200 when the receiver runs

It listens on a port of its own (``[webhook] listen``) with the node's TLS certificate; it is
aiohttp, as the witness is. Each request must authenticate one camera of this agency, by

- ``Authorization: Bearer <token>``: a per-camera token (agency_node.camera_tokens), or
- a client certificate from the federation PKI with OU=camera, O=this agency, CN=the camera.

A token or certificate is bound to its camera: a payload naming another camera is refused
(403) and nothing of it is stored. The body is parsed by the format's module
(agency_node.formats) and stored through the node's one bulk path, all or nothing;
re-delivering a payload stores nothing twice (the answer counts the duplicates), so a vendor
that retries after a lost answer does no harm.

Answers are JSON. 200 ``{"stored": n, "duplicates_skipped": m}``; 400 ``{"error", "field"}``
for a bad payload (nothing stored); 401 (no detail: an unauthenticated caller learns nothing
about which check failed); 403; 404 for an unknown format; 413 over ``max_body_bytes``; 415 for
a body that is neither JSON nor (Plate Recognizer with an image) multipart; 422 for reads the
node's law refuses (from the future, past retention, or from a barred sensitive site, citing
the rule); 500 with a request id the log holds (vendors retry 5xx).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from cryptography import x509

from agency_node.camera_tokens import CameraTokens
from agency_node.formats import JSON_FORMATS, WEBHOOK_FORMATS
from agency_node.formats.fields import load_json
from agency_node.formats.importer import StoredReads, store_reads
from agency_node.formats.reads import ReadDraft
from agency_node.law_guard import NodeLawGuard, load_node_law
from agency_node.storage import NodeStore
from alprfed.clock import Clock
from alprfed.config import NodeConfig, TLSConfig, WebhookConfig
from alprfed.errors import ConfigError, InvalidRequest, Unauthenticated
from alprfed.rpc.identity import PrincipalKind, identity_from_certificate

log = logging.getLogger("alprfed.node.webhook")

STORE_THREADS = 4  # concurrent deliveries being stored; more wait for a thread
SHUTDOWN_TIMEOUT_S = 10.0
START_TIMEOUT_S = 10.0
JSON_TYPES = ("application/json", "text/json")
MULTIPART_JSON_FIELD = "json"  # Plate Recognizer posts {"json": <body>, "upload": <image>}


class Refused(Exception):
    """An answer other than 200, with its status and JSON body."""

    def __init__(self, status: int, error: str, field: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **({"field": field} if field else {})}


class _Handlers:
    def __init__(
        self,
        *,
        agency_id: str,
        store: NodeStore,
        law: NodeLawGuard,
        tokens: CameraTokens,
        clock: Clock,
        executor: ThreadPoolExecutor,
        max_body: int,
    ) -> None:
        self._max_body = max_body
        self._agency_id = agency_id
        self._store = store
        self._law = law
        self._tokens = tokens
        self._clock = clock
        self._executor = executor

    async def deliver(self, request: web.Request) -> web.Response:
        request_id = secrets.token_hex(8)
        try:
            fmt = request.match_info["format"]
            if fmt not in WEBHOOK_FORMATS:
                known = ", ".join(WEBHOOK_FORMATS)
                raise Refused(404, f"unknown format {fmt!r} (known: {known})")
            camera_id = await self._run(self._authenticate, request)
            payload = await self._payload(request)
            stored = await self._run(self._store_delivery, fmt, payload, camera_id)
        except Refused as refused:
            if refused.status in (401, 403):
                log.warning("webhook %s refused %s: %s", request_id, request.remote, refused)
            return web.json_response(refused.body, status=refused.status, headers=_auth(refused))
        except web.HTTPRequestEntityTooLarge:
            too_large = {"error": f"body larger than {self._max_body} bytes", "field": "body"}
            return web.json_response(too_large, status=413)
        except Exception:
            log.exception("webhook %s failed", request_id)
            return web.json_response(
                {"error": "internal error", "request_id": request_id}, status=500
            )
        return web.json_response({"stored": stored.stored, "duplicates_skipped": stored.duplicates})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "serving"})

    async def _run(self, func: Any, *args: object) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _authenticate(self, request: web.Request) -> str:
        """The camera this request speaks for. Raises: Refused 401."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            camera_id = self._tokens.camera_for(token.strip())
            if camera_id is not None:
                return camera_id
            raise Refused(401, "authentication required")
        der = _peer_certificate(request)
        if der is not None:
            try:
                identity = identity_from_certificate(x509.load_der_x509_certificate(der))
            except (Unauthenticated, ValueError):
                raise Refused(401, "authentication required") from None
            if identity.kind is PrincipalKind.CAMERA and identity.organization == self._agency_id:
                return identity.principal
        raise Refused(401, "authentication required")

    async def _payload(self, request: web.Request) -> Any:
        """The decoded JSON body. Raises: Refused 400 or 415."""
        kind = request.content_type
        if kind in JSON_TYPES:
            raw: str | bytes = await request.read()
        elif kind == "multipart/form-data":
            form = await request.post()
            part = form.get(MULTIPART_JSON_FIELD)
            if part is None:
                raise Refused(400, "the multipart body has no json part", MULTIPART_JSON_FIELD)
            if isinstance(part, web.FileField):
                raw = part.file.read()
            else:
                raw = part if isinstance(part, str) else bytes(part)
        else:
            raise Refused(415, f"content type {kind!r} is not application/json")
        try:
            return load_json(raw, what="body")
        except InvalidRequest as exc:
            raise Refused(400, str(exc), exc.field) from None

    def _store_delivery(self, fmt: str, payload: Any, camera_id: str) -> StoredReads:
        try:
            drafts = JSON_FORMATS[fmt].reads(payload)
        except InvalidRequest as exc:
            raise Refused(400, str(exc), exc.field) from None
        _check_bound(drafts, camera_id)
        bounds = self._law.ingest_bounds(self._clock.now())
        try:
            return store_reads(self._store, drafts, bounds)
        except InvalidRequest as exc:
            status = 400 if exc.field else 422  # a field at fault, or the law's refusal
            raise Refused(status, str(exc), exc.field) from None


def _check_bound(drafts: list[ReadDraft], camera_id: str) -> None:
    """Raises: Refused 403 when a read names a camera other than the authenticated one."""
    for draft in drafts:
        if draft.camera_id != camera_id:
            raise Refused(
                403,
                f"authenticated as camera {camera_id!r}, but the payload names camera "
                f"{draft.camera_id!r}; a camera may post only its own reads",
                draft.origin.get("camera_id", "camera_id"),
            )


def _peer_certificate(request: web.Request) -> bytes | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    return der


def _auth(refused: Refused) -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="alprfed-node"'} if refused.status == 401 else {}


class WebhookReceiver:
    """The receiver on its own event loop thread, beside the node's gRPC server.

    ``start()`` binds and serves and returns the port; ``stop()`` lets in-flight deliveries
    finish (each commits or rolls back whole) and closes the store.
    """

    def __init__(
        self,
        config: WebhookConfig,
        tls: TLSConfig,
        *,
        agency_id: str,
        store: NodeStore,
        law: NodeLawGuard,
        clock: Clock,
    ) -> None:
        self._config = config
        self._ssl = _ssl_context(tls)
        self._store = store
        self._executor = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="node-webhook")
        handlers = _Handlers(
            agency_id=agency_id,
            store=store,
            law=law,
            tokens=CameraTokens(config.tokens),
            clock=clock,
            executor=self._executor,
            max_body=config.max_body_bytes,
        )
        app = web.Application(client_max_size=config.max_body_bytes)
        app.router.add_post("/v1/webhooks/{format}", handlers.deliver)
        app.router.add_get("/healthz", handlers.healthz)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="node-webhook")
        self.port = 0

    def start(self) -> int:
        """Raises: ConfigError when the address cannot be bound."""
        sock = _bind(self._config.listen)
        self._thread.start()

        async def serve() -> None:
            await self._runner.setup()
            await web.SockSite(self._runner, sock, ssl_context=self._ssl).start()

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(START_TIMEOUT_S)
        self.port = sock.getsockname()[1]
        return self.port

    def stop(self) -> None:
        if self._thread.is_alive():
            cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            cleanup.result(SHUTDOWN_TIMEOUT_S + 1)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()
        self._executor.shutdown(wait=True)
        self._store.close()


def start_receiver(config: NodeConfig, *, clock: Clock) -> WebhookReceiver | None:
    """Start the receiver ``[webhook]`` configures (None when it configures none).

    Raises:
        ConfigError: no TLS material, bad law packs, or the address cannot be bound.
        Unavailable: the database cannot be reached.
    """
    if config.webhook is None:
        return None
    law = load_node_law(config)
    store = NodeStore.open(config.database_url)
    try:
        receiver = WebhookReceiver(
            config.webhook,
            config.tls,
            agency_id=config.agency_id,
            store=store,
            law=law,
            clock=clock,
        )
    except BaseException:
        store.close()
        raise
    try:
        receiver.start()
    except BaseException:
        receiver.stop()
        raise
    return receiver


def _bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    try:
        sock = socket.create_server((host.strip("[]"), int(port)), reuse_port=False)
    except OSError as exc:
        raise ConfigError(f"[webhook] cannot listen on {listen}: {exc.strerror or exc}") from None
    return sock


def _ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """The node's certificate; a client certificate is asked for, verified against the
    federation root when sent, and optional (cameras with a token send none)."""
    if tls.insecure or tls.cert is None or tls.key is None or tls.ca is None:
        raise ConfigError("[webhook] needs the node's [tls] ca, cert and key: it is HTTPS only")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_OPTIONAL
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS certificate {tls.cert} or key {tls.key}: {exc}") from None
    return context
