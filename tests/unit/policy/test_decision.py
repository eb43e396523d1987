"""Gates.decide: the three gates combined, each refusing alone, with the real bundled policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from alprfed.config import CourtConfig, CourtKind, bundled_policies_dir
from alprfed.law import LawDecision, LawRequest, load_law_book
from alprfed.models import Agency, AgencyId, AgencyKind, Purpose, TimeWindow
from alprfed.policy.access import AccessPolicy
from alprfed.policy.decision import Gates, QueryFacts
from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import WarrantLimits, WarrantView, court_covers
from alprfed.signing import SigningKey

NOW = 1_764_000_000
DAY = 86_400


def agency(
    agency_id: str, state: str, kind: AgencyKind = AgencyKind.LOCAL, node: bool = True
) -> Agency:
    return Agency(
        AgencyId(agency_id),
        agency_id,
        state,
        kind,
        node_address="localhost:1" if node else "",
        node_key=b"\1" * 32 if node else b"",
    )


AGENCIES = {
    a.agency_id: a
    for a in (
        # San Jose has Illinois's declaration (625 ILCS 5/2-130(c)) on file.
        replace(agency("sjpd", "CA"), declarations_on_file=frozenset({"IL"})),
        agency("chicago-pd", "IL"),
        agency("norfolk-pd", "VA"),
        agency("ice-ero", "DC", AgencyKind.FEDERAL, node=False),
    )
}


def court(court_id: str, kind: CourtKind, *states: str) -> CourtConfig:
    return CourtConfig(court_id, court_id, SigningKey.generate().public, frozenset(states), kind)


COURTS = {
    c.court_id: c
    for c in (
        court("santa-clara-superior", CourtKind.STATE, "CA"),
        court("us-district-dc", CourtKind.FEDERAL, "DC"),
        court("us-district-ndcal", CourtKind.FEDERAL, "CA"),
    )
}


def bundled_gates(
    agencies: Mapping[str, Agency] = AGENCIES, *, exigent_enabled: bool = True
) -> Gates:
    """The gates over the bundled Casbin policy and law book."""
    return Gates(
        access=AccessPolicy.load(bundled_policies_dir()),
        law=load_law_book(bundled_policies_dir()),
        agencies=agencies,
        courts=COURTS,
        exigent_enabled=exigent_enabled,
        exigent_lookback_seconds=72 * 3600,
    )


@pytest.fixture(scope="module")
def gates() -> Gates:
    return bundled_gates()


FACTS = QueryFacts(
    officer="officer-garcia",
    agency="sjpd",
    plate="8FXR413",
    window=TimeWindow(NOW - DAY, NOW),
    purpose=Purpose.ROBBERY,
    case_number="SJ-1",
    warrant_id="w-1",
    exigent_approval_id=None,
    targets=("sjpd", "chicago-pd", "norfolk-pd"),
    now=NOW,
)
WARRANT = WarrantView(
    warrant_id="w-1",
    court="santa-clara-superior",
    agency="sjpd",
    window=TimeWindow(NOW - 7 * DAY, NOW),
    offense=Purpose.ROBBERY,
    limits=WarrantLimits(),
    issued_at=NOW - 60,
    expires_at=NOW + 30 * DAY,
    revoked_at=None,
    plate_listed=True,
    prospective=True,  # its window ends at NOW, after it was issued
)


def refused_by(decision, agency_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.rule_id for r in decision.for_agency(agency_id).reasons]


def test_a_lawful_warranted_query(gates: Gates) -> None:
    decision = gates.decide(FACTS, warrant=WARRANT)
    assert decision.permitted == ["sjpd", "chicago-pd"]  # Virginia keeps its data in-state
    assert decision.authority == "warrant"
    assert refused_by(decision, "norfolk-pd") == ["VA-2-2-5517-in-state-only"]


def test_only_people_query_even_under_a_persons_name(gates: Gates) -> None:
    decision = gates.decide(replace(FACTS, kind="camera"), warrant=WARRANT)
    assert decision.permitted == []
    assert refused_by(decision, "sjpd") == ["request.person"]


def test_unknown_requesting_organization(gates: Gates) -> None:
    decision = gates.decide(
        replace(FACTS, agency="santa-clara-superior", officer="clerk-lee"),
        warrant=replace(WARRANT, agency="santa-clara-superior"),
    )
    assert "request.known-agency" in refused_by(decision, "sjpd")
    assert "casbin:query.create" in refused_by(decision, "sjpd")


def test_an_agency_without_a_node_is_never_a_target(gates: Gates) -> None:
    decision = gates.decide(replace(FACTS, targets=("ice-ero", "nowhere")), warrant=WARRANT)
    assert refused_by(decision, "ice-ero") == ["request.known-node"]
    assert refused_by(decision, "nowhere") == ["request.known-node"]


def test_every_refusing_gate_is_listed_at_once(gates: Gates) -> None:
    facts = replace(FACTS, officer="records-clerk", warrant_id=None)
    decision = gates.decide(facts)
    assert refused_by(decision, "sjpd") == ["casbin:query.create", "warrant.required"]
    assert refused_by(decision, "norfolk-pd") == [
        "casbin:query.create",
        "warrant.required",
        "VA-2-2-5517-in-state-only",
    ]


def test_exigent_needs_an_enabled_federation(gates: Gates) -> None:
    approval = ApprovalView(
        "ex-1",
        "sjpd",
        "officer-garcia",
        "sgt-nguyen",
        Purpose.AMBER_ALERT,
        "SJ-1",
        NOW - 60,
        NOW + 3600,
        True,
    )
    facts = replace(FACTS, warrant_id=None, exigent_approval_id="ex-1", purpose=Purpose.AMBER_ALERT)
    assert gates.decide(facts, approval=approval).permitted == ["sjpd", "chicago-pd"]
    disabled = bundled_gates(exigent_enabled=False)
    assert refused_by(disabled.decide(facts, approval=approval), "sjpd") == ["exigent.enabled"]


def test_revoked_at_the_moment_of_the_query_is_revoked(gates: Gates) -> None:
    decision = gates.decide(FACTS, warrant=replace(WARRANT, revoked_at=NOW))
    assert refused_by(decision, "sjpd") == ["warrant.not-revoked"]
    later = gates.decide(FACTS, warrant=replace(WARRANT, revoked_at=NOW + 1))
    assert refused_by(later, "sjpd") == []


# --- court jurisdiction (warrant.court-jurisdiction) ---------------------------------------


@pytest.mark.parametrize(
    ("court_id", "agency_id", "covered"),
    [
        ("santa-clara-superior", "sjpd", True),  # a state court, its own state's local agency
        ("santa-clara-superior", "chicago-pd", False),  # another state's agency
        ("santa-clara-superior", "ice-ero", False),  # a federal agency: never a state court's
        ("us-district-dc", "ice-ero", True),  # a federal court, a federal agency
        ("us-district-dc", "sjpd", False),  # a local agency outside its district's state
        ("us-district-ndcal", "sjpd", True),  # ... inside it
        ("us-district-ndcal", "ice-ero", True),  # every federal agency, wherever it sits
    ],
)
def test_court_covers(court_id: str, agency_id: str, covered: bool) -> None:
    assert court_covers(COURTS[court_id], AGENCIES[AgencyId(agency_id)]) is covered


def test_a_state_agency_is_a_state_courts_too() -> None:
    highway_patrol = agency("chp", "CA", AgencyKind.STATE)
    assert court_covers(COURTS["santa-clara-superior"], highway_patrol)
    assert not court_covers(court("tx", CourtKind.STATE, "TX"), highway_patrol)


def test_a_warrant_whose_court_lacks_jurisdiction_authorizes_nothing(gates: Gates) -> None:
    # Registered under an older federation file, say; the gate judges the courts in force.
    decision = gates.decide(FACTS, warrant=replace(WARRANT, court="us-district-dc"))
    assert decision.permitted == []
    assert refused_by(decision, "sjpd") == ["warrant.court-jurisdiction"]
    (reason,) = decision.for_agency("sjpd").reasons
    assert "us-district-dc" in reason.message
    assert "sjpd" in reason.message
    assert "CA" in reason.message
    assert "federal court" in reason.message


def test_a_court_the_federation_no_longer_trusts_authorizes_nothing(gates: Gates) -> None:
    decision = gates.decide(FACTS, warrant=replace(WARRANT, court="disbanded-court"))
    assert refused_by(decision, "chicago-pd") == ["warrant.court-jurisdiction"]
    assert "not a court of this federation" in decision.for_agency("sjpd").reasons[0].message


def test_a_federal_courts_warrant_for_a_federal_agency(gates: Gates) -> None:
    facts = replace(FACTS, agency="ice-ero", officer="agent-reyes")
    ice = replace(WARRANT, court="us-district-dc", agency="ice-ero")
    decision = gates.decide(facts, warrant=ice)
    assert all("warrant.court-jurisdiction" not in refused_by(decision, a) for a in FACTS.targets)
    by_state_court = gates.decide(facts, warrant=replace(ice, court="santa-clara-superior"))
    assert "warrant.court-jurisdiction" in refused_by(by_state_court, "sjpd")


# --- the prospective fact reaches the law ------------------------------------------------


class RecordingLaw:
    """Allows everything and keeps every request, to see the facts the gates pass on."""

    def __init__(self) -> None:
        self.requests: list[LawRequest] = []

    def decide(self, request: LawRequest) -> LawDecision:
        self.requests.append(request)
        return LawDecision(allowed=True, rules_applied=("recorded",))


def recording_gates(law: RecordingLaw) -> Gates:
    return Gates(
        access=AccessPolicy.load(bundled_policies_dir()),
        law=law,
        agencies=AGENCIES,
        courts=COURTS,
        exigent_enabled=True,
        exigent_lookback_seconds=72 * 3600,
    )


@pytest.mark.parametrize("prospective", [True, False])
def test_the_law_learns_whether_the_warrant_is_prospective(prospective: bool) -> None:
    law = RecordingLaw()
    recording_gates(law).decide(FACTS, warrant=replace(WARRANT, prospective=prospective))
    assert [r.prospective for r in law.requests] == [prospective] * len(FACTS.targets)
    assert all(r.warrant for r in law.requests)


def test_a_failing_warrant_is_not_a_prospective_one() -> None:
    # A warrant that does not authorize the query is no warrant for the law either.
    law = RecordingLaw()
    recording_gates(law).decide(FACTS, warrant=replace(WARRANT, revoked_at=NOW - 1))
    assert law.requests
    assert not any(r.warrant or r.prospective for r in law.requests)
    exigent = replace(FACTS, warrant_id=None, exigent_approval_id="ex-1")
    law.requests.clear()
    recording_gates(law).decide(exigent, warrant=WARRANT)
    assert law.requests
    assert not any(r.prospective for r in law.requests)


def test_one_law_decision_per_state_gives_each_agency_its_own_answer() -> None:
    """The gates ask each state's law once per query, not once per agency: many agencies in
    one state (the requester's own among them, whose own data is no sharing) must each get
    exactly the decision they get when asked alone."""
    many = {
        **AGENCIES,
        # A federal agency with a node in California: its own data is its own; another
        # California agency's is not shared with it (Cal. Civ. Code 1798.90.55(b)).
        "fbi-sf": agency("fbi-sf", "CA", AgencyKind.FEDERAL),
        **{a.agency_id: a for a in (agency(f"ca-{i}", "CA") for i in range(3))},
        **{a.agency_id: a for a in (agency(f"va-{i}", "VA") for i in range(3))},
        **{a.agency_id: a for a in (agency(f"il-{i}", "IL") for i in range(2))},
    }
    gates = bundled_gates(many)
    targets = tuple(a for a in many if many[a].runs_node)
    asks = [
        (requester, purpose)
        for requester in ("sjpd", "fbi-sf")
        for purpose in (Purpose.ROBBERY, Purpose.IMMIGRATION_ENFORCEMENT)
    ]
    for requester, purpose in asks:
        # The requester's own node first: its answer must not become its neighbours'.
        own_first = (requester, *(t for t in targets if t != requester))
        facts = replace(FACTS, agency=requester, targets=own_first, purpose=purpose)
        together = gates.decide(facts, warrant=replace(WARRANT, offense=purpose))
        for target in own_first:
            (alone,) = gates.decide(
                replace(facts, targets=(target,)), warrant=replace(WARRANT, offense=purpose)
            ).agencies
            assert together.for_agency(target) == alone, (requester, purpose, target)
    assert not together.for_agency("va-1").allowed  # the law did refuse some, per state
