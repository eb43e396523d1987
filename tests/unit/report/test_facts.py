"""How the report classifies what entries record (alprfed.report.facts), entry by entry."""

from __future__ import annotations

from typing import Any

from alprfed.ledger.entry import EntryKind, LedgerEntryView
from alprfed.models import Agency, AgencyId, AgencyKind
from alprfed.report.facts import (
    FOUND,
    INCOMPLETE,
    NONE_FOUND,
    REFUSED,
    UNANSWERED,
    AgencyFacts,
    Collector,
    PurgeRecord,
    purge_anomalies,
)

NOW = 1_764_000_000  # 2025-11-24
DAY = 86_400


def entry(index: int, kind: str, body: dict[str, Any]) -> LedgerEntryView:
    return LedgerEntryView(index, bytes(32), NOW, EntryKind(kind), body, ())


def decision(query_id: str, *allowed: str, refused: tuple[str, ...] = ("sjpd",), **extra: Any):
    body = {
        "query_id": query_id,
        "requester": {"organization": "sjpd", "principal": "officer-garcia", "kind": "person"},
        "purpose": "robbery",
        "case_number": "C-" + query_id,
        "authority": "warrant",
        "warrant_id": "",
        "decisions": [{"agency": a, "allowed": True, "refused_by": []} for a in allowed]
        + [{"agency": a, "allowed": False, "refused_by": ["warrant.required"]} for a in refused],
        "decided_at": NOW,
    }
    body.update(extra)
    return body


def outcome(query_id: str, counts: dict[str, int], *, complete: bool = True) -> dict[str, Any]:
    return {
        "query_id": query_id,
        "outcomes": [{"agency": a, "outcome": "results", "count": n} for a, n in counts.items()],
        "complete": complete,
    }


def collect(*bodies: tuple[str, dict[str, Any]]) -> Collector:
    collector = Collector()
    list(collector.observe(entry(i, kind, body) for i, (kind, body) in enumerate(bodies)))
    collector.finish()
    return collector


def test_each_query_made_gets_exactly_one_outcome() -> None:
    collector = collect(
        ("query_decision", decision("refused")),
        ("query_decision", decision("found", "chicago-pd")),
        ("query_outcome", outcome("found", {"chicago-pd": 2})),
        ("query_decision", decision("empty", "chicago-pd")),
        ("query_outcome", outcome("empty", {"chicago-pd": 0})),
        ("query_decision", decision("partial", "chicago-pd", "norfolk-pd")),
        ("query_outcome", outcome("partial", {"chicago-pd": 1}, complete=False)),
        ("query_decision", decision("lost", "chicago-pd")),  # the gateway stopped here
    )
    rows = {r.query_id: r.outcome for r in collector.access.values()}
    assert rows == {
        "refused": REFUSED,
        "found": FOUND,
        "empty": NONE_FOUND,
        "partial": INCOMPLETE,
        "lost": UNANSWERED,
    }
    made = collector.agencies["sjpd"].made
    assert sum(made.values()) == 5
    assert made[("robbery", FOUND, "2025-11")] == 1
    assert collector.access["partial"].networks_searched == 2
    assert collector.access["found"].sightings == 2


def test_queries_received_count_every_agency_named_and_refusals_once_per_rule() -> None:
    collector = collect(
        ("query_decision", decision("q", "chicago-pd", refused=("sjpd", "norfolk-pd"))),
    )
    assert collector.agencies["chicago-pd"].received == {("robbery", "permitted", "2025-11"): 1}
    assert collector.agencies["norfolk-pd"].received == {("robbery", "refused", "2025-11"): 1}
    assert collector.agencies["sjpd"].refusals == {"warrant.required": 1}  # two agencies, one rule


def test_warrants_are_counted_per_court_that_registered_them() -> None:
    collector = collect(
        ("warrant_registered", {"warrant_id": "w-1", "court": "santa-clara-superior"}),
        ("query_decision", decision("a", "sjpd", refused=(), warrant_id="w-1")),
        ("query_decision", decision("b", "sjpd", refused=(), warrant_id="w-1")),
    )
    assert collector.agencies["sjpd"].warrants == {"santa-clara-superior": {"w-1": 2}}


def test_a_refused_query_for_a_protected_purpose_is_worth_a_look() -> None:
    collector = collect(
        ("query_decision", decision("i", purpose="immigration_enforcement")),
        ("query_decision", decision("r")),
    )
    assert [(a.kind, a.query_id, a.ledger_index) for a in collector.protected] == [
        ("protected purpose", "i", 0)
    ]


def test_a_query_searching_agencies_in_two_other_states_is_worth_a_look() -> None:
    states = {"sjpd": "CA", "chicago-pd": "IL", "norfolk-pd": "VA", "seattle-pd": "WA"}
    collector = Collector()
    collector.know_agencies(
        {a: Agency(AgencyId(a), a, state, AgencyKind.LOCAL) for a, state in states.items()}
    )
    list(
        collector.observe(
            [
                # asked everyone, searched one other state: not listed
                entry(0, "query_decision", decision("near", "chicago-pd", refused=("norfolk-pd",))),
                entry(1, "query_decision", decision("far", "chicago-pd", "norfolk-pd")),
            ]
        )
    )
    assert [(a.query_id, a.detail) for a in collector.far] == [
        ("far", "a CA agency's robbery query searched agencies in 2 other states (IL, VA)")
    ]


def test_a_node_whose_purges_stopped_may_hold_sightings_past_its_retention() -> None:
    fresh = AgencyFacts("sjpd", runs_node=True)
    fresh.purges.append(PurgeRecord("sjpd", "CA", NOW - 60, NOW - 60 - DAY, DAY, 3, 7))
    stale = AgencyFacts("norfolk-pd", runs_node=True)
    stale.purges.append(
        PurgeRecord("norfolk-pd", "VA", NOW - 3 * DAY, NOW - 24 * DAY, 21 * DAY, 0, 9)
    )
    silent = AgencyFacts("chicago-pd", runs_node=True)
    requester = AgencyFacts("ice-ero")
    found = purge_anomalies([fresh, stale, silent, requester], NOW, DAY)
    assert [(a.kind, a.agency) for a in found] == [
        ("purge overdue", "norfolk-pd"),
        ("no purge report", "chicago-pd"),
    ]
    assert f"up to {24 * DAY} s old" in found[0].detail
