"""`alprfed ledger verify`, `verify-proof` and `audit`: the commands that check the ledger
rather than read it (split from ledger.py, which says where the ledger is)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click

from alprfed.cli.common import console, format_time, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.ledger import (
    _KEY_OPTION,
    _POLICY_OPTION,
    _open_source,
    entry_total,
    load_trust,
)
from alprfed.cli.progress import progress, progress_options, wanted
from alprfed.ledger.checkpoint import Checkpoint, verifiers_origin
from alprfed.ledger.entry import LedgerEntryView
from alprfed.ledger.source import iter_entries
from alprfed.ledger.tlog_proof import verify_tlog_proof
from alprfed.ledger.verify import verify_ledger


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint's body as JSON keys (docs/OPERATIONS.md, `--json`)."""
    return {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root_hash": base64.b64encode(checkpoint.root).decode("ascii"),
    }


def _entry_json(view: LedgerEntryView) -> dict[str, Any]:
    return {**view.to_json(), "time_utc": format_time(view.time)}


@click.command()
@_KEY_OPTION
@_POLICY_OPTION
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Monitor state file: the newest checkpoint must extend the one accepted "
    "last; updated only when everything verifies.",
)
@progress_options
@json_option
@click.pass_context
@friendly_errors
def verify(
    ctx: click.Context,
    keys: tuple[str, ...],
    policy_file: Path | None,
    state: Path | None,
    quiet: bool,
    force_progress: bool,
    as_json: bool,
) -> None:
    """Recompute every entry and check every checkpoint the log signed (and, with a witness
    policy, every cosignature and the quorum on the published checkpoint)."""
    verifiers, policy = load_trust(keys, policy_file)
    source = _open_source(ctx)
    show = wanted(quiet=quiet, forced=force_progress, as_json=as_json)
    with progress("verifying", entry_total(source) if show else None, show=show) as step:
        report = verify_ledger(
            source, verifiers, state_file=state, witness_policy=policy, on_progress=step
        )
    witnessed = policy is not None and policy.requires_witnesses
    if as_json:
        emit_json(
            {
                "verified": True,
                "checkpoint": checkpoint_json(report.checkpoint),
                "checkpoints_checked": report.checkpoints_checked,
                "previous_size": report.previous_size,
                "cosigners": dict(sorted(report.cosigners.items())),
                "quorum": policy.describe_quorum() if witnessed and policy else None,
            }
        )
        return
    since = (
        ""
        if report.previous_size is None
        else f"; consistent with the {report.previous_size} entries accepted before"
    )
    cosigned = (
        f"; published checkpoint cosigned by {', '.join(sorted(report.cosigners))} "
        f"(quorum {policy.describe_quorum()})"
        if witnessed and policy
        else ""
    )
    console.print(
        f"[bold green]ledger verifies[/]: {report.size} entries, "
        f"{report.checkpoints_checked} signed checkpoints{since}{cosigned}",
        highlight=False,
    )


@click.command("verify-proof")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@_KEY_OPTION
@_POLICY_OPTION
@json_option
@friendly_errors
def verify_proof(file: Any, keys: tuple[str, ...], policy_file: Path | None, as_json: bool) -> None:
    """Verify a .tlog-proof receipt offline and print the entry it proves."""
    verifiers, policy = load_trust(keys, policy_file)
    receipt = verify_tlog_proof(
        file.read(), verifiers, origin=verifiers_origin(verifiers), witness_policy=policy
    )
    if as_json:
        emit_json(
            {
                "verified": True,
                "checkpoint": checkpoint_json(receipt.checkpoint),
                "entry": _entry_json(receipt.entry),
            }
        )
        return
    console.print(
        f"[bold green]receipt verifies[/]: entry {receipt.entry.index} is in "
        f"{receipt.checkpoint.origin} at tree size {receipt.checkpoint.size}",
        highlight=False,
    )
    emit_json(_entry_json(receipt.entry))


@click.command()
@_KEY_OPTION
@_POLICY_OPTION
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Monitor state file, as for `verify`.",
)
@json_option
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
        emit_json(report.to_json())
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
