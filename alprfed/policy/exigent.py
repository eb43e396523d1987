"""Exigent circumstances: a warrantless query a supervisor of the same agency co-approved.

Only where the federation enables it, only for an AMBER alert, a missing or endangered person
or an imminent threat, only for a short look-back (default 72 hours), and every such query is
flagged for judicial review. The approval is its own step, by a second person whose role comes
from their own certificate, recorded in the ledger before the officer can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from alprfed.errors import Reason
from alprfed.models import EXIGENT_PURPOSES, Purpose, TimeWindow

APPROVAL_LIFETIME_S = 3600  # an approval covers the urgent hour, not the investigation


@dataclass(frozen=True)
class ApprovalView:
    """What the check needs; ``plate_matches`` is decided by whoever can see plates."""

    approval_id: str
    agency: str
    officer: str
    supervisor: str
    purpose: Purpose
    case_number: str
    created_at: int
    expires_at: int
    plate_matches: bool


def _reason(rule: str, message: str) -> Reason:
    return Reason(gate="exigent", rule_id=f"exigent.{rule}", message=message)


def check_exigent(
    view: ApprovalView | None,
    *,
    approval_id: str,
    enabled: bool,
    lookback_seconds: int,
    requester_agency: str,
    officer: str,
    purpose: Purpose,
    case_number: str,
    window: TimeWindow,
    now: int,
) -> tuple[Reason, ...]:
    """Reasons the cited approval does not authorize this query (empty: it does)."""
    if not enabled:
        return (_reason("enabled", "this federation does not allow exigent queries"),)
    if view is None:
        return (_reason("approved", f"exigent approval {approval_id} does not exist"),)
    checks = (
        (
            purpose not in EXIGENT_PURPOSES,
            "purpose",
            f"{purpose.value} is not an exigent purpose (AMBER alert, missing or endangered "
            "person, imminent threat)",
        ),
        (
            view.agency != requester_agency or view.officer != officer,
            "same-officer",
            f"approval {approval_id} was given to another officer",
        ),
        (
            view.supervisor == officer,
            "second-person",
            "an officer cannot co-approve their own query",
        ),
        (now >= view.expires_at, "unexpired", f"approval {approval_id} has expired"),
        (not view.plate_matches, "plate", f"approval {approval_id} is for another plate"),
        (
            view.purpose != purpose or view.case_number != case_number,
            "case",
            f"approval {approval_id} is for another purpose or case",
        ),
        (
            window.start < now - lookback_seconds,
            "lookback",
            f"exigent queries may look back {lookback_seconds // 3600} hours at most",
        ),
    )
    return tuple(_reason(rule, message) for failed, rule, message in checks if failed)
