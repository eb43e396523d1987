"""The law book: every loaded pack, and the decisions the gateway and the nodes ask of it.

``decide`` applies these rules to one request and refuses if any rule refuses:

- the rules of the **data holder's** state that bind the holder (what may leave a node holding
  that state's data: recipients, purposes, warrants ...), and
- the rules of the **requester's** state that bind the requester (what that state's agencies may
  ask anyone for: e.g. California's SB 54 forbids California agencies to help immigration
  enforcement, whoever holds the data), and
- the federation agreement's rules (``policies/federation.toml``, when present): commitments
  every member made beyond its own state's law, binding every holder and every requester.

A rule carries the dates it is law (``effective``, ``sunset``); a decision applies only the rules
in force at the query's time. A state without a pack (today: only the territories) is governed by
``default.toml``. Checks are compiled once when the book is
built; a decision is a few set look-ups, with no I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from alprfed.errors import ConfigError, InvalidRequest, Reason
from alprfed.law.checks import Check, compile_check
from alprfed.law.rules import (
    DEFAULT_PACK,
    GUARD_KINDS,
    LAW_GATE,
    Binds,
    LawPack,
    RuleKind,
    describe_seconds,
)
from alprfed.law.types import HolderGuard, LawDecision, LawRequest
from alprfed.models import US_STATES


@dataclass(frozen=True, slots=True)
class _CompiledPack:
    """A pack's checks for one stretch of time, in which the same rules are in force."""

    pack: LawPack
    holder_refusals: tuple[Check, ...]  # refusing rules that bind the holder
    holder_notices: tuple[Check, ...]  # retention and sensitive sites: notes, never refusals
    requester_refusals: tuple[Check, ...]
    holder_rule_ids: tuple[str, ...]  # in file order, as the ledger records them
    requester_rule_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Timeline:
    """A pack compiled once per stretch between its rules' effective and sunset instants.

    ``boundaries`` are the sorted instants at which the set of rules in force changes;
    ``stretches[i]`` holds the rules in force from ``boundaries[i - 1]`` (inclusive) to
    ``boundaries[i]``, so a decision finds the law of its time by bisection, with no date
    arithmetic per query. A pack without dates is one stretch.
    """

    pack: LawPack
    boundaries: tuple[int, ...]
    stretches: tuple[_CompiledPack, ...]

    def at(self, now: int) -> _CompiledPack:
        return self.stretches[bisect_right(self.boundaries, now)]


def _compile(pack: LawPack) -> _Timeline:
    checks = {r.id: compile_check(r) for r in pack.rules}
    instants = {t for r in pack.rules for t in (r.in_force.starts, r.in_force.ends)}
    boundaries = tuple(sorted(t for t in instants if t is not None))
    # One instant inside each stretch: just before the first boundary, then each boundary.
    samples = (boundaries[0] - 1, *boundaries) if boundaries else (0,)
    return _Timeline(pack, boundaries, tuple(_compile_at(pack, checks, t) for t in samples))


def _compile_at(pack: LawPack, checks: dict[str, Check], now: int) -> _CompiledPack:
    holder = [checks[r.id] for r in pack.binding(Binds.HOLDER) if r.applies_at(now)]
    requester = [checks[r.id] for r in pack.binding(Binds.REQUESTER) if r.applies_at(now)]
    return _CompiledPack(
        pack=pack,
        holder_refusals=tuple(c for c in holder if c.rule.kind not in GUARD_KINDS),
        holder_notices=tuple(c for c in holder if c.rule.kind in GUARD_KINDS),
        requester_refusals=tuple(requester),
        holder_rule_ids=tuple(c.rule.id for c in holder),
        requester_rule_ids=tuple(c.rule.id for c in requester),
    )


# Refuses when no rule was evaluated at all. Loaded packs always hold a retention rule, so this
# only fires for a book built in code without one: an empty rule set must deny, never allow.
_NO_RULES = Reason(
    gate=LAW_GATE,
    rule_id="law-no-rules",
    message="no state law rule could be evaluated for this request, so it is refused",
    citation="alprfed fail-closed default (docs/LAW.md)",
)


class LawBook:
    """Every state's law pack, compiled. Build it with ``alprfed.law.load_law_book``."""

    def __init__(
        self,
        packs: Mapping[str, LawPack],
        documents: Mapping[str, bytes],
        *,
        agreement: LawPack | None = None,
    ) -> None:
        """Raises: ConfigError when the default pack is missing or a rule cannot be compiled."""
        if DEFAULT_PACK not in packs:
            raise ConfigError(f"the law book needs a {DEFAULT_PACK!r} pack")
        self._compiled = {state: _compile(pack) for state, pack in packs.items()}
        self._agreement = _compile(agreement) if agreement is not None else None
        self._documents = dict(documents)

    @property
    def agreement(self) -> LawPack | None:
        """The federation agreement (policies/federation.toml), if the federation has one."""
        return self._agreement.pack if self._agreement is not None else None

    @property
    def states(self) -> tuple[str, ...]:
        """The states with a pack of their own, sorted (``default`` excluded)."""
        return tuple(sorted(s for s in self._compiled if s != DEFAULT_PACK))

    def packs(self) -> tuple[LawPack, ...]:
        """Every pack: the states in order, then the default pack."""
        return (*(self._compiled[s].pack for s in self.states), self.pack(DEFAULT_PACK))

    def pack(self, state: str) -> LawPack:
        """The pack governing ``state``; the default pack when the state has none.

        Raises:
            InvalidRequest: ``state`` is neither a US state or territory code nor "default"
                (a lower-case "ca" must not silently fall back to the default pack).
        """
        return self._compiled_for(state, "state").pack

    def decide(self, request: LawRequest) -> LawDecision:
        """Apply the holder state's holder rules and the requester state's requester rules.

        Only the rules in force at ``request.now`` (the query's time) apply, so the audit
        replay, deciding again at the logged time, applies the law that was in force then.
        Fail closed: any refusing rule refuses, and every refusing rule is listed in
        ``reasons``. ``rules_applied`` lists every rule evaluated, allowed or not.

        Raises:
            InvalidRequest: the holder or requester state is not a state code.
        """
        now = request.now
        holder = self._compiled_for(request.holder_state, "holder_state").at(now)
        requester = self._compiled_for(request.requester_state, "requester_state").at(now)
        applied = holder.holder_rule_ids + requester.requester_rule_ids
        reasons = [c.reason for c in holder.holder_refusals if c.refuses(request)]
        reasons += [c.reason for c in requester.requester_refusals if c.refuses(request)]
        if self._agreement is not None:  # binds every holder and every requester
            agreement = self._agreement.at(now)
            applied += agreement.holder_rule_ids + agreement.requester_rule_ids
            reasons += [c.reason for c in agreement.holder_refusals if c.refuses(request)]
            reasons += [c.reason for c in agreement.requester_refusals if c.refuses(request)]
        if not applied:
            reasons.append(_NO_RULES)
        if reasons:
            return LawDecision(allowed=False, reasons=tuple(reasons), rules_applied=applied)
        notes = tuple(n for c in holder.holder_notices if (n := c.notice(request)) is not None)
        return LawDecision(allowed=True, rules_applied=applied, notes=notes)

    def holder_guard(self, state: str, *, configured_retention: int | None) -> HolderGuard:
        """What a node enforces on its own data, whatever the gateway decided.

        The retention is the stricter of the statute's cap and the agency's configured one.
        The statute's cap applies whatever its effective and sunset dates: a node's guard is
        fixed when it starts, and keeping less than the law allows is never unlawful, so a cap
        in force on any day is kept on every day (stricter, never looser).

        Raises:
            ConfigError: ``state`` is not a state code or "default"; ``configured_retention``
                is not a positive number of seconds; or neither the statute nor the agency sets
                a retention (a node must always state how long it keeps sightings).
        """
        try:
            pack = self.pack(state)
        except InvalidRequest as exc:
            raise ConfigError(f"law pack for a node: {exc}") from None
        rule = pack.retention_rule
        if configured_retention is not None and (
            isinstance(configured_retention, bool)
            or not isinstance(configured_retention, int)
            or configured_retention <= 0
        ):
            raise ConfigError("retention_seconds must be a positive number of seconds")
        statute = rule.retention_seconds
        if statute is None and configured_retention is None:
            raise ConfigError(
                f"the {pack.state} law pack sets no retention cap ({rule.citation}): set "
                "retention_seconds in the node configuration; a node must state how long it "
                "keeps sightings"
            )
        if configured_retention is None or (
            statute is not None and statute <= configured_retention
        ):
            retention, retention_rule = statute, rule.reason()
        else:
            retention = configured_retention
            retention_rule = _agency_retention(pack, configured_retention)
        return HolderGuard(
            state=state,
            law_pack=pack.state,
            retention_seconds=retention,
            withheld_sites=pack.withheld_sites,
            retention_rule=retention_rule,
            sites_rule=next(
                (r.reason() for r in pack.rules if r.kind is RuleKind.WITHHOLD_SITES), None
            ),
        )

    def documents(self) -> dict[str, bytes]:
        """Every pack file as loaded: relative path (``states/IL.toml``) -> its exact bytes.

        The gateway hashes and publishes these in the audit ledger's policy bundle.
        """
        return dict(self._documents)

    def _compiled_for(self, state: str, field: str) -> _Timeline:
        compiled = self._compiled.get(state)
        if compiled is not None:
            return compiled
        if state not in US_STATES:
            raise InvalidRequest(
                f"{state!r} is not an upper-case US state or territory code", field=field
            )
        return self._compiled[DEFAULT_PACK]


def _agency_retention(pack: LawPack, configured: int) -> Reason:
    """Cites the agency's own retention policy where it is stricter than the statute (or the
    statute sets none)."""
    rule = pack.retention_rule
    statute = rule.retention_seconds
    law = (
        f"stricter than the {describe_seconds(statute)} {pack.state} law allows"
        if statute is not None
        else f"{pack.state} law sets no cap and leaves it to the agency's policy"
    )
    return Reason(
        gate=LAW_GATE,
        rule_id=f"{pack.state}-agency-retention",
        message=(
            f"this agency keeps sightings for {describe_seconds(configured)}, its own retention "
            f"policy ({law})"
        ),
        state=pack.state,
        citation=f"agency retention policy (node retention_seconds); {rule.citation}",
        source="policy",
    )
