"""`alprfed law`: read a state's law pack and explain a decision, without sending a query.

For officers and counsel. Both read the packs from disk (the bundled policies unless
``--policies`` names another directory) and print the same rules the gateway and nodes apply;
``explain`` runs the law gate alone (Casbin access policy and the warrant gate decide a real
query too) and sends and logs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from alprfed.cli.common import console, format_time, friendly_errors, parse_time
from alprfed.cli.json_output import emit_json, json_option
from alprfed.errors import ConfigError
from alprfed.law import LawBook, LawPack, LawRequest, LawRule, RuleKind, load_law_book
from alprfed.law.explain import Explanation, Verdict, explain
from alprfed.law.rules import ALWAYS
from alprfed.law.summary import summarize
from alprfed.models import AgencyKind, Purpose, TimeWindow, check_identifier, check_state

DAY = 86_400

policies_option = click.option(
    "--policies",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Policies directory (default: the bundled policies).",
)


def _book(policies: Path | None) -> LawBook:
    if policies is None:
        from alprfed.config import bundled_policies_dir

        policies = bundled_policies_dir()
    return load_law_book(policies)


@click.group("law")
def law() -> None:
    """State ALPR law: show a state's pack, explain what the law gate decides and why."""


@law.command("show")
@click.argument("state")
@click.option("--at", "at_text", default="now", help="Mark the rules in force at this time.")
@policies_option
@json_option
@friendly_errors
def show(state: str, at_text: str, policies: Path | None, as_json: bool) -> None:
    """Print STATE's pack (e.g. NM, or 'default'): every rule, its source and dates."""
    code = state if state == "default" else check_state(state, field_name="STATE")
    at = parse_time(at_text)
    pack = _book(policies).pack(code)
    if as_json:
        emit_json(_pack_json(pack, at))
        return
    summary = summarize(pack)
    console.print(f"[bold]{escape(pack.state)}: {escape(pack.title)}[/]", soft_wrap=True)
    lines = [
        ("statute", pack.statute),
        ("file", f"policies/{pack.file_name}"),
        ("checked", summary.checked),
        ("retention", summary.retention),
        ("purposes", summary.purposes),
        ("sharing", summary.sharing),
        ("warrant", summary.warrant),
        ("sources", summary.sources),
    ]
    for label, value in lines:
        console.print(f"  {label:<10} {escape(value)}", soft_wrap=True, highlight=False)
    if not pack.alpr_statute:
        console.print("  No ALPR statute. General law that applies:", highlight=False)
        for text in pack.general_law:
            console.print(f"    - {escape(text)}", soft_wrap=True, highlight=False)
    for note in pack.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True, highlight=False)
    console.print(f"rules (at {format_time(at)}):", highlight=False)
    for rule in pack.rules:
        mark = "in force" if rule.applies_at(at) else "not in force"
        _print_rule(rule, f"{mark:<12}", f"{rule.binds.value}; {rule.source.value}")
    for bill in pack.pending:
        console.print(
            f"  pending (never enforced): {escape(bill.bill)} ({escape(bill.status)}; "
            f"{bill.source.value}): {escape(bill.summary)}",
            soft_wrap=True,
            highlight=False,
        )


def _pack_json(pack: LawPack, at: int) -> dict[str, Any]:
    summary = summarize(pack)
    return {
        "state": pack.state,
        "title": pack.title,
        "statute": pack.statute,
        "alpr_statute": pack.alpr_statute,
        "checked": pack.checked.isoformat() if pack.checked else None,
        "general_law": list(pack.general_law),
        "notes": list(pack.notes),
        "retention_seconds": pack.retention_seconds,
        "summary": {
            "retention": summary.retention,
            "purposes": summary.purposes,
            "sharing": summary.sharing,
            "warrant": summary.warrant,
            "sources": summary.sources,
        },
        "at": at,
        "rules": [
            {
                "id": r.id,
                "kind": r.kind.value,
                "binds": r.binds.value,
                "source": r.source.value,
                "citation": r.citation,
                "urls": list(r.urls),
                "message": r.message,
                "note": r.note,
                "effective": r.in_force.effective.isoformat() if r.in_force.effective else None,
                "sunset": r.in_force.sunset.isoformat() if r.in_force.sunset else None,
                "in_force_at": r.applies_at(at),
            }
            for r in pack.rules
        ],
        "pending": [
            {
                "bill": b.bill,
                "status": b.status,
                "summary": b.summary,
                "source": b.source.value,
                "urls": list(b.urls),
            }
            for b in pack.pending
        ],
    }


@law.command("explain")
@click.option("--holder", "holder_state", required=True, help="The data holder's state (NM).")
@click.option("--holder-agency", default="holder-agency", show_default=True)
@click.option("--requester-agency", required=True, help="The asking agency's id.")
@click.option(
    "--requester-state",
    default=None,
    help="The asking agency's state (default: from --federation, else required).",
)
@click.option(
    "--requester-kind",
    type=click.Choice([k.value for k in AgencyKind]),
    default=None,
    help="local, state or federal (default: from --federation, else local).",
)
@click.option(
    "--federation",
    "federation_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Federation file: the requester's state, kind and declarations on file.",
)
@click.option("--purpose", required=True, type=click.Choice([p.value for p in Purpose]))
@click.option("--case-number", default="", help="The query's case number (blank: none).")
@click.option("--warrant", is_flag=True, help="A registered, in-scope warrant is cited.")
@click.option("--prospective", is_flag=True, help="That warrant is prospective (tracking).")
@click.option("--exigent", is_flag=True, help="A supervisor co-approved exigent query.")
@click.option(
    "--declaration",
    "declarations",
    multiple=True,
    help="A state the requester filed a written declaration with (repeatable).",
)
@click.option("--at", "at_text", default="now", help="When the query is made (ISO 8601, -30d).")
@click.option("--days", default=7, show_default=True, help="How many days back the window reaches.")
@policies_option
@json_option
@friendly_errors
def explain_command(
    holder_state: str,
    holder_agency: str,
    requester_agency: str,
    requester_state: str | None,
    requester_kind: str | None,
    federation_file: Path | None,
    purpose: str,
    case_number: str,
    warrant: bool,
    prospective: bool,
    exigent: bool,
    declarations: tuple[str, ...],
    at_text: str,
    days: int,
    policies: Path | None,
    as_json: bool,
) -> None:
    """Decide what state law says of one query, and every rule it rests on. Sends nothing."""
    if prospective and not warrant:
        raise click.BadParameter("--prospective describes a cited warrant: add --warrant")
    if days <= 0:
        raise click.BadParameter("must be a positive number of days", param_hint="--days")
    check_identifier(requester_agency, field_name="--requester-agency")
    filed = frozenset(check_state(s, field_name="--declaration") for s in declarations)
    if federation_file is not None:
        from alprfed.config import load_federation

        agency = load_federation(federation_file).agencies.get(requester_agency)
        if agency is None:
            raise ConfigError(f"{federation_file}: no agency {requester_agency!r}")
        requester_state = requester_state or agency.state
        requester_kind = requester_kind or agency.kind.value
        filed |= agency.declarations_on_file
    if requester_state is None:
        raise click.BadParameter(
            "name the requester's state, or give --federation", param_hint="--requester-state"
        )
    at = parse_time(at_text)
    request = LawRequest(
        holder_agency=holder_agency,
        holder_state=check_state(holder_state, field_name="--holder"),
        requester_agency=requester_agency,
        requester_state=check_state(requester_state, field_name="--requester-state"),
        requester_kind=AgencyKind(requester_kind or AgencyKind.LOCAL.value),
        purpose=Purpose(purpose),
        case_number=case_number,
        window=TimeWindow(at - days * DAY, at),
        now=at,
        warrant=warrant,
        prospective=prospective,
        exigent=exigent,
        declarations_on_file=filed,
    )
    explanation = explain(_book(policies), request)
    if as_json:
        emit_json(explanation.to_json())
    else:
        _print_explanation(explanation)


MARKS = {
    Verdict.REFUSES: "REFUSES",
    Verdict.ALLOWS: "allows",
    Verdict.NOTE: "note",
    Verdict.NOT_IN_FORCE: "not in force",
}


def _print_rule(rule: LawRule, mark: str, whose: str) -> None:
    """Three lines a reader can quote: verdict, id and whose; citation and dates; message.
    Plain lines, never a table: a table at 80 columns would cut rule ids and citations."""
    dates = rule.in_force.describe()
    if rule.kind is RuleKind.RETENTION and rule.in_force is not ALWAYS:
        dates += "; the cap is kept on every day"
    console.print(f"  {mark} {rule.id} ({escape(whose)})", soft_wrap=True, highlight=False)
    line = escape(f"{rule.citation} [{dates}]")
    console.print(f"      {line}", soft_wrap=True, highlight=False)
    console.print(f"      {escape(rule.message)}", soft_wrap=True, highlight=False)


def _print_explanation(explanation: Explanation) -> None:
    request, decision = explanation.request, explanation.decision
    console.print(
        f"{escape(request.requester_agency)} ({request.requester_state}, "
        f"{request.requester_kind.value}) asks {request.holder_state} data for "
        f"{request.purpose.value}, at {format_time(request.now)}",
        soft_wrap=True,
        highlight=False,
    )
    verdict = "[green]ALLOWED[/]" if decision.allowed else "[red]REFUSED[/]"
    console.print(f"state law: {verdict}", highlight=False)
    for reason in decision.reasons:
        console.print(
            f"  {escape(reason.explain())} ({reason.source})", soft_wrap=True, highlight=False
        )
    for note in decision.notes:
        console.print(f"  note: {escape(note.message)} [{note.rule_id}]", soft_wrap=True)
    console.print("the rules it rests on:", highlight=False)
    for item in explanation.rules:
        whose = f"{item.rule.state} {item.role}; {item.rule.source.value}"
        _print_rule(item.rule, f"{MARKS[item.verdict]:<12}", whose)
    console.print(
        "Only the state-law gate: Casbin access policy and the warrant gate also decide a real "
        "query. Not legal advice: every pack is an engineering encoding (docs/LAW.md).",
        soft_wrap=True,
        highlight=False,
    )
