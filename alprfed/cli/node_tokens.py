"""`alprfed node token`: issue, revoke and list the cameras' webhook bearer tokens.

A token is printed once, when issued; the node keeps only its hash (agency_node.camera_tokens),
in the file ``[webhook] tokens`` names. The running receiver picks changes up on its next
request: a revoked token stops working without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from agency_node.camera_tokens import CameraTokens
from alprfed.cli.common import console, err_console, fail, format_time, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import load_node_config

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's TOML configuration (with a [webhook] table).",
)


@click.group("token")
def token() -> None:
    """Per-camera bearer tokens for the node's HTTPS webhook receiver."""


def _tokens(config_path: Path) -> CameraTokens:
    config = load_node_config(config_path, insecure=True, environ=os.environ)
    if config.webhook is None:
        fail(f"{config_path}: no [webhook] table: the node runs no webhook receiver")
        raise AssertionError("fail() exits")
    return CameraTokens(config.webhook.tokens)


@token.command("issue")
@click.argument("camera_id")
@config_option
@json_option
@friendly_errors
def issue(camera_id: str, config_path: Path, as_json: bool) -> None:
    """Issue CAMERA_ID a token (replacing its old one) and print it, once."""
    now = SYSTEM_CLOCK.now()
    issued = _tokens(config_path).issue(camera_id, now=now)
    if as_json:
        emit_json({"camera_id": issued.camera_id, "token": issued.token, "issued_at": now})
    else:
        click.echo(issued.token)
    err_console.print(
        f"token issued to camera {camera_id}: configure it as the engine's webhook header "
        "'Authorization: Bearer <token>'; it is not shown again",
        soft_wrap=True,
    )


@token.command("revoke")
@click.argument("camera_id")
@config_option
@json_option
@friendly_errors
def revoke(camera_id: str, config_path: Path, as_json: bool) -> None:
    """Revoke CAMERA_ID's token; its next delivery is refused."""
    _tokens(config_path).revoke(camera_id)
    if as_json:
        emit_json({"camera_id": camera_id, "revoked": True})
    else:
        console.print(f"token of camera {camera_id} revoked")


@token.command("list")
@config_option
@json_option
@friendly_errors
def list_(config_path: Path, as_json: bool) -> None:
    """The cameras holding a token, and when it was issued."""
    issued = sorted(_tokens(config_path).issued().items())
    if as_json:
        emit_json({"tokens": [{"camera_id": c, "issued_at": at} for c, at in issued]})
        return
    for camera_id, issued_at in issued:
        console.print(f"{camera_id}  issued {format_time(issued_at)}", highlight=False)
