"""A query's answer for people: the table `alprfed query` and the demo print (rich)."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

from alprfed.messages import Outcome
from alprfed.query import QueryAnswer

OUTCOME_STYLE = {
    Outcome.RESULTS: "green",
    Outcome.DENIED: "red",
    Outcome.UNAVAILABLE: "yellow",
    Outcome.TIMED_OUT: "yellow",
    Outcome.BAD_RECEIPT: "magenta",
    Outcome.EVIDENCE_REFUSED: "magenta",
}


def format_time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def render_answer(answer: QueryAnswer, console: Console, *, show_sightings: bool = True) -> None:
    """The answer as tables: a status line, one row per agency with its reasons, and (with
    ``show_sightings``) every sighting in time order."""
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
