"""The one canonical encoder: every byte string alprfed signs or hashes comes from ``encode``.

The encoding is the JSON Canonicalization Scheme (RFC 8785) restricted to a subset that has
exactly one spelling for every value, so an outsider can rebuild the bytes with any JCS library
or with ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``:

- objects with string keys, sorted by UTF-16 code units (for the ASCII keys we use, plain order);
- arrays; strings (UTF-8, JSON escapes only where JSON requires them); ``true``/``false``/``null``;
- integers only, with |n| <= 2**53 - 1 so every JSON reader holds them exactly. No floats:
  positions are microdegrees, confidences per mille, instants Unix seconds.

``decode`` is strict: it accepts only bytes that ``encode`` would have produced (it re-encodes
and compares), so a signature over canonical bytes has one meaning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from alprfed.errors import InvalidRequest

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

JSONValue = Any  # str | int | bool | None | list[JSONValue] | dict[str, JSONValue]


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
        CanonicalError: the value holds a float, a non-string key, an unsafe integer or a type
            outside the JSON subset.
    """
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def decode(data: bytes) -> JSONValue:
    """Parse canonical bytes, refusing anything ``encode`` would not have produced.

    Raises:
        CanonicalError: the bytes are not UTF-8 JSON, or not in canonical form.
    """
    try:
        value = json.loads(data.decode("utf-8"), parse_float=_refuse_float, parse_constant=_refuse)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CanonicalError(f"not canonical JSON: {exc}") from None
    if encode(value) != data:
        raise CanonicalError("bytes are JSON but not in canonical form")
    return value


def _refuse_float(text: str) -> float:
    raise CanonicalError(f"float {text} has no canonical form here")


def _refuse(text: str) -> float:
    raise CanonicalError(f"{text} is not JSON")
