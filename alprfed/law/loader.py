"""Read and validate the law packs in ``<policies>/states/*.toml`` (the format is in docs/LAW.md).

Validation is strict and happens once, at start-up: every malformed pack is a ConfigError that
names the file, the rule and the key, because a rule the engine misreads or skips would let data
go where a statute forbids it. Unknown keys are errors too (a misspelt ``purpose`` for
``purposes`` must not turn a prohibition into nothing).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alprfed.errors import ConfigError
from alprfed.law import fields as f
from alprfed.law.book import LawBook
from alprfed.law.rules import (
    AGREEMENT_PACK,
    ALWAYS,
    DEFAULT_PACK,
    GUARD_KINDS,
    HOLDER_ONLY_KINDS,
    Binds,
    InForce,
    LawPack,
    LawRule,
    PendingBill,
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

_PACK_KEYS = {
    "state": True,
    "title": True,
    "statute": True,
    "notes": False,
    "alpr_statute": False,  # default true; false: the state has no ALPR statute
    "checked": False,  # required in state packs
    "general_law": False,  # required where alpr_statute = false
    "pending": False,
    "rule": True,
}
_PENDING_KEYS = {"bill": True, "status": True, "summary": True, "source": True, "urls": False}
_COMMON_RULE_KEYS = {
    "id": True,
    "kind": True,
    "binds": True,
    "citation": True,
    "source": True,
    "urls": True,
    "message": True,
    "note": False,
    "effective": False,  # required in state packs, except for a 'policy' rule
    "sunset": False,
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
    RuleKind.RECIPIENT_STATES: {"states": True},
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
# `effective = "in-force"`: the rule was law when the pack was checked, but the research does not
# record the date it took effect; every query, however old, is judged by it.
UNDATED = "in-force"


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
    f.check_keys(raw, _PACK_KEYS, where)
    state = f.text(raw, "state", where)
    if state != expected_state:
        raise ConfigError(
            f"{where}: 'state' is {state!r} but the file is named for {expected_state!r}"
        )
    is_state = state not in (DEFAULT_PACK, AGREEMENT_PACK)
    alpr_statute = f.flag(raw, "alpr_statute", where, default=True)
    general_law = f.texts(raw, "general_law", where)
    if is_state and "checked" not in raw:
        raise ConfigError(
            f"{where}: missing required key 'checked' (the date the pack was checked)"
        )
    if not alpr_statute and not general_law:
        raise ConfigError(
            f"{where}: 'general_law' must say what law applies where no ALPR statute does"
        )
    if not is_state and not alpr_statute:
        raise ConfigError(f"{where}: 'alpr_statute' belongs in a state pack")
    rule_tables = f.items(raw, "rule", where)
    if not rule_tables:
        raise ConfigError(f"{where}: 'rule' lists no rules")
    context = _PackContext(state=state, is_state=is_state, alpr_statute=alpr_statute)
    rules: list[LawRule] = []
    for number, table in enumerate(rule_tables, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: rule #{number} is not a table ([[rule]])")
        rules.append(_parse_rule(table, context, f"{where}: rule #{number}"))
    _check_pack_rules(rules, state, where)
    pending: list[PendingBill] = []
    for number, table in enumerate(f.items(raw, "pending", where), start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: pending #{number} is not a table ([[pending]])")
        pending.append(_parse_pending(table, f"{where}: pending #{number}"))
    return LawPack(
        state=state,
        title=f.text(raw, "title", where),
        statute=f.text(raw, "statute", where),
        rules=tuple(rules),
        notes=tuple(f.texts(raw, "notes", where)),
        file_name=file_name,
        alpr_statute=alpr_statute,
        checked=f.date(raw, "checked", where) if "checked" in raw else None,
        general_law=tuple(general_law),
        pending=tuple(pending),
    )


class _PackContext:
    """What a rule's validation needs to know of its pack."""

    def __init__(self, *, state: str, is_state: bool, alpr_statute: bool) -> None:
        self.state = state
        self.is_state = is_state
        # 'policy' rules: the federation's own files, and a state's baseline without a statute.
        self.policy_allowed = not is_state or not alpr_statute


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


def _parse_rule(table: Mapping[str, Any], pack: _PackContext, where: str) -> LawRule:
    state = pack.state
    rule_id = f.text(table, "id", where)
    where = f"{where} ({rule_id})"
    kind = f.enum(RuleKind, table, "kind", where)
    f.check_keys(table, {**_COMMON_RULE_KEYS, **_KIND_KEYS[kind]}, where)
    _check_rule_id(rule_id, state, where)
    binds = f.enum(Binds, table, "binds", where)
    if kind in HOLDER_ONLY_KINDS and binds is not Binds.HOLDER:
        raise ConfigError(f"{where}: 'binds': a {kind.value} rule can only bind the holder")
    source = f.enum(Source, table, "source", where)
    if source is Source.POLICY and not pack.policy_allowed:
        raise ConfigError(
            f"{where}: 'source': a statute's rules use 'statute', 'secondary' or 'unverified'; "
            f"'policy' is for {DEFAULT_PACK}.toml, {AGREEMENT_FILE} and packs with "
            "alpr_statute = false"
        )
    if source is not Source.POLICY and not pack.is_state:
        raise ConfigError(f"{where}: 'source': {pack.state} rules are the federation's: 'policy'")
    urls = f.texts(table, "urls", where)
    note = f.text(table, "note", where) if "note" in table else ""
    if source in (Source.STATUTE, Source.SECONDARY) and not urls:
        raise ConfigError(f"{where}: 'urls' must name at least one source")
    if source is Source.UNVERIFIED and not urls and not note:
        raise ConfigError(f"{where}: an 'unverified' rule without 'urls' needs a 'note' saying why")
    for url in urls:
        if not _URL.fullmatch(url):
            raise ConfigError(f"{where}: 'urls': {url!r} is not an http(s) URL")
    message = f.text(table, "message", where)
    if len(message) > MAX_MESSAGE_CHARS or "\n" in message:
        raise ConfigError(f"{where}: 'message' must be one line of at most {MAX_MESSAGE_CHARS}")
    return LawRule(
        id=rule_id,
        kind=kind,
        binds=binds,
        state=state,
        citation=f.text(table, "citation", where),
        source=source,
        urls=tuple(urls),
        message=message,
        note=note,
        scope=f.enum(Scope, table, "scope", where) if "scope" in table else Scope.ALL,
        purposes=f.enum_set(Purpose, table, "purposes", where),
        agency_kinds=f.enum_set(AgencyKind, table, "agency_kinds", where),
        sites=f.enum_set(SensitiveSite, table, "sites", where),
        states=_states(table, state, where) if "states" in table else frozenset(),
        exigent_suffices=f.flag(table, "exigent_suffices", where),
        older_than_seconds=f.positive_int(table, "older_than_seconds", where),
        retention_seconds=_retention(table, where) if kind is RuleKind.RETENTION else None,
        in_force=_in_force(
            table, required=pack.is_state and source is not Source.POLICY, where=where
        ),
    )


def _states(table: Mapping[str, Any], state: str, where: str) -> frozenset[str]:
    values = f.texts(table, "states", where)
    if not values or not all(v in US_STATES and v != state for v in values):
        raise ConfigError(
            f'{where}: \'states\' must list other states\' upper-case codes (e.g. ["MA", "NY"])'
        )
    return frozenset(values)


def _in_force(table: Mapping[str, Any], *, required: bool, where: str) -> InForce:
    """``effective`` (a date, or "in-force": the date is not recorded) and ``sunset``."""
    if "effective" not in table:
        if required:
            raise ConfigError(
                f"{where}: missing required key 'effective' (a date such as 2026-07-01, or "
                f'"{UNDATED}" when the research does not record when it took effect)'
            )
        effective = None
    elif table["effective"] == UNDATED:
        effective = None
    else:
        effective = f.date(table, "effective", where)
    sunset = f.date(table, "sunset", where) if "sunset" in table else None
    if effective is not None and sunset is not None and sunset < effective:
        raise ConfigError(f"{where}: 'sunset' {sunset} comes before 'effective' {effective}")
    if effective is None and sunset is None:
        return ALWAYS
    return InForce(effective=effective, sunset=sunset)


def _parse_pending(table: Mapping[str, Any], where: str) -> PendingBill:
    bill = f.text(table, "bill", where)
    where = f"{where} ({bill})"
    f.check_keys(table, _PENDING_KEYS, where)
    source = f.enum(Source, table, "source", where)
    urls = f.texts(table, "urls", where)
    for url in urls:
        if not _URL.fullmatch(url):
            raise ConfigError(f"{where}: 'urls': {url!r} is not an http(s) URL")
    return PendingBill(
        bill=bill,
        status=f.text(table, "status", where),
        summary=f.text(table, "summary", where),
        source=source,
        urls=tuple(urls),
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
