"""One line per topic for a pack: what the table of every jurisdiction (docs/LAW.md) and
``alprfed law show`` print, derived from the rules so the summary cannot say what they do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from alprfed.law.rules import LawPack, LawRule, RuleKind, Scope, Source, describe_seconds
from alprfed.models import Purpose

# Short names for the purposes a statute forbids, as a table cell reads them.
_SHORT = {
    Purpose.IMMIGRATION_ENFORCEMENT: "immigration",
    Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION: "reproductive care",
    Purpose.GENDER_AFFIRMING_CARE_INVESTIGATION: "gender-affirming care",
    Purpose.PROTECTED_ACTIVITY_MONITORING: "protected activity",
}
_SCOPE = {Scope.ALL: "", Scope.OTHER_AGENCIES: " (sharing)", Scope.OUTSIDE_AGENCIES: " (outside)"}
_SHARING = {
    RuleKind.NO_FEDERAL_RECIPIENT: "no federal agencies",
    RuleKind.NO_OUT_OF_STATE_RECIPIENT: "no out-of-state agencies",
    RuleKind.IN_STATE_ONLY: "in-state agencies only",
    RuleKind.OUT_OF_STATE_NEEDS_DECLARATION: "outside agencies need a declaration",
}
NONE = "—"


@dataclass(frozen=True)
class PackSummary:
    statute: str
    retention: str
    purposes: str
    sharing: str
    warrant: str
    sources: str  # e.g. "statute 2, secondary 1"
    effective: str
    checked: str


def summarize(pack: LawPack) -> PackSummary:
    """The pack in one line per topic. Requester-bound rules are marked ``(requester)``."""
    rules = pack.rules
    return PackSummary(
        statute=pack.statute if pack.alpr_statute else "none (general law applies)",
        retention=_retention(pack),
        purposes=_join(_purpose(r) for r in rules),
        sharing=_join(_sharing(r) for r in rules),
        warrant=_join(_warrant(r) for r in rules),
        sources=", ".join(f"{s.value} {n}" for s, n in _sources(rules)),
        effective=_effective(rules),
        checked=pack.checked.isoformat() if pack.checked else NONE,
    )


def _retention(pack: LawPack) -> str:
    if not any(r.kind is RuleKind.RETENTION for r in pack.rules):
        return NONE
    seconds = pack.retention_seconds
    return describe_seconds(seconds) if seconds is not None else "no cap (agency sets)"


def _who(rule: LawRule) -> str:
    return " (requester)" if rule.binds.value == "requester" else ""


def _purpose(rule: LawRule) -> str:
    if rule.kind is RuleKind.PERMITTED_PURPOSES:
        return f"only {len(rule.purposes)} listed{_SCOPE[rule.scope]}{_who(rule)}"
    if rule.kind is RuleKind.FORBIDDEN_PURPOSES:
        names = sorted(_SHORT.get(p, p.value) for p in rule.purposes)
        return f"not {', '.join(names)}{_SCOPE[rule.scope]}{_who(rule)}"
    return ""


def _sharing(rule: LawRule) -> str:
    if rule.kind in _SHARING:
        return _SHARING[rule.kind]
    if rule.kind is RuleKind.RECIPIENT_KINDS:
        return "only " + ", ".join(sorted(k.value for k in rule.agency_kinds)) + " agencies"
    if rule.kind is RuleKind.RECIPIENT_STATES:
        return "outside only " + ", ".join(sorted(rule.states))
    if rule.kind is RuleKind.WITHHOLD_SITES:
        return f"withholds {len(rule.sites)} kinds of sensitive site"
    return ""


def _warrant(rule: LawRule) -> str:
    if rule.kind is RuleKind.REQUIRES_WARRANT:
        older = rule.older_than_seconds
        when = f" for data older than {describe_seconds(older)}" if older else ""
        exigent = " (or exigency)" if rule.exigent_suffices else ""
        return f"warrant{when}{exigent}{_SCOPE[rule.scope]}{_who(rule)}"
    if rule.kind is RuleKind.REQUIRES_CASE_NUMBER:
        return f"case number{_SCOPE[rule.scope]}{_who(rule)}"
    if rule.kind is RuleKind.REFUSES_PROSPECTIVE_WARRANT:
        return f"no prospective warrant{_who(rule)}"
    return ""


def _sources(rules: tuple[LawRule, ...]) -> list[tuple[Source, int]]:
    counts = Counter(r.source for r in rules)
    return [(s, counts[s]) for s in Source if counts[s]]


def _effective(rules: tuple[LawRule, ...]) -> str:
    dates = sorted(
        {r.in_force.describe() for r in rules if r.in_force.effective or r.in_force.sunset}
    )
    undated = any(r.in_force.effective is None for r in rules)
    parts = dates + (["in force when checked"] if undated and not dates else [])
    return "; ".join(parts) if parts else NONE


def _join(parts: Iterable[str]) -> str:
    texts = [p for p in parts if p]
    return "; ".join(texts) if texts else NONE
