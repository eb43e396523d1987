"""The closed vocabulary of law rules, and the loaded form of a rule and of a state's pack.

A law pack (``policies/states/XX.toml``) is a list of rules. Each rule has a *kind* from
``RuleKind``; the engine knows exactly these kinds and refuses to load any other (fail closed: a
rule it cannot apply must never be skipped silently). docs/LAW.md describes every kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from alprfed.errors import ConfigError, Reason
from alprfed.models import AgencyKind, Purpose, SensitiveSite

LAW_GATE = "law"  # the gate name every Reason from this package carries
DEFAULT_PACK = "default"  # governs states without an ALPR statute: policies/states/default.toml
# The federation's own agreement (policies/federation.toml): commitments every member makes
# beyond its state's law, binding every holder and every requester.
AGREEMENT_PACK = "federation"
SECONDS_PER_DAY = 86_400


class RuleKind(StrEnum):
    """What a rule does. Adding a kind means adding its check in alprfed.law.checks."""

    # Purposes
    FORBIDDEN_PURPOSES = "forbidden_purposes"  # refuse when the purpose is listed
    PERMITTED_PURPOSES = "permitted_purposes"  # refuse when the purpose is not listed
    # Recipients: who the data holder's data may go to (never limits the holder's own agency)
    NO_FEDERAL_RECIPIENT = "no_federal_recipient"
    NO_OUT_OF_STATE_RECIPIENT = "no_out_of_state_recipient"
    IN_STATE_ONLY = "in_state_only"  # only the holder state's own state and local agencies
    OUT_OF_STATE_NEEDS_DECLARATION = "out_of_state_needs_declaration"
    RECIPIENT_KINDS = "recipient_kinds"  # only agencies of the listed kinds
    # Outside agencies only from the listed states (never federal ones): e.g. Connecticut
    # shares only with Massachusetts, New York and Rhode Island.
    RECIPIENT_STATES = "recipient_states"
    # Requirements a query must meet
    REQUIRES_WARRANT = "requires_warrant"
    REQUIRES_CASE_NUMBER = "requires_case_number"
    # Refuse a query relying on a prospective (tracking) alprfed warrant: the state demands
    # its own tracking-warrant process for prospective location tracking.
    REFUSES_PROSPECTIVE_WARRANT = "refuses_prospective_warrant"
    # What the node enforces on its own data (never refuse a query; they shape the answer)
    RETENTION = "retention"
    WITHHOLD_SITES = "withhold_sites"


class Binds(StrEnum):
    """Whose conduct the rule governs."""

    HOLDER = "holder"  # the state whose data it is: what may leave a node holding it
    REQUESTER = "requester"  # the asking agency's state: what its agencies may ask anyone for


class Source(StrEnum):
    """How far a rule can be trusted (see docs/LAW.md, "Sources")."""

    STATUTE = "statute"  # checked against statute (or official agency) text in the research
    SECONDARY = "secondary"  # rests on news, advocacy or bill-tracker reporting
    # Named by a secondary table the research could not trace to a page (no URL to cite), or
    # not in the research at all: the rule is the strictest honest reading, for counsel to check.
    UNVERIFIED = "unverified"
    # The federation's own: default.toml, federation.toml, and the retention baseline of a
    # state pack whose state has no ALPR statute.
    POLICY = "policy"


class Scope(StrEnum):
    """Which queries a purpose or requirement rule looks at."""

    ALL = "all"
    OTHER_AGENCIES = "other_agencies"  # the requester is not the holder agency (sharing)
    OUTSIDE_AGENCIES = "outside_agencies"  # another state's agency, or a federal one


# Kinds that only make sense for the data holder: who receives data, what the node keeps.
HOLDER_ONLY_KINDS = frozenset(
    {
        RuleKind.NO_FEDERAL_RECIPIENT,
        RuleKind.NO_OUT_OF_STATE_RECIPIENT,
        RuleKind.IN_STATE_ONLY,
        RuleKind.OUT_OF_STATE_NEEDS_DECLARATION,
        RuleKind.RECIPIENT_KINDS,
        RuleKind.RECIPIENT_STATES,
        RuleKind.RETENTION,
        RuleKind.WITHHOLD_SITES,
    }
)
# Kinds that shape what a node returns instead of refusing a query.
GUARD_KINDS = frozenset({RuleKind.RETENTION, RuleKind.WITHHOLD_SITES})


def day_start(day: dt.date) -> int:
    """Unix seconds of 00:00 UTC on ``day``.

    A statute takes effect at local midnight, which in every US state comes after 00:00 UTC of
    that date: a rule taking effect at 00:00 UTC applies a few hours early, never late.
    """
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


@dataclass(frozen=True)
class InForce:
    """When a rule is law: from ``effective`` (None: in force when checked, the date it took
    effect not recorded, so every query is judged by it) until ``sunset`` (None: no sunset).

    ``sunset`` is the last day the rule is law; it stops at 00:00 UTC the day after, which is
    after local midnight nowhere in the US but Guam and the Northern Marianas: like the effective
    date, it errs towards applying the rule a few hours longer, never shorter.
    """

    effective: dt.date | None = None
    sunset: dt.date | None = None

    def __post_init__(self) -> None:
        if self.effective and self.sunset and self.sunset < self.effective:
            raise ConfigError("a rule's sunset cannot come before its effective date")

    @property
    def starts(self) -> int | None:
        return day_start(self.effective) if self.effective is not None else None

    @property
    def ends(self) -> int | None:
        return day_start(self.sunset + dt.timedelta(days=1)) if self.sunset else None

    def at(self, now: int) -> bool:
        """The rule is law at Unix second ``now``."""
        starts, ends = self.starts, self.ends
        return (starts is None or starts <= now) and (ends is None or now < ends)

    def describe(self) -> str:
        start = f"from {self.effective.isoformat()}" if self.effective else "in force when checked"
        return start + (f", until {self.sunset.isoformat()} (sunset)" if self.sunset else "")


ALWAYS = InForce()


@dataclass(frozen=True)
class PendingBill:
    """A bill a pack lists so officers and counsel know it is coming. Never enforced."""

    bill: str
    status: str
    summary: str
    source: Source
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class LawRule:
    """One rule of a pack, validated. Parameters a kind does not use keep their defaults."""

    id: str
    kind: RuleKind
    binds: Binds
    state: str  # the pack's state code, or "default"
    citation: str
    source: Source
    urls: tuple[str, ...]
    message: str
    note: str = ""
    scope: Scope = Scope.ALL
    purposes: frozenset[Purpose] = frozenset()
    agency_kinds: frozenset[AgencyKind] = frozenset()
    sites: frozenset[SensitiveSite] = frozenset()
    states: frozenset[str] = frozenset()  # recipient_states: the other states data may go to
    exigent_suffices: bool = False
    older_than_seconds: int | None = None  # requires_warrant: only for data older than this
    retention_seconds: int | None = None  # retention: None means the statute sets no cap
    in_force: InForce = ALWAYS

    def applies_at(self, now: int) -> bool:
        """The rule is part of the law applied to a query at Unix second ``now``.

        The retention rule applies whatever its dates, as in ``LawBook.holder_guard``: a node
        keeps the statute's cap on every day (keeping less than allowed is never unlawful), and
        a pack whose statute is not yet in force still has its one rule, so a decision there is
        not refused as an empty rule set.
        """
        return self.kind is RuleKind.RETENTION or self.in_force.at(now)

    def reason(self) -> Reason:
        """The Reason a refusal (or a note) by this rule carries."""
        return Reason(
            gate=LAW_GATE,
            rule_id=self.id,
            message=self.message,
            state=self.state,
            citation=self.citation,
            source=self.source.value,
        )


@dataclass(frozen=True)
class LawPack:
    """One state's law: its rules in file order, and what the holder guard needs at hand."""

    state: str
    title: str
    statute: str
    rules: tuple[LawRule, ...]
    notes: tuple[str, ...] = ()
    file_name: str = ""  # relative to the policies directory, e.g. "states/IL.toml"
    # False: the state has no ALPR statute (the pack says so, and which general law applies).
    alpr_statute: bool = True
    checked: dt.date | None = None  # when the pack was last checked against its sources
    general_law: tuple[str, ...] = ()  # what governs where no ALPR statute does
    pending: tuple[PendingBill, ...] = ()  # listed for information, never enforced
    withheld_sites: frozenset[SensitiveSite] = field(init=False)

    def __post_init__(self) -> None:
        retention = [r for r in self.rules if r.kind is RuleKind.RETENTION]
        # The federation agreement only refuses; every state pack states its retention once.
        # The loader reports this with the file name; this guards packs built in code.
        if len(retention) != (0 if self.state == AGREEMENT_PACK else 1):
            raise ConfigError(
                f"law pack {self.state!r} needs exactly one retention rule "
                "(the federation agreement none)"
            )
        sites = frozenset().union(
            *(r.sites for r in self.rules if r.kind is RuleKind.WITHHOLD_SITES)
        )
        object.__setattr__(self, "withheld_sites", sites)

    @property
    def retention_rule(self) -> LawRule:
        """A state pack's one retention rule. Raises ConfigError for the agreement."""
        for rule in self.rules:
            if rule.kind is RuleKind.RETENTION:
                return rule
        raise ConfigError(f"law pack {self.state!r} has no retention rule")

    @property
    def retention_seconds(self) -> int | None:
        """The statute's cap in seconds; None when the statute sets none."""
        return self.retention_rule.retention_seconds

    def binding(self, binds: Binds) -> tuple[LawRule, ...]:
        return tuple(r for r in self.rules if r.binds is binds)

    def in_force_at(self, now: int) -> tuple[LawRule, ...]:
        """The rules applied to a query at Unix second ``now``, in file order."""
        return tuple(r for r in self.rules if r.applies_at(now))


def describe_seconds(seconds: int) -> str:
    """``180 s`` or ``21 days``: how an officer reads a retention period."""
    if seconds % SECONDS_PER_DAY == 0:
        days = seconds // SECONDS_PER_DAY
        return f"{days} day" if days == 1 else f"{days} days"
    return f"{seconds} s"
