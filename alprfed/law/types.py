"""The facts a state-law decision depends on, and the decision, shared by gateway and node.

The gateway asks the law book before it addresses a node; the node asks it again about its own
data before it answers (it does not trust the gateway's decision alone). Both ask with the same
``LawRequest`` so both reach the same answer from the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alprfed.errors import Reason
from alprfed.models import AgencyKind, Purpose, SensitiveSite, TimeWindow


@dataclass(frozen=True)
class LawRequest:
    """One query, seen from one data holder."""

    holder_agency: str
    holder_state: str  # the state whose law governs the data: the node's state
    requester_agency: str
    requester_state: str
    requester_kind: AgencyKind
    purpose: Purpose
    case_number: str
    window: TimeWindow
    now: int
    warrant: bool = False  # a registered, in-scope judicial warrant is cited
    # The cited warrant is prospective: its window ends after it was issued, so it authorizes
    # tracking sightings not yet made (alprfed.policy.warrants.Warrant.prospective). The
    # default is for requests without a warrant; a node re-checking its law passes the flag
    # of the warrant it verified.
    prospective: bool = False
    exigent: bool = False  # supervisor co-approved exigent query
    # Data-holder states for which the requester has a written declaration on file.
    declarations_on_file: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LawDecision:
    """``allowed`` with the rules that were applied, or refused with the reasons (never empty)."""

    allowed: bool
    reasons: tuple[Reason, ...] = ()  # refusals; empty when allowed
    rules_applied: tuple[str, ...] = ()  # every rule id evaluated, for the ledger
    notes: tuple[Reason, ...] = field(default=())  # informational (e.g. retention clipping)


@dataclass(frozen=True)
class HolderGuard:
    """What a node enforces on its own data whatever the gateway decided."""

    state: str
    law_pack: str  # e.g. "CA" or "default"
    retention_seconds: int | None  # None: the statute sets no cap
    withheld_sites: frozenset[SensitiveSite]
    retention_rule: Reason | None = None  # cites where the retention comes from
    sites_rule: Reason | None = None  # cites the rule behind withheld_sites (refused at storage)
