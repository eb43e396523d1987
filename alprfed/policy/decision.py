"""The three gates combined: for each agency in scope, may this query go there?

``Gates.decide`` is a pure function of the query facts, the policy in force (Casbin policy, law
book, federation) and the resolved warrant or exigent approval. The gateway calls it live; the
ledger audit replays it later with the policy bundle that was in force, and any disagreement is
reported. So nothing here may read the clock, a database or the network.

Every gate is evaluated even after one refuses, so an officer (and an auditor) sees every reason
at once. A query reaches an agency only when no gate refused it: fail closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from alprfed.config import CourtConfig
from alprfed.errors import Reason
from alprfed.law import LawDecision, LawRequest
from alprfed.models import Agency, Purpose, TimeWindow
from alprfed.policy.exigent import ApprovalView, check_exigent
from alprfed.policy.warrants import WarrantView, check_warrant_scope, check_warrant_target

QUERY_OBJECT, QUERY_ACTION = "query", "create"
CASBIN_RULE = f"casbin:{QUERY_OBJECT}.{QUERY_ACTION}"
PERSON_RULE = "request.person"


class AccessPolicyLike(Protocol):
    def allows(self, subject: str, domain: str, obj: str, act: str) -> bool: ...


class LawBookLike(Protocol):
    def decide(self, request: LawRequest) -> LawDecision: ...


def subject_of(organization: str, principal: str) -> str:
    """The Casbin subject for a certificate identity (see policies/policy.csv)."""
    return f"{organization}/{principal}"


@dataclass(frozen=True)
class QueryFacts:
    """Everything a decision depends on, as established by the gateway."""

    officer: str  # certificate CN
    agency: str  # certificate O
    plate: str
    window: TimeWindow
    purpose: Purpose
    case_number: str
    warrant_id: str | None
    exigent_approval_id: str | None
    targets: tuple[str, ...]  # agency ids in scope, in federation order
    now: int
    kind: str = "person"  # certificate OU: only people query; cameras and services never


@dataclass(frozen=True)
class AgencyDecision:
    agency_id: str
    allowed: bool
    reasons: tuple[Reason, ...]
    rules_applied: tuple[str, ...]


@dataclass(frozen=True)
class QueryDecision:
    authority: str  # "warrant", "exigent" or "none"
    agencies: tuple[AgencyDecision, ...]

    @property
    def permitted(self) -> list[str]:
        return [d.agency_id for d in self.agencies if d.allowed]

    def for_agency(self, agency_id: str) -> AgencyDecision:
        return next(d for d in self.agencies if d.agency_id == agency_id)


class Gates:
    def __init__(
        self,
        *,
        access: AccessPolicyLike,
        law: LawBookLike,
        agencies: Mapping[str, Agency],
        courts: Mapping[str, CourtConfig],
        exigent_enabled: bool,
        exigent_lookback_seconds: int,
    ) -> None:
        self._access = access
        self._law = law
        self._agencies = agencies
        self._courts = courts  # whose warrants are honoured, and over whom (court_covers)
        self._exigent_enabled = exigent_enabled
        self._lookback = exigent_lookback_seconds

    def decide(
        self,
        facts: QueryFacts,
        *,
        warrant: WarrantView | None = None,
        approval: ApprovalView | None = None,
    ) -> QueryDecision:
        common: list[Reason] = []
        rules: list[str] = [PERSON_RULE, CASBIN_RULE]
        if facts.kind != "person":
            common.append(
                Reason(
                    gate="request",
                    rule_id=PERSON_RULE,
                    message=f"a {facts.kind} certificate cannot query; only people can",
                )
            )
        if not self._access.allows(
            subject_of(facts.agency, facts.officer), facts.agency, QUERY_OBJECT, QUERY_ACTION
        ):
            common.append(
                Reason(
                    gate="casbin",
                    rule_id=CASBIN_RULE,
                    message=f"{facts.officer} of {facts.agency} has no role that may query",
                )
            )
        requester = self._agencies.get(facts.agency)
        if requester is None:
            common.append(
                Reason(
                    gate="request",
                    rule_id="request.known-agency",
                    message=f"{facts.agency} is not a law enforcement agency of this federation",
                )
            )
        authority, authority_reasons = self._authority(facts, warrant, approval)
        common.extend(authority_reasons)
        rules.append(f"{authority}.checked" if authority != "none" else "warrant.required")

        # The law depends on the states, not the agency: one decision per holder state (and
        # per "is the holder the requester itself"), however many agencies a query reaches.
        laws: dict[tuple[str, bool], LawDecision] = {}
        decisions = []
        for agency_id in facts.targets:
            decisions.append(
                self._decide_target(
                    facts,
                    agency_id,
                    requester,
                    authority if not authority_reasons else "none",
                    warrant,
                    common,
                    rules,
                    laws,
                )
            )
        return QueryDecision(authority=authority, agencies=tuple(decisions))

    def _authority(
        self, facts: QueryFacts, warrant: WarrantView | None, approval: ApprovalView | None
    ) -> tuple[str, tuple[Reason, ...]]:
        if facts.warrant_id:
            return "warrant", check_warrant_scope(
                warrant,
                warrant_id=facts.warrant_id,
                requester_agency=facts.agency,
                window=facts.window,
                purpose=facts.purpose,
                now=facts.now,
                courts=self._courts,
                agencies=self._agencies,
            )
        if facts.exigent_approval_id:
            return "exigent", check_exigent(
                approval,
                approval_id=facts.exigent_approval_id,
                enabled=self._exigent_enabled,
                lookback_seconds=self._lookback,
                requester_agency=facts.agency,
                officer=facts.officer,
                purpose=facts.purpose,
                case_number=facts.case_number,
                window=facts.window,
                now=facts.now,
            )
        return "none", (
            Reason(
                gate="warrant",
                rule_id="warrant.required",
                message="a registered warrant (or a supervisor co-approved exigent query) is "
                "required for every federated query",
            ),
        )

    def _decide_target(
        self,
        facts: QueryFacts,
        agency_id: str,
        requester: Agency | None,
        authority: str,
        warrant: WarrantView | None,
        common: Sequence[Reason],
        rules: Sequence[str],
        laws: dict[tuple[str, bool], LawDecision],
    ) -> AgencyDecision:
        reasons = list(common)
        applied = list(rules)
        target = self._agencies.get(agency_id)
        if target is None or not target.runs_node:
            reasons.append(
                Reason(
                    gate="request",
                    rule_id="request.known-node",
                    message=f"{agency_id} runs no node in this federation",
                )
            )
            return AgencyDecision(agency_id, False, tuple(reasons), tuple(applied))
        if authority == "warrant" and warrant is not None:
            reasons.extend(check_warrant_target(warrant, target))
        if requester is None:
            return AgencyDecision(agency_id, not reasons, tuple(reasons), tuple(applied))
        key = (target.state, target.agency_id == requester.agency_id)
        law = laws.get(key)
        if law is None:
            law = laws[key] = self._law_decision(facts, target, requester, authority, warrant)
        return AgencyDecision(
            agency_id,
            not reasons and not law.reasons,
            (*reasons, *law.reasons),
            (*applied, *law.rules_applied),
        )

    def _law_decision(
        self,
        facts: QueryFacts,
        target: Agency,
        requester: Agency,
        authority: str,
        warrant: WarrantView | None,
    ) -> LawDecision:
        return self._law.decide(
            LawRequest(
                holder_agency=target.agency_id,
                holder_state=target.state,
                requester_agency=requester.agency_id,
                requester_state=requester.state,
                requester_kind=requester.kind,
                purpose=facts.purpose,
                case_number=facts.case_number,
                window=facts.window,
                now=facts.now,
                warrant=authority == "warrant",
                exigent=authority == "exigent",
                # Only a warrant in force can be prospective; the law decides whether a
                # prospective warrant is good enough in this state.
                prospective=authority == "warrant" and warrant is not None and warrant.prospective,
                declarations_on_file=requester.declarations_on_file,
            )
        )
