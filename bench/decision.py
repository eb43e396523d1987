"""Part 4, decision time: ``Gates.decide`` with the real Casbin policy and law book.

A federation of N node agencies spread over 20 states (each with its own pack: an ALPR
statute, or none and the general law that applies), plus San Jose PD as the requester, is
loaded the way the gateway loads it: a policy bundle built from the bundled policies and the
federation, then the gates from the bundle's own bytes. Each decision is a warranted query by
officer-garcia aimed at every node: Casbin, the warrant's scope and per-target limits, and both
states' law for every target. Some holders' law refuses, as in a real federation, so the
refusal paths run too.

The Casbin policy is the bundled one plus OFFICERS_PER_AGENCY officers of every agency (role
assignments grow with the federation). A second measurement aims the same query at one agency
only, to separate the size of the federation from the number of targets.

The floor is the state law alone: the law book deciding the query's (holder state,
requester) requests, built beforehand, once per distinct holder state -- the law depends on
the states, not on the agency, so no decision needs to ask it more often (issue "National
scale": a national query reaches 1,024 agencies over a few dozen states).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from alprfed.config import CourtConfig, CourtKind, FederationConfig, bundled_policies_dir
from alprfed.law import LawBook, LawRequest, load_law_book
from alprfed.models import Agency, AgencyId, AgencyKind, Purpose, TimeWindow
from alprfed.policy.bundle import build_bundle, load_policy
from alprfed.policy.decision import Gates, QueryFacts
from alprfed.policy.warrants import WarrantLimits, WarrantView
from alprfed.signing import SigningKey
from bench.environment import BenchEnv, BenchError
from bench.federation import COURT, REQUESTER_AGENCY, REQUESTER_OFFICER
from bench.queries import CASE_NUMBER, WARRANT_ID
from bench.report import Figure, PartReport, at_most
from bench.stats import US_PER_S, Latency, time_each

PART = "decision"
TITLE = "Decision time: the three gates with the real Casbin policy and law book"
P50_LIMIT_US = 200.0  # a state-sized federation (up to 200 agencies)
NATIONAL_AGENCIES = 1_024
NATIONAL_P50_LIMIT_US = 5_000.0  # a national one
FLOOR_LABEL = "state law alone, once per holder state"
OFFICERS_PER_AGENCY = 10
DAY_S = 86_400
# Holder states: the fifteen first encoded statutes, then five more (FL and GA with a retention
# rule only, TX, NY and OH without an ALPR statute).
HOLDER_STATES = (
    "CA", "IL", "VA", "WA", "MN", "OR", "UT", "NC", "TN", "AR", "ME", "MT", "NE", "NH", "VT",
    "TX", "NY", "FL", "GA", "OH",
)  # fmt: skip


@dataclass(frozen=True)
class DecisionSettings:
    agency_counts: tuple[int, ...] = (10, 200, NATIONAL_AGENCIES)
    warmup: int = 500
    calls: int = 5_000


def federation(nodes: int) -> FederationConfig:
    """``nodes`` node agencies over HOLDER_STATES, the requester, and one court."""
    key = SigningKey.generate().public.raw
    agencies: dict[str, Agency] = {
        REQUESTER_AGENCY: Agency(
            AgencyId(REQUESTER_AGENCY), "San Jose Police Department", "CA", AgencyKind.LOCAL
        )
    }
    for number in range(1, nodes + 1):
        agency_id = AgencyId(f"agency-{number:03d}")
        agencies[agency_id] = Agency(
            agency_id,
            f"Agency {number}",
            HOLDER_STATES[(number - 1) % len(HOLDER_STATES)],
            AgencyKind.LOCAL,
            node_address=f"localhost:{10_000 + number}",
            node_key=key,
        )
    return FederationConfig(
        name="alprfed decision benchmark",
        origin="bench.alprfed.example/decision",
        gateway_key=SigningKey.generate().public,
        agencies=agencies,
        courts={
            COURT: CourtConfig(
                COURT,
                "Santa Clara Superior Court",
                SigningKey.generate().public,
                frozenset({"CA"}),
                CourtKind.STATE,
            )
        },
    )


def warranted_query(fed: FederationConfig, now: int) -> tuple[QueryFacts, WarrantView]:
    """officer-garcia's query under a Santa Clara warrant, aimed at every node of ``fed``."""
    window = TimeWindow(now - 3 * DAY_S, now)
    facts = QueryFacts(
        officer=REQUESTER_OFFICER,
        agency=REQUESTER_AGENCY,
        plate="8FXR413",
        window=window,
        purpose=Purpose.ROBBERY,
        case_number=CASE_NUMBER,
        warrant_id=WARRANT_ID,
        exigent_approval_id=None,
        targets=tuple(a.agency_id for a in fed.nodes()),
        now=now,
    )
    warrant = WarrantView(
        warrant_id=WARRANT_ID,
        court=COURT,
        agency=REQUESTER_AGENCY,
        window=TimeWindow(now - 7 * DAY_S, now),
        offense=Purpose.ROBBERY,
        limits=WarrantLimits(),
        issued_at=now - 60,
        expires_at=now + 30 * DAY_S,
        revoked_at=None,
        plate_listed=True,
        prospective=True,  # the window ends a minute after issuance
    )
    return facts, warrant


def policies(directory: Path, fed: FederationConfig) -> Path:
    """The bundled policies, with officers of every agency of ``fed`` holding the officer role."""
    shutil.copytree(bundled_policies_dir(), directory)
    with (directory / "policy.csv").open("a", encoding="utf-8") as policy:
        for agency in fed.nodes():
            for number in range(1, OFFICERS_PER_AGENCY + 1):
                officer = f"officer-{number:02d}"
                policy.write(f"g, {agency.agency_id}/{officer}, officer, {agency.agency_id}\n")
    return directory


def _law_requests(fed: FederationConfig, facts: QueryFacts) -> list[LawRequest]:
    requester = fed.agencies[AgencyId(REQUESTER_AGENCY)]
    holders = {h.state: h for h in fed.nodes() if h.agency_id in facts.targets}
    return [
        LawRequest(
            holder_agency=holder.agency_id,
            holder_state=holder.state,
            requester_agency=requester.agency_id,
            requester_state=requester.state,
            requester_kind=requester.kind,
            purpose=facts.purpose,
            case_number=facts.case_number,
            window=facts.window,
            now=facts.now,
            warrant=True,
            declarations_on_file=requester.declarations_on_file,
        )
        for holder in holders.values()
    ]


def _measure(
    gates: Gates,
    law: LawBook,
    requests: list[LawRequest],
    facts: QueryFacts,
    warrant: WarrantView,
    settings: DecisionSettings,
) -> tuple[Latency, Latency]:
    """The gates' decision, and the law book alone on the same requests."""
    gate = time_each(
        lambda _: gates.decide(facts, warrant=warrant), count=settings.calls, warmup=settings.warmup
    )
    floor = time_each(
        lambda _: [law.decide(request) for request in requests],
        count=settings.calls,
        warmup=settings.warmup,
    )
    return Latency.of(gate), Latency.of(floor)


def _figures(config: str, nodes: int, gate: Latency, floor: Latency) -> list[Figure]:
    limit = NATIONAL_P50_LIMIT_US if nodes >= NATIONAL_AGENCIES else P50_LIMIT_US
    target = at_most(limit, f"≤ {limit:,.0f} µs")
    return [
        Figure(
            PART, "decision p50", config, gate.p50 * US_PER_S, "µs", floor.p50 * US_PER_S,
            FLOOR_LABEL, (target,),
        ),
        Figure(
            PART, "decision p99", config, gate.p99 * US_PER_S, "µs", floor.p99 * US_PER_S,
            FLOOR_LABEL,
        ),
    ]  # fmt: skip


def run(settings: DecisionSettings, env: BenchEnv) -> PartReport:
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    now = int(time.time())
    law = load_law_book(bundled_policies_dir())
    for nodes in settings.agency_counts:
        env.log(f"{PART}: {nodes} agencies")
        fed = federation(nodes)
        bundle = build_bundle(policies(env.scratch(PART) / "policies", fed), fed)
        gates = load_policy(bundle).gates
        every, warrant = warranted_query(fed, now)
        for facts, aimed in (
            (every, "every agency"),
            (replace(every, targets=every.targets[:1]), "one agency"),
        ):
            decision = gates.decide(facts, warrant=warrant)
            permitted = len(decision.permitted)
            if len(decision.agencies) != len(facts.targets) or permitted == 0:
                raise BenchError(f"the gates decided {decision.agencies} with none permitted")
            requests = _law_requests(fed, facts)
            gate, floor = _measure(gates, law, requests, facts, warrant, settings)
            config = f"{nodes} agencies, aimed at {aimed} ({permitted} permitted)"
            for figure in _figures(config, nodes, gate, floor):
                report.add(figure)
    report.notes += [
        "One warranted query by officer-garcia (San Jose PD) aimed at every node of the "
        f"federation; holders over {len(HOLDER_STATES)} states, some of whose law refuses.",
        f"Casbin: the bundled policy plus {OFFICERS_PER_AGENCY} officers per agency; its "
        "decisions come from the gate's per-policy cache after the first query of a subject, "
        f"as in the running gateway. {settings.calls} timed calls after {settings.warmup} "
        "warm-up.",
    ]
    report.seconds = time.perf_counter() - started
    return report
