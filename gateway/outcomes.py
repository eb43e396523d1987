"""Each addressed agency's outcome: as the officer sees it, and as the ledger records it."""

from __future__ import annotations

from alprfed.canonical import JSONValue
from alprfed.errors import Reason
from alprfed.messages import Outcome
from alprfed.models import Agency
from alprfed.policy.decision import QueryDecision
from alprfed.query import AgencyOutcome
from gateway.audit import envelope_record
from gateway.fanout import NodeAnswer

MAX_RECORDED_DETAIL = 100  # characters of an outcome's detail kept in the ledger


def agency_outcome(
    agency: Agency | None, agency_id: str, decision: QueryDecision, answer: NodeAnswer | None
) -> AgencyOutcome:
    """``agency_id``'s outcome: DENIED by the gates (or never asked), else what its node
    answered."""
    name, state = (agency.name, agency.state) if agency else (agency_id, "")
    decided = decision.for_agency(agency_id)
    if not decided.allowed or answer is None:
        reasons: tuple[Reason, ...] = decided.reasons
        return AgencyOutcome(agency_id, name, state, Outcome.DENIED, reasons=reasons)
    return AgencyOutcome(
        agency_id,
        name,
        state,
        answer.outcome,
        reasons=answer.refusals,
        sightings=answer.sightings,
        receipt=answer.receipt,
        detail=answer.detail,
    )


def outcome_record(outcome: AgencyOutcome) -> dict[str, JSONValue]:
    """One agency's outcome as the query_outcome entry holds it (docs/LEDGER.md)."""
    return {
        "agency": outcome.agency_id,
        "outcome": outcome.outcome.value,
        "count": len(outcome.sightings),
        "refused_by": [r.rule_id for r in outcome.reasons],
        "receipt": envelope_record(outcome.receipt) if outcome.receipt else None,
        # Bounded, so MAX_TARGETS outcomes always fit one entry (a gRPC error's text is not).
        "detail": outcome.detail[:MAX_RECORDED_DETAIL],
    }
