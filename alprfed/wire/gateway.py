"""Gateway protobuf <-> domain: queries, answers, warrants, approvals."""

from __future__ import annotations

from alprfed.canonical import JSONValue
from alprfed.messages import Outcome
from alprfed.models import parse_purpose
from alprfed.query import AgencyOutcome, QueryAnswer, QueryInput
from alprfed.signing import Envelope
from alprfed.v1 import gateway_pb2
from alprfed.wire import (
    envelope_from_pb,
    envelope_to_pb,
    reason_from_pb,
    reasons_to_pb,
    result_from_pb,
    sighting_to_pb,
)

MAX_RECORDED_FIELD = 64
MAX_RECORDED_AGENCIES = 32

_OUTCOME_TO_PB = {
    Outcome.RESULTS: gateway_pb2.OUTCOME_RESULTS,
    Outcome.DENIED: gateway_pb2.OUTCOME_DENIED,
    Outcome.UNAVAILABLE: gateway_pb2.OUTCOME_UNAVAILABLE,
    Outcome.TIMED_OUT: gateway_pb2.OUTCOME_TIMED_OUT,
    Outcome.BAD_RECEIPT: gateway_pb2.OUTCOME_BAD_RECEIPT,
    Outcome.EVIDENCE_REFUSED: gateway_pb2.OUTCOME_EVIDENCE_REFUSED,
}
_OUTCOME_FROM_PB = {v: k for k, v in _OUTCOME_TO_PB.items()}


def query_from_pb(pb: gateway_pb2.QueryRequest) -> QueryInput:
    """Raises: InvalidRequest naming the field at fault."""
    return QueryInput.create(
        plate=pb.plate,
        window_from=pb.window_from,
        window_to=pb.window_to,
        purpose=parse_purpose(pb.purpose),
        case_number=pb.case_number,
        purpose_note=pb.purpose_note,
        warrant_id=pb.warrant_id,
        exigent_approval_id=pb.exigent_approval_id,
        agencies=tuple(pb.agencies),
    )


def query_to_pb(query: QueryInput) -> gateway_pb2.QueryRequest:
    return gateway_pb2.QueryRequest(
        plate=query.plate,
        window_from=query.window.start,
        window_to=query.window.end,
        purpose=query.purpose.value,
        purpose_note=query.purpose_note,
        case_number=query.case_number,
        warrant_id=query.warrant_id or "",
        exigent_approval_id=query.exigent_approval_id or "",
        agencies=list(query.agencies),
    )


def answer_to_pb(answer: QueryAnswer) -> gateway_pb2.QueryResponse:
    return gateway_pb2.QueryResponse(
        query_id=answer.query_id,
        complete=answer.complete,
        outcomes=[
            gateway_pb2.AgencyOutcome(
                agency_id=o.agency_id,
                agency_name=o.agency_name,
                state=o.state,
                outcome=_OUTCOME_TO_PB[o.outcome],
                reasons=reasons_to_pb(o.reasons),
                sightings=[sighting_to_pb(s) for s in o.sightings],
                node_receipt=envelope_to_pb(o.receipt) if o.receipt else None,
                detail=o.detail,
            )
            for o in answer.outcomes
        ],
        ledger_index=answer.ledger_index,
        ledger_proof=answer.ledger_proof,
        flagged_for_review=answer.flagged_for_review,
    )


def answer_from_pb(pb: gateway_pb2.QueryResponse) -> QueryAnswer:
    return QueryAnswer(
        query_id=pb.query_id,
        complete=pb.complete,
        outcomes=tuple(
            AgencyOutcome(
                agency_id=o.agency_id,
                agency_name=o.agency_name,
                state=o.state,
                outcome=_OUTCOME_FROM_PB.get(o.outcome, Outcome.UNAVAILABLE),
                reasons=tuple(reason_from_pb(r) for r in o.reasons),
                sightings=tuple(result_from_pb(s) for s in o.sightings),
                receipt=envelope_from_pb(o.node_receipt, field="node_receipt")
                if o.node_receipt.payload
                else None,
                detail=o.detail,
            )
            for o in pb.outcomes
        ),
        ledger_index=pb.ledger_index,
        ledger_proof=pb.ledger_proof,
        flagged_for_review=pb.flagged_for_review,
    )


def warrant_status_to_pb(
    *,
    warrant_id: str,
    envelope: Envelope,
    revoked_at: int | None,
    revoked_reason: str | None,
    ledger_index: int,
) -> gateway_pb2.WarrantStatus:
    return gateway_pb2.WarrantStatus(
        warrant_id=warrant_id,
        warrant=envelope_to_pb(envelope),
        revoked=revoked_at is not None,
        revoked_at=revoked_at or 0,
        revoked_reason=revoked_reason or "",
        ledger_index=ledger_index,
    )


def rejected_request_record(pb: gateway_pb2.QueryRequest) -> dict[str, JSONValue]:
    """What a malformed request said, for the ledger: bounded, and never the plate itself."""

    def cut(text: str) -> str:
        return text[:MAX_RECORDED_FIELD]

    return {
        "window": [pb.window_from, pb.window_to],
        "purpose": cut(pb.purpose),
        "case_number": cut(pb.case_number),
        "warrant_id": cut(pb.warrant_id),
        "exigent_approval_id": cut(pb.exigent_approval_id),
        "agencies": [cut(a) for a in pb.agencies[:MAX_RECORDED_AGENCIES]],
        "agency_count": len(pb.agencies),
    }
