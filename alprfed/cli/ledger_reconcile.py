"""`alprfed ledger reconcile`: match the nodes' own access logs with the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from alprfed.cli.common import console, fail, friendly_errors
from alprfed.cli.exit_codes import ExitCode
from alprfed.cli.json_output import emit_json, json_option
from alprfed.client import fetch_access_log
from alprfed.errors import ConfigError
from alprfed.rpc.tls import secure_channel


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        agency, sep, target = value.partition("=")
        if not sep or not agency or not target:
            raise ConfigError(f"{what} takes AGENCY={what.split()[0].upper()}, not {value!r}")
        pairs[agency] = target
    return pairs


def read_access_log(path: Path) -> list[dict[str, Any]]:
    """An access log exported as JSON lines (`alprfed node access-log`)."""
    records = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ConfigError(f"{path}, line {number}: not a JSON record") from None
    return records


@click.command("reconcile")
@click.option("--key", "keys", multiple=True, metavar="VKEY", help="The ledger's verifier key.")
@click.option(
    "--witness-policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="C2SP tlog-policy: witnesses and quorum the published checkpoint must carry.",
)
@click.option(
    "--node",
    "nodes",
    multiple=True,
    metavar="AGENCY=HOST:PORT",
    help="Fetch this node's access log with your certificate (repeat per node).",
)
@click.option(
    "--node-log",
    "node_logs",
    multiple=True,
    metavar="AGENCY=FILE",
    help="Read an access log exported by the node's operator (JSON lines).",
)
@json_option
@click.pass_context
@friendly_errors
def reconcile_command(
    ctx: click.Context,
    keys: tuple[str, ...],
    policy_file: Path | None,
    nodes: tuple[str, ...],
    node_logs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Verify the ledger, then match every node's access log against it.

    Exit 1 when a node answered without a logged decision permitting it, when a receipt
    differs, or when the ledger records an answer the node never logged. Queries that reached
    a node with no logged decision (refused) are listed as anomalies worth a look.
    """
    from alprfed.cli.ledger import _gateway_connection, _open_source, load_trust
    from alprfed.ledger.source import iter_entries
    from alprfed.ledger.verify import verify_ledger
    from alprfed.policy.reconcile import reconcile

    if not nodes and not node_logs:
        raise click.UsageError("give at least one --node or --node-log")
    source = _open_source(ctx)
    verifiers, policy = load_trust(keys, policy_file)
    verified = verify_ledger(source, verifiers, witness_policy=policy)
    logs: dict[str, list[dict[str, Any]]] = {
        agency: read_access_log(Path(path))
        for agency, path in _pairs(node_logs, "--node-log").items()
    }
    if nodes:
        connection = _gateway_connection(ctx.obj)
        for agency, address in _pairs(nodes, "--node").items():
            with secure_channel(address, connection.tls) as channel:
                logs[agency] = list(fetch_access_log(channel, connection.metadata()))
    report = reconcile(iter_entries(source, end=verified.size), logs)
    if as_json:
        emit_json(
            {
                "matched": report.matched,
                "refusals_with_decision": report.refusals_with_decision,
                "attempts_without_decision": report.attempts_without_decision,
                "findings": [f.__dict__ for f in report.findings],
            }
        )
    else:
        console.print(
            f"reconciled {sum(len(v) for v in logs.values())} access-log records of "
            f"{len(logs)} node(s) with {verified.size} ledger entries: {report.matched} answers "
            f"match their logged decision and receipt; {report.refusals_with_decision} logged "
            f"queries refused by a node; {report.attempts_without_decision} attempt(s) "
            "without any logged decision",
            highlight=False,
        )
        for finding in report.findings:
            mark = "[bold red]✗[/]" if finding.severe else "[yellow]![/]"
            console.print(f"  {mark} {finding.agency} {finding.query_id}: {finding.problem}")
    if not report.clean:
        fail("the nodes' access logs and the ledger disagree", ExitCode.NOT_VERIFIED)
