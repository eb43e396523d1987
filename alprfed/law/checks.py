"""One small, pure check per rule kind, each carrying the rule and citation it enforces.

``compile_check(rule)`` turns a loaded rule into a ``Check``: a predicate that says whether the
rule refuses a ``LawRequest``, and, for the kinds that shape a node's answer instead of refusing
(retention, sensitive sites), a notice for the decision's notes. Parameters are turned into
frozensets once, here, so a decision is a handful of set look-ups (it runs per agency per query).

Who counts as what, for every recipient and scope test:

- the holder's own agency asking about its own data is never "sharing": recipient rules and the
  ``other_agencies``/``outside_agencies`` scopes leave it alone;
- an *outside* agency is one of another state, or a federal agency wherever it sits (a federal
  field office in Illinois is not an Illinois agency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alprfed.errors import ConfigError, Reason
from alprfed.law.rules import LawRule, RuleKind, Scope, describe_seconds
from alprfed.law.types import LawRequest
from alprfed.models import AgencyKind

Predicate = Callable[[LawRequest], bool]
Notice = Callable[[LawRequest], Reason | None]


def _never(request: LawRequest) -> bool:
    return False


def _no_notice(request: LawRequest) -> Reason | None:
    return None


@dataclass(frozen=True, slots=True)
class Check:
    """A compiled rule: ``refuses(request)`` is True when the rule refuses the request."""

    rule: LawRule
    reason: Reason
    refuses: Predicate = _never
    notice: Notice = _no_notice


# --- who is asking -----------------------------------------------------------------------------


def is_other_agency(request: LawRequest) -> bool:
    """The data would leave the agency that holds it."""
    return request.requester_agency != request.holder_agency


def is_outside_agency(request: LawRequest) -> bool:
    """Another agency that is not one of the holder state's own (other state, or federal)."""
    return is_other_agency(request) and (
        request.requester_state != request.holder_state
        or request.requester_kind is AgencyKind.FEDERAL
    )


def _always(request: LawRequest) -> bool:
    return True


SCOPE_TESTS: dict[Scope, Predicate] = {
    Scope.ALL: _always,
    Scope.OTHER_AGENCIES: is_other_agency,
    Scope.OUTSIDE_AGENCIES: is_outside_agency,
}


# --- one factory per kind ----------------------------------------------------------------------


def _forbidden_purposes(rule: LawRule) -> Predicate:
    forbidden, in_scope = rule.purposes, SCOPE_TESTS[rule.scope]
    return lambda request: request.purpose in forbidden and in_scope(request)


def _permitted_purposes(rule: LawRule) -> Predicate:
    permitted, in_scope = rule.purposes, SCOPE_TESTS[rule.scope]
    return lambda request: request.purpose not in permitted and in_scope(request)


def _no_federal_recipient(rule: LawRule) -> Predicate:
    return lambda request: request.requester_kind is AgencyKind.FEDERAL and is_other_agency(request)


def _no_out_of_state_recipient(rule: LawRule) -> Predicate:
    return lambda request: (
        request.requester_state != request.holder_state and is_other_agency(request)
    )


def _in_state_only(rule: LawRule) -> Predicate:
    return is_outside_agency


def _out_of_state_needs_declaration(rule: LawRule) -> Predicate:
    # The declaration is one the requester filed with *this* law's state (625 ILCS 5/2-130(c)).
    state = rule.state
    return lambda request: is_outside_agency(request) and state not in request.declarations_on_file


def _recipient_kinds(rule: LawRule) -> Predicate:
    kinds = rule.agency_kinds
    return lambda request: request.requester_kind not in kinds and is_other_agency(request)


def _recipient_states(rule: LawRule) -> Predicate:
    # A federal agency is no state's agency, wherever it sits: it is never in the list.
    states = rule.states
    return lambda request: (
        is_outside_agency(request)
        and (request.requester_kind is AgencyKind.FEDERAL or request.requester_state not in states)
    )


def _requires_warrant(rule: LawRule) -> Predicate:
    in_scope, exigent_suffices = SCOPE_TESTS[rule.scope], rule.exigent_suffices
    older_than = rule.older_than_seconds

    def refuses(request: LawRequest) -> bool:
        if request.warrant or (exigent_suffices and request.exigent):
            return False
        reaches_old_data = older_than is None or request.window.start < request.now - older_than
        return reaches_old_data and in_scope(request)

    return refuses


def _requires_case_number(rule: LawRule) -> Predicate:
    in_scope = SCOPE_TESTS[rule.scope]
    return lambda request: not request.case_number.strip() and in_scope(request)


def _refuses_prospective_warrant(rule: LawRule) -> Predicate:
    # Only the warrant's own signed flag counts: a historical warrant, an exigent query or no
    # authority at all is some other rule's business.
    in_scope = SCOPE_TESTS[rule.scope]
    return lambda request: request.warrant and request.prospective and in_scope(request)


def _retention_notice(rule: LawRule) -> Notice:
    cap = rule.retention_seconds
    if cap is None:
        return _no_notice
    reason = rule.reason()
    clipped = Reason(
        gate=reason.gate,
        rule_id=reason.rule_id,
        state=reason.state,
        citation=reason.citation,
        source=reason.source,
        message=(
            f"{reason.message} The window reaches further back than the {describe_seconds(cap)} "
            "this law allows the holder to keep, so older sightings cannot be returned."
        ),
    )
    return lambda request: clipped if request.window.start < request.now - cap else None


def _sites_notice(rule: LawRule) -> Notice:
    reason = rule.reason()
    return lambda request: reason


_REFUSALS: dict[RuleKind, Callable[[LawRule], Predicate]] = {
    RuleKind.FORBIDDEN_PURPOSES: _forbidden_purposes,
    RuleKind.PERMITTED_PURPOSES: _permitted_purposes,
    RuleKind.NO_FEDERAL_RECIPIENT: _no_federal_recipient,
    RuleKind.NO_OUT_OF_STATE_RECIPIENT: _no_out_of_state_recipient,
    RuleKind.IN_STATE_ONLY: _in_state_only,
    RuleKind.OUT_OF_STATE_NEEDS_DECLARATION: _out_of_state_needs_declaration,
    RuleKind.RECIPIENT_KINDS: _recipient_kinds,
    RuleKind.RECIPIENT_STATES: _recipient_states,
    RuleKind.REQUIRES_WARRANT: _requires_warrant,
    RuleKind.REQUIRES_CASE_NUMBER: _requires_case_number,
    RuleKind.REFUSES_PROSPECTIVE_WARRANT: _refuses_prospective_warrant,
}
_NOTICES: dict[RuleKind, Callable[[LawRule], Notice]] = {
    RuleKind.RETENTION: _retention_notice,
    RuleKind.WITHHOLD_SITES: _sites_notice,
}
COMPILED_KINDS = frozenset(_REFUSALS) | frozenset(_NOTICES)


def compile_check(rule: LawRule) -> Check:
    """Return the check enforcing ``rule``.

    Raises:
        ConfigError: the engine has no check for the rule's kind (fail closed: never skip it).
    """
    if rule.kind in _REFUSALS:
        return Check(rule=rule, reason=rule.reason(), refuses=_REFUSALS[rule.kind](rule))
    if rule.kind in _NOTICES:
        return Check(rule=rule, reason=rule.reason(), notice=_NOTICES[rule.kind](rule))
    raise ConfigError(f"rule {rule.id}: the law engine has no check for kind {rule.kind!r}")
