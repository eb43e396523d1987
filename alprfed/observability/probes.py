"""The HTTP server on the metrics port: ``/metrics``, ``/healthz`` and ``/readyz``.

Plain HTTP on its own port, never the mTLS gRPC port: a load balancer, a kubelet or a
Prometheus scraper has no federation certificate. Loopback unless the operator binds it
elsewhere (``metrics_listen``); it shows counts and states, never query contents.

A thread of its own (``ThreadingHTTPServer``), so it answers the same way beside the node's
thread pool, the gateway's event loop and the witness's aiohttp loop — and keeps answering
/healthz while the service's own loop is busy. Readiness checks are plain callables that run
on that thread: each returns None when ready or a one-line reason when not.

``/metrics?name[]=<sample name>&name[]=...`` serves only those samples, as Prometheus's own
client does: a scraper (or a benchmark between its phases) that wants one family does not make
the sampled gauges ask the database.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine

from alprfed.errors import ConfigError

log = logging.getLogger("alprfed.observability")

ReadinessCheck = Callable[[], str | None]  # None: ready; else why not, in one line


class ProbeServer:
    """Serves the metrics of ``registry`` and the probes; ``port`` is the bound port."""

    def __init__(
        self, listen: str, registry: CollectorRegistry, checks: Mapping[str, ReadinessCheck]
    ) -> None:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")  # [::1]:9464
        handler = _handler(registry, dict(checks))
        server_class = _IPv6HTTPServer if ":" in host else ThreadingHTTPServer
        try:
            self._http = server_class((host, int(port)), handler)
        except OSError as exc:
            raise ConfigError(
                f"metrics_listen: cannot listen on {listen}: {exc.strerror or exc}"
            ) from None
        self._http.daemon_threads = True
        self.port: int = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="alprfed-probes", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on port %d", self.port)
        if not ipaddress.ip_address(str(self._http.server_address[0])).is_loopback:
            log.warning(
                "metrics_listen is not loopback: /metrics and the probes are plain HTTP; "
                "keep the port on a management network"
            )

    def stop(self) -> None:
        if self._thread.is_alive():
            self._http.shutdown()
            self._thread.join()
        self._http.server_close()


class _IPv6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def database_check(engine: Engine) -> ReadinessCheck:
    """Ready when the database answers ``SELECT 1``."""

    def check() -> str | None:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return f"database unreachable ({type(exc).__name__})"
        return None

    return check


def readiness(checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    """{check: reason} of every check that is not ready (a check that raises is not)."""
    failing = {}
    for name, check in checks.items():
        try:
            reason = check()
        except Exception as exc:  # a probe must answer, not crash its thread
            reason = f"check failed: {type(exc).__name__}"
        if reason is not None:
            failing[name] = reason
    return failing


def _handler(
    registry: CollectorRegistry, checks: dict[str, ReadinessCheck]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/metrics":
                names = parse_qs(query).get("name[]")
                shown = registry.restricted_registry(names) if names else registry
                self._send(HTTPStatus.OK, generate_latest(shown), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n")
            elif path == "/readyz":
                failing = readiness(checks)
                if failing:
                    lines = "".join(f"{name}: {why}\n" for name, why in sorted(failing.items()))
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, lines.encode())
                else:
                    ready = "".join(f"{name}: ok\n" for name in sorted(checks))
                    self._send(HTTPStatus.OK, ready.encode() or b"ok\n")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found: /metrics, /healthz, /readyz\n")

        def _send(
            self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds is not worth a log line

    return Handler
