"""`alprfed query`: an officer's federated plate query, shown as a table or as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from alprfed.cli.client import Connection, connection_options
from alprfed.cli.common import console, format_time, friendly_errors, parse_time
from alprfed.cli.exit_codes import for_answer
from alprfed.messages import Outcome
from alprfed.models import Purpose, parse_purpose
from alprfed.query import QueryAnswer, QueryInput
from alprfed.v1 import gateway_pb2_grpc
from alprfed.wire import gateway as gwire

OUTCOME_STYLE = {
    Outcome.RESULTS: "green",
    Outcome.DENIED: "red",
    Outcome.UNAVAILABLE: "yellow",
    Outcome.TIMED_OUT: "yellow",
    Outcome.BAD_RECEIPT: "magenta",
    Outcome.EVIDENCE_REFUSED: "magenta",
}


def send_query(connection: Connection, query: QueryInput) -> QueryAnswer:
    with connection.channel() as channel:
        response = gateway_pb2_grpc.GatewayStub(channel).Query(
            gwire.query_to_pb(query), timeout=connection.timeout_s, metadata=connection.metadata()
        )
    return gwire.answer_from_pb(response)


def answer_to_json(answer: QueryAnswer) -> dict[str, Any]:
    return {
        "query_id": answer.query_id,
        "complete": answer.complete,
        "flagged_for_review": answer.flagged_for_review,
        "ledger_index": answer.ledger_index,
        "agencies": [
            {
                "agency": o.agency_id,
                "name": o.agency_name,
                "state": o.state,
                "outcome": o.outcome.value,
                "reasons": [
                    {
                        "gate": r.gate,
                        "rule_id": r.rule_id,
                        "state": r.state,
                        "citation": r.citation,
                        "message": r.message,
                        "source": r.source,
                        "explanation": r.explain(),
                    }
                    for r in o.reasons
                ],
                "detail": o.detail,
                "sightings": [
                    s.to_canonical() | {"sensitive_site": s.sensitive_site} for s in o.sightings
                ],
            }
            for o in answer.outcomes
        ],
        "ledger_proof": answer.ledger_proof,
    }


def render_answer(answer: QueryAnswer, *, show_sightings: bool = True) -> None:
    if all(o.outcome == Outcome.DENIED for o in answer.outcomes):
        status = "[red]refused by every agency[/]"
    else:
        status = "[green]complete[/]" if answer.complete else "[yellow]PARTIAL[/]"
    console.print(
        f"query [bold]{answer.query_id}[/] — {status}, "
        f"{answer.sightings_total()} sighting(s), ledger entry {answer.ledger_index}"
        + (" — [bold yellow]flagged for judicial review[/]" if answer.flagged_for_review else "")
    )
    table = Table(show_header=True, header_style="bold")
    for column in ("agency", "state", "outcome", "sightings", "why"):
        table.add_column(column)
    for o in answer.outcomes:
        why = "\n".join(r.explain() for r in o.reasons) or o.detail
        table.add_row(
            o.agency_name or o.agency_id,
            o.state,
            f"[{OUTCOME_STYLE[o.outcome]}]{o.outcome.value}[/]",
            str(len(o.sightings)) if o.outcome == Outcome.RESULTS else "-",
            why,
        )
    console.print(table)
    rows = sorted(
        ((s.observed_at, o, s) for o in answer.outcomes for s in o.sightings),
        key=lambda row: (row[0], row[1].agency_id, row[2].id),
    )
    if show_sightings and rows:
        sightings = Table(show_header=True, header_style="bold", title="sightings")
        for column in ("observed (UTC)", "agency", "camera", "lat, lon", "vehicle"):
            sightings.add_column(column)
        for observed, o, s in rows:
            vehicle = " ".join(x for x in (s.vehicle_color, s.vehicle_make, s.vehicle_model) if x)
            sightings.add_row(
                format_time(observed),
                o.agency_id,
                s.camera_id,
                f"{s.position.latitude_e6 / 1e6:.5f}, {s.position.longitude_e6 / 1e6:.5f}",
                vehicle,
            )
        console.print(sightings)


@click.command("query")
@click.option("--plate", required=True, help="The plate, as read (spaces and dashes ignored).")
@click.option(
    "--from",
    "window_from",
    required=True,
    help="Start of the window: ISO 8601 (UTC unless an offset), '-72h', '-30d'.",
)
@click.option("--to", "window_to", default="now", show_default=True, help="End of the window.")
@click.option(
    "--purpose",
    required=True,
    type=click.Choice([p.value for p in Purpose]),
    help="Why you are asking.",
)
@click.option("--case", "case_number", required=True, help="Your case number (mandatory).")
@click.option("--note", default="", help="Free-text note, recorded in the ledger.")
@click.option("--warrant", "warrant_id", default="", help="The registered warrant you cite.")
@click.option(
    "--exigent-approval",
    "approval_id",
    default="",
    help="A supervisor's exigent approval id instead of a warrant.",
)
@click.option("--agencies", default="", help="Comma-separated agency ids (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option(
    "--proof-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the ledger receipt (c2sp.org/tlog-proof@v1) to this file.",
)
@connection_options
@friendly_errors
def query(
    plate: str,
    window_from: str,
    window_to: str,
    purpose: str,
    case_number: str,
    note: str,
    warrant_id: str,
    approval_id: str,
    agencies: str,
    as_json: bool,
    proof_out: Path | None,
    connection: Connection,
) -> None:
    """Ask every permitted agency node for a plate's sightings in a window.

    The gateway decides per agency (Casbin role, state law, warrant); every refusal names the
    rule, state and statute. The answer says whether it is complete and carries an offline
    receipt for its audit-ledger entry.

    Exit status: 0 complete, 3 refused by every agency, 4 partial (some agencies could not
    answer), 1 the gateway refused the query, 5 the gateway could not be reached.
    """
    request = QueryInput.create(
        plate=plate,
        window_from=parse_time(window_from),
        window_to=parse_time(window_to),
        purpose=parse_purpose(purpose),
        case_number=case_number,
        purpose_note=note,
        warrant_id=warrant_id,
        exigent_approval_id=approval_id,
        agencies=tuple(a.strip() for a in agencies.split(",") if a.strip()),
    )
    answer = send_query(connection, request)
    if proof_out is not None:
        proof_out.write_text(answer.ledger_proof)
    if as_json:
        click.echo(json.dumps(answer_to_json(answer), indent=2))
    else:
        render_answer(answer)
        if proof_out is not None:
            console.print(f"ledger receipt written to {proof_out}")
    # The answer is printed either way; the status tells a script whether it is whole.
    sys.exit(for_answer(answer))
