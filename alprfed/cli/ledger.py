"""`alprfed ledger`: read and verify the audit ledger, from its database or from a gateway.

Where to read is said once, before the command::

    alprfed ledger --database postgresql+psycopg://... verify --key VKEY
    alprfed ledger --profile auditor.toml audit
    alprfed ledger --gateway gw.example:7443 --ca root.pem --cert me.pem --key me.key entries

(``--key`` before the command is the TLS client key; after ``verify`` or ``verify-proof`` it
is the ledger's verifier key.) ``verifier-key`` and ``verify-proof`` need no source at all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from alprfed.cli.common import console, format_time, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.errors import ConfigError, LedgerError, LedgerVerificationError
from alprfed.ledger.checkpoint import (
    CheckpointError,
    open_checkpoint,
    read_checkpoint,
    verifiers_origin,
)
from alprfed.ledger.entry import EntryKind
from alprfed.ledger.note import NoteError, NoteVerifier
from alprfed.ledger.proof import verify_consistency
from alprfed.ledger.source import LedgerSource, build_tlog_proof, iter_entries
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.signing import SigningKey

DEFAULT_INSECURE_IDENTITY = "person:oversight/auditor"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _SourceOptions:
    database: str | None
    profile: Path | None
    gateway: str | None
    ca: Path | None
    cert: Path | None
    key: Path | None
    insecure: bool
    identity: str


def _open_source(ctx: click.Context) -> LedgerSource:
    options: _SourceOptions = ctx.obj
    if bool(options.database) == bool(options.gateway or options.profile):
        raise click.UsageError(
            "say where the ledger is: --database URL, or --profile FILE or --gateway HOST:PORT "
            "(before the command)"
        )
    if options.database:
        from alprfed.ledger.reader import LedgerReader

        reader = LedgerReader.open_readonly(options.database)
        ctx.call_on_close(reader.close)
        return reader
    from alprfed.ledger.remote import GrpcLedgerSource

    connection = _gateway_connection(options)
    channel = connection.channel()
    ctx.call_on_close(channel.close)
    return GrpcLedgerSource(channel, metadata=connection.metadata())


def entry_total(source: LedgerSource) -> int | None:
    """The newest checkpoint's size, as the total of a progress bar; None if unreadable.

    Read without checking its signature: it only sizes the bar, and the verification that
    follows checks that very checkpoint before anything is reported."""
    try:
        return read_checkpoint(source.latest_checkpoint()).size
    except (CheckpointError, LedgerError):
        return None


def _gateway_connection(options: _SourceOptions) -> Any:
    from alprfed.cli.client import resolve_connection

    return resolve_connection(
        profile=options.profile,
        address=options.gateway,
        ca=options.ca,
        cert=options.cert,
        key=options.key,
        insecure=options.insecure,
        insecure_identity=options.identity,
        timeout_s=30.0,
    )


def load_verifiers(values: Sequence[str]) -> list[NoteVerifier]:
    """Verifier keys given as vkey text or as files holding one vkey per line.

    Raises:
        ConfigError: a value that is neither, or a malformed vkey.
    """
    texts: list[str] = []
    for value in values:
        path = Path(value)
        if "+" in value:
            texts.append(value.strip())
        elif path.is_file():
            texts.extend(line.strip() for line in path.read_text().splitlines() if line.strip())
        else:
            raise ConfigError(
                f"verifier key {value!r}: no such file, and not a vkey (name+hexid+base64key)"
            )
    try:
        return [NoteVerifier.from_vkey(text) for text in texts]
    except NoteError as exc:
        raise ConfigError(f"verifier key: {exc.detail}") from None


_KEY_OPTION = click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="VKEY",
    help="The ledger's verifier key (name+id+key) or a file holding it; repeat for rotated "
    "keys. Optional with a --witness-policy that lists the log.",
)
_POLICY_OPTION = click.option(
    "--witness-policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A C2SP tlog-policy file: the witnesses whose cosignatures are checked and the "
    "quorum the published checkpoint must carry (its log lines count as --key).",
)


def load_trust(
    keys: tuple[str, ...], policy_file: Path | None
) -> tuple[list[NoteVerifier], WitnessPolicy | None]:
    """The log keys to trust and the witness policy, from --key and --witness-policy.

    Raises:
        ConfigError: neither gives a log key, or a key or the policy is malformed.
    """
    policy = WitnessPolicy.load(policy_file) if policy_file is not None else None
    verifiers = load_verifiers(keys) if keys else []
    if policy is not None:
        verifiers += [log for log in policy.logs if log not in verifiers]
    if not verifiers:
        raise ConfigError("give the ledger's verifier key (--key) or a --witness-policy listing it")
    return verifiers, policy


def source_options(group: F) -> F:
    """The options saying where the ledger is, for a group whose commands read it (`ledger`,
    `report`); the group stores them with ``store_source_options``."""
    for option in reversed(
        (
            click.option(
                "--database", metavar="URL", help="Read the ledger's database (operators)."
            ),
            click.option(
                "--profile",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Read from the gateway a client profile names, with its certificate.",
            ),
            click.option("--gateway", metavar="HOST:PORT", help="Read from a gateway (auditors)."),
            click.option(
                "--ca", type=click.Path(path_type=Path), help="Federation root, PEM (--gateway)."
            ),
            click.option("--cert", type=click.Path(path_type=Path), help="Your certificate, PEM."),
            click.option(
                "--key", type=click.Path(path_type=Path), help="Your TLS private key, PEM."
            ),
            click.option(
                "--insecure", is_flag=True, help="Plaintext gRPC, local experiments only."
            ),
            click.option(
                "--as",
                "identity",
                default=DEFAULT_INSECURE_IDENTITY,
                show_default=True,
                help="Who you claim to be under --insecure (kind:org/principal).",
            ),
        )
    ):
        group = option(group)
    return group


def store_source_options(ctx: click.Context, **options: Any) -> None:
    ctx.obj = _SourceOptions(**options)


@click.group()
@source_options
@click.pass_context
def ledger(ctx: click.Context, /, **options: Any) -> None:
    """Read and verify the audit ledger (docs/LEDGER.md)."""
    store_source_options(ctx, **options)


@ledger.command()
@json_option
@click.pass_context
@friendly_errors
def checkpoint(ctx: click.Context, as_json: bool) -> None:
    """Print the newest signed checkpoint, verbatim (not verified: `verify` checks it)."""
    note = _open_source(ctx).latest_checkpoint()
    if not as_json:
        click.echo(note, nl=False)
        return
    from alprfed.cli.ledger_verify import checkpoint_json

    try:
        body = checkpoint_json(read_checkpoint(note))
    except CheckpointError as exc:
        raise LedgerVerificationError(
            f"the newest checkpoint does not parse: {exc.detail}"
        ) from None
    emit_json({**body, "note": note})


@ledger.command("verifier-key")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The ledger's Ed25519 private key, PKCS#8 PEM.",
)
@click.option("--origin", required=True, help="The ledger's origin (its key name).")
@json_option
@friendly_errors
def verifier_key(key_file: Path, origin: str, as_json: bool) -> None:
    """Print the verifier key (vkey) that oversight bodies verify checkpoints with."""
    try:
        verifier = NoteVerifier.for_key(origin, SigningKey.load(key_file).public)
    except NoteError as exc:
        raise ConfigError(f"--origin: {exc.detail}") from None
    if as_json:
        emit_json(
            {"origin": verifier.name, "key_id": verifier.key_id.hex(), "vkey": verifier.to_vkey()}
        )
    else:
        click.echo(verifier.to_vkey())


@ledger.command()
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--end", type=click.IntRange(min=0), help="Stop before this index (default: all).")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([k.value for k in EntryKind]),
    help="Only entries of this kind; repeat for several.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
@friendly_errors
def entries(
    ctx: click.Context, start: int, end: int | None, kinds: tuple[str, ...], as_json: bool
) -> None:
    """Show entries, decoded (this reads; `verify` checks)."""
    views = iter_entries(_open_source(ctx), start=start, end=end, kinds=kinds or None)
    if as_json:
        for view in views:
            click.echo(json.dumps(view.to_json(), sort_keys=True, ensure_ascii=False))
        return
    _print_table(views)


def _print_table(views: Any) -> None:
    from rich.table import Table

    table = Table("index", "time (UTC)", "kind", "plates", "body", box=None)
    for view in views:
        body = json.dumps(view.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        table.add_row(
            str(view.index),
            format_time(view.time),
            view.kind.value,
            str(len(view.commitments)),
            body,
        )
    console.print(table, soft_wrap=True)


@ledger.command()
@click.option("--index", type=click.IntRange(min=0), required=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the receipt here (e.g. entry.tlog-proof); default: standard output.",
)
@json_option
@click.pass_context
@friendly_errors
def proof(ctx: click.Context, index: int, out: Path | None, as_json: bool) -> None:
    """Write an offline receipt (c2sp.org/tlog-proof@v1) for one entry."""
    text = build_tlog_proof(_open_source(ctx), index)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote the receipt for entry {index} to {out}", err=True)
    if as_json:
        emit_json({"index": index, "receipt": text, "out": None if out is None else str(out)})
    elif out is None:
        click.echo(text, nl=False)


@ledger.command()
@click.option("--old", "old_size", type=click.IntRange(min=1), required=True)
@click.option("--new", "new_size", type=click.IntRange(min=1), required=True)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="VKEY",
    help="Also verify the proof against the log's signed checkpoints of both sizes.",
)
@json_option
@click.pass_context
@friendly_errors
def consistency(
    ctx: click.Context, old_size: int, new_size: int, keys: tuple[str, ...], as_json: bool
) -> None:
    """Print the RFC 9162 consistency proof between two tree sizes, one base64 hash a line."""
    source = _open_source(ctx)
    hashes = [
        base64.b64encode(value).decode("ascii")
        for value in source.consistency_proof(old_size, new_size)
    ]
    if not as_json:
        for value in hashes:
            click.echo(value)
    if keys:
        verifiers = load_verifiers(keys)
        origin = verifiers_origin(verifiers)
        roots = []
        for size in (old_size, new_size):
            notes = source.checkpoints(size, size)
            if not notes:
                raise LedgerVerificationError(f"the log signed no checkpoint of size {size}")
            roots.append(open_checkpoint(notes[0], verifiers, origin=origin).root)
        verify_consistency(
            old_size, new_size, roots[0], roots[1], [base64.b64decode(h) for h in hashes]
        )
        click.echo(
            f"verified against the signed checkpoints of sizes {old_size} and {new_size}", err=True
        )
    if as_json:
        emit_json(
            {"old_size": old_size, "new_size": new_size, "proof": hashes, "verified": bool(keys)}
        )


def _register_commands() -> None:
    from alprfed.cli.ledger_open import open_commitment
    from alprfed.cli.ledger_reconcile import reconcile_command
    from alprfed.cli.ledger_tiles import export_tiles_command
    from alprfed.cli.ledger_verify import audit, verify, verify_proof

    for command in (
        verify,
        verify_proof,
        audit,
        open_commitment,
        reconcile_command,
        export_tiles_command,
    ):
        ledger.add_command(command)


_register_commands()
