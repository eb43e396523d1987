"""`alprfed warrant`: a court issues (signs) a warrant; a clerk registers, revokes, shows it."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import click
from rich.table import Table

from alprfed import canonical, wire
from alprfed.cli.client import Connection, connection_options
from alprfed.cli.common import (
    console,
    format_time,
    friendly_errors,
    parse_duration,
    parse_time,
)
from alprfed.cli.json_output import emit_json, json_option
from alprfed.models import Purpose, TimeWindow, normalize_plate
from alprfed.policy.warrants import WARRANT_SALT_BYTES, Warrant, WarrantLimits
from alprfed.signing import WARRANT_TYPE, SigningKey, envelope_from_json, envelope_to_json
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc


@click.group("warrant")
def warrant() -> None:
    """Warrants: the court signs; a court clerk registers and revokes them at the gateway."""


@warrant.command("issue")
@click.option(
    "--court-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The court's Ed25519 private key (PEM).",
)
@click.option("--court", required=True, help="The court's id in the federation file.")
@click.option("--judge", required=True)
@click.option("--id", "warrant_id", required=True, help="The warrant's id.")
@click.option("--agency", required=True, help="The agency it authorizes.")
@click.option("--plate", "plates", multiple=True, required=True, help="Repeat for each plate.")
@click.option("--from", "window_from", required=True, help="Start of the sightings it covers.")
@click.option(
    "--to",
    "window_to",
    default=None,
    help="End of the sightings it covers (default: now, the moment of issuance: a historical "
    "search). An end after issuance makes a prospective (tracking) warrant, marked as such; "
    "some states' law refuses those.",
)
@click.option("--offense", required=True, type=click.Choice([p.value for p in Purpose]))
@click.option(
    "--valid-for",
    default="30d",
    show_default=True,
    help="How long it stays in force: e.g. 72h, 30d.",
)
@click.option("--limit-state", "limit_states", multiple=True, help="Only nodes of this state.")
@click.option("--limit-agency", "limit_agencies", multiple=True, help="Only this agency.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signed warrant (DSSE JSON).",
)
@json_option
@friendly_errors
def issue(
    court_key: Path,
    court: str,
    judge: str,
    warrant_id: str,
    agency: str,
    plates: tuple[str, ...],
    window_from: str,
    window_to: str | None,
    offense: str,
    valid_for: str,
    limit_states: tuple[str, ...],
    limit_agencies: tuple[str, ...],
    out: Path,
    as_json: bool,
) -> None:
    """Sign a warrant with a court key (the court's side; no gateway involved)."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    # Without --to the warrant reaches back only: tracking sightings not yet made is a
    # different, graver authorization that the court must ask for explicitly.
    window = TimeWindow(
        parse_time(window_from, now=now),
        now if window_to is None else parse_time(window_to, now=now),
    )
    signed = Warrant(
        warrant_id=warrant_id,
        court=court,
        judge=judge,
        issued_at=now,
        expires_at=now + parse_duration(valid_for),
        agency=agency,
        plates=tuple(normalize_plate(p) for p in plates),
        window=window,
        offense=Purpose(offense),
        prospective=window.end > now,
        # The court draws it: the ledger publishes this payload's hash, and the salt keeps
        # anyone from recovering the plates by hashing guesses.
        salt=secrets.token_hex(WARRANT_SALT_BYTES),
        limits=WarrantLimits(frozenset(s.upper() for s in limit_states), frozenset(limit_agencies)),
    )
    envelope = SigningKey.load(court_key).sign_envelope(WARRANT_TYPE, signed.to_canonical())
    out.write_text(envelope_to_json(envelope))
    if as_json:
        emit_json(
            {
                "warrant_id": warrant_id,
                "court": court,
                "key_id": envelope.key_id,
                "prospective": signed.prospective,
                "expires_at": signed.expires_at,
                "out": str(out),
            }
        )
        return
    kind = "prospective (tracking)" if signed.prospective else "historical"
    console.print(
        f"{kind} warrant {warrant_id} signed by {court} (key {envelope.key_id}), "
        f"expires {format_time(signed.expires_at)}; written to {out}"
    )


def _show(status: gateway_pb2.WarrantStatus, as_json: bool) -> None:
    payload = canonical.decode(status.warrant.payload)
    if as_json:
        document = {
            "warrant_id": status.warrant_id,
            "status": "revoked" if status.revoked else "registered",
            "revoked_at": status.revoked_at if status.revoked else None,
            "revoked_reason": status.revoked_reason if status.revoked else None,
            "ledger_index": status.ledger_index,
            "warrant": payload,  # the court-signed payload, as signed
        }
        emit_json(document)
        return
    w = Warrant.from_canonical(payload)
    table = Table(show_header=False, title=f"warrant {w.warrant_id}")
    state = (
        f"[red]REVOKED[/] {format_time(status.revoked_at)}: {status.revoked_reason}"
        if status.revoked
        else "[green]registered[/]"
    )
    for label, value in (
        ("status", state),
        ("court / judge", f"{w.court} / {w.judge}"),
        ("authorizes", w.agency),
        ("plates", ", ".join(w.plates)),
        ("sightings from", format_time(w.window.start)),
        ("sightings to", format_time(w.window.end)),
        ("prospective", "yes: covers sightings after issuance" if w.prospective else "no"),
        ("offense", w.offense.value),
        ("in force", f"{format_time(w.issued_at)} → {format_time(w.expires_at)}"),
        ("limits", ", ".join(sorted(w.limits.states | w.limits.agencies)) or "none"),
        ("ledger entry", str(status.ledger_index)),
    ):
        table.add_row(label, value)
    console.print(table)


@warrant.command("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@connection_options
@friendly_errors
def register(file: Path, as_json: bool, connection: Connection) -> None:
    """Register a court-signed warrant (court clerks)."""
    envelope = envelope_from_json(file.read_text())
    with connection.channel() as channel:
        status = gateway_pb2_grpc.GatewayStub(channel).RegisterWarrant(
            gateway_pb2.RegisterWarrantRequest(warrant=wire.envelope_to_pb(envelope)),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    _show(status, as_json)


@warrant.command("revoke")
@click.argument("warrant_id")
@click.option("--reason", required=True)
@json_option
@connection_options
@friendly_errors
def revoke(warrant_id: str, reason: str, as_json: bool, connection: Connection) -> None:
    """Revoke a registered warrant (court clerks)."""
    with connection.channel() as channel:
        status = gateway_pb2_grpc.GatewayStub(channel).RevokeWarrant(
            gateway_pb2.RevokeWarrantRequest(warrant_id=warrant_id, reason=reason),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    _show(status, as_json)


@warrant.command("show")
@click.argument("warrant_id")
@json_option
@connection_options
@friendly_errors
def show(warrant_id: str, as_json: bool, connection: Connection) -> None:
    """Show a registered warrant and whether it was revoked."""
    with connection.channel() as channel:
        status = gateway_pb2_grpc.GatewayStub(channel).GetWarrant(
            gateway_pb2.GetWarrantRequest(warrant_id=warrant_id),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    _show(status, as_json)
