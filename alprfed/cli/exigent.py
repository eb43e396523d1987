"""`alprfed exigent`: a supervisor co-approves an exigent query; a court clerk reviews it."""

from __future__ import annotations

import click

from alprfed.cli.client import Connection, connection_options
from alprfed.cli.common import console, format_time, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.client import exigent_approval_request as approval_request
from alprfed.models import EXIGENT_PURPOSES
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc


@click.group("exigent")
def exigent() -> None:
    """Warrantless queries in exigent circumstances: two people, short look-back, review."""


@exigent.command("approve")
@click.option("--officer", required=True, help="The officer of your agency who will query.")
@click.option("--plate", required=True)
@click.option(
    "--purpose", required=True, type=click.Choice(sorted(p.value for p in EXIGENT_PURPOSES))
)
@click.option("--case", "case_number", required=True)
@click.option("--note", default="", help="Why this cannot wait for a warrant.")
@json_option
@connection_options
@friendly_errors
def approve(
    officer: str,
    plate: str,
    purpose: str,
    case_number: str,
    note: str,
    as_json: bool,
    connection: Connection,
) -> None:
    """Co-approve an officer's exigent query (supervisors of the same agency), signed with your
    own certificate key so that every node can check it was you."""
    request = approval_request(
        officer=officer,
        plate=plate,
        purpose=purpose,
        case_number=case_number,
        note=note,
        tls=connection.tls,
    )
    with connection.channel() as channel:
        approval = gateway_pb2_grpc.GatewayStub(channel).ApproveExigent(
            request,
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    if as_json:
        emit_json(
            {
                "approval_id": approval.approval_id,
                "officer": approval.officer_id,
                "supervisor": approval.supervisor_id,
                "agency": approval.agency_id,
                "expires_at": approval.expires_at,
                "ledger_index": approval.ledger_index,
            }
        )
        return
    console.print(
        f"approval [bold]{approval.approval_id}[/] for {approval.officer_id} of "
        f"{approval.agency_id}, valid until {format_time(approval.expires_at)} "
        f"(ledger entry {approval.ledger_index}); the officer passes "
        f"--exigent-approval {approval.approval_id}"
    )


@exigent.command("review")
@click.argument("query_id")
@click.option("--upheld/--not-upheld", required=True, help="The court's finding.")
@click.option("--note", default="")
@json_option
@connection_options
@friendly_errors
def review(query_id: str, upheld: bool, note: str, as_json: bool, connection: Connection) -> None:
    """Record the judicial review of an exigent query (court clerks)."""
    with connection.channel() as channel:
        result = gateway_pb2_grpc.GatewayStub(channel).ReviewExigent(
            gateway_pb2.ReviewExigentRequest(query_id=query_id, upheld=upheld, note=note),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    if as_json:
        emit_json(
            {
                "query_id": result.query_id,
                "upheld": result.upheld,
                "ledger_index": result.ledger_index,
            }
        )
        return
    console.print(
        f"exigent query {result.query_id} {'upheld' if result.upheld else 'NOT upheld'}"
        f" (ledger entry {result.ledger_index})"
    )
