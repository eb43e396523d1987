"""The one canonical encoder: every byte string alprfed signs or hashes comes from ``encode``.

The encoding is the JSON Canonicalization Scheme (RFC 8785) restricted to a subset that has
exactly one spelling for every value, so an outsider can rebuild the bytes with any JCS library:

- objects with string keys, sorted by their UTF-16 code units (RFC 8785 §3.2.3), at every level;
- arrays; strings (UTF-8, JSON escapes only where JSON requires them); ``true``/``false``/``null``;
- integers only, with |n| <= 2**53 - 1 so every JSON reader holds them exactly. No floats:
  positions are microdegrees, confidences per mille, instants Unix seconds.

The bytes are written by orjson (``OPT_SORT_KEYS``), byte for byte what
``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes for the
values ``_check`` admits (both escape only ``"``, ``\\`` and U+0000..U+001F, with the same short
forms and lower-case ``\\u00xx``; tests/unit/core/test_canonical_rfc8785.py compares the two over
every code point and random values) in a tenth of the time: every ledger append and every
verified entry pays it. Either sorts keys by code point, which equals UTF-16 order only while
no key holds a character above U+FFFF (a surrogate pair in UTF-16, D800..DBFF first, sorting
*before* U+E000..U+FFFF); ``encode`` re-orders explicitly only when the output holds a
character above U+FFFF at all.

``decode`` is strict: it accepts only bytes that ``encode`` would have produced (it re-encodes
and compares), so a signature over canonical bytes has one meaning.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from alprfed.errors import InvalidRequest

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

JSONValue = Any  # str | int | bool | None | list[JSONValue] | dict[str, JSONValue]


# How ``encode`` has orjson write: keys sorted by code point, integers beyond
# +-(2**53 - 1) refused. The fast proofs of canonical form (alprfed.ledger.entry_fast)
# re-encode with exactly these options and compare with the bytes, which is sound only while
# ``encode`` itself writes this way (tests/unit/core/test_canonical_rfc8785.py holds the two
# equal): change the encoder here, and the fast proofs follow.
WRITER_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


class CanonicalError(InvalidRequest):
    """A value cannot be canonically encoded, or bytes are not canonical."""


def _check(value: object, depth: int = 0) -> None:
    # Everything signed or hashed passes here (node receipts, ledger entries, verification),
    # so the common case is made cheap: dicts and lists of plain str/int/bool/None leaves are
    # checked by exact type in one loop, without a call or an isinstance test per leaf.
    # Anything else (subclasses, other mappings and sequences, bad values) takes _check_other.
    if depth > MAX_DEPTH:
        raise CanonicalError("value nests too deeply")
    kind = type(value)
    if kind is dict:
        for key in value:  # type: ignore[attr-defined]
            if type(key) is not str and not isinstance(key, str):
                raise CanonicalError(f"object key {key!r} is not a string")
        items = value.values()  # type: ignore[attr-defined]
    elif kind is list or kind is tuple:
        items = value
    else:
        _check_other(value, depth)
        return
    if depth >= MAX_DEPTH and items:
        raise CanonicalError("value nests too deeply")
    for item in items:
        item_kind = type(item)
        if item_kind is str or item_kind is bool or item is None:
            continue
        if item_kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise CanonicalError(f"integer {item} is outside the exactly representable range")
            continue
        _check(item, depth + 1)


def _check_other(value: object, depth: int) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalError(f"integer {value} is outside the exactly representable range")
        return
    if isinstance(value, float):
        raise CanonicalError("floats have no canonical form here; use integers")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"object key {key!r} is not a string")
            _check(item, depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for item in value:
            _check(item, depth + 1)
        return
    raise CanonicalError(f"type {type(value).__name__} has no canonical encoding")


def encode(value: JSONValue) -> bytes:
    """Return the canonical bytes of ``value``.

    Raises:
        CanonicalError: the value holds a float, a non-string key, an unsafe integer, a string
            that is not valid Unicode (a lone surrogate) or a type outside the JSON subset.
    """
    _check(value)
    data = _dumps(value, WRITER_OPTIONS)
    # Code-point order (sort_keys) and UTF-16 order differ only between a character above
    # U+FFFF and one in U+E000..U+FFFF. With no character above U+FFFF anywhere in the output,
    # no key holds one and the fast result is right. ASCII output (the usual case) is settled
    # at once; otherwise by looking for the UTF-8 lead bytes of such characters.
    if not data.isascii() and beyond_bmp(data):
        data = _dumps(_utf16_ordered(value), 0)  # already in order: written as it iterates
    return data


def _dumps(value: JSONValue, option: int) -> bytes:
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError as exc:
        if "surrogates" in str(exc):
            # A lone surrogate (Python strs allow them, json.loads makes them from "\ud800")
            # is not Unicode text and has no UTF-8 form; RFC 8785 refuses it, so do we.
            raise CanonicalError("a string holds a lone surrogate, which is not Unicode") from None
        # _check admitted it, but orjson cannot write it: a Mapping or Sequence that is not a
        # dict, list or tuple (json.dumps refused those too).
        raise CanonicalError(f"a value has no canonical encoding: {exc}") from None


def beyond_bmp(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds a character above U+FFFF (where code-point key order and
    RFC 8785's UTF-16 order can differ)."""
    # In UTF-8 the bytes F0..F4 only ever lead a character above U+FFFF; five memchr scans
    # cost far less than a regex or max() over the text.
    return (
        b"\xf0" in data or b"\xf1" in data or b"\xf2" in data or b"\xf3" in data or b"\xf4" in data
    )


def _utf16_sort_key(item: tuple[str, JSONValue]) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the sequence of UTF-16 code units does. (encode
    # has refused lone surrogates before it gets here, so this cannot fail.)
    return item[0].encode("utf-16-be")


def _utf16_ordered(value: JSONValue) -> JSONValue:
    """A copy of ``value`` whose objects iterate in RFC 8785 key order (written without
    sort_keys). Only for values _check accepted and that hold no lone surrogate."""
    if isinstance(value, Mapping):
        return {
            key: _utf16_ordered(item) for key, item in sorted(value.items(), key=_utf16_sort_key)
        }
    if isinstance(value, (list, tuple)):
        return [_utf16_ordered(item) for item in value]
    return value


def decode(data: bytes) -> JSONValue:
    """Parse canonical bytes, refusing anything ``encode`` would not have produced.

    Raises:
        CanonicalError: the bytes are not UTF-8 JSON, or not in canonical form.
    """
    # orjson parses strict RFC 8259 (no NaN, no BOM, UTF-8 checked, integers within 64 bits);
    # whatever it accepts must still re-encode to exactly these bytes, which refuses floats,
    # duplicate keys, other key orders, escapes and spacing.
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CanonicalError(f"not canonical JSON: {exc}") from None
    if encode(value) != data:
        raise CanonicalError("bytes are JSON but not in canonical form")
    return value


def b64decode(text: str) -> bytes:
    """The bytes that ``text`` spells in standard base64 (RFC 4648 §4), accepted only in its
    one canonical spelling (what ``base64.b64encode`` writes: padded, no other characters,
    zero padding bits), so a value signed or hashed in its base64 form has one meaning.

    Every proof hash, entry and envelope field of a node's evidence passes here: binascii
    directly, without ``base64.b64decode``'s regex and wrappers (about a third of the time).

    Raises:
        CanonicalError: "not base64" or "not canonical base64" (callers name the field).
    """
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
        spelled = binascii.b2a_base64(raw, newline=False) == text.encode("ascii")
    except (binascii.Error, ValueError):  # ValueError: a character beyond ASCII
        raise CanonicalError("not base64") from None
    if not spelled:
        raise CanonicalError("not canonical base64")
    return raw
