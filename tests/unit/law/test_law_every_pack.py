"""Every statute pack lets a lawful query through and refuses what its statute forbids.

One allowed and one refused request per statute pack (issue 14, "Done when"); where a pack's only
rule is its retention cap, the refusal is the cap itself: the node never returns a sighting older
than the statute allows, and a query reaching further back is told so. Where a pack has neither
a cap nor a refusing rule (Florida, Idaho), what it refuses is a node without a retention of its
own. The requests are judged
at AFTER, a time when every rule shipped today is in force (New Mexico's SB 40 from 1 Jul 2026).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from law_requests import BASE_REQUEST, DAY, make_request

from alprfed.errors import ConfigError
from alprfed.law import LawBook, LawRequest, RuleKind
from alprfed.law.rules import GUARD_KINDS
from alprfed.models import AgencyKind, Purpose, TimeWindow

AFTER = int(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC).timestamp())  # the date checked
FEDERAL = AgencyKind.FEDERAL
IMMIGRATION = Purpose.IMMIGRATION_ENFORCEMENT


def at_after(**changes: Any) -> LawRequest:
    """The shared lawful request at AFTER, its window the last day before AFTER."""
    request = make_request(**changes)
    if "window" not in changes:
        request = replace(request, window=TimeWindow(AFTER - DAY, AFTER))
    return replace(request, now=AFTER)


def statute_packs(book: LawBook) -> list[str]:
    return [s for s in book.states if book.pack(s).alpr_statute]


def refusing_packs(book: LawBook) -> set[str]:
    return {
        s for s in statute_packs(book) if any(r.kind not in GUARD_KINDS for r in book.pack(s).rules)
    }


# A request each statute pack refuses, and exactly the rules that must refuse it.
REFUSALS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "AR": ({"state": "AR", "purpose": IMMIGRATION}, {"AR-12-12-1804-sharing"}),
    "CA": (
        {"state": "CA", "requester_kind": FEDERAL},
        {"CA-1798-90-55-b-no-federal"},
    ),
    "CT": (
        {"holder_state": "CT", "requester_state": "TX"},
        {"CT-pa26-14-recipient-states", "CT-pa26-14-attestation"},
    ),
    "IL": ({"state": "IL", "purpose": IMMIGRATION}, {"IL-2-130-b-immigration"}),
    "MD": ({"holder_state": "MD", "requester_state": "VA"}, {"MD-3-509-no-upload"}),
    "ME": ({"state": "ME", "requester_kind": FEDERAL}, {"ME-2117-A-law-enforcement"}),
    "MN": (
        {"state": "MN", "warrant": False},
        {"MN-13-824-tracking-warrant", "MN-13-824-tracking-warrant-requester"},
    ),
    "MT": ({"state": "MT", "purpose": IMMIGRATION}, {"MT-46-5-117-purposes"}),
    "NE": ({"state": "NE", "case_number": ""}, {"NE-60-3204-documented-reason"}),
    "NH": ({"state": "NH", "purpose": IMMIGRATION}, {"NH-261-75-b-V-purposes"}),
    "NJ": (
        {"holder_state": "NJ", "requester_state": "NY", "purpose": IMMIGRATION},
        {"NJ-pl2026-c4-certification", "NJ-pl2026-c4-immigration"},
    ),
    "NM": (
        {"holder_state": "NM", "requester_state": "TX"},
        {"NM-sb40-declaration"},
    ),
    "OR": ({"state": "OR", "case_number": ""}, {"OR-SB1516-justified-search"}),
    "VA": ({"holder_state": "VA", "requester_state": "NC"}, {"VA-2-2-5517-in-state-only"}),
    "VT": (
        {"state": "VT", "warrant": False, "window": TimeWindow(AFTER - 200 * DAY, AFTER)},
        {"VT-1607-historical-warrant"},
    ),
    "WA": (
        {"state": "WA", "purpose": IMMIGRATION},
        {"WA-6002-purposes", "WA-6002-civil-immigration", "WA-civil-immigration-requester"},
    ),
}


def test_every_refusing_statute_pack_has_a_refusal_case(book: LawBook) -> None:
    # A new pack with refusing rules must add its case here, or this fails.
    assert set(REFUSALS) == refusing_packs(book)


@pytest.mark.parametrize("state", sorted(REFUSALS))
def test_the_statute_refuses_what_it_forbids(book: LawBook, state: str) -> None:
    changes, refusing = REFUSALS[state]
    decision = book.decide(at_after(**changes))
    assert not decision.allowed
    assert {r.rule_id for r in decision.reasons} == refusing
    for reason in decision.reasons:
        assert reason.state == state
        assert reason.citation
        assert reason.source in {"statute", "secondary", "unverified"}


def test_every_statute_pack_lets_a_lawful_query_through(book: LawBook) -> None:
    for state in statute_packs(book):
        decision = book.decide(at_after(state=state))
        assert decision.allowed, (state, [r.rule_id for r in decision.reasons])
        assert decision.rules_applied  # the pack's rules were applied, not skipped


CAPPED = ["AL", "GA", "IA", "KY", "NC", "TN", "UT", "NJ", "CT", "CO"]
UNCAPPED = ["FL", "ID", "MD", "NM", "TX", "NY", "DC"]


def test_every_statute_pack_has_a_refusal_tested(book: LawBook) -> None:
    for state in statute_packs(book):
        assert state in REFUSALS or state in CAPPED or state in UNCAPPED, state


@pytest.mark.parametrize("state", CAPPED, ids=str)
def test_a_retention_cap_withholds_older_sightings(book: LawBook, state: str) -> None:
    pack = book.pack(state)
    cap = pack.retention_seconds
    assert cap is not None
    guard = book.holder_guard(state, configured_retention=None)
    assert guard.retention_seconds == cap  # the node never returns anything older
    assert guard.retention_rule is not None
    assert guard.retention_rule.rule_id.startswith(state)
    within = book.decide(at_after(state=state, window=TimeWindow(AFTER - cap + DAY, AFTER)))
    assert within.allowed
    assert not within.notes
    beyond = book.decide(at_after(state=state, window=TimeWindow(AFTER - cap - DAY, AFTER)))
    assert [n.rule_id for n in beyond.notes] == [pack.retention_rule.id]
    assert "cannot be returned" in beyond.notes[0].message


@pytest.mark.parametrize("state", UNCAPPED)
def test_where_no_cap_is_known_the_node_must_configure_one(book: LawBook, state: str) -> None:
    # The refusal of a pack without a cap or a refusing rule (FL, ID): a node without its
    # own retention does not start.
    with pytest.raises(ConfigError, match="retention_seconds"):
        book.holder_guard(state, configured_retention=None)
    guard = book.holder_guard(state, configured_retention=30 * DAY)
    assert guard.retention_seconds == 30 * DAY
    assert guard.law_pack == state  # its own pack, not the default


# --- examples beyond the one refusal per pack ------------------------------------------------


def test_connecticut_shares_with_a_listed_state_that_attested(book: LawBook) -> None:
    attested = at_after(holder_state="CT", requester_state="MA", declarations_on_file={"CT"})
    assert book.decide(attested).allowed
    unattested = book.decide(at_after(holder_state="CT", requester_state="MA"))
    assert {r.rule_id for r in unattested.reasons} == {"CT-pa26-14-attestation"}
    federal = book.decide(at_after(holder_state="CT", requester_state="CT", requester_kind=FEDERAL))
    assert "CT-pa26-14-recipient-states" in {r.rule_id for r in federal.reasons}


def test_new_mexico_refuses_sharing_for_protected_health_care(book: LawBook) -> None:
    decision = book.decide(
        at_after(state="NM", purpose=Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION)
    )
    assert {r.rule_id for r in decision.reasons} == {"NM-sb40-protected-purposes"}
    # The holder's own agency is not sharing: the bill bars sharing and sale.
    own = at_after(
        state="NM",
        purpose=Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION,
        requester_agency=BASE_REQUEST.holder_agency,
    )
    assert book.decide(own).allowed


def test_an_unverified_rule_says_so_in_the_refusal(book: LawBook) -> None:
    (reason,) = book.decide(at_after(holder_state="MD", requester_state="DE")).reasons
    assert reason.source == "unverified"
    assert "3-509" in reason.citation


def test_a_state_without_a_statute_refuses_nothing_and_says_why(book: LawBook) -> None:
    pack = book.pack("TX")
    assert not pack.alpr_statute
    assert pack.general_law
    assert pack.checked == dt.date(2026, 12, 2)
    assert [r.kind for r in pack.rules] == [RuleKind.RETENTION]
    decision = book.decide(at_after(holder_state="TX", requester_state="OK"))
    assert decision.allowed
    assert decision.rules_applied == ("TX-no-statute-retention",)


def test_pending_bills_are_listed_and_never_enforced(book: LawBook) -> None:
    new_york = book.pack("NY")
    assert {b.bill.split(" ")[0] for b in new_york.pending} == {"S7713-A", "S9890"}
    # S9890 would demand a judicial warrant to transfer data out of New York: not law, so an
    # out-of-state query without one is allowed, and no pending bill is among the rules applied.
    decision = book.decide(at_after(holder_state="NY", requester_state="NJ", warrant=False))
    assert decision.allowed
    assert decision.rules_applied == ("NY-no-statute-retention",)
    assert book.pack("IL").pending
