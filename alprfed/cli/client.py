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
from pathlib import Path
from typing import Any, TypeVar

import click

from alprfed.cli.common import friendly_errors
from alprfed.client import DEFAULT_TIMEOUT_S, GatewayClient, read_profile
from alprfed.config import TLSConfig
from alprfed.errors import ConfigError
from alprfed.rpc.tls import warn_insecure

F = TypeVar("F", bound=Callable[..., Any])


# The CLI's name for the package's typed client.
Connection = GatewayClient


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
    values = read_profile(profile) if profile is not None else {}
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
