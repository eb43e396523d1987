"""The fast entry proof (alprfed.ledger.entry_fast), which the verifier's ``entry_fault``
takes first, against the exact path (``decode_entry``, ``exact_entry_fault``).

The fast path may only ever accept what the exact path accepts: every test here tries to get
non-canonical or invalid bytes past it, and checks that whatever it accepts the exact path
(and the independent RFC 8785 implementation) accepts too, and that what it decoded is the
exact path's view part for part and type for type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alprfed.canonical import MAX_DEPTH, MAX_SAFE_INTEGER
from alprfed.errors import LedgerVerificationError
from alprfed.ledger.entry import (
    MAX_PLATES_PER_ENTRY,
    EntryKind,
    LedgerEntryView,
    decode_entry,
    encode_entry,
    entry_fault,
    exact_entry_fault,
)
from alprfed.ledger.entry_fast import entry_fields, proved_entry

PREV = hashlib.sha256(b"the entry before").digest()
COMMITMENT = hashlib.sha256(b"salt and plate").hexdigest()


def entry(body: dict[str, Any], *, index: int = 7, kind: str = "query_decision") -> bytes:
    return encode_entry(
        index=index, prev=PREV, time=1_764_000_000, kind=kind, body=body, commitments=[COMMITMENT]
    )


def raw_entry(**fields: Any) -> bytes:
    """An entry's fields written by hand (json text per field), keys in canonical order."""
    values = {
        "body": '{"a":1}',
        "index": "7",
        "kind": '"query_decision"',
        "plate_commitments": f'["{COMMITMENT}"]',
        "prev": f'"{PREV.hex()}"',
        "time": "1764000000",
        "v": "1",
    }
    values.update(fields)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in values.items()) + "}").encode()


def nested(depth: int) -> Any:
    """Containers nested ``depth`` levels below the body, the innermost empty."""
    value: Any = []
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value}
    return value


def typed(value: Any) -> Any:
    """``value`` with every part paired with its exact type: equal typed values are the same
    JSON, where == alone takes True for 1 and 1.0 for 1. (Keys are checked by plain_json.)"""
    if type(value) is dict:
        return dict, {key: typed(item) for key, item in value.items()}
    if type(value) is list:
        return list, [typed(item) for item in value]
    return type(value), value


def plain_json(value: Any) -> bool:
    """Whether ``value`` is made of dicts with str keys, lists, str, int, bool and None alone."""
    if type(value) is dict:
        return all(type(key) is str and plain_json(item) for key, item in value.items())
    if type(value) is list:
        return all(plain_json(item) for item in value)
    return type(value) in (str, int, bool, type(None))


def outcome(
    decode: Callable[[bytes], LedgerEntryView], data: bytes
) -> LedgerEntryView | LedgerVerificationError:
    try:
        return decode(data)
    except LedgerVerificationError as refused:
        return refused


def assert_decodes_alike(data: bytes) -> None:
    """What the fast proof decoded, where it proves the bytes, is what ``decode_entry`` (the
    exact path) reads from them, part for part and type for type."""
    proved = proved_entry(data)
    if proved is None:
        return
    view = outcome(decode_entry, data)
    assert isinstance(view, LedgerEntryView), (
        f"the fast proof took what the exact path refuses: {view}"
    )
    assert (proved.index, bytes.fromhex(proved.prev), proved.time) == (
        view.index,
        view.prev,
        view.time,
    )
    assert type(proved.kind) is EntryKind  # == alone would take the plain string
    assert proved.kind is view.kind
    assert typed(list(view.commitments)) == typed(proved.plate_commitments)
    assert typed(proved.body) == typed(view.body)
    assert plain_json(proved.body)


def assert_agrees(data: bytes, position: int = 7) -> None:
    """What the fast path accepts is a valid entry to the exact path (at the index and after
    the prev it names) and to RFC 8785; the verifier's verdict is the exact one, and so is
    ``decode_entry``'s."""
    fields = entry_fields(data)
    if fields is not None:
        exact = exact_entry_fault(data, *fields)
        assert exact is None, f"fast path accepted bytes the exact path refuses: {exact}"
        assert rfc8785.dumps(orjson.loads(data)) == data
    assert entry_fault(data, position, PREV) == exact_entry_fault(data, position, PREV)
    assert_decodes_alike(data)


def test_a_gateway_shaped_entry_is_proved_fast() -> None:
    body = {"query_id": "q-1", "decisions": [{"agency": "a", "allowed": True}], "n": None}
    data = entry(body)
    assert entry_fields(data) == (7, PREV)
    assert entry_fault(data, 7, PREV) is None
    assert_decodes_alike(data)


def test_wrong_position_and_broken_chain_are_named_as_before() -> None:
    data = entry({"a": 1})
    assert entry_fault(data, 8, PREV) == exact_entry_fault(data, 8, PREV)
    assert "says it is entry 7" in str(entry_fault(data, 8, PREV))
    other = hashlib.sha256(b"another").digest()
    assert entry_fault(data, 7, other) == "its prev is not the leaf hash of the entry before it"


SNEAKS = {
    "whitespace_after_colon": raw_entry(body='{"a": 1}'),
    "keys_out_of_order": raw_entry(body='{"b":1,"a":2}'),
    "duplicate_key": raw_entry(body='{"a":1,"a":1}'),
    "escaped_letter": raw_entry(body='{"a":"\\u0041"}'),
    "escaped_slash": raw_entry(body='{"a":"\\/"}'),
    "float_in_body": raw_entry(body='{"a":1.5}'),
    "float_with_exponent": raw_entry(body='{"a":1e5}'),
    "integral_float": raw_entry(body='{"a":[2.0]}'),
    "float_index": raw_entry(index="7.0"),
    "unsafe_integer": raw_entry(body=f'{{"a":{MAX_SAFE_INTEGER + 1}}}'),
    "unsafe_negative_integer": raw_entry(body=f'{{"a":{-MAX_SAFE_INTEGER - 1}}}'),
    "huge_integer": raw_entry(body=f'{{"a":{2**70}}}'),
    "negative_zero": raw_entry(body='{"a":-0}'),
    "leading_zero": raw_entry(time="01764000000"),
    "negative_index": raw_entry(index="-7"),
    "boolean_version": raw_entry(v="true"),
    "version_two": raw_entry(v="2"),
    "unknown_kind": raw_entry(kind='"query_decided"'),
    "upper_case_prev": raw_entry(prev=f'"{PREV.hex().upper()}"'),
    "prev_with_newline": raw_entry(prev=f'"{PREV.hex()[:-1]}\\n"'),
    "short_commitment": raw_entry(plate_commitments=f'["{COMMITMENT[:-2]}"]'),
    "body_is_a_list": raw_entry(body="[1]"),
    "lone_surrogate": raw_entry(body='{"a":"\\ud800"}'),
    "nan": raw_entry(body='{"a":NaN}'),
    "plate_key": raw_entry(body='{"x":{"Plate":"7ABC123"}}'),
    "plates_key": raw_entry(body='{"x":[{"PLATES":[]}]}'),
    "trailing_space": raw_entry() + b" ",
    "byte_order_mark": b"\xef\xbb\xbf" + raw_entry(),
    "invalid_utf8": raw_entry(body='{"a":"\xff"}'.replace("\xff", "X")).replace(b"X", b"\xff"),
    "too_deep": entry({}).replace(
        b'"body":{}', b'"body":' + orjson.dumps({"d": nested(MAX_DEPTH)})
    ),
}


@pytest.mark.parametrize("name", sorted(SNEAKS))
def test_non_canonical_or_invalid_bytes_do_not_pass_the_fast_path(name: str) -> None:
    data = SNEAKS[name]
    assert entry_fields(data) is None
    assert exact_entry_fault(data, 7, PREV) is not None
    with pytest.raises(LedgerVerificationError):
        decode_entry(data)
    assert_agrees(data)


def test_an_extra_or_missing_field_is_refused() -> None:
    extra = raw_entry(v='1,"w":1')
    missing = raw_entry().replace(b',"time":1764000000', b"")
    for data in (extra, missing):
        assert entry_fields(data) is None
        assert_agrees(data)


def test_nesting_at_and_beyond_the_limit_agrees_with_the_exact_path() -> None:
    # The body is at depth 1: the deepest allowed container (depth MAX_DEPTH) is empty.
    # The fast path proves up to MAX_DEPTH levels and leaves the last one to the exact path.
    deepest = entry({"d": nested(MAX_DEPTH - 1)})
    assert exact_entry_fault(deepest, 7, PREV) is None
    assert entry_fault(deepest, 7, PREV) is None
    assert decode_entry(deepest).body == {"d": nested(MAX_DEPTH - 1)}
    assert entry_fields(entry({"d": nested(MAX_DEPTH - 2)})) is not None
    wide = entry({"d": [[[]] for _ in range(MAX_DEPTH)]})  # many brackets, shallow
    assert entry_fields(wide) is not None
    brackets_in_strings = entry({"t": "[[[[" * 40, "d": [{} for _ in range(MAX_DEPTH)]})
    assert_agrees(brackets_in_strings)
    escaped = entry({"t": 'a "[" b \\ ]', "d": [{} for _ in range(MAX_DEPTH)]})
    assert_agrees(escaped)


@pytest.mark.parametrize("depth", [1_200, 5_000])
def test_an_entry_nested_past_any_decoders_recursion_is_refused_by_name(depth: int) -> None:
    """A gateway can log any leaf it likes; ``ledger verify`` reading one nested thousands
    deep gets the exact path's refusal, not a RecursionError (msgspec recurses per level)."""
    data = raw_entry(body='{"d":' + "[" * depth + "]" * depth + "}")
    assert proved_entry(data) is None  # left to the exact path, before msgspec recursed
    with pytest.raises(LedgerVerificationError) as refused:
        decode_entry(data)
    assert entry_fault(data, 7, PREV) == exact_entry_fault(data, 7, PREV) == str(refused.value)


def test_keys_beyond_the_bmp_take_the_exact_path() -> None:
    # U+1F600 sorts before U+FFFD in UTF-16 but after it by code point.
    data = entry({"\ufffd": 1, "\U0001f600": 2})
    assert entry_fields(data) is None
    assert exact_entry_fault(data, 7, PREV) is None
    assert entry_fault(data, 7, PREV) is None
    assert_decodes_alike(data)


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_random_bodies_get_the_exact_verdict(body: dict[str, Any]) -> None:
    data = entry(body)
    assert_agrees(data)
    if body and "plate" not in str(body).lower() and data.isascii():
        assert entry_fields(data) is not None  # the fast path is the common path


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
    st.integers(min_value=0),
    st.sampled_from([b" ", b"0", b".", b"e", b"-", b'"', b"\\", b"[", b"{", b"}", b",", b"1.0"]),
    st.booleans(),
)
def test_mutated_entries_never_pass_the_fast_path_alone(
    body: dict[str, Any], where: int, insert: bytes, replace: bool
) -> None:
    data = entry(body)
    at = where % len(data)
    mutated = data[:at] + insert + data[at + (1 if replace else 0) :]
    assert_agrees(mutated)


# The envelope's fields as JSON text, valid or not, for raw_entry.
NATURAL_TEXT = st.one_of(
    st.integers(min_value=-2, max_value=3).map(str),
    st.integers(min_value=MAX_SAFE_INTEGER - 2, max_value=MAX_SAFE_INTEGER + 2).map(str),
    st.sampled_from(["true", "null", '"7"', "7.0", "-0", "[7]"]),
)
HASH_TEXT = st.sampled_from([f'"{PREV.hex()}"', f'"{COMMITMENT}"', f'"{COMMITMENT.upper()}"', '""'])
ENVELOPE = {
    "index": NATURAL_TEXT,
    "time": NATURAL_TEXT,
    "v": st.sampled_from(["1", "0", "2", "true", "1.0", '"1"']),
    "kind": st.sampled_from([f'"{kind.value}"' for kind in EntryKind] + ['"Query_Decision"', "1"]),
    "prev": HASH_TEXT,
    "plate_commitments": st.one_of(
        st.lists(HASH_TEXT, max_size=MAX_PLATES_PER_ENTRY + 1).map(lambda h: f"[{','.join(h)}]"),
        st.sampled_from(["{}", "null", f'"{COMMITMENT}"']),
    ),
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=ENVELOPE))
def test_random_envelopes_decode_as_the_exact_path_decodes_them(fields: dict[str, str]) -> None:
    assert_agrees(raw_entry(**fields))
