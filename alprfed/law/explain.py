"""Why the law gate decides what it decides: the decision and every rule it rests on.

``explain(book, request)`` runs the same ``LawBook.decide`` the gateway and the nodes run and
sets each rule that could bear on the request beside it: the holder state's holder rules, the
requester state's requester rules and the federation agreement's, each marked as refusing,
allowing, shaping the answer (a note) or not in force at the request's time. Nothing is sent
and nothing is logged: ``alprfed law explain`` prints it for officers and counsel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alprfed.canonical import JSONValue
from alprfed.law.book import LawBook
from alprfed.law.rules import Binds, LawPack, LawRule
from alprfed.law.types import LawDecision, LawRequest


class Verdict(StrEnum):
    REFUSES = "refuses"
    ALLOWS = "allows"  # applied, and did not refuse
    NOTE = "note"  # shapes the answer (retention, withheld sites) without refusing
    NOT_IN_FORCE = "not in force"  # outside its effective and sunset dates at that time


@dataclass(frozen=True)
class RuleVerdict:
    rule: LawRule
    role: str  # "holder", "requester" or "agreement": why this rule bears on the request
    verdict: Verdict


@dataclass(frozen=True)
class Explanation:
    request: LawRequest
    decision: LawDecision
    holder_pack: LawPack
    requester_pack: LawPack
    rules: tuple[RuleVerdict, ...]

    def to_json(self) -> dict[str, JSONValue]:
        request = self.request
        return {
            "allowed": self.decision.allowed,
            "at": request.now,
            "holder": {"state": request.holder_state, "pack": self.holder_pack.state},
            "requester": {
                "agency": request.requester_agency,
                "state": request.requester_state,
                "kind": request.requester_kind.value,
                "pack": self.requester_pack.state,
            },
            "purpose": request.purpose.value,
            "refused_by": [r.rule_id for r in self.decision.reasons],
            "notes": [r.rule_id for r in self.decision.notes],
            "rules_applied": list(self.decision.rules_applied),
            "rules": [
                {
                    "id": v.rule.id,
                    "role": v.role,
                    "verdict": v.verdict.value,
                    "kind": v.rule.kind.value,
                    "binds": v.rule.binds.value,
                    "state": v.rule.state,
                    "source": v.rule.source.value,
                    "citation": v.rule.citation,
                    "urls": list(v.rule.urls),
                    "in_force": v.rule.in_force.describe(),
                    "message": v.rule.message,
                }
                for v in self.rules
            ],
        }


def explain(book: LawBook, request: LawRequest) -> Explanation:
    """Decide ``request`` and say, rule by rule, why.

    Raises:
        InvalidRequest: the holder or requester state is not a state code.
    """
    decision = book.decide(request)
    holder = book.pack(request.holder_state)
    requester = book.pack(request.requester_state)
    candidates = [(r, "holder") for r in holder.binding(Binds.HOLDER)]
    candidates += [(r, "requester") for r in requester.binding(Binds.REQUESTER)]
    if book.agreement is not None:
        candidates += [(r, "agreement") for r in book.agreement.rules]
    refused = {r.rule_id for r in decision.reasons}
    noted = {r.rule_id for r in decision.notes}
    verdicts = []
    for rule, role in candidates:
        if not rule.applies_at(request.now):
            verdict = Verdict.NOT_IN_FORCE
        elif rule.id in refused:
            verdict = Verdict.REFUSES
        elif rule.id in noted:
            verdict = Verdict.NOTE
        else:
            verdict = Verdict.ALLOWS
        verdicts.append(RuleVerdict(rule, role, verdict))
    return Explanation(request, decision, holder, requester, tuple(verdicts))
