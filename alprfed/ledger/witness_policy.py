"""Witness policies in the C2SP tlog-policy format (https://c2sp.org/tlog-policy).

::

    log <log vkey> [<url>]
    witness <name> <witness vkey> [<submission url>]
    group <name> all|any|<k> <member> ...
    quorum <name>|none

A checkpoint is valid under a policy when one of its logs signed it and the witnesses that
cosigned it satisfy the quorum: a witness satisfies itself, a group is satisfied when at least
k of its members are. Names are defined before use (so groups cannot be circular), each name
once; each name appears at most once in a group; exactly one quorum line. Lines may be indented
and ``#`` starts a comment line. Everything a policy admits is checked by ``check``: the log
signature, every cosignature of a known witness (a bad one refuses the checkpoint), the quorum
and, when asked, the freshness of the cosignatures that make it up.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from alprfed.errors import ConfigError, LedgerVerificationError
from alprfed.ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from alprfed.ledger.cosignature import CosignatureVerifier, verify_cosignatures
from alprfed.ledger.note import Note, NoteError, NoteVerifier, parse_note

MAX_POLICY_BYTES = 64 * 1024
MAX_LOGS = MAX_WITNESSES = MAX_GROUPS = 64  # the spec asks for at least 32 of each
NONE = "none"


class WitnessPolicyError(LedgerVerificationError):
    """A checkpoint does not satisfy a witness policy: unsigned, a bad cosignature, no quorum
    or stale cosignatures (the message says which)."""


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    verifier: CosignatureVerifier
    url: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint a policy admitted, with the witnesses that cosigned it (name -> time)."""

    checkpoint: Checkpoint
    note: str
    cosigners: Mapping[str, int]


@dataclass(frozen=True)
class WitnessPolicy:
    logs: tuple[NoteVerifier, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, Group] = field(default_factory=dict)
    quorum: str = NONE  # a witness or group name, or "none"

    # --- parsing --------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, where: str = "witness policy") -> WitnessPolicy:
        """Raises: ConfigError naming the line and what is wrong with it."""
        if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
            raise ConfigError(f"{where}: larger than {MAX_POLICY_BYTES} bytes")
        logs: list[NoteVerifier] = []
        witnesses: dict[str, PolicyWitness] = {}
        groups: dict[str, Group] = {}
        quorum: str | None = None
        keys_seen: set[bytes] = set()
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.strip(" \t")
            if not line or line.startswith("#"):
                continue
            here = f"{where}, line {number}"
            if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in line):
                raise ConfigError(f"{here}: control characters are not allowed")
            keyword, *args = line.replace("\t", " ").split()
            if keyword == "log":
                if len(args) not in (1, 2):
                    raise ConfigError(f"{here}: 'log <vkey> [<url>]'")
                verifier = _log_vkey(args[0], here)
                if verifier.public_key.raw in keys_seen:
                    raise ConfigError(f"{here}: this key is listed twice")
                keys_seen.add(verifier.public_key.raw)
                logs.append(verifier)
            elif keyword == "witness":
                if len(args) not in (2, 3):
                    raise ConfigError(f"{here}: 'witness <name> <vkey> [<url>]'")
                name = _new_name(args[0], witnesses, groups, here)
                witness = _witness_vkey(args[1], here)
                if witness.public_key.raw in keys_seen:
                    raise ConfigError(f"{here}: this key is listed twice")
                keys_seen.add(witness.public_key.raw)
                witnesses[name] = PolicyWitness(name, witness, args[2] if len(args) == 3 else "")
            elif keyword == "group":
                if len(args) < 3:
                    raise ConfigError(f"{here}: 'group <name> all|any|<k> <member>...'")
                name = _new_name(args[0], witnesses, groups, here)
                members = tuple(args[2:])
                for member in members:
                    if member == NONE or (member not in witnesses and member not in groups):
                        raise ConfigError(f"{here}: {member!r} is not defined above")
                if len(set(members)) != len(members):
                    raise ConfigError(f"{here}: a member may appear only once")
                groups[name] = Group(name, _threshold(args[1], len(members), here), members)
            elif keyword == "quorum":
                if len(args) != 1:
                    raise ConfigError(f"{here}: 'quorum <name>' or 'quorum none'")
                if quorum is not None:
                    raise ConfigError(f"{here}: a policy has exactly one quorum line")
                if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                    raise ConfigError(f"{here}: {args[0]!r} is not defined above")
                quorum = args[0]
            else:
                raise ConfigError(f"{here}: unknown line {keyword!r}")
        if quorum is None:
            raise ConfigError(f"{where}: no quorum line ('quorum <name>' or 'quorum none')")
        if len(logs) > MAX_LOGS or len(witnesses) > MAX_WITNESSES or len(groups) > MAX_GROUPS:
            raise ConfigError(f"{where}: at most {MAX_LOGS} logs, witnesses and groups each")
        return cls(tuple(logs), witnesses, groups, quorum)

    @classmethod
    def load(cls, path: Path) -> WitnessPolicy:
        """Raises: ConfigError (unreadable, or not a valid policy)."""
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read witness policy {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"witness policy {path} is not UTF-8") from None
        return cls.parse(text, where=str(path))

    @classmethod
    def unwitnessed(cls, logs: tuple[NoteVerifier, ...] = ()) -> WitnessPolicy:
        """The policy ``quorum none``: the log's signature alone."""
        return cls(logs, {}, {}, NONE)

    # --- evaluation -----------------------------------------------------------------------

    @property
    def requires_witnesses(self) -> bool:
        return self.quorum != NONE

    def quorum_met(self, cosigned_by: Collection[str]) -> bool:
        """Whether the witnesses named in ``cosigned_by`` satisfy the quorum."""
        if self.quorum == NONE:
            return True
        cosigned = cosigned_by if isinstance(cosigned_by, (set, frozenset)) else set(cosigned_by)
        return self._satisfied(self.quorum, cosigned)

    def _satisfied(self, name: str, cosigned: Collection[str]) -> bool:
        split = self._split_groups.get(name)
        if split is None:
            return name in cosigned
        threshold, witnesses, subgroups = split
        met = len(witnesses.intersection(cosigned))
        for subgroup in subgroups:
            if met >= threshold:
                break
            met += self._satisfied(subgroup, cosigned)
        return met >= threshold

    @cached_property
    def _split_groups(self) -> dict[str, tuple[int, frozenset[str], tuple[str, ...]]]:
        # Each group as (k, its witness members, its group members): a node asks "quorum
        # met?" after every cosignature it verifies, and counting a group's witnesses is then
        # one set intersection instead of a call per member.
        return {
            name: (
                group.threshold,
                frozenset(m for m in group.members if m not in self.groups),
                tuple(m for m in group.members if m in self.groups),
            )
            for name, group in self.groups.items()
        }

    @cached_property
    def _by_key(self) -> dict[tuple[str, bytes], PolicyWitness]:
        # A cosignature line names its key by (name, key ID): looked up on every checkpoint.
        return {(w.verifier.name, w.verifier.key_id): w for w in self.witnesses.values()}

    def describe_quorum(self) -> str:
        """The quorum in words, for errors: ``2 of (state-auditor, court, aclu)``."""
        if self.quorum == NONE:
            return "none (no witness needed)"
        return self._describe(self.quorum)

    def _describe(self, name: str) -> str:
        group = self.groups.get(name)
        if group is None:
            return name
        inner = ", ".join(self._describe(member) for member in group.members)
        return f"{group.threshold} of ({inner})"

    def witness_verifiers(self) -> list[CosignatureVerifier]:
        return [w.verifier for w in self.witnesses.values()]

    def check(
        self,
        note: str,
        *,
        logs: tuple[NoteVerifier, ...] = (),
        origin: str | None = None,
        now: int | None = None,
        max_age_s: int | None = None,
        max_skew_s: int = 60,
        verify_all: bool = True,
    ) -> WitnessedCheckpoint:
        """Admit ``note`` under this policy, or say why not.

        ``logs`` are further trusted log keys (besides the policy's own ``log`` lines);
        ``origin`` defaults to their common key name. With ``now`` and ``max_age_s`` only
        cosignatures made within ``max_age_s`` before now (and at most ``max_skew_s`` after)
        count towards the quorum: a fresh quorum says the log's head is this checkpoint now.

        ``verify_all=False`` stops verifying cosignatures once the quorum is met (a node on
        its hot path); a verifier checking the log for misbehaviour keeps the default.

        Raises:
            WitnessPolicyError: no trusted log key, a checkpoint not signed by one, a failing
                cosignature of a known witness, too few (fresh) cosigners for the quorum.
        """
        verifiers = (*self.logs, *logs)
        if not verifiers:
            raise WitnessPolicyError("the witness policy names no log key, and none was given")
        if origin is None:
            names = {v.name for v in verifiers}
            if len(names) != 1:
                raise WitnessPolicyError("the trusted log keys have different names")
            origin = next(iter(names))
        try:
            parsed = parse_note(note)  # once: the log's signature and the cosignatures share it
            checkpoint = open_checkpoint(parsed, verifiers, origin=origin)
            if verify_all:
                by_key = verify_cosignatures(parsed, self.witness_verifiers())
                cosigners = {
                    w.name: by_key[w.verifier]
                    for w in self.witnesses.values()
                    if w.verifier in by_key
                }
                counted = _fresh(cosigners, now, max_age_s, max_skew_s)
            else:
                cosigners, counted = self._enough_cosignatures(parsed, now, max_age_s, max_skew_s)
        except (CheckpointError, NoteError) as exc:
            raise WitnessPolicyError(exc.detail) from None
        if not self.quorum_met(counted):
            have = ", ".join(sorted(counted)) or "none"
            stale = sorted(set(cosigners) - counted)
            note_stale = f"; too old or in the future: {', '.join(stale)}" if stale else ""
            raise WitnessPolicyError(
                f"the checkpoint of size {checkpoint.size} lacks the witness quorum "
                f"{self.describe_quorum()}: cosigned by {have}{note_stale}"
            )
        return WitnessedCheckpoint(checkpoint, note, cosigners)

    def _enough_cosignatures(
        self, parsed: Note, now: int | None, max_age_s: int | None, max_skew_s: int
    ) -> tuple[dict[str, int], set[str]]:
        """Verify cosignatures in note order only until the (fresh) ones meet the quorum;
        returns the witnesses' names and cosignature times, and the names that count (what
        ``_fresh`` would say of them, known here already)."""
        by_key = self._by_key
        found: dict[str, int] = {}
        counted: set[str] = set()
        for line in parsed.signatures:
            witness = by_key.get((line.name, line.key_id))
            if witness is None or witness.name in found:
                continue
            timestamp = witness.verifier.verify(parsed.text, line.signature)
            found[witness.name] = timestamp
            if _counts(timestamp, now, max_age_s, max_skew_s):
                counted.add(witness.name)
            if self.quorum_met(counted):
                break
        return found, counted

    def to_text(self) -> str:
        """The policy in tlog-policy syntax (what ``parse`` reads back)."""
        lines = [f"log {log.to_vkey()}" for log in self.logs]
        lines += [
            f"witness {w.name} {w.verifier.to_vkey()}" + (f" {w.url}" if w.url else "")
            for w in self.witnesses.values()
        ]
        for group in self.groups.values():
            threshold = (
                "all"
                if group.threshold == len(group.members)
                else "any"
                if group.threshold == 1
                else str(group.threshold)
            )
            lines.append(f"group {group.name} {threshold} {' '.join(group.members)}")
        lines.append(f"quorum {self.quorum}")
        return "\n".join(lines) + "\n"


def _fresh(
    cosigners: Mapping[str, int], now: int | None, max_age_s: int | None, max_skew_s: int
) -> set[str]:
    """The cosigners that count towards the quorum: all of them, or with ``now`` and
    ``max_age_s`` those whose cosignature is at most that old (and at most ``max_skew_s`` in
    the future)."""
    return {
        name
        for name, timestamp in cosigners.items()
        if _counts(timestamp, now, max_age_s, max_skew_s)
    }


def _counts(timestamp: int, now: int | None, max_age_s: int | None, max_skew_s: int) -> bool:
    """Whether a cosignature made at ``timestamp`` counts towards the quorum (the one rule
    for both ``check`` paths)."""
    return now is None or max_age_s is None or now - max_age_s <= timestamp <= now + max_skew_s


def _log_vkey(text: str, here: str) -> NoteVerifier:
    try:
        return NoteVerifier.from_vkey(text)
    except NoteError as exc:
        raise ConfigError(f"{here}: {exc.detail}") from None


def _witness_vkey(text: str, here: str) -> CosignatureVerifier:
    try:
        return CosignatureVerifier.from_vkey(text)
    except NoteError as exc:
        raise ConfigError(f"{here}: {exc.detail}") from None


def _new_name(
    name: str, witnesses: Mapping[str, object], groups: Mapping[str, object], here: str
) -> str:
    if name == NONE:
        raise ConfigError(f"{here}: 'none' is reserved")
    if name in witnesses or name in groups:
        raise ConfigError(f"{here}: {name!r} is defined twice")
    return name


def _threshold(text: str, members: int, here: str) -> int:
    if text == "all":
        return members
    if text == "any":
        return 1
    if not text.isdigit() or text != str(int(text)) or not 1 <= int(text) <= members:
        raise ConfigError(f"{here}: the threshold must be all, any or 1..{members}")
    return int(text)
