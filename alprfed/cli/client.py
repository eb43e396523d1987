"""How every client command reaches the gateway: address and mTLS credentials.

A *profile* is a small TOML file naming the gateway and the caller's certificate, key and the
federation root (``alprfed up`` writes one per demo person):

    gateway = "127.0.0.1:7443"
    ca = "pki/ca.pem"
    cert = "pki/orgs/sjpd/people/officer-garcia/cert.pem"
    key = "pki/orgs/sjpd/people/officer-garcia/key.pem"

Options given on the command line override the profile. Paths in a profile are relative to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc

from alprfed.cli.common import friendly_errors
from alprfed.config import TLSConfig, read_toml
from alprfed.errors import ConfigError
from alprfed.rpc.identity import INSECURE_IDENTITY_HEADER
from alprfed.rpc.tls import secure_channel, warn_insecure

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TIMEOUT_S = 10.0
PROFILE_KEYS = frozenset({"gateway", "ca", "cert", "key"})


@dataclass(frozen=True)
class Connection:
    address: str
    tls: TLSConfig
    insecure_identity: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S

    def channel(self) -> grpc.Channel:
        return secure_channel(self.address, self.tls)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.tls.insecure and self.insecure_identity:
            return ((INSECURE_IDENTITY_HEADER, self.insecure_identity),)
        return ()


def connection_options(func: F) -> F:
    """Add --profile, --gateway, --ca, --cert, --key, --insecure, --as, --timeout."""
    options = [
        click.option(
            "--profile",
            type=click.Path(dir_okay=False, path_type=Path),
            help="TOML file naming the gateway and your certificate.",
        ),
        click.option("--gateway", "address", help="Gateway address, HOST:PORT."),
        click.option(
            "--ca",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Federation root certificate (PEM).",
        ),
        click.option(
            "--cert",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Your certificate chain (PEM).",
        ),
        click.option(
            "--key",
            "key_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Your private key (PEM).",
        ),
        click.option(
            "--insecure", is_flag=True, help="Plaintext, for local experiments only (warns)."
        ),
        click.option(
            "--as",
            "insecure_identity",
            default="",
            metavar="KIND:ORG/ID",
            help="With --insecure only: the identity to claim.",
        ),
        click.option(
            "--timeout",
            "timeout_s",
            type=click.FloatRange(min=0.1),
            default=DEFAULT_TIMEOUT_S,
            show_default=True,
            help="Deadline for the call, in seconds.",
        ),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    @friendly_errors  # a missing profile or certificate is one clear line, not a traceback
    def wrapper(
        *args: Any,
        profile: Path | None,
        address: str | None,
        ca: Path | None,
        cert: Path | None,
        key_file: Path | None,
        insecure: bool,
        insecure_identity: str,
        timeout_s: float,
        **kwargs: Any,
    ) -> Any:
        kwargs["connection"] = resolve_connection(
            profile=profile,
            address=address,
            ca=ca,
            cert=cert,
            key=key_file,
            insecure=insecure,
            insecure_identity=insecure_identity,
            timeout_s=timeout_s,
        )
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def resolve_connection(
    *,
    profile: Path | None,
    address: str | None,
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    insecure: bool,
    insecure_identity: str,
    timeout_s: float,
) -> Connection:
    """Raises: ConfigError when the gateway or credentials are missing."""
    values: dict[str, Any] = {}
    if profile is not None:
        data = read_toml(profile)
        unknown = set(data) - PROFILE_KEYS
        if unknown or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(
                f"{profile} is not a client profile (keys: gateway, ca, cert, key; "
                f"unexpected: {', '.join(sorted(unknown)) or 'non-text values'})"
            )
        base = profile.parent
        values = {"address": data.get("gateway")}
        for name in ("ca", "cert", "key"):
            if name in data:
                values[name] = base / data[name]
    address = address or values.get("address")
    if not address:
        raise ConfigError("say which gateway to use: --gateway HOST:PORT or --profile FILE")
    tls = TLSConfig(
        ca=ca or values.get("ca"),
        cert=cert or values.get("cert"),
        key=key or values.get("key"),
        insecure=insecure,
    )
    if insecure:
        warn_insecure("this client")
    tls.check("client")
    return Connection(address, tls, insecure_identity, timeout_s)
