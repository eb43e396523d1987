"""A federated query as the officer sends it and the answer as the officer reads it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from alprfed.errors import InvalidRequest, Reason
from alprfed.messages import Outcome
from alprfed.models import Purpose, Sighting, TimeWindow, check_identifier, normalize_plate
from alprfed.signing import Envelope

MAX_CASE_NUMBER = 64
MAX_NOTE = 500
# A query's decision and its outcome are one ledger entry each, and no entry exceeds 65,535
# bytes (C2SP tlog-tiles; alprfed.ledger.entry.MAX_ENTRY_BYTES). Per agency an outcome records
# the node's signed receipt: about 510 bytes, 830 with 64-character ids, three refusing rules
# and a cut detail; a decision its rules: 220-500 bytes. 64 agencies always fit (the test
# builds the largest), so the ledger never refuses an outcome after the nodes have searched.
# A query to more agencies (a national one) is several queries, each naming its agencies
# (docs/PERFORMANCE.md, "A national query").
MAX_TARGETS = 64


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
    agencies: tuple[str, ...] = ()  # empty: every node of the federation (up to MAX_TARGETS)

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
            raise InvalidRequest(
                f"{len(agencies)} agencies named; one query addresses at most {MAX_TARGETS} "
                "(its decision and outcome are one ledger entry each): send several queries",
                field="agencies",
            )
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


def query_targets(query: QueryInput, nodes: Sequence[str]) -> tuple[str, ...]:
    """The agencies ``query`` addresses: those it names, else every node (``nodes``).

    Raises: InvalidRequest when it names none and the federation has more than MAX_TARGETS
        nodes: one ledger entry could not record the decision, so nothing is decided.
    """
    if query.agencies:
        return query.agencies
    if len(nodes) > MAX_TARGETS:
        raise InvalidRequest(
            f"this federation has {len(nodes)} nodes and one query addresses at most "
            f"{MAX_TARGETS}: name the agencies to ask, at most {MAX_TARGETS} a query",
            field="agencies",
        )
    return tuple(nodes)
