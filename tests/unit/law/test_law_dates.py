"""Effective and sunset dates: a decision applies the law in force at the query's time.

Each date is tested on both sides, to the second: a rule is law from 00:00 UTC of its effective
date and until 00:00 UTC of the day after its sunset (docs/LAW.md, "Effective dates").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from law_requests import DAY, make_request, policies_with

from alprfed.errors import ConfigError
from alprfed.law import LawBook, LawRequest, load_law_book
from alprfed.models import AgencyKind, TimeWindow


def utc(*parts: int) -> int:
    return int(dt.datetime(*parts, tzinfo=dt.UTC).timestamp())  # type: ignore[misc]


def at(now: int, **changes: object) -> LawRequest:
    request = make_request(**changes)
    return replace(request, now=now, window=TimeWindow(now - DAY, now))


NM_IN_FORCE = utc(2026, 7, 1)  # SB 40, effective 1 Jul 2026


def test_new_mexico_sb40_applies_from_its_effective_date(book: LawBook) -> None:
    out_of_state = {"holder_state": "NM", "requester_state": "TX"}
    before = book.decide(at(NM_IN_FORCE - 1, **out_of_state))
    assert before.allowed  # 30 Jun 2026 23:59:59 UTC: not yet law
    assert before.rules_applied == ("NM-sb40-retention",)  # the retention rule, always
    after = book.decide(at(NM_IN_FORCE, **out_of_state))
    assert not after.allowed
    assert [r.rule_id for r in after.reasons] == ["NM-sb40-declaration"]
    assert "NM-sb40-protected-purposes" in after.rules_applied


# --- a pack written for the test: one rule with both dates --------------------------------------

HEAD = 'state = "IL"\ntitle = "Illinois (test pack)"\nstatute = "Test Act"\nchecked = 2026-12-02\n'
RETENTION = """
[[rule]]
id = "IL-test-retention"
kind = "retention"
binds = "holder"
seconds = "none"
citation = "Test Act 1"
source = "statute"
urls = ["https://example.org/test-act"]
message = "No cap."
effective = "in-force"
"""
DATED = """
[[rule]]
id = "IL-test-no-federal"
kind = "no_federal_recipient"
binds = "holder"
citation = "Test Act 2"
source = "statute"
urls = ["https://example.org/test-act"]
message = "No federal recipients while the act is in force."
effective = 2026-03-01
sunset = 2026-09-30
"""


@pytest.fixture
def dated_book(tmp_path: Path) -> LawBook:
    return load_law_book(policies_with(tmp_path, "IL.toml", HEAD + RETENTION + DATED))


@pytest.mark.parametrize(
    ("now", "refused"),
    [
        pytest.param(utc(2026, 2, 28, 23, 59, 59), False, id="last second before effective"),
        pytest.param(utc(2026, 3, 1), True, id="first second of the effective date"),
        pytest.param(utc(2026, 9, 30, 23, 59, 59), True, id="last second of the sunset date"),
        pytest.param(utc(2026, 10, 1), False, id="first second after the sunset date"),
    ],
)
def test_a_rule_applies_only_between_its_dates(
    dated_book: LawBook, now: int, refused: bool
) -> None:
    decision = dated_book.decide(at(now, state="IL", requester_kind=AgencyKind.FEDERAL))
    assert decision.allowed is not refused
    assert ("IL-test-no-federal" in decision.rules_applied) is refused
    if refused:
        assert [r.rule_id for r in decision.reasons] == ["IL-test-no-federal"]


def test_the_dates_are_shown_as_the_pack_says_them(dated_book: LawBook) -> None:
    (rule,) = [r for r in dated_book.pack("IL").rules if r.id == "IL-test-no-federal"]
    assert rule.in_force.describe() == "from 2026-03-01, until 2026-09-30 (sunset)"
    assert rule.in_force.effective == dt.date(2026, 3, 1)


def test_a_dated_retention_cap_still_guards_every_day(tmp_path: Path) -> None:
    # Keeping less than the law allows is never unlawful; a node's guard is fixed at start.
    capped = RETENTION.replace('seconds = "none"', "seconds = 864000").replace(
        'effective = "in-force"', "effective = 2030-01-01"
    )
    book = load_law_book(policies_with(tmp_path, "IL.toml", HEAD + capped))
    assert book.holder_guard("IL", configured_retention=None).retention_seconds == 864_000
    decision = book.decide(at(utc(2026, 1, 1), state="IL"))
    assert decision.allowed
    assert decision.rules_applied == ("IL-test-retention",)


# --- what the loader refuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "effective = 2026-03-01\n", "", "missing required key 'effective'", id="no_effective"
        ),
        pytest.param(
            "effective = 2026-03-01",
            'effective = "2026-03-01"',
            "'effective' must be a TOML date",
            id="quoted_date",
        ),
        pytest.param(
            "effective = 2026-03-01",
            "effective = 2026-03-01T00:00:00Z",
            "'effective' must be a TOML date",
            id="date_time_not_date",
        ),
        pytest.param(
            "sunset = 2026-09-30",
            "sunset = 2026-02-01",
            "'sunset' 2026-02-01 comes before 'effective' 2026-03-01",
            id="sunset_before_effective",
        ),
        pytest.param(
            'source = "statute"\nurls = ["https://example.org/test-act"]\nmessage = "No federal',
            'source = "unverified"\nurls = []\nmessage = "No federal',
            "an 'unverified' rule without 'urls' needs a 'note'",
            id="unverified_without_url_or_note",
        ),
        pytest.param(
            "checked = 2026-12-02\n", "", "missing required key 'checked'", id="no_checked_date"
        ),
        pytest.param(
            'statute = "Test Act"\n',
            'statute = "none"\nalpr_statute = false\n',
            "'general_law' must say what law applies",
            id="no_statute_without_general_law",
        ),
        pytest.param(
            'kind = "no_federal_recipient"',
            'kind = "recipient_states"\nstates = ["IL"]',
            "'states' must list other states",
            id="recipient_states_names_its_own_state",
        ),
    ],
)
def test_a_malformed_date_or_source_is_refused(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = HEAD + RETENTION + DATED
    assert old in text, "the change must apply"
    policies = policies_with(tmp_path, "IL.toml", text.replace(old, new, 1))
    with pytest.raises(ConfigError) as raised:
        load_law_book(policies)
    assert expected in str(raised.value)
    assert "IL.toml" in str(raised.value)


def test_a_pending_bill_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    pending = (
        '\n[[pending]]\nbill = "HB 1"\nstatus = "in committee"\nsummary = "A cap."\n'
        'source = "secondary"\nkind = "retention"\n'
    )
    policies = policies_with(tmp_path, "IL.toml", HEAD + RETENTION + pending)
    with pytest.raises(ConfigError, match=r"pending #1 \(HB 1\): unknown key 'kind'"):
        load_law_book(policies)
