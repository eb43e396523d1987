"""``refuses_prospective_warrant``: a state that demands its own tracking-warrant process.

No shipped pack uses the kind (docs/LAW.md), so these tests load a pack written for them. A
prospective warrant is one whose window ends after it was issued; the gateway and the node pass
the cited warrant's signed flag as ``LawRequest.prospective``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from law_requests import make_request, policies_with

from alprfed.config import bundled_policies_dir
from alprfed.errors import ConfigError
from alprfed.law import LawBook, LawRequest, load_law_book
from alprfed.models import AgencyKind

RETENTION_RULE = """
[[rule]]
id = "IL-test-retention"
kind = "retention"
binds = "holder"
seconds = "none"
citation = "625 ILCS 5/2-130"
source = "statute"
urls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]
message = "Illinois sets no retention limit."
effective = 2024-01-01
"""

TRACKING_RULE = """
[[rule]]
id = "IL-test-tracking-process"
kind = "refuses_prospective_warrant"
binds = "{binds}"
citation = "Test statute 1-2-3"
source = "statute"
urls = ["https://example.org/test-statute"]
message = "This state requires its own tracking warrant; a prospective alprfed warrant does not do."
effective = "in-force"
"""
PACK_HEAD = (
    'state = "IL"\ntitle = "Illinois (test pack)"\nstatute = "625 ILCS 5/2-130"\n'
    "checked = 2026-12-02\n\n"
)


def book_with(tmp_path: Path, rule: str) -> LawBook:
    """The real default pack (governing every other state) and an Illinois pack under test."""
    return load_law_book(policies_with(tmp_path, "IL.toml", PACK_HEAD + RETENTION_RULE + rule))


def request(**changes: object) -> LawRequest:
    """The shared lawful request, in Illinois (the state of the pack under test)."""
    changes.setdefault("state", "IL")
    return make_request(**changes)


@pytest.fixture
def holder_book(tmp_path: Path) -> LawBook:
    return book_with(tmp_path, TRACKING_RULE.format(binds="holder"))


def refused(book: LawBook, **changes: object) -> list[str]:
    return [r.rule_id for r in book.decide(request(**changes)).reasons]


def test_a_prospective_warrant_is_refused_where_the_holders_law_demands_its_own(
    holder_book: LawBook,
) -> None:
    decision = holder_book.decide(request(prospective=True))
    assert not decision.allowed
    (reason,) = decision.reasons
    assert reason.rule_id == "IL-test-tracking-process"
    assert reason.state == "IL"
    assert reason.citation == "Test statute 1-2-3"
    assert "tracking warrant" in reason.message


def test_a_historical_warrant_passes(holder_book: LawBook) -> None:
    assert holder_book.decide(request(prospective=False)).allowed


def test_it_binds_only_the_state_it_belongs_to(holder_book: LawBook) -> None:
    # Texas (the default pack here) has no such rule: an Illinois agency's query of Texas data
    # under a prospective warrant is not refused by a holder rule of Illinois.
    assert refused(holder_book, holder_state="TX", requester_state="IL", prospective=True) == []


def test_a_prospective_flag_without_a_warrant_is_no_prospective_warrant(
    holder_book: LawBook,
) -> None:
    # Only the cited warrant's flag counts; exigent queries are other rules' business.
    assert refused(holder_book, state="IL", warrant=False, exigent=True, prospective=True) == []


def test_a_requester_rule_follows_the_states_agencies_everywhere(tmp_path: Path) -> None:
    book = book_with(tmp_path, TRACKING_RULE.format(binds="requester"))
    anywhere = dict(holder_state="TX", requester_state="IL", prospective=True)
    assert refused(book, **anywhere) == ["IL-test-tracking-process"]
    assert refused(book, **{**anywhere, "prospective": False}) == []
    assert refused(book, holder_state="IL", requester_state="TX", prospective=True) == []


def test_a_scope_limits_it_to_outside_agencies(tmp_path: Path) -> None:
    rule = TRACKING_RULE.format(binds="holder") + 'scope = "outside_agencies"\n'
    book = book_with(tmp_path, rule)
    assert refused(book, state="IL", prospective=True) == []  # an Illinois agency
    federal = dict(state="IL", requester_kind=AgencyKind.FEDERAL, prospective=True)
    assert refused(book, **federal) == ["IL-test-tracking-process"]


def test_the_kind_takes_no_other_parameter(tmp_path: Path) -> None:
    rule = TRACKING_RULE.format(binds="holder") + "exigent_suffices = true\n"
    with pytest.raises(ConfigError, match="unknown key 'exigent_suffices'"):
        book_with(tmp_path, rule)


def test_no_shipped_pack_uses_it_yet() -> None:
    # docs/LAW.md says so; a pack adopting it must bring a citation the research supports.
    book = load_law_book(bundled_policies_dir())
    kinds = {r.kind.value for pack in book.packs() for r in pack.rules}
    assert "refuses_prospective_warrant" not in kinds
