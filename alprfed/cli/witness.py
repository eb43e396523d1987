"""`alprfed witness`: run a C2SP witness that cosigns the ledger's checkpoints (docs/WITNESS.md).

Exit codes (alprfed.cli.exit_codes): 0 done (or stopped by SIGTERM/SIGINT), 1 refused (bad
configuration, key or database), 2 usage error, 5 the database cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from alprfed.cli.common import friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.serving import apply_log_format, log_format_option, probes_line
from alprfed.errors import ConfigError
from alprfed.heap import freeze_startup_heap
from alprfed.ledger.cosignature import CosignatureVerifier
from alprfed.ledger.note import NoteError, check_key_name
from alprfed.signing import SigningKey

if TYPE_CHECKING:  # the service modules load only when a witness is served
    from witness.config import WitnessConfig

log = logging.getLogger("alprfed.witness")

name_option = click.option(
    "--name",
    required=True,
    help="The witness's key name, e.g. witness.ca-state-auditor.example/w1.",
)


def _checked_name(name: str) -> str:
    try:
        return check_key_name(name)
    except NoteError as exc:
        raise ConfigError(f"--name: {exc.detail}") from None


@click.group("witness")
def witness() -> None:
    """A witness: cosigns a log's checkpoints only when they extend, append-only, the newest
    one it cosigned before (C2SP tlog-witness)."""


@witness.command("keygen")
@name_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@friendly_errors
def keygen(name: str, out: Path, as_json: bool) -> None:
    """Make the witness's Ed25519 key (0600) and print its vkey for witness policies."""
    _checked_name(name)
    if out.exists():
        raise ConfigError(f"{out} exists; refusing to overwrite a key")
    key = SigningKey.generate()
    key.save(out)
    _print_vkey(CosignatureVerifier.for_key(name, key.public), as_json=as_json, key_file=out)


@witness.command("vkey")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@name_option
@json_option
@friendly_errors
def vkey(key_path: Path, name: str, as_json: bool) -> None:
    """Print the witness vkey (cosignature/v1, type 0x04) of a key under a name."""
    _checked_name(name)
    key = SigningKey.load(key_path)
    _print_vkey(CosignatureVerifier.for_key(name, key.public), as_json=as_json, key_file=key_path)


def _print_vkey(verifier: CosignatureVerifier, *, as_json: bool, key_file: Path) -> None:
    if as_json:
        emit_json(
            {
                "name": verifier.name,
                "key_id": verifier.key_id.hex(),
                "vkey": verifier.to_vkey(),
                "key_file": str(key_file),
            }
        )
    else:
        click.echo(verifier.to_vkey())


@witness.command("serve")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@log_format_option
@friendly_errors
def serve(config_path: Path, log_format: str | None) -> None:
    """Serve add-checkpoint and the monitoring endpoint until SIGTERM or Ctrl-C.

    Shutdown is graceful: no new connections, in-flight requests finish (each cosignature is
    committed before it is answered), then the database is closed.
    """
    from witness.config import load_witness_config

    config = load_witness_config(config_path, environ=os.environ)
    apply_log_format(log_format, config.observability)
    # uvloop: the same asyncio API on libuv, and less CPU per cosignature (docs/PERFORMANCE.md,
    # "The witness round, instrumented"). Where it is not built (Windows), the standard loop
    # serves exactly the same.
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(config))
    else:
        uvloop.run(_serve(config))


async def _serve(config: WitnessConfig) -> None:
    from witness.server import create_server

    server, port = await create_server(config)
    # Before the first line is printed: whoever waits for it may stop the witness at once.
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    await server.start()
    freeze_startup_heap()
    host = config.listen.rsplit(":", 1)[0]
    # Plain lines, never wrapped: operators copy the vkey into witness policies.
    click.echo(f"witness {server.service.verifier.to_vkey()}")
    click.echo(f"witness listening on {server.scheme}://{host}:{port} for {', '.join(config.logs)}")
    if line := probes_line(config.observability.metrics_listen.rsplit(":", 1)[0], server.probes):
        click.echo(line)
    try:
        await stopping.wait()
    finally:
        log.warning("witness stopping")
        await server.stop()
