"""`alprfed ledger open`: an auditor opens one entry's plate commitments through a gateway,
which records the opening in the ledger before it answers."""

from __future__ import annotations

import click

from alprfed.cli.common import console, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.ledger import _gateway_connection, _SourceOptions


@click.command("open")
@click.option("--index", type=click.IntRange(min=0), required=True, help="The entry to open.")
@click.option("--reason", required=True, help="Why (recorded in the ledger with your name).")
@json_option
@click.pass_context
@friendly_errors
def open_commitment(ctx: click.Context, index: int, reason: str, as_json: bool) -> None:
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
    pairs = list(zip(opening.plates, opening.salts, strict=True))
    if as_json:
        emit_json(
            {
                "index": opening.index,
                "opening_ledger_index": opening.opening_ledger_index,
                "commitments": [
                    {"slot": slot, "plate": plate, "salt": salt.hex()}
                    for slot, (plate, salt) in enumerate(pairs)
                ],
            }
        )
        return
    console.print(
        f"entry {opening.index}: opening recorded as ledger entry {opening.opening_ledger_index}",
        highlight=False,
    )
    for slot, (plate, salt) in enumerate(pairs):
        console.print(f"  commitment {slot}: plate {plate} (salt {salt.hex()})", highlight=False)
