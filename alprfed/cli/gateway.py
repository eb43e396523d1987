"""`alprfed gateway`: run the federation gateway."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import click

from alprfed.cli.client import Connection, connection_options
from alprfed.cli.common import console, friendly_errors, print_new_signing_key
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.serving import apply_log_format, log_format_option, probes_line
from alprfed.config import load_gateway_config
from alprfed.errors import ConfigError
from alprfed.heap import freeze_startup_heap

log = logging.getLogger("alprfed.gateway")


@click.group("gateway")
def gateway() -> None:
    """The federation gateway: three gates, signed fan-out, audit ledger."""


@gateway.command("serve")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--insecure", is_flag=True, help="Plaintext and unverified identities (warns).")
@log_format_option
@friendly_errors
def serve(config_path: Path, insecure: bool, log_format: str | None) -> None:
    """Serve until SIGTERM or Ctrl-C; SIGHUP reloads policies and the federation file."""
    config = load_gateway_config(config_path, insecure=insecure, environ=os.environ)
    apply_log_format(log_format, config.observability)
    asyncio.run(_serve(config))


async def _serve(config) -> None:  # type: ignore[no-untyped-def]
    from gateway.server import create_server

    server, port = await create_server(config)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    async def reload() -> None:
        try:
            changed = await server.reload_policy()
            log.warning("policy reloaded: %s", "changed and published" if changed else "unchanged")
        except ConfigError as exc:
            log.error("policy reload refused, the old policy stays in force: %s", exc)

    # Before it serves: whoever waits for its port or its lines may stop it at once.
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload()))
    await server.start()
    freeze_startup_heap()
    console.print(f"gateway listening on {config.listen.rsplit(':', 1)[0]}:{port}")
    metrics_host = config.observability.metrics_listen.rsplit(":", 1)[0]
    if line := probes_line(metrics_host, server.probes):
        console.print(line)
    await stopping.wait()
    await server.stop()


@gateway.command("keygen")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@friendly_errors
def keygen(out: Path, as_json: bool) -> None:
    """Make an Ed25519 signing key (query, ledger or court key); print its public key."""
    print_new_signing_key(out, as_json=as_json)


@gateway.command("reload")
@json_option
@connection_options
def reload(as_json: bool, connection: Connection) -> None:
    """Reload the gateway's policies and federation file (federation admins).

    A changed policy is published in the audit ledger before it takes effect; files that do
    not load leave the old policy in force. The same as sending the gateway SIGHUP.
    """
    from alprfed.v1 import gateway_pb2, gateway_pb2_grpc

    with connection.channel() as channel:
        reply = gateway_pb2_grpc.GatewayStub(channel).ReloadPolicy(
            gateway_pb2.ReloadPolicyRequest(),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    if as_json:
        emit_json({"changed": reply.changed, "bundle_sha256": reply.bundle_sha256})
        return
    state = "changed and published" if reply.changed else "unchanged"
    console.print(f"policy {state}; bundle {reply.bundle_sha256} in force")
