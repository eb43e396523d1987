"""Gates.decide: the three gates combined, each refusing alone, with the real bundled policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alprfed.config import bundled_policies_dir
from alprfed.law import load_law_book
from alprfed.models import Agency, AgencyId, AgencyKind, Purpose, TimeWindow
from alprfed.policy.access import AccessPolicy
from alprfed.policy.decision import Gates, QueryFacts
from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import WarrantLimits, WarrantView

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


@pytest.fixture(scope="module")
def gates() -> Gates:
    return Gates(
        access=AccessPolicy.load(bundled_policies_dir()),
        law=load_law_book(bundled_policies_dir()),
        agencies=AGENCIES,
        exigent_enabled=True,
        exigent_lookback_seconds=72 * 3600,
    )


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
    agency="sjpd",
    window=TimeWindow(NOW - 7 * DAY, NOW),
    offense=Purpose.ROBBERY,
    limits=WarrantLimits(),
    issued_at=NOW - 60,
    expires_at=NOW + 30 * DAY,
    revoked_at=None,
    plate_listed=True,
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
    disabled = Gates(
        access=AccessPolicy.load(bundled_policies_dir()),
        law=load_law_book(bundled_policies_dir()),
        agencies=AGENCIES,
        exigent_enabled=False,
        exigent_lookback_seconds=72 * 3600,
    )
    assert refused_by(disabled.decide(facts, approval=approval), "sjpd") == ["exigent.enabled"]


def test_revoked_at_the_moment_of_the_query_is_revoked(gates: Gates) -> None:
    decision = gates.decide(FACTS, warrant=replace(WARRANT, revoked_at=NOW))
    assert refused_by(decision, "sjpd") == ["warrant.not-revoked"]
    later = gates.decide(FACTS, warrant=replace(WARRANT, revoked_at=NOW + 1))
    assert refused_by(later, "sjpd") == []
