"""`alprfed query`: an officer's federated plate query, shown as a table or as JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from alprfed.cli.client import Connection, connection_options
from alprfed.cli.common import console, friendly_errors, parse_time
from alprfed.cli.exit_codes import for_answer
from alprfed.cli.json_output import emit_json, json_option
from alprfed.models import Purpose, parse_purpose
from alprfed.query import MAX_TARGETS, QueryAnswer, QueryInput
from alprfed.query_view import render_answer


def send_query(connection: Connection, query: QueryInput) -> QueryAnswer:
    return connection.query(query)


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
@click.option(
    "--agencies",
    default="",
    help=f"Comma-separated agency ids, at most {MAX_TARGETS} (default: every node, in a "
    f"federation of at most {MAX_TARGETS}).",
)
@json_option
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
    rule, state and statute. The answer says whether it is complete, names its outcome's
    audit-ledger entry and carries an offline receipt for the witnessed decision entry.

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
        emit_json(answer_to_json(answer))
    else:
        render_answer(answer, console)
        if proof_out is not None:
            console.print(f"ledger receipt written to {proof_out}")
    # The answer is printed either way; the status tells a script whether it is whole.
    sys.exit(for_answer(answer))
