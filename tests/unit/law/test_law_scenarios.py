"""What state law lets through, scenario by scenario; each test id names the statute it tests.

Every scenario asserts the exact set of refusing rules: a refusal for the wrong reason, or a
missing co-refusal, fails just as an allowed request that should have been refused does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from alprfed.law import LawBook, LawRequest
from alprfed.models import AgencyKind, Purpose, TimeWindow

Ask = Callable[..., LawRequest]
NOW = 1_764_000_000  # the request builder's fixed "now" (conftest.py)
DAY = 86_400

FEDERAL = AgencyKind.FEDERAL
STATE = AgencyKind.STATE
IMMIGRATION = Purpose.IMMIGRATION_ENFORCEMENT

# (changes to the base request, the rule ids that must refuse it; empty: allowed)
SCENARIOS = [
    # California: Civ. Code 1798.90.55(b) and AG bulletin 2023-DLE-06
    pytest.param(
        {"state": "CA"}, set(), id="CA Civ. Code 1798.90.55(b): California local agency served"
    ),
    pytest.param(
        {"state": "CA", "requester_kind": STATE},
        set(),
        id="CA Civ. Code 1798.90.55(b): California state agency served",
    ),
    pytest.param(
        {"state": "CA", "requester_kind": FEDERAL},
        {"CA-1798-90-55-b-no-federal"},
        id="CA Civ. Code 1798.90.55(b), AG 2023-DLE-06: federal office in California refused",
    ),
    pytest.param(
        {"holder_state": "CA", "requester_state": "NV"},
        {"CA-1798-90-55-b-no-out-of-state"},
        id="CA Civ. Code 1798.90.55(b), AG 2023-DLE-06: Nevada agency refused",
    ),
    pytest.param(
        {"holder_state": "CA", "requester_state": "DC", "requester_kind": FEDERAL},
        {"CA-1798-90-55-b-no-federal", "CA-1798-90-55-b-no-out-of-state"},
        id="CA Civ. Code 1798.90.55(b): federal agency elsewhere refused by both rules",
    ),
    pytest.param(
        {"holder_state": "CA", "requester_state": "NV", "declarations_on_file": frozenset({"CA"})},
        {"CA-1798-90-55-b-no-out-of-state"},
        id="CA Civ. Code 1798.90.55(b): no declaration opens California data",
    ),
    pytest.param(
        {"state": "CA", "purpose": IMMIGRATION},
        {"CA-7284-6-immigration-holder", "CA-7284-6-immigration-requester"},
        id="CA Gov. Code 7284.6 (SB 54): California data for immigration enforcement refused",
    ),
    # The requester's own state law limits what it may ask, whoever holds the data.
    pytest.param(
        {"holder_state": "TX", "requester_state": "CA", "purpose": IMMIGRATION},
        {"CA-7284-6-immigration-requester"},
        id="CA Gov. Code 7284.6 (SB 54): California agency asking Texas for immigration refused",
    ),
    pytest.param(
        {"holder_state": "TX", "requester_state": "CA"},
        set(),
        id="CA Gov. Code 7284.6 (SB 54): California agency asking Texas about a homicide served",
    ),
    pytest.param(
        {"holder_state": "OR", "requester_state": "WA", "purpose": IMMIGRATION},
        {"WA-civil-immigration-requester"},
        id="WA ESSB 6002, Keep Washington Working Act: Washington agency asking Oregon refused",
    ),
    pytest.param(
        {"state": "TX", "purpose": IMMIGRATION},
        set(),
        id="no state ALPR statute (default pack): Texas data and requester, nothing refuses",
    ),
    # Illinois: 625 ILCS 5/2-130
    pytest.param(
        {"state": "IL", "purpose": IMMIGRATION},
        {"IL-2-130-b-immigration"},
        id="IL 625 ILCS 5/2-130(b)(2): immigration status investigation refused in state",
    ),
    pytest.param(
        {"state": "IL", "purpose": Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION},
        {"IL-2-130-b-health-care"},
        id="IL 625 ILCS 5/2-130(b)(1): reproductive health care investigation refused",
    ),
    pytest.param(
        {"state": "IL", "purpose": Purpose.GENDER_AFFIRMING_CARE_INVESTIGATION},
        {"IL-2-130-b-health-care"},
        id="IL 625 ILCS 5/2-130(b)(1): lawful health care investigation refused",
    ),
    pytest.param(
        {
            "holder_state": "IL",
            "requester_state": "TX",
            "purpose": Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION,
            "declarations_on_file": frozenset({"IL"}),
        },
        {"IL-2-130-b-health-care"},
        id="IL 625 ILCS 5/2-130(b)(1): a declaration on file does not cure a health care purpose",
    ),
    pytest.param(
        {"holder_state": "IL", "requester_state": "IN"},
        {"IL-2-130-c-declaration"},
        id="IL 625 ILCS 5/2-130(c): out-of-state agency without a declaration refused",
    ),
    pytest.param(
        {"holder_state": "IL", "requester_state": "IN", "declarations_on_file": frozenset({"IL"})},
        set(),
        id="IL 625 ILCS 5/2-130(c): out-of-state agency with a declaration on file served",
    ),
    pytest.param(
        {"holder_state": "IL", "requester_state": "IN", "declarations_on_file": frozenset({"CA"})},
        {"IL-2-130-c-declaration"},
        id="IL 625 ILCS 5/2-130(c): a declaration filed with another state does not count",
    ),
    pytest.param(
        {"state": "IL", "requester_kind": FEDERAL},
        {"IL-2-130-c-declaration"},
        id="IL 625 ILCS 5/2-130(c): federal office in Illinois needs the declaration too",
    ),
    pytest.param(
        {"state": "IL"}, set(), id="IL 625 ILCS 5/2-130: Illinois agency, homicide, served"
    ),
    # Virginia: Va. Code 2.2-5517
    pytest.param({"state": "VA"}, set(), id="VA Va. Code 2.2-5517: Virginia agency served"),
    pytest.param(
        {"holder_state": "VA", "requester_state": "MD"},
        {"VA-2-2-5517-in-state-only"},
        id="VA Va. Code 2.2-5517(F) (secondary): Maryland agency refused",
    ),
    pytest.param(
        {"state": "VA", "requester_kind": FEDERAL},
        {"VA-2-2-5517-in-state-only"},
        id="VA Va. Code 2.2-5517(F) (secondary): federal office in Virginia refused",
    ),
    pytest.param(
        {"state": "VA", "purpose": IMMIGRATION},
        {"VA-2-2-5517-purposes"},
        id="VA Va. Code 2.2-5517: immigration enforcement is not a permitted use",
    ),
    pytest.param(
        {"state": "VA", "case_number": "  "},
        {"VA-2-2-5517-justification"},
        id="VA Va. Code 2.2-5517 (secondary): query without a recorded justification refused",
    ),
    # Washington: ESSB 6002 (secondary)
    pytest.param(
        {"state": "WA", "purpose": IMMIGRATION},
        {"WA-6002-purposes", "WA-6002-civil-immigration", "WA-civil-immigration-requester"},
        id="WA ESSB 6002: civil immigration enforcement refused by every rule that forbids it",
    ),
    pytest.param(
        {"holder_state": "WA", "requester_state": "OR"},
        {"WA-6002-sharing"},
        id="WA ESSB 6002 (strictest reading): Oregon agency refused",
    ),
    pytest.param(
        {"state": "WA", "purpose": Purpose.OUTSTANDING_WARRANT},
        {"WA-6002-purposes"},
        id="WA ESSB 6002: outstanding warrant alone is not a listed use",
    ),
    # Minnesota: Minn. Stat. 13.824
    pytest.param(
        {"state": "MN", "warrant": False},
        {"MN-13-824-tracking-warrant", "MN-13-824-tracking-warrant-requester"},
        id="MN Minn. Stat. 13.824: tracking without warrant or exigency refused",
    ),
    pytest.param(
        {"state": "MN", "warrant": True},
        set(),
        id="MN Minn. Stat. 13.824: a warrant satisfies the tracking rule",
    ),
    pytest.param(
        {
            "state": "MN",
            "warrant": False,
            "exigent": True,
            "purpose": Purpose.MISSING_OR_ENDANGERED_PERSON,
        },
        set(),
        id="MN Minn. Stat. 13.824: exigent circumstances satisfy the tracking rule",
    ),
    pytest.param(
        {"holder_state": "TX", "requester_state": "MN", "warrant": False},
        {"MN-13-824-tracking-warrant-requester"},
        id="MN Minn. Stat. 13.824: Minnesota agency tracking through Texas data needs a warrant",
    ),
    pytest.param(
        {"state": "MN", "case_number": ""},
        {"MN-13-824-documented-purpose"},
        id="MN Minn. Stat. 13.824: access without a documented purpose refused",
    ),
    # Montana: MCA 46-5-117 to -119
    pytest.param(
        {"state": "MT", "warrant": False, "exigent": True, "purpose": Purpose.AMBER_ALERT},
        {"MT-46-5-sharing-warrant"},
        id="MT MCA 46-5-117 (sponsor, secondary): sharing needs a warrant, exigency is not one",
    ),
    pytest.param(
        {
            "state": "MT",
            "warrant": False,
            "exigent": True,
            "requester_agency": "holder-pd",
            "purpose": Purpose.AMBER_ALERT,
        },
        set(),
        id="MT MCA 46-5-117: the holder agency's own exigent query is not sharing",
    ),
    pytest.param(
        {"state": "MT", "purpose": Purpose.PROTECTED_ACTIVITY_MONITORING},
        {"MT-46-5-117-purposes"},
        id="MT MCA 46-5-117 (secondary): protected activity monitoring is not a listed use",
    ),
    # New Hampshire: RSA 261:75-b
    pytest.param(
        {"state": "NH", "requester_kind": FEDERAL},
        {"NH-261-75-b-law-enforcement"},
        id="NH RSA 261:75-b: federal agency is not local, county or state law enforcement",
    ),
    pytest.param(
        {"state": "NH", "purpose": IMMIGRATION},
        {"NH-261-75-b-V-purposes"},
        id="NH RSA 261:75-b, V: immigration enforcement is not a listed use",
    ),
    # Maine: 29-A M.R.S. 2117-A
    pytest.param(
        {"state": "ME", "requester_kind": FEDERAL},
        {"ME-2117-A-law-enforcement"},
        id="ME 29-A M.R.S. 2117-A: federal agency refused",
    ),
    pytest.param(
        {"holder_state": "ME", "requester_state": "NH", "requester_kind": STATE},
        set(),
        id="ME 29-A M.R.S. 2117-A: another state's police served",
    ),
    # Nebraska: Neb. Rev. Stat. 60-3203, 60-3204
    pytest.param(
        {"state": "NE", "case_number": ""},
        {"NE-60-3204-documented-reason"},
        id="NE Neb. Rev. Stat. 60-3204: manual query without a documented reason refused",
    ),
    pytest.param(
        {"state": "NE", "purpose": Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION},
        {"NE-60-3203-purposes"},
        id="NE Neb. Rev. Stat. 60-3203: use outside the listed exceptions refused",
    ),
    # Arkansas: Ark. Code 12-12-1804
    pytest.param(
        {"state": "AR", "purpose": Purpose.MISSING_OR_ENDANGERED_PERSON},
        {"AR-12-12-1804-sharing"},
        id="AR Ark. Code 12-12-1804: sharing needs evidence of an offense",
    ),
    pytest.param(
        {
            "state": "AR",
            "purpose": Purpose.MISSING_OR_ENDANGERED_PERSON,
            "requester_agency": "holder-pd",
        },
        set(),
        id="AR Ark. Code 12-12-1804: the holder agency's own missing-person search is not sharing",
    ),
    # Vermont: 23 V.S.A. 1607
    pytest.param(
        {
            "state": "VT",
            "warrant": False,
            "exigent": True,
            "purpose": Purpose.AMBER_ALERT,
            "days_ago": (200, 190),
        },
        {"VT-1607-historical-warrant"},
        id="VT 23 V.S.A. 1607 (secondary): historical data past 6 months needs a warrant",
    ),
    pytest.param(
        {"state": "VT", "warrant": False, "exigent": True, "purpose": Purpose.AMBER_ALERT},
        set(),
        id="VT 23 V.S.A. 1607: recent data needs no warrant",
    ),
    pytest.param(
        {"state": "VT", "days_ago": (200, 190)},
        set(),
        id="VT 23 V.S.A. 1607: historical data with a warrant served",
    ),
    # Oregon: SB 1516 (secondary)
    pytest.param(
        {"holder_state": "OR", "requester_state": "ID", "case_number": ""},
        {"OR-SB1516-justified-search"},
        id="OR SB 1516 (secondary): search without a justification refused",
    ),
]


@pytest.mark.parametrize(("changes", "refusing"), SCENARIOS)
def test_scenario(book: LawBook, ask: Ask, changes: dict[str, Any], refusing: set[str]) -> None:
    request = ask(**changes)
    decision = book.decide(request)
    assert {r.rule_id for r in decision.reasons} == refusing
    assert decision.allowed is (not refusing)
    for reason in decision.reasons:
        assert reason.gate == "law"
        assert reason.citation
        assert reason.rule_id in decision.rules_applied
        assert reason.state in {request.holder_state, request.requester_state}


def test_refusal_names_the_statute_an_officer_reads(book: LawBook, ask: Ask) -> None:
    decision = book.decide(ask(holder_state="CA", requester_state="AZ", requester_kind=FEDERAL))
    explained = [r.explain() for r in decision.reasons]
    assert all("denied by CA" in line and "1798.90.55(b)" in line for line in explained)
    assert all("2023-DLE-06" in line for line in explained)
    assert {r.source for r in decision.reasons} == {"statute"}


def test_illinois_refusal_cites_subsection_b(book: LawBook, ask: Ask) -> None:
    (reason,) = book.decide(ask(state="IL", purpose=IMMIGRATION)).reasons
    assert reason.citation == "625 ILCS 5/2-130(b)(2)"
    assert reason.state == "IL"
    assert reason.source == "statute"
    assert "immigration status" in reason.message


def test_virginia_sharing_rule_says_it_is_secondary(book: LawBook, ask: Ask) -> None:
    (reason,) = book.decide(ask(holder_state="VA", requester_state="NC")).reasons
    assert reason.citation.startswith("Va. Code 2.2-5517")
    assert reason.source == "secondary"


def test_allowed_request_lists_every_rule_applied(book: LawBook, ask: Ask) -> None:
    decision = book.decide(ask(holder_state="IL", requester_state="CA"))
    assert decision.allowed is False  # no declaration yet: 625 ILCS 5/2-130(c)
    decision = book.decide(
        ask(holder_state="IL", requester_state="CA", declarations_on_file=frozenset({"IL"}))
    )
    assert decision.allowed
    assert decision.reasons == ()
    # The Illinois rules binding the holder, then the California rules binding the requester,
    # each in file order: what the ledger records as applied.
    assert decision.rules_applied == (
        "IL-2-130-retention",
        "IL-2-130-b-immigration",
        "IL-2-130-b-health-care",
        "IL-2-130-c-declaration",
        "CA-7284-6-immigration-requester",
    )


def test_same_state_applies_holder_and_requester_rules(book: LawBook, ask: Ask) -> None:
    decision = book.decide(ask(state="CA"))
    ca = book.pack("CA")
    assert decision.rules_applied == tuple(r.id for r in ca.rules if r.binds == "holder") + tuple(
        r.id for r in ca.rules if r.binds == "requester"
    )


def test_retention_note_when_window_reaches_past_the_cap(book: LawBook, ask: Ask) -> None:
    recent = book.decide(ask(state="WA", window=TimeWindow(NOW - 20 * DAY, NOW)))
    assert "WA-6002-retention" not in {n.rule_id for n in recent.notes}
    old = book.decide(ask(state="WA", window=TimeWindow(NOW - 22 * DAY, NOW)))
    assert old.allowed
    (note,) = [n for n in old.notes if n.rule_id == "WA-6002-retention"]
    assert "21 days" in note.message


def test_sensitive_sites_note_cites_its_rule(book: LawBook, ask: Ask) -> None:
    notes = book.decide(ask(state="WA")).notes
    assert [n.rule_id for n in notes] == ["WA-6002-sensitive-sites"]
    assert not book.decide(ask(state="CA")).notes


def test_new_hampshire_data_is_three_minutes_old_at_most(book: LawBook, ask: Ask) -> None:
    decision = book.decide(ask(state="NH", window=TimeWindow(NOW - 181, NOW)))
    assert [n.rule_id for n in decision.notes] == ["NH-261-75-b-retention"]
    assert "180 s" in decision.notes[0].message
    assert not book.decide(ask(state="NH", window=TimeWindow(NOW - 180, NOW))).notes
