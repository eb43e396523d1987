"""Entry encoding: the closed set of kinds, no plates in clear, strict canonical decoding."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alprfed import canonical
from alprfed.canonical import MAX_DEPTH
from alprfed.errors import InvalidPlate, InvalidRequest, LedgerVerificationError
from alprfed.ledger.entry import (
    GENESIS_PREV,
    MAX_PLATES_PER_ENTRY,
    EntryKind,
    PendingEntry,
    decode_entry,
    encode_entry,
    encode_pending,
    plate_commitment,
)


def _entry(**overrides: object) -> dict[str, object]:
    value: dict[str, object] = {
        "v": 1,
        "index": 3,
        "prev": "ab" * 32,
        "time": 1_764_000_000,
        "kind": "warrant_registered",
        "body": {"warrant_id": "w-1"},
        "plate_commitments": ["cd" * 32],
    }
    value.update(overrides)
    return value


def _bytes(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def test_an_outsider_rebuilds_the_entry_bytes_with_the_standard_library() -> None:
    data = encode_entry(
        index=3,
        prev=bytes.fromhex("ab" * 32),
        time=1_764_000_000,
        kind="warrant_registered",
        body={"warrant_id": "w-1"},
        commitments=["cd" * 32],
    )
    assert data == _bytes(_entry())
    view = decode_entry(data)
    assert (view.index, view.kind, view.body, view.commitments) == (
        3,
        EntryKind.WARRANT_REGISTERED,
        {"warrant_id": "w-1"},
        ("cd" * 32,),
    )
    assert view.prev == bytes.fromhex("ab" * 32)


def test_the_first_entry_chains_to_32_zero_bytes() -> None:
    assert bytes(32) == GENESIS_PREV


def test_the_commitment_is_sha256_of_salt_then_plate() -> None:
    salt = bytes(range(32))
    assert plate_commitment(salt, "7ABC123") == hashlib.sha256(salt + b"7ABC123").hexdigest()


def test_every_documented_kind_is_accepted_and_nothing_else() -> None:
    assert {k.value for k in EntryKind} == {
        "query_decision",
        "query_outcome",
        "query_rejected",
        "warrant_registered",
        "warrant_revoked",
        "policy_document",
        "policy_bundle",
        "exigent_approved",
        "exigent_reviewed",
        "retention_purge",
        "key_rotation",
        "commitment_opened",
    }
    with pytest.raises(InvalidRequest, match="not a ledger entry kind"):
        PendingEntry("query_deleted", {})


@pytest.mark.parametrize(
    "body",
    [
        {"plate": "7ABC123"},
        {"Plates": ["7ABC123"]},
        {"query": {"target": {"plate": "7ABC123"}}},
        {"hits": [{"agency": "sjpd", "PLATE": "7ABC123"}]},
    ],
    ids=["top_level", "plural_any_case", "nested", "inside_a_list"],
)
def test_a_body_holding_a_plate_key_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest, match="plates never enter the ledger in clear"):
        PendingEntry("query_decision", body)


def test_plates_are_normalized_and_bounded() -> None:
    assert PendingEntry("query_decision", {}, ("7abc-123", " 8 xyz ")).plates == ("7ABC123", "8XYZ")
    with pytest.raises(InvalidPlate):
        PendingEntry("query_decision", {}, ("7ABC?",))
    with pytest.raises(InvalidRequest, match="not one string"):
        PendingEntry("query_decision", {}, "7ABC123")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="at most"):
        PendingEntry("query_decision", {}, ("A1",) * (MAX_PLATES_PER_ENTRY + 1))


def test_a_body_that_is_not_canonical_json_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        PendingEntry("query_decision", {"score": 0.5})
    with pytest.raises(InvalidRequest):
        PendingEntry("query_decision", ["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("attack", "data"),
    [
        ("not_canonical_spacing", json.dumps(_entry(), sort_keys=True).encode()),
        ("unsorted_keys", json.dumps(_entry(), separators=(",", ":")).encode()),
        ("extra_field", _bytes(_entry(note="x"))),
        ("missing_field", _bytes({k: v for k, v in _entry().items() if k != "prev"})),
        ("boolean_version", _bytes(_entry(v=True))),
        ("future_version", _bytes(_entry(v=2))),
        ("unknown_kind", _bytes(_entry(kind="query_deleted"))),
        ("negative_index", _bytes(_entry(index=-1))),
        ("upper_case_prev", _bytes(_entry(prev="AB" * 32))),
        ("short_commitment", _bytes(_entry(plate_commitments=["cd" * 31]))),
        ("plate_in_clear", _bytes(_entry(body={"plate": "7ABC123"}))),
        ("body_not_an_object", _bytes(_entry(body=[1]))),
        ("not_json", b"\xff\xfe"),
    ],
)
def test_decoding_refuses_anything_but_a_canonical_entry(attack: str, data: bytes) -> None:
    with pytest.raises(LedgerVerificationError):
        decode_entry(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8).filter(lambda k: k.lower() not in {"plate", "plates"}),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@given(
    body=st.dictionaries(
        st.text(max_size=8).filter(lambda k: k.lower() not in {"plate", "plates"}),
        json_values,
        max_size=6,
    ),
    index=st.integers(0, 2**40),
    time=st.integers(0, 2**40),
    commitments=st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex), max_size=3),
)
def test_a_pending_entry_encodes_exactly_as_the_one_encoder(
    body: dict[str, object], index: int, time: int, commitments: list[str]
) -> None:
    """The store builds entry bytes around the body bytes validated at construction; they
    must be the bytes alprfed.canonical gives for the whole entry."""
    pending = PendingEntry("query_outcome", body)
    prev = hashlib.sha256(b"%d" % index).digest()
    spliced = encode_pending(pending, index=index, prev=prev, time=time, commitments=commitments)
    assert spliced == encode_entry(
        index=index, prev=prev, time=time, kind="query_outcome", body=body, commitments=commitments
    )
    assert decode_entry(spliced).body == body


def test_a_body_is_held_to_the_nesting_limit_it_will_have_inside_the_entry() -> None:
    deep: dict[str, object] = {}
    for _ in range(MAX_DEPTH - 1):  # as deep as a body can be on its own, not inside an entry
        deep = {"d": deep}
    canonical.encode(deep)  # fine alone
    with pytest.raises(InvalidRequest, match="nests too deeply"):
        PendingEntry("query_decision", {"d": deep})


def test_a_pending_entry_keeps_the_body_as_it_was_when_created() -> None:
    body: dict[str, object] = {"query_id": "q-1"}
    pending = PendingEntry("query_decision", body)
    body["query_id"] = "q-2"  # a caller changing its dict afterwards changes nothing logged
    entry = encode_pending(pending, index=0, prev=GENESIS_PREV, time=1, commitments=[])
    assert decode_entry(entry).body == {"query_id": "q-1"}
