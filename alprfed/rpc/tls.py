"""Server and channel credentials from a TLSConfig. Mutual TLS unless explicitly insecure."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

import grpc

from alprfed.config import TLSConfig
from alprfed.errors import ConfigError

log = logging.getLogger("alprfed.tls")

# Results can be large; refuse anything larger explicitly rather than at gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# One long-lived channel per peer; pings rarely (the keepalive guide: not much below a minute).
CHANNEL_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.max_pings_without_data", 0),
)
SERVER_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not share it
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


def warn_insecure(what: str) -> None:
    log.warning(
        "%s runs WITHOUT TLS (--insecure): identities are unverified and traffic is "
        "readable on the network; never use this outside a local experiment",
        what,
    )


def server_credentials(tls: TLSConfig) -> grpc.ServerCredentials | None:
    """None when insecure (after a loud warning); else mTLS requiring a client certificate."""
    if tls.insecure:
        warn_insecure("server")
        return None
    if tls.ca is None or tls.cert is None or tls.key is None:
        raise ConfigError("TLS needs ca, cert and key (or --insecure)")
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=tls.ca.read_bytes(),
        require_client_auth=True,
    )


def channel_credentials(tls: TLSConfig) -> grpc.ChannelCredentials | None:
    if tls.insecure:
        return None
    if tls.ca is None or tls.cert is None or tls.key is None:
        raise ConfigError("TLS needs ca, cert and key (or --insecure)")
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca.read_bytes(),
        private_key=tls.key.read_bytes(),
        certificate_chain=tls.cert.read_bytes(),
    )


def check_listen(address: str, setting: str = "listen") -> None:
    """Raise a ConfigError naming ``setting`` unless every address ``address`` resolves to can
    be bound now.

    gRPC binds what it can and only logs the rest: a port taken on 127.0.0.1 but free on ::1
    would leave a server listening on half of "localhost". Checked before anything is opened,
    so a server that cannot listen changes nothing.
    """
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
        resolved = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (ValueError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{setting} {address!r}: cannot resolve the host ({reason})") from None
    if port == 0:
        return  # any free port: gRPC picks one
    for family, kind, proto, _, where in resolved:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                raise ConfigError(
                    f"{setting} {address!r}: cannot listen on {where[0]} port {port} "
                    f"({exc.strerror or exc})"
                ) from None


def add_port(server: Any, address: str, tls: TLSConfig) -> int:
    """Bind ``address`` (port 0 picks a free one) and return the port.

    Raises: ConfigError (the address cannot be bound, see check_listen); OSError.
    """
    check_listen(address)
    creds = server_credentials(tls)
    port = (
        server.add_insecure_port(address)
        if creds is None
        else server.add_secure_port(address, creds)
    )
    if port == 0:
        raise OSError(f"could not bind {address}")
    return int(port)


def secure_channel(address: str, tls: TLSConfig, *, asynchronous: bool = False) -> Any:
    """A long-lived channel to ``address``; create one per peer and reuse it."""
    module = grpc.aio if asynchronous else grpc
    creds = channel_credentials(tls)
    if creds is None:
        return module.insecure_channel(address, options=CHANNEL_OPTIONS)
    return module.secure_channel(address, creds, options=CHANNEL_OPTIONS)
