"""Typed access to a parsed TOML table, each error naming the file, the rule and the key.

The law loader reads packs through these, so every malformed value is one ConfigError line an
editor of a pack can act on (``policies/states/IL.toml: rule #2 (IL-...): 'purposes' ...``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from alprfed.errors import ConfigError

E = TypeVar("E", bound=StrEnum)


def check_keys(table: Mapping[str, Any], allowed: Mapping[str, bool], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")
    for key, required in allowed.items():
        if required and key not in table:
            raise ConfigError(f"{where}: missing required key {key!r}")


def text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key!r} must be non-empty text")
    return value.strip()


def items(table: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {key!r} must be a list")
    return value


def texts(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = items(table, key, where)
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(f"{where}: {key!r} must be a list of non-empty texts")
    return [v.strip() for v in values]


def flag(table: Mapping[str, Any], key: str, where: str, *, default: bool = False) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be true or false")
    return value


def positive_int(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: {key!r} must be a positive number of seconds")
    return value


def date(table: Mapping[str, Any], key: str, where: str) -> dt.date:
    """A TOML local date (``checked = 2026-12-02``), not text and not a date-time."""
    value = table.get(key)
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ConfigError(f"{where}: {key!r} must be a TOML date such as 2026-07-01 (no quotes)")
    return value


def enum(kind: type[E], table: Mapping[str, Any], key: str, where: str) -> E:
    return member(kind, table.get(key), key, where)


def enum_set(kind: type[E], table: Mapping[str, Any], key: str, where: str) -> frozenset[E]:
    if key not in table:
        return frozenset()
    values = items(table, key, where)
    if not values:
        raise ConfigError(f"{where}: {key!r} must list at least one value")
    return frozenset(member(kind, v, key, where) for v in values)


def member(kind: type[E], value: object, key: str, where: str) -> E:
    if value is None:
        raise ConfigError(f"{where}: missing required key {key!r}")
    parse: Callable[[Any], E] = kind
    try:
        return parse(value)
    except ValueError:
        accepted = ", ".join(m.value for m in kind)
        raise ConfigError(f"{where}: {key!r}: {value!r} is not one of: {accepted}") from None
