"""Strict field access for signed payloads: a missing, extra or mistyped field is refused.

Every signed message type's ``from_canonical`` reads its verified payload through these, so a
payload has exactly one accepted shape (docs/PROTOCOL.md lists every field).
"""

from __future__ import annotations

from collections.abc import Mapping

from alprfed.canonical import JSONValue
from alprfed.errors import VerificationError


def fields(value: JSONValue, what: str, keys: set[str]) -> Mapping[str, JSONValue]:
    """``value`` as an object with exactly ``keys``. Raises: VerificationError."""
    if not isinstance(value, dict):
        raise VerificationError(f"{what} must be an object")
    if set(value) != keys:
        missing, extra = keys - set(value), set(value) - keys
        raise VerificationError(
            f"{what} fields differ: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return value


def text(obj: Mapping[str, JSONValue], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise VerificationError(f"{key} must be a string")
    return value


def optional_text(obj: Mapping[str, JSONValue], key: str) -> str | None:
    value = obj[key]
    if value is not None and not isinstance(value, str):
        raise VerificationError(f"{key} must be a string or null")
    return value


def integer(obj: Mapping[str, JSONValue], key: str) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise VerificationError(f"{key} must be an integer")
    return value


def flag(obj: Mapping[str, JSONValue], key: str) -> bool:
    value = obj[key]
    if not isinstance(value, bool):
        raise VerificationError(f"{key} must be a boolean")
    return value


def texts(obj: Mapping[str, JSONValue], key: str) -> list[str]:
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise VerificationError(f"{key} must be a list of strings")
    return value


def integers(obj: Mapping[str, JSONValue], key: str) -> list[int]:
    value = obj[key]
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise VerificationError(f"{key} must be a list of integers")
    return value
