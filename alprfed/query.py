"""A federated query as the officer sends it and the answer as the officer reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from alprfed.errors import InvalidRequest, Reason
from alprfed.messages import Outcome
from alprfed.models import Purpose, Sighting, TimeWindow, check_identifier, normalize_plate
from alprfed.signing import Envelope

MAX_CASE_NUMBER = 64
MAX_NOTE = 500
MAX_TARGETS = 500


@dataclass(frozen=True)
class QueryInput:
    """A validated query request. The requester is NOT here: it comes from the certificate."""

    plate: str
    window: TimeWindow
    purpose: Purpose
    case_number: str
    purpose_note: str = ""
    warrant_id: str | None = None
    exigent_approval_id: str | None = None
    agencies: tuple[str, ...] = ()  # empty: every node of the federation

    @classmethod
    def create(
        cls,
        *,
        plate: str,
        window_from: int,
        window_to: int,
        purpose: Purpose,
        case_number: str,
        purpose_note: str = "",
        warrant_id: str = "",
        exigent_approval_id: str = "",
        agencies: tuple[str, ...] = (),
    ) -> QueryInput:
        """Raises: InvalidRequest naming the field at fault."""
        case = case_number.strip()
        if not case:
            raise InvalidRequest("a case number is mandatory for every query", field="case_number")
        if len(case) > MAX_CASE_NUMBER or not case.isprintable():
            raise InvalidRequest(
                f"at most {MAX_CASE_NUMBER} printable characters", field="case_number"
            )
        if len(purpose_note) > MAX_NOTE:
            raise InvalidRequest(f"at most {MAX_NOTE} characters", field="purpose_note")
        if warrant_id and exigent_approval_id:
            raise InvalidRequest(
                "cite a warrant or an exigent approval, not both", field="warrant_id"
            )
        if len(agencies) > MAX_TARGETS:
            raise InvalidRequest("too many agencies", field="agencies")
        if window_from > window_to:
            raise InvalidRequest("the window starts after it ends", field="window")
        return cls(
            plate=normalize_plate(plate),
            window=TimeWindow(window_from, window_to),
            purpose=purpose,
            case_number=case,
            purpose_note=purpose_note.strip(),
            warrant_id=check_identifier(warrant_id, field_name="warrant_id")
            if warrant_id
            else None,
            exigent_approval_id=check_identifier(
                exigent_approval_id, field_name="exigent_approval_id"
            )
            if exigent_approval_id
            else None,
            agencies=tuple(
                dict.fromkeys(check_identifier(a, field_name="agencies") for a in agencies)
            ),
        )


@dataclass(frozen=True)
class AgencyOutcome:
    agency_id: str
    agency_name: str
    state: str
    outcome: Outcome
    reasons: tuple[Reason, ...] = ()
    sightings: tuple[Sighting, ...] = ()
    receipt: Envelope | None = None
    detail: str = ""


@dataclass(frozen=True)
class QueryAnswer:
    query_id: str
    complete: bool
    outcomes: tuple[AgencyOutcome, ...]
    ledger_index: int
    ledger_proof: str
    flagged_for_review: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def sightings_total(self) -> int:
        return sum(len(o.sightings) for o in self.outcomes)
