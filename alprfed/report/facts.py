"""What the transparency report says, gathered from verified ledger entries in one pass.

``Collector.observe`` is a pass-through over the entries the audit replay reads, so the report
reads the ledger once and the replay (``alprfed.policy.replay``) stays the only code that
re-decides queries. The collector only counts and groups what entries record; it never sees a
plate (entries hold salted commitments) and keeps none of the commitments either.

Classifications, documented for readers in docs/REPORT.md:

- a query made is ``refused`` when no agency was permitted, ``unanswered`` when permitted but
  no outcome entry followed, ``incomplete`` when some permitted node did not answer,
  ``sightings found`` when a node returned at least one sighting, else ``none found``;
- a query received by an agency is ``permitted`` or ``refused`` for that agency;
- months are UTC calendar months (``YYYY-MM``) of the decision time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from alprfed.ledger.entry import LedgerEntryView
from alprfed.models import Agency, Purpose
from alprfed.policy.bundle import FEDERATION_DOCUMENT, PolicyBundle, joined_document

# Purposes several states forbid outright (alprfed.models.Purpose): a query for one of them
# that a rule refused is worth an oversight body's look even though the system worked.
PROTECTED_PURPOSES = frozenset(
    {
        Purpose.IMMIGRATION_ENFORCEMENT.value,
        Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION.value,
        Purpose.GENDER_AFFIRMING_CARE_INVESTIGATION.value,
        Purpose.PROTECTED_ACTIVITY_MONITORING.value,
    }
)
# A query permitted to search agencies in more than this many states other than the
# requester's own is listed as searching far beyond its state. What was only asked for is not
# counted: a query names every agency unless it lists targets, and the gates refuse the rest.
FAR_BEYOND_STATES = 1

REFUSED, UNANSWERED, INCOMPLETE = "refused", "unanswered", "incomplete"
FOUND, NONE_FOUND = "sightings found", "none found"
PERMITTED = "permitted"


def month_of(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m")


def utc_time(ts: int) -> str:
    """As every alprfed command prints a time: ``2026-12-02 17:00:00Z``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass
class AccessRow:
    """One query as vendor audit exports lay it out (the access-log CSV)."""

    query_id: str
    decided_at: int
    agency: str
    officer: str
    purpose: str
    case_number: str
    authority: str
    networks_searched: int  # agencies the query was permitted to reach
    outcome: str = UNANSWERED
    sightings: int = 0
    ledger_index: int = 0


@dataclass(frozen=True)
class PurgeRecord:
    node: str
    state: str
    ran_at: int
    cutoff: int
    retention_seconds: int
    deleted_sightings: int
    ledger_index: int


@dataclass
class AgencyFacts:
    agency: str
    name: str = ""
    state: str = ""
    runs_node: bool = False
    made: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # purpose, outcome, month
    received: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # rule id, on queries it made
    warrants: dict[str, Counter[str]] = field(default_factory=dict)  # court -> warrant -> uses
    purges: list[PurgeRecord] = field(default_factory=list)

    @property
    def queries_made(self) -> int:
        return sum(self.made.values())

    @property
    def queries_received(self) -> int:
        return sum(self.received.values())


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "protected purpose", "far beyond its state", "purge overdue", "no purge report"
    agency: str
    detail: str
    query_id: str = ""
    ledger_index: int | None = None


class Collector:
    """Counts what the entries it is shown record; see the module docstring."""

    def __init__(self, *, far_beyond_states: int = FAR_BEYOND_STATES) -> None:
        self._far_beyond_states = far_beyond_states
        self.agencies: dict[str, AgencyFacts] = {}
        self.access: dict[str, AccessRow] = {}  # query id -> row, in ledger order
        self.protected: list[Anomaly] = []
        self.far: list[Anomaly] = []
        self._warrant_courts: dict[str, str] = {}
        self._federation: dict[str, Agency] = {}  # agency id -> the latest bundle's record
        # The parts of published federations (version 3 bundles), by entry index.
        self._federation_parts: dict[int, Mapping[str, Any]] = {}

    def observe(self, entries: Iterable[LedgerEntryView]) -> Iterator[LedgerEntryView]:
        """Yield every entry unchanged after counting it."""
        for entry in entries:
            self._count(entry)
            yield entry

    def know_agencies(self, agencies: Mapping[str, Agency]) -> None:
        """The federation's members from here on (names, states, nodes): the policy bundle's."""
        self._federation = dict(agencies)
        for agency_id in self._federation:
            self.agency(agency_id)

    def agency(self, agency_id: str) -> AgencyFacts:
        facts = self.agencies.get(agency_id)
        if facts is None:
            facts = self.agencies[agency_id] = AgencyFacts(agency_id)
        record = self._federation.get(agency_id)
        if record is not None:
            facts.name, facts.state = record.name, record.state
            facts.runs_node = record.runs_node
        return facts

    def _count(self, entry: LedgerEntryView) -> None:
        kind, body = entry.kind.value, entry.body
        if kind == "policy_document" and body.get("path") == FEDERATION_DOCUMENT:
            self._federation_parts[entry.index] = body
        elif kind == "policy_bundle":
            indexes = (body.get("document_entries") or {}).get(FEDERATION_DOCUMENT, [])
            text = joined_document(
                FEDERATION_DOCUMENT, [self._federation_parts.get(i) for i in indexes]
            )
            texts = {FEDERATION_DOCUMENT: text} if text is not None else {}
            federation = PolicyBundle.logged_federation(body["bundle"], texts)
            self.know_agencies(federation.agencies)
        elif kind == "warrant_registered":
            self._warrant_courts[body["warrant_id"]] = body["court"]
        elif kind == "query_decision":
            self._decision(entry)
        elif kind == "query_outcome":
            self._outcome(body)
        elif kind == "retention_purge" and body.get("scope") == "node_sightings":
            self.agency(body["node"]).purges.append(
                PurgeRecord(
                    body["node"],
                    body["state"],
                    body["ran_at"],
                    body["cutoff"],
                    body["retention_seconds"],
                    body["deleted_sightings"],
                    entry.index,
                )
            )

    def _decision(self, entry: LedgerEntryView) -> None:
        body = entry.body
        requester = body["requester"]
        agency_id, purpose = requester["organization"], body["purpose"]
        month = month_of(body["decided_at"])
        permitted = [d for d in body["decisions"] if d["allowed"]]
        row = AccessRow(
            query_id=body["query_id"],
            decided_at=body["decided_at"],
            agency=agency_id,
            officer=requester["principal"],
            purpose=purpose,
            case_number=body["case_number"],
            authority=body["authority"],
            networks_searched=len(permitted),
            outcome=UNANSWERED if permitted else REFUSED,
            ledger_index=entry.index,
        )
        self.access[row.query_id] = row
        facts = self.agency(agency_id)
        if not permitted:
            facts.made[(purpose, REFUSED, month)] += 1
        rules: set[str] = set()
        for decision in body["decisions"]:
            verdict = PERMITTED if decision["allowed"] else REFUSED
            self.agency(decision["agency"]).received[(purpose, verdict, month)] += 1
            rules.update(decision["refused_by"])
        facts.refusals.update(rules)
        warrant = body["warrant_id"]
        if warrant:
            court = self._warrant_courts.get(warrant, "unregistered")
            facts.warrants.setdefault(court, Counter())[warrant] += 1
        self._anomalies(entry, row, rules, [d["agency"] for d in permitted])

    def _anomalies(
        self, entry: LedgerEntryView, row: AccessRow, rules: set[str], searched: list[str]
    ) -> None:
        if row.purpose in PROTECTED_PURPOSES and rules:
            self.protected.append(
                Anomaly(
                    "protected purpose",
                    row.agency,
                    f"{row.purpose} query refused by " + ", ".join(sorted(rules)),
                    row.query_id,
                    entry.index,
                )
            )
        home = self.agency(row.agency).state
        other_states = {self.agency(a).state for a in searched} - {home, ""}
        if home and len(other_states) > self._far_beyond_states:
            self.far.append(
                Anomaly(
                    "far beyond its state",
                    row.agency,
                    f"a {home} agency's {row.purpose} query searched agencies in "
                    f"{len(other_states)} other states (" + ", ".join(sorted(other_states)) + ")",
                    row.query_id,
                    entry.index,
                )
            )

    def _outcome(self, body: dict[str, Any]) -> None:
        row = self.access.get(body["query_id"])
        if row is None or row.outcome == REFUSED:
            return
        answered = [o for o in body["outcomes"] if o["outcome"] != "denied" or o["count"]]
        row.sightings = sum(o["count"] for o in answered)
        if not body["complete"]:
            row.outcome = INCOMPLETE
        else:
            row.outcome = FOUND if row.sightings else NONE_FOUND
        month = month_of(row.decided_at)
        self.agency(row.agency).made[(row.purpose, row.outcome, month)] += 1

    def finish(self) -> None:
        """Count the permitted queries no outcome entry followed (the gateway died mid-query)."""
        for row in self.access.values():
            if row.outcome == UNANSWERED:
                self.agency(row.agency).made[
                    (row.purpose, UNANSWERED, month_of(row.decided_at))
                ] += 1


def purge_anomalies(facts: Iterable[AgencyFacts], now: int, grace_s: int) -> list[Anomaly]:
    """Nodes with no purge report, or whose latest purge is older than ``grace_s``: they may
    hold sightings older than their law's retention."""
    found: list[Anomaly] = []
    for agency in facts:
        if not agency.runs_node:
            continue
        if not agency.purges:
            found.append(Anomaly("no purge report", agency.agency, "no purge report in the ledger"))
            continue
        latest = agency.purges[-1]
        if now - latest.ran_at > grace_s:
            found.append(
                Anomaly(
                    "purge overdue",
                    agency.agency,
                    f"latest purge {now - latest.ran_at} s before the report; it may hold "
                    f"sightings up to {now - latest.cutoff} s old against a retention of "
                    f"{latest.retention_seconds} s",
                    ledger_index=latest.ledger_index,
                )
            )
    return found
