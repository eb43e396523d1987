"""The canonical encoder against an independent RFC 8785 implementation (the rfc8785 package).

RFC 8785 sorts object keys by UTF-16 code units, which differs from Python's code-point order
(``sort_keys=True``) between characters above U+FFFF and those in U+E000..U+FFFF.
"""

from __future__ import annotations

import json

import orjson
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from alprfed import canonical
from alprfed.canonical import MAX_SAFE_INTEGER, CanonicalError, JSONValue

# Keys whose code-point and UTF-16 orders disagree: U+1F600 is the surrogate pair D83D DE00,
# which sorts before U+E000 and U+FFFD in UTF-16 but after them by code point.
ORDER_KEYS = ["\U0001f600", "\ufffd", "\ue000", "a", "", "\U00010000", "\uffff", "\ud7ff"]

HAND_PICKED: list[JSONValue] = [
    {key: index for index, key in enumerate(ORDER_KEYS)},
    {"\U0001f600": 1, "\ufffd": 2},
    {"outer": {"\ue000": [{"\U0001f600": None, "\ufffd": True}], "\U0001f600": {}}, "a": []},
    [{"\ufffd": 1, "\U0001f600": 2}, {"b": 1, "a": 2}],
    {"a\U0001f600": 1, "a\ufffd": 2, "a": 3, "ab": 4},
    {"": "", "z": "z"},
    'quote " backslash \\ slash / tab \t newline \n cr \r bs \b ff \f nul \x00 us \x1f del \x7f',
    {"\x00\x1f": "\u2028\u2029", '"': "\\"},
    "é ü ß 中文 \ufffd \U0001f600 \U0010ffff",
    [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER - 1, -MAX_SAFE_INTEGER + 1, 0, -1],
    {"n": 2**53 - 1, "m": -(2**53 - 1)},
    [True, False, None, [], {}, [[[]]]],
    {},
    [],
    0,
    "",
]


@pytest.mark.parametrize("value", HAND_PICKED)
def test_hand_picked_values_match_rfc8785(value: JSONValue) -> None:
    data = canonical.encode(value)
    assert data == rfc8785.dumps(value)
    assert canonical.decode(data) == value


def test_keys_sort_by_utf16_code_units() -> None:
    data = canonical.encode({"\ufffd": 1, "\U0001f600": 2, "\ue000": 3, "a": 4})
    assert data == '{"a":4,"\U0001f600":2,"\ue000":3,"\ufffd":1}'.encode()
    # Plain sort_keys would have put the emoji last: the difference this module exists for.
    assert data != json.dumps(
        {"\ufffd": 1, "\U0001f600": 2, "\ue000": 3, "a": 4},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def test_astral_characters_in_values_alone_keep_key_order() -> None:
    # The slower re-ordering path runs here (the output holds U+1F600); the order is unchanged.
    value: JSONValue = {"b": "\U0001f600", "a": ["\U0001f600"], "\ufffd": 1, "\ue000": 2}
    assert canonical.encode(value) == rfc8785.dumps(value)


def test_decode_refuses_code_point_order_where_utf16_order_differs() -> None:
    value = {"\ufffd": 1, "\U0001f600": 2}
    code_point_order = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert code_point_order == '{"\ufffd":1,"\U0001f600":2}'.encode()
    with pytest.raises(CanonicalError, match="not in canonical form"):
        canonical.decode(code_point_order)
    # ... nested too, and the UTF-16 order is accepted.
    with pytest.raises(CanonicalError, match="not in canonical form"):
        canonical.decode(b'{"x":[' + code_point_order + b"]}")
    assert canonical.decode(rfc8785.dumps(value)) == value


@pytest.mark.parametrize("text", ["\ud800", "a\udfff", "\udc00\ud800"])
def test_lone_surrogates_are_refused(text: str) -> None:
    with pytest.raises(CanonicalError, match="lone surrogate"):
        canonical.encode(text)
    with pytest.raises(CanonicalError, match="lone surrogate"):
        canonical.encode({text: 1})
    # json.loads turns an escaped lone surrogate into one; decode must refuse it, not crash.
    with pytest.raises(CanonicalError):
        canonical.decode(json.dumps(text).encode("ascii"))


# Characters from every region where the orders could disagree, plus the ordinary ones; never
# lone surrogates, which have no canonical form. Keys are mostly drawn from a few
# characters on both sides of the disagreement so that one object often holds both kinds.
_chars = st.one_of(
    st.characters(max_codepoint=0x7F),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF),
    st.characters(min_codepoint=0x10000),
    # st.characters() alone may draw a lone surrogate (category Cs): no canonical form.
    st.characters(exclude_categories=("Cs",)),
)
_texts = st.text(_chars, max_size=6)
_keys = st.text(
    st.sampled_from(["a", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]), max_size=3
)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.sampled_from([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER])
    | _texts,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_keys | _texts, children, max_size=5)
    ),
    max_leaves=25,
)


@given(_json_values)
def test_encode_matches_rfc8785(value: JSONValue) -> None:
    data = canonical.encode(value)
    assert data == rfc8785.dumps(value)
    assert canonical.decode(data) == value


def _stdlib_bytes(value: JSONValue) -> bytes:
    """What the encoder wrote before it used orjson: the reference its bytes must keep."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def test_every_code_point_is_written_as_the_standard_library_writes_it() -> None:
    """orjson writes the bytes (alprfed/canonical.py): its escaping must be json.dumps' for
    every character that is Unicode text, in a string and in a key."""
    different = [
        code
        for code in range(0x110000)
        if not 0xD800 <= code <= 0xDFFF
        and canonical.encode({chr(code): "x" + chr(code)})
        != _stdlib_bytes({chr(code): "x" + chr(code)})
    ]
    assert different == []


@given(_json_values)
def test_random_values_without_astral_keys_are_the_standard_librarys_bytes(
    value: JSONValue,
) -> None:
    try:
        data = canonical.encode(value)
    except CanonicalError:  # a lone surrogate: neither encoder has bytes for it
        with pytest.raises(UnicodeEncodeError):
            _stdlib_bytes(value)
        return
    if b"\xf0" not in data and not any(b in data for b in (b"\xf1", b"\xf2", b"\xf3", b"\xf4")):
        assert data == _stdlib_bytes(value)  # no astral character: code-point order is RFC 8785's
    assert data == rfc8785.dumps(value)


@given(_json_values)
def test_the_writer_options_are_what_encode_writes_without_astral_characters(
    value: JSONValue,
) -> None:
    """The fast proofs of canonical form (alprfed.ledger.entry_fast) re-encode with
    canonical.WRITER_OPTIONS: for every value without a character beyond U+FFFF (where encode
    re-orders keys by UTF-16) that must be encode's own output."""
    data = canonical.encode(value)
    if not canonical.beyond_bmp(data):
        assert orjson.dumps(value, option=canonical.WRITER_OPTIONS) == data


def test_a_mapping_orjson_cannot_write_is_a_named_error() -> None:
    from types import MappingProxyType

    with pytest.raises(CanonicalError, match="no canonical encoding"):
        canonical.encode({"a": MappingProxyType({"b": 1})})
