"""What a node enforces on its own data: the stricter retention, and withheld sensitive sites."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alprfed.config import bundled_policies_dir
from alprfed.errors import ConfigError
from alprfed.law import LawBook
from alprfed.models import SensitiveSite

DAY = 86_400
# Every state with a pack, and Puerto Rico, which has none (the default pack).
PACK_STATES = sorted(p.stem for p in (bundled_policies_dir() / "states").glob("[A-Z][A-Z].toml"))
PACK_STATES.append("PR")


def test_new_hampshire_keeps_sightings_180_seconds(book: LawBook) -> None:
    guard = book.holder_guard("NH", configured_retention=None)
    assert guard.retention_seconds == 180
    assert guard.law_pack == "NH"
    assert guard.retention_rule is not None
    assert guard.retention_rule.rule_id == "NH-261-75-b-retention"
    assert guard.retention_rule.citation == "RSA 261:75-b"


def test_statute_wins_when_stricter_than_the_agency(book: LawBook) -> None:
    guard = book.holder_guard("NH", configured_retention=30 * DAY)
    assert guard.retention_seconds == 180
    assert guard.retention_rule is not None
    assert guard.retention_rule.rule_id == "NH-261-75-b-retention"


def test_agency_wins_when_stricter_than_the_statute(book: LawBook) -> None:
    guard = book.holder_guard("VA", configured_retention=7 * DAY)
    assert guard.retention_seconds == 7 * DAY
    assert guard.retention_rule is not None
    assert guard.retention_rule.rule_id == "VA-agency-retention"
    assert guard.retention_rule.source == "policy"
    assert "Va. Code 2.2-5517" in guard.retention_rule.citation
    assert "21 days" in guard.retention_rule.message


def test_equal_periods_cite_the_statute(book: LawBook) -> None:
    guard = book.holder_guard("VA", configured_retention=21 * DAY)
    assert guard.retention_rule is not None
    assert guard.retention_rule.rule_id == "VA-2-2-5517-retention"


def test_no_cap_in_statute_takes_the_agency_policy(book: LawBook) -> None:
    guard = book.holder_guard("CA", configured_retention=30 * DAY)
    assert guard.retention_seconds == 30 * DAY
    assert guard.retention_rule is not None
    assert guard.retention_rule.rule_id == "CA-agency-retention"
    assert "1798.90.51" in guard.retention_rule.citation


@pytest.mark.parametrize("state", ["CA", "IL", "TX", "PR"])
def test_a_node_must_state_a_retention_where_the_statute_sets_none(
    book: LawBook, state: str
) -> None:
    with pytest.raises(ConfigError, match="retention_seconds"):
        book.holder_guard(state, configured_retention=None)


@pytest.mark.parametrize("configured", [0, -1, True])
def test_configured_retention_must_be_positive_seconds(book: LawBook, configured: int) -> None:
    with pytest.raises(ConfigError, match="positive"):
        book.holder_guard("VA", configured_retention=configured)


def test_a_state_without_a_pack_is_guarded_by_the_default_pack(book: LawBook) -> None:
    guard = book.holder_guard("PR", configured_retention=14 * DAY)
    assert (guard.state, guard.law_pack, guard.retention_seconds) == ("PR", "default", 14 * DAY)
    assert guard.withheld_sites == frozenset()


def test_a_malformed_state_is_a_config_error(book: LawBook) -> None:
    with pytest.raises(ConfigError, match="'ca'"):
        book.holder_guard("ca", configured_retention=DAY)


def test_washington_withholds_sensitive_sites(book: LawBook) -> None:
    guard = book.holder_guard("WA", configured_retention=None)
    assert guard.withheld_sites == {
        SensitiveSite.SCHOOL,
        SensitiveSite.HEALTH_CARE,
        SensitiveSite.REPRODUCTIVE_HEALTH_CARE,
        SensitiveSite.PLACE_OF_WORSHIP,
        SensitiveSite.IMMIGRATION_SERVICES,
    }
    assert book.holder_guard("CA", configured_retention=DAY).withheld_sites == frozenset()


@given(
    state=st.sampled_from(PACK_STATES),
    configured=st.none() | st.integers(min_value=1, max_value=10 * 365 * DAY),
)
def test_retention_is_always_the_stricter_of_statute_and_agency(
    book: LawBook, state: str, configured: int | None
) -> None:
    statute = book.pack(state).retention_seconds
    candidates = [p for p in (statute, configured) if p is not None]
    if not candidates:
        with pytest.raises(ConfigError):
            book.holder_guard(state, configured_retention=configured)
        return
    guard = book.holder_guard(state, configured_retention=configured)
    assert guard.retention_seconds == min(candidates)
    assert guard.retention_rule is not None
    assert guard.retention_rule.citation
