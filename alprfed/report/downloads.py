"""The report's data as CSV and JSON files, the same numbers the pages show.

``access-log.csv`` follows the column order of the vendor audit exports oversight bodies
already analyse (date, agency, officer, purpose, case, networks searched, outcome), so their
existing spreadsheets and scripts run on it; the columns after those are ours.
``audit.json`` is byte for byte what ``alprfed ledger audit --json`` prints for the same ledger.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from alprfed.json_document import json_document_text
from alprfed.report.compile import TransparencyReport
from alprfed.report.facts import utc_time

# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): an officer's case
# number is free printable text, and oversight bodies open these files in spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

ACCESS_LOG_COLUMNS = (
    "date",
    "agency",
    "officer",
    "purpose",
    "case_number",
    "networks_searched",
    "outcome",
    "authority",
    "sightings_returned",
    "query_id",
    "ledger_index",
)


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would take for a formula gets a leading apostrophe, which
    spreadsheets show as text; numbers are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def access_log_csv(report: TransparencyReport) -> str:
    return _csv(
        ACCESS_LOG_COLUMNS,
        (
            (
                utc_time(r.decided_at),
                r.agency,
                r.officer,
                r.purpose,
                r.case_number,
                r.networks_searched,
                r.outcome,
                r.authority,
                r.sightings,
                r.query_id,
                r.ledger_index,
            )
            for r in report.access
        ),
    )


def queries_csv(report: TransparencyReport) -> str:
    """Every agency's queries made and received, by purpose, outcome and month."""
    rows = []
    for agency in report.agencies:
        for direction, counter in (("made", agency.made), ("received", agency.received)):
            for (purpose, outcome, month), count in sorted(counter.items()):
                rows.append((agency.agency, direction, month, purpose, outcome, count))
    return _csv(("agency", "direction", "month", "purpose", "outcome", "queries"), rows)


def refusals_csv(report: TransparencyReport) -> str:
    reasons = report.audit.reasons
    rows = []
    for agency in report.agencies:
        for rule, count in sorted(agency.refusals.items()):
            reason = reasons.get(rule)
            rows.append(
                (
                    agency.agency,
                    rule,
                    reason.state if reason else "",
                    reason.citation if reason else "",
                    count,
                )
            )
    return _csv(("agency", "rule", "state", "citation", "queries_refused"), rows)


def audit_json(report: TransparencyReport) -> str:
    # The very text `alprfed ledger audit --json` prints, so the two can be compared.
    return json_document_text(report.audit.to_json())


def report_json(report: TransparencyReport) -> str:
    """Everything the pages show, in one document."""
    verified = report.verified
    document: dict[str, Any] = {
        "federation": {
            "origin": verified.checkpoint.origin,
            "size": verified.size,
            "root_hash": verified.checkpoint.root.hex(),
            "checkpoint": verified.checkpoint_note,
            "checkpoints_checked": verified.checkpoints_checked,
            "witnesses": dict(sorted(verified.cosigners.items())),
            "witness_quorum": (
                report.witness_policy.describe_quorum() if report.witness_policy else None
            ),
            "verified_at": report.built_at,
        },
        "audit": report.audit.to_json(),
        "agencies": {
            a.agency: {
                "name": a.name,
                "state": a.state,
                "runs_node": a.runs_node,
                "queries_made": a.queries_made,
                "queries_received": a.queries_received,
                "refusals": dict(sorted(a.refusals.items())),
                "warrants_by_court": {c: dict(w) for c, w in sorted(a.warrants.items())},
                "purges": [p.__dict__ for p in a.purges],
            }
            for a in report.agencies
        },
        "anomalies": [a.__dict__ for a in report.anomalies],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def downloads(report: TransparencyReport) -> dict[str, str]:
    """File name -> content, for every download the site offers."""
    return {
        "access-log.csv": access_log_csv(report),
        "queries.csv": queries_csv(report),
        "refusals.csv": refusals_csv(report),
        "audit.json": audit_json(report),
        "report.json": report_json(report),
    }
