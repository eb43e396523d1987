"""Every shipped law pack loads, says where each rule comes from, and is published verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from alprfed.config import bundled_policies_dir
from alprfed.errors import InvalidRequest
from alprfed.law import LawBook, RuleKind, Source
from alprfed.law.checks import COMPILED_KINDS
from alprfed.law.loader import parse_pack
from alprfed.models import US_STATES

STATES_DIR = bundled_policies_dir() / "states"
PACK_FILES = sorted(STATES_DIR.glob("*.toml"))
TERRITORIES = {"PR", "GU", "VI", "AS", "MP"}
# The 50 states and DC: each has a pack of its own, statute or none (issue 14).
JURISDICTIONS = sorted(US_STATES - TERRITORIES)


def test_every_state_and_dc_has_a_pack_of_its_own(book: LawBook) -> None:
    assert len(JURISDICTIONS) == 51
    assert set(book.states) == set(JURISDICTIONS)
    for state in JURISDICTIONS:
        assert book.pack(state).state == state  # never silently the default pack
    assert book.pack("default").state == "default"


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: p.name)
def test_pack_loads_and_cites_every_rule(path: Path) -> None:
    pack = parse_pack(path.read_bytes(), where=str(path), expected_state=path.stem)
    assert pack.state == path.stem
    assert pack.title
    assert pack.statute
    assert sum(rule.kind is RuleKind.RETENTION for rule in pack.rules) == 1
    if pack.state != "default":
        assert pack.checked is not None  # the date its sources were last checked
    if not pack.alpr_statute:
        assert pack.general_law  # says what applies instead, never just "nothing"
        assert pack.statute.startswith("none")
    for rule in pack.rules:
        assert rule.id.startswith(f"{pack.state}-")
        assert rule.citation
        assert rule.message
        assert rule.source in set(Source)
        if pack.state == "default":
            assert rule.source is Source.POLICY
        elif rule.source is Source.POLICY:
            assert not pack.alpr_statute  # a baseline only where no statute exists
        elif rule.source in {Source.STATUTE, Source.SECONDARY}:
            assert rule.urls
        else:  # unverified: a URL, or a note saying why there is none
            assert rule.urls or "UNVERIFIED" in rule.note
        assert all(url.startswith(("https://", "http://")) for url in rule.urls)
    for bill in pack.pending:
        assert bill.bill
        assert bill.status
        assert bill.summary


def test_rule_ids_are_unique_across_the_book(book: LawBook) -> None:
    ids = [rule.id for pack in book.packs() for rule in pack.rules]
    assert len(ids) == len(set(ids))


def test_every_rule_kind_has_a_check() -> None:
    assert set(RuleKind) == COMPILED_KINDS


def test_documents_are_the_pack_files_byte_for_byte(book: LawBook) -> None:
    documents = book.documents()
    assert set(documents) == {f"states/{p.name}" for p in PACK_FILES}
    for path in PACK_FILES:
        assert documents[f"states/{path.name}"] == path.read_bytes()
    documents.clear()  # a copy: callers cannot change what the book publishes
    assert book.documents()


def test_pack_records_its_file_name(book: LawBook) -> None:
    assert book.pack("IL").file_name == "states/IL.toml"


def test_state_without_a_pack_gets_the_default_pack(book: LawBook) -> None:
    assert book.pack("PR").state == "default"  # the territories: no research covers them
    assert book.pack("GU").state == "default"
    assert book.pack("IL").state == "IL"


@pytest.mark.parametrize("code", ["ca", "XX", "", "default "])
def test_a_malformed_state_code_never_falls_back_to_the_default_pack(
    book: LawBook, code: str
) -> None:
    # A lower-case "ca" silently getting the default pack would drop California's protections.
    with pytest.raises(InvalidRequest, match="state"):
        book.pack(code)


def test_statute_retention_caps(book: LawBook) -> None:
    day = 86_400
    expected = {
        "NH": 180,  # RSA 261:75-b: three minutes for records that match no hot list
        "VA": 21 * day,
        "WA": 21 * day,
        "ME": 21 * day,
        "OR": 30 * day,
        "MN": 60 * day,
        "MT": 90 * day,
        "TN": 90 * day,
        "NC": 90 * day,
        "AR": 150 * day,
        "NE": 180 * day,
        "UT": 273 * day,  # 9 months, the shortest nine calendar months
        "VT": 546 * day,  # 18 months, the shortest eighteen calendar months
        "CA": None,
        "IL": None,
        "default": None,
    }
    assert {state: book.pack(state).retention_seconds for state in expected} == expected
