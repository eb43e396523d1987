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
from alprfed.cli.progress import progress, progress_options, wanted
from alprfed.errors import ConfigError, LedgerError, LedgerVerificationError
from alprfed.ledger.checkpoint import (
    CheckpointError,
    open_checkpoint,
    read_checkpoint,
    verifiers_origin,
)
from alprfed.ledger.entry import EntryKind, LedgerEntryView
from alprfed.ledger.note import NoteError, NoteVerifier
from alprfed.ledger.proof import verify_consistency
from alprfed.ledger.source import LedgerSource, build_tlog_proof, iter_entries
from alprfed.ledger.tlog_proof import verify_tlog_proof
from alprfed.ledger.verify import verify_ledger
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
@click.pass_context
@friendly_errors
def checkpoint(ctx: click.Context) -> None:
    """Print the newest signed checkpoint, verbatim."""
    click.echo(_open_source(ctx).latest_checkpoint(), nl=False)


@ledger.command("verifier-key")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The ledger's Ed25519 private key, PKCS#8 PEM.",
)
@click.option("--origin", required=True, help="The ledger's origin (its key name).")
@friendly_errors
def verifier_key(key_file: Path, origin: str) -> None:
    """Print the verifier key (vkey) that oversight bodies verify checkpoints with."""
    try:
        verifier = NoteVerifier.for_key(origin, SigningKey.load(key_file).public)
    except NoteError as exc:
        raise ConfigError(f"--origin: {exc.detail}") from None
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
@click.pass_context
@friendly_errors
def proof(ctx: click.Context, index: int, out: Path | None) -> None:
    """Write an offline receipt (c2sp.org/tlog-proof@v1) for one entry."""
    text = build_tlog_proof(_open_source(ctx), index)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote the receipt for entry {index} to {out}", err=True)


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
@click.pass_context
@friendly_errors
def consistency(ctx: click.Context, old_size: int, new_size: int, keys: tuple[str, ...]) -> None:
    """Print the RFC 9162 consistency proof between two tree sizes, one base64 hash a line."""
    source = _open_source(ctx)
    hashes = source.consistency_proof(old_size, new_size)
    for value in hashes:
        click.echo(base64.b64encode(value).decode("ascii"))
    if keys:
        verifiers = load_verifiers(keys)
        origin = verifiers_origin(verifiers)
        roots = []
        for size in (old_size, new_size):
            notes = source.checkpoints(size, size)
            if not notes:
                raise LedgerVerificationError(f"the log signed no checkpoint of size {size}")
            roots.append(open_checkpoint(notes[0], verifiers, origin=origin).root)
        verify_consistency(old_size, new_size, roots[0], roots[1], hashes)
        click.echo(
            f"verified against the signed checkpoints of sizes {old_size} and {new_size}", err=True
        )


@ledger.command()
@_KEY_OPTION
@_POLICY_OPTION
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Monitor state file: the newest checkpoint must extend the one accepted "
    "last; updated only when everything verifies.",
)
@progress_options
@click.pass_context
@friendly_errors
def verify(
    ctx: click.Context,
    keys: tuple[str, ...],
    policy_file: Path | None,
    state: Path | None,
    quiet: bool,
    force_progress: bool,
) -> None:
    """Recompute every entry and check every checkpoint the log signed (and, with a witness
    policy, every cosignature and the quorum on the published checkpoint)."""
    verifiers, policy = load_trust(keys, policy_file)
    source = _open_source(ctx)
    show = wanted(quiet=quiet, forced=force_progress)
    with progress("verifying", entry_total(source) if show else None, show=show) as step:
        report = verify_ledger(
            source, verifiers, state_file=state, witness_policy=policy, on_progress=step
        )
    since = (
        ""
        if report.previous_size is None
        else f"; consistent with the {report.previous_size} entries accepted before"
    )
    witnessed = (
        f"; published checkpoint cosigned by {', '.join(sorted(report.cosigners))} "
        f"(quorum {policy.describe_quorum()})"
        if policy is not None and policy.requires_witnesses
        else ""
    )
    console.print(
        f"[bold green]ledger verifies[/]: {report.size} entries, "
        f"{report.checkpoints_checked} signed checkpoints{since}{witnessed}",
        highlight=False,
    )


@ledger.command("verify-proof")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@_KEY_OPTION
@_POLICY_OPTION
@friendly_errors
def verify_proof(file: Any, keys: tuple[str, ...], policy_file: Path | None) -> None:
    """Verify a .tlog-proof receipt offline and print the entry it proves."""
    verifiers, policy = load_trust(keys, policy_file)
    receipt = verify_tlog_proof(
        file.read(), verifiers, origin=verifiers_origin(verifiers), witness_policy=policy
    )
    console.print(
        f"[bold green]receipt verifies[/]: entry {receipt.entry.index} is in "
        f"{receipt.checkpoint.origin} at tree size {receipt.checkpoint.size}",
        highlight=False,
    )
    click.echo(json.dumps(_entry_json(receipt.entry), indent=2, sort_keys=True, ensure_ascii=False))


def _entry_json(view: LedgerEntryView) -> dict[str, Any]:
    return {**view.to_json(), "time_utc": format_time(view.time)}


@ledger.command()
@_KEY_OPTION
@_POLICY_OPTION
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Monitor state file, as for `verify`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@friendly_errors
def audit(
    ctx: click.Context,
    keys: tuple[str, ...],
    policy_file: Path | None,
    state: Path | None,
    as_json: bool,
) -> None:
    """Verify the ledger, then re-decide every logged query with the policy then in force.

    A replay of entries that do not verify would prove nothing, so the whole ledger is verified
    first (exactly as `verify`; exit non-zero naming the first bad index). Then every decision
    the published policy contradicts is listed (exit 1 if any), and a summary: queries per
    agency, purpose and outcome, warrants used, exigent queries awaiting review.
    """
    from rich.table import Table

    from alprfed.policy.replay import audit_entries

    source = _open_source(ctx)
    verifiers, policy = load_trust(keys, policy_file)
    verified = verify_ledger(source, verifiers, state_file=state, witness_policy=policy)
    report = audit_entries(iter_entries(source, end=verified.size))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        summary = Table(title=f"audit of {report.entries} entries", header_style="bold")
        summary.add_column("what")
        summary.add_column("count", justify="right")
        rows = [("queries", report.queries), ("malformed requests", report.rejected)]
        rows += [(f"by {k}", v) for k, v in sorted(report.by_requester.items())]
        rows += [(f"purpose {k}", v) for k, v in sorted(report.by_purpose.items())]
        rows += [(f"answers {k}", v) for k, v in sorted(report.by_outcome.items())]
        rows += [
            ("warrants used", len(report.warrants_used)),
            ("exigent queries awaiting review", len(report.awaiting_review)),
        ]
        for what, count in rows:
            summary.add_row(what, str(count))
        console.print(summary)
        for query_id in report.awaiting_review:
            console.print(f"awaiting judicial review: exigent query {query_id}")
        for d in report.disagreements:
            console.print(
                f"[bold red]DISAGREES[/] entry {d.index} (query {d.query_id}, "
                f"{d.agency}): logged {d.logged}; policy says {d.replayed}"
                + (f" — {d.note}" if d.note else ""),
                highlight=False,
            )
        if report.clean:
            console.print(
                f"[green]ledger verified ({verified.size} entries); every logged "
                "decision agrees with the policy in force[/]"
            )
    if not report.clean:
        raise SystemExit(1)


@ledger.command("open")
@click.option("--index", type=click.IntRange(min=0), required=True, help="The entry to open.")
@click.option("--reason", required=True, help="Why (recorded in the ledger with your name).")
@click.pass_context
@friendly_errors
def open_commitment(ctx: click.Context, index: int, reason: str) -> None:
    """Open one entry's plate commitments (auditors; through a gateway only).

    The gateway appends a commitment_opened entry naming you, the entry and the reason before
    it answers, so every opening is itself audited. Openings past the gateway's retention of
    them are gone for good: the commitment stays, the plate cannot be recovered.
    """
    options: _SourceOptions = ctx.obj
    if options.database or not (options.gateway or options.profile):
        raise click.UsageError(
            "opening commitments goes through a gateway: --profile FILE or "
            "--gateway HOST:PORT (before the command)"
        )
    from alprfed.v1 import ledger_pb2, ledger_pb2_grpc

    connection = _gateway_connection(options)
    with connection.channel() as channel:
        opening = ledger_pb2_grpc.LedgerStub(channel).OpenCommitment(
            ledger_pb2.OpenCommitmentRequest(index=index, reason=reason),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    console.print(
        f"entry {opening.index}: opening recorded as ledger entry {opening.opening_ledger_index}",
        highlight=False,
    )
    for slot, (plate, salt) in enumerate(zip(opening.plates, opening.salts, strict=True)):
        console.print(f"  commitment {slot}: plate {plate} (salt {salt.hex()})", highlight=False)


def _register_commands() -> None:
    from alprfed.cli.ledger_reconcile import reconcile_command
    from alprfed.cli.ledger_tiles import export_tiles_command

    ledger.add_command(reconcile_command)
    ledger.add_command(export_tiles_command)


_register_commands()
