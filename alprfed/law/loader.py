"""Read and validate the law packs in ``<policies>/states/*.toml`` (the format is in docs/LAW.md).

Validation is strict and happens once, at start-up: every malformed pack is a ConfigError that
names the file, the rule and the key, because a rule the engine misreads or skips would let data
go where a statute forbids it. Unknown keys are errors too (a misspelt ``purpose`` for
``purposes`` must not turn a prohibition into nothing).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from alprfed.errors import ConfigError
from alprfed.law.book import LawBook
from alprfed.law.rules import (
    AGREEMENT_PACK,
    DEFAULT_PACK,
    GUARD_KINDS,
    HOLDER_ONLY_KINDS,
    Binds,
    LawPack,
    LawRule,
    RuleKind,
    Scope,
    Source,
)
from alprfed.models import US_STATES, AgencyKind, Purpose, SensitiveSite

STATES_DIR = "states"
AGREEMENT_FILE = f"{AGREEMENT_PACK}.toml"  # optional, beside states/
MAX_MESSAGE_CHARS = 300  # one sentence an officer reads in a refusal
MAX_RULE_ID_CHARS = 80
_RULE_ID_TAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_URL = re.compile(r"https?://\S+")

_PACK_KEYS = {"state": True, "title": True, "statute": True, "notes": False, "rule": True}
_COMMON_RULE_KEYS = {
    "id": True,
    "kind": True,
    "binds": True,
    "citation": True,
    "source": True,
    "urls": True,
    "message": True,
    "note": False,
}
# The parameters each kind takes: key -> required.
_KIND_KEYS: dict[RuleKind, dict[str, bool]] = {
    RuleKind.FORBIDDEN_PURPOSES: {"purposes": True, "scope": False},
    RuleKind.PERMITTED_PURPOSES: {"purposes": True, "scope": False},
    RuleKind.NO_FEDERAL_RECIPIENT: {},
    RuleKind.NO_OUT_OF_STATE_RECIPIENT: {},
    RuleKind.IN_STATE_ONLY: {},
    RuleKind.OUT_OF_STATE_NEEDS_DECLARATION: {},
    RuleKind.RECIPIENT_KINDS: {"agency_kinds": True},
    RuleKind.REQUIRES_WARRANT: {
        "exigent_suffices": True,
        "scope": False,
        "older_than_seconds": False,
    },
    RuleKind.REQUIRES_CASE_NUMBER: {"scope": False},
    RuleKind.REFUSES_PROSPECTIVE_WARRANT: {"scope": False},
    RuleKind.RETENTION: {"seconds": True},
    RuleKind.WITHHOLD_SITES: {"sites": True},
}
NO_CAP = "none"  # `seconds = "none"`: the statute sets no retention cap

E = TypeVar("E", bound=StrEnum)


def load_law_book(policies_dir: Path) -> LawBook:
    """Load every pack in ``policies_dir/states``; ``default.toml`` must be among them.

    Raises:
        ConfigError: naming the file and key, for a missing directory or default pack,
            unreadable TOML, an unknown or missing key, an unknown rule kind, purpose, site or
            agency kind, a missing citation, source or URL, a pack whose ``state`` does not
            match its file name, a duplicate rule id, or not exactly one retention rule.
    """
    states_dir = policies_dir / STATES_DIR
    if not states_dir.is_dir():
        raise ConfigError(f"{states_dir}: no law pack directory")
    packs: dict[str, LawPack] = {}
    documents: dict[str, bytes] = {}
    for path in sorted(states_dir.glob("*.toml")):
        relative = f"{STATES_DIR}/{path.name}"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        # Parse the very bytes that documents() publishes, so the ledger hashes what was applied.
        packs[path.stem] = parse_pack(
            data, where=str(path), expected_state=path.stem, file_name=relative
        )
        documents[relative] = data
    if DEFAULT_PACK not in packs:
        raise ConfigError(
            f"{states_dir}: {DEFAULT_PACK}.toml is missing; it governs states without a pack"
        )
    agreement = None
    agreement_path = policies_dir / AGREEMENT_FILE
    if agreement_path.is_file():
        try:
            data = agreement_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {agreement_path}: {exc.strerror}") from None
        agreement = parse_pack(
            data, where=str(agreement_path), expected_state=AGREEMENT_PACK, file_name=AGREEMENT_FILE
        )
        documents[AGREEMENT_FILE] = data
    return LawBook(packs, documents, agreement=agreement)


def parse_pack(data: bytes, *, where: str, expected_state: str, file_name: str = "") -> LawPack:
    """Parse one pack's TOML bytes; ``where`` names it in errors, ``file_name`` is recorded.

    Raises:
        ConfigError: as for load_law_book.
    """
    if expected_state not in (DEFAULT_PACK, AGREEMENT_PACK) and expected_state not in US_STATES:
        raise ConfigError(
            f"{where}: a law pack's file name must be a two-letter state code in upper case "
            f"(e.g. IL.toml) or {DEFAULT_PACK}.toml"
        )
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    _check_keys(raw, _PACK_KEYS, where)
    state = _text(raw, "state", where)
    if state != expected_state:
        raise ConfigError(
            f"{where}: 'state' is {state!r} but the file is named for {expected_state!r}"
        )
    rule_tables = _list(raw, "rule", where)
    if not rule_tables:
        raise ConfigError(f"{where}: 'rule' lists no rules")
    rules: list[LawRule] = []
    for number, table in enumerate(rule_tables, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: rule #{number} is not a table ([[rule]])")
        rules.append(_parse_rule(table, state, f"{where}: rule #{number}"))
    _check_pack_rules(rules, state, where)
    return LawPack(
        state=state,
        title=_text(raw, "title", where),
        statute=_text(raw, "statute", where),
        rules=tuple(rules),
        notes=tuple(_texts(raw, "notes", where)),
        file_name=file_name,
    )


def _check_pack_rules(rules: list[LawRule], state: str, where: str) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(f"{where}: rule id {rule.id!r} appears twice")
        seen.add(rule.id)
    if state == AGREEMENT_PACK:
        # The agreement only refuses: retention and withheld sites are each node's state law.
        guards = [r.id for r in rules if r.kind in GUARD_KINDS]
        if guards:
            raise ConfigError(
                f"{where}: the federation agreement only refuses; rules "
                f"{', '.join(guards)} belong in a state pack"
            )
        return
    retention = [r.id for r in rules if r.kind is RuleKind.RETENTION]
    if len(retention) != 1:
        raise ConfigError(
            f"{where}: a pack needs exactly one rule of kind 'retention' (found "
            f'{len(retention)}); use seconds = "{NO_CAP}" when the statute sets no cap'
        )


def _parse_rule(table: Mapping[str, Any], state: str, where: str) -> LawRule:
    rule_id = _text(table, "id", where)
    where = f"{where} ({rule_id})"
    kind = _enum(RuleKind, table, "kind", where)
    _check_keys(table, {**_COMMON_RULE_KEYS, **_KIND_KEYS[kind]}, where)
    _check_rule_id(rule_id, state, where)
    binds = _enum(Binds, table, "binds", where)
    if kind in HOLDER_ONLY_KINDS and binds is not Binds.HOLDER:
        raise ConfigError(f"{where}: 'binds': a {kind.value} rule can only bind the holder")
    source = _enum(Source, table, "source", where)
    if (source is Source.POLICY) != (state in (DEFAULT_PACK, AGREEMENT_PACK)):
        raise ConfigError(
            f"{where}: 'source': state packs use 'statute' or 'secondary'; only "
            f"{DEFAULT_PACK}.toml (no statute) and {AGREEMENT_FILE} use 'policy'"
        )
    urls = _texts(table, "urls", where)
    if source is not Source.POLICY and not urls:
        raise ConfigError(f"{where}: 'urls' must name at least one source")
    for url in urls:
        if not _URL.fullmatch(url):
            raise ConfigError(f"{where}: 'urls': {url!r} is not an http(s) URL")
    message = _text(table, "message", where)
    if len(message) > MAX_MESSAGE_CHARS or "\n" in message:
        raise ConfigError(f"{where}: 'message' must be one line of at most {MAX_MESSAGE_CHARS}")
    return LawRule(
        id=rule_id,
        kind=kind,
        binds=binds,
        state=state,
        citation=_text(table, "citation", where),
        source=source,
        urls=tuple(urls),
        message=message,
        note=_text(table, "note", where) if "note" in table else "",
        scope=_enum(Scope, table, "scope", where) if "scope" in table else Scope.ALL,
        purposes=_enum_set(Purpose, table, "purposes", where),
        agency_kinds=_enum_set(AgencyKind, table, "agency_kinds", where),
        sites=_enum_set(SensitiveSite, table, "sites", where),
        exigent_suffices=_bool(table, "exigent_suffices", where),
        older_than_seconds=_positive_int(table, "older_than_seconds", where),
        retention_seconds=_retention(table, where) if kind is RuleKind.RETENTION else None,
    )


def _check_rule_id(rule_id: str, state: str, where: str) -> None:
    prefix = f"{state}-"
    tail = rule_id[len(prefix) :] if rule_id.startswith(prefix) else ""
    if len(rule_id) > MAX_RULE_ID_CHARS or not _RULE_ID_TAIL.fullmatch(tail):
        raise ConfigError(
            f"{where}: 'id' must be {prefix} followed by letters, digits, '.' and '-' "
            f"(at most {MAX_RULE_ID_CHARS} characters), e.g. {prefix}2-130-b-immigration"
        )


def _retention(table: Mapping[str, Any], where: str) -> int | None:
    value = table["seconds"]
    if value == NO_CAP:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(
            f"{where}: 'seconds' must be a positive number of seconds or \"{NO_CAP}\""
        )
    return value


# --- typed access with errors naming the key ---------------------------------------------------


def _check_keys(table: Mapping[str, Any], allowed: Mapping[str, bool], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")
    for key, required in allowed.items():
        if required and key not in table:
            raise ConfigError(f"{where}: missing required key {key!r}")


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key!r} must be non-empty text")
    return value.strip()


def _list(table: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {key!r} must be a list")
    return value


def _texts(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = _list(table, key, where)
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(f"{where}: {key!r} must be a list of non-empty texts")
    return [v.strip() for v in values]


def _bool(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be true or false")
    return value


def _positive_int(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: {key!r} must be a positive number of seconds")
    return value


def _enum(enum: type[E], table: Mapping[str, Any], key: str, where: str) -> E:
    return _member(enum, table.get(key), key, where)


def _enum_set(enum: type[E], table: Mapping[str, Any], key: str, where: str) -> frozenset[E]:
    if key not in table:
        return frozenset()
    values = _list(table, key, where)
    if not values:
        raise ConfigError(f"{where}: {key!r} must list at least one value")
    return frozenset(_member(enum, v, key, where) for v in values)


def _member(enum: type[E], value: object, key: str, where: str) -> E:
    if value is None:
        raise ConfigError(f"{where}: missing required key {key!r}")
    parse: Callable[[Any], E] = enum
    try:
        return parse(value)
    except ValueError:
        accepted = ", ".join(m.value for m in enum)
        raise ConfigError(f"{where}: {key!r}: {value!r} is not one of: {accepted}") from None
