"""Properties of every decision, over generated requests across all packs."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from alprfed.law import Binds, LawBook, LawRequest
from alprfed.models import AgencyKind, Purpose, TimeWindow

NOW = 1_764_000_000
DAY = 86_400
# Every state with a pack, and some without (they get the default pack).
STATES = ["CA", "IL", "VA", "WA", "MN", "UT", "MT", "NE", "AR", "NH", "ME", "VT", "TN", "NC"]
STATES += ["OR", "TX", "CO", "NY", "NM", "DC"]


@st.composite
def law_requests(draw: st.DrawFn) -> LawRequest:
    holder_state = draw(st.sampled_from(STATES))
    own_agency = draw(st.booleans())
    requester_state = holder_state if own_agency else draw(st.sampled_from(STATES))
    start_days_ago = draw(st.integers(min_value=0, max_value=800))
    span_days = draw(st.integers(min_value=0, max_value=start_days_ago))
    return LawRequest(
        holder_agency="holder-pd",
        holder_state=holder_state,
        requester_agency="holder-pd" if own_agency else "asking-agency",
        requester_state=requester_state,
        requester_kind=draw(st.sampled_from(AgencyKind)),
        purpose=draw(st.sampled_from(Purpose)),
        case_number=draw(st.sampled_from(["", " ", "2025-000123"])),
        window=TimeWindow(NOW - start_days_ago * DAY, NOW - (start_days_ago - span_days) * DAY),
        now=NOW,
        warrant=draw(st.booleans()),
        exigent=draw(st.booleans()),
        declarations_on_file=frozenset(draw(st.lists(st.sampled_from(STATES), max_size=3))),
    )


@given(law_requests())
def test_every_refusal_carries_a_citation(book: LawBook, law_request: LawRequest) -> None:
    decision = book.decide(law_request)
    assert decision.allowed is (not decision.reasons)
    for reason in decision.reasons:
        assert reason.citation.strip()
        assert reason.gate == "law"
        assert reason.source in {"statute", "secondary"}
        assert reason.rule_id in decision.rules_applied
        assert reason.state in {
            book.pack(law_request.holder_state).state,
            book.pack(law_request.requester_state).state,
        }


@given(law_requests())
def test_rules_applied_are_the_holder_and_requester_rules(
    book: LawBook, law_request: LawRequest
) -> None:
    holder = book.pack(law_request.holder_state)
    requester = book.pack(law_request.requester_state)
    # The law of the query's time: the rules in force then (docs/LAW.md, "Effective dates").
    now = law_request.now
    expected = tuple(r.id for r in holder.in_force_at(now) if r.binds is Binds.HOLDER) + tuple(
        r.id for r in requester.in_force_at(now) if r.binds is Binds.REQUESTER
    )
    decision = book.decide(law_request)
    assert decision.rules_applied == expected
    assert decision.rules_applied  # never an empty rule set: every pack has its retention rule


@given(law_requests())
def test_a_warrant_never_turns_an_allowed_request_into_a_refusal(
    book: LawBook, law_request: LawRequest
) -> None:
    without = book.decide(replace(law_request, warrant=False))
    with_warrant = book.decide(replace(law_request, warrant=True))
    refused_with = {r.rule_id for r in with_warrant.reasons}
    assert refused_with <= {r.rule_id for r in without.reasons}


@given(law_requests())
def test_decisions_are_deterministic(book: LawBook, law_request: LawRequest) -> None:
    assert book.decide(law_request) == book.decide(law_request)


@given(law_requests(), st.sampled_from(["warrant", "exigent"]))
def test_warrant_or_exigency_satisfies_minnesota_tracking_rule(
    book: LawBook, law_request: LawRequest, authority: str
) -> None:
    # Minn. Stat. 13.824: tracking needs a warrant or exigent circumstances, either one.
    minnesota = replace(law_request, holder_state="MN", **{authority: True})
    refused = {r.rule_id for r in book.decide(minnesota).reasons}
    assert "MN-13-824-tracking-warrant" not in refused
    without = replace(minnesota, warrant=False, exigent=False)
    assert "MN-13-824-tracking-warrant" in {r.rule_id for r in book.decide(without).reasons}
