"""Ledger entries: their one canonical encoding, their decoding, plate commitments.

An entry is the canonical JSON (alprfed.canonical) of exactly these fields::

    {"body": {...}, "index": 7, "kind": "query_decision",
     "plate_commitments": ["<64 hex>", ...], "prev": "<64 hex>", "time": 1764000000, "v": 1}

``index`` is the entry's position in the log, ``prev`` the leaf hash of entry ``index - 1``
(32 zero bytes for entry 0), ``time`` the Unix second the log appended it, ``body`` the
gateway's canonical JSON object (never a plate in clear), and each plate commitment is
SHA-256(salt || plate) with a fresh 32-byte salt per entry and slot, hex. The leaf hash of an
entry is SHA-256(0x00 || those bytes). docs/LEDGER.md describes every field for outsiders.

What an entry may hold (kinds, limits, no plate keys) is in alprfed.ledger.entry_rules, shared
with the fast proof (alprfed.ledger.entry_fast) that ``entry_fault``, the ledger verifier's
per-entry check, takes before the exact path here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alprfed import canonical
from alprfed.errors import InvalidRequest, LedgerVerificationError
from alprfed.ledger.entry_fast import entry_fields

# Defined with the rules both decoders share; callers keep importing them from here.
from alprfed.ledger.entry_rules import MAX_ENTRY_BYTES as MAX_ENTRY_BYTES
from alprfed.ledger.entry_rules import MAX_PLATES_PER_ENTRY as MAX_PLATES_PER_ENTRY
from alprfed.ledger.entry_rules import EntryKind as EntryKind
from alprfed.ledger.entry_rules import may_hold_plate_keys, refuse_plate_keys
from alprfed.ledger.merkle import HASH_SIZE
from alprfed.models import UnixTime, normalize_plate

ENTRY_VERSION = 1
SALT_SIZE = 32  # bytes, fresh per (entry, slot)
GENESIS_PREV = bytes(HASH_SIZE)  # the "previous leaf hash" of entry 0
# Room for the envelope fields and 64 commitments, so a body that fits always makes an entry
# that fits and a batch never fails on one entry's size.
MAX_BODY_BYTES = MAX_ENTRY_BYTES - 8 * 1024
ENTRY_FIELDS = frozenset({"v", "index", "prev", "time", "kind", "body", "plate_commitments"})
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def parse_kind(kind: str) -> EntryKind:
    """Raises: InvalidRequest naming the accepted kinds."""
    try:
        return EntryKind(kind)
    except ValueError:
        accepted = ", ".join(k.value for k in EntryKind)
        raise InvalidRequest(
            f"{kind!r} is not a ledger entry kind; use one of: {accepted}", field="kind"
        ) from None


# A write done inside the append's transaction: (connection, entry index) -> None. Raising
# rolls the whole batch back.
Effect = Callable[[Any, int], None]


@dataclass(frozen=True)
class PendingEntry:
    """An entry to append. Validated at construction, so a bad one never joins a batch.

    ``plates`` are normalized (alprfed.models.normalize_plate); the ledger stores only salted
    commitments to them and keeps plate and salt in the deletable commitment_openings table.

    Raises:
        InvalidRequest: unknown kind, a body that is not a canonical JSON object or holds a
            ``plate``/``plates`` key, a malformed plate, or too many plates.
    """

    kind: str
    body: dict[str, Any]
    plates: tuple[str, ...] = ()
    # What the entry records, done in the transaction that appends it (given the connection
    # and the entry's index): the act and its record commit together or not at all, so a
    # crash can never leave one without the other.
    effect: Effect | None = field(default=None, compare=False, repr=False)
    # The body's canonical bytes as it was at construction: what the entry will hold.
    body_bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", parse_kind(self.kind).value)
        if not isinstance(self.body, Mapping):
            raise InvalidRequest("the entry body must be a JSON object", field="body")
        # Encoded inside a one-element array so that the nesting limit counts the level the
        # body will sit at inside the entry; the array's brackets are then cut off.
        encoded = canonical.encode([self.body])[1:-1]
        object.__setattr__(self, "body_bytes", encoded)
        if may_hold_plate_keys(encoded):
            refuse_plate_keys(self.body, "body")
        if len(encoded) > MAX_BODY_BYTES:
            raise InvalidRequest(f"the entry body exceeds {MAX_BODY_BYTES} bytes", field="body")
        if isinstance(self.plates, str):
            raise InvalidRequest(
                "plates must be a sequence of plates, not one string", field="plates"
            )
        if len(self.plates) > MAX_PLATES_PER_ENTRY:
            raise InvalidRequest(f"at most {MAX_PLATES_PER_ENTRY} plates per entry", field="plates")
        object.__setattr__(self, "plates", tuple(normalize_plate(p) for p in self.plates))


@dataclass(frozen=True)
class AppendedEntry:
    """An entry as committed: its index, leaf hash, canonical bytes, and the checkpoint (signed
    note text) of the batch that committed it."""

    index: int
    leaf_hash: bytes
    data: bytes
    checkpoint: str


def plate_commitment(salt: bytes, plate: str) -> str:
    """Hex SHA-256(salt || UTF-8 of the normalized plate)."""
    return hashlib.sha256(salt + plate.encode("utf-8")).hexdigest()


def encode_entry(
    *,
    index: int,
    prev: bytes,
    time: UnixTime,
    kind: str,
    body: Mapping[str, Any],
    commitments: list[str],
) -> bytes:
    """The canonical bytes of one entry (see the module docstring).

    Raises:
        InvalidRequest: the entry would exceed MAX_ENTRY_BYTES, or the body is not canonical.
    """
    data = canonical.encode(
        {
            "v": ENTRY_VERSION,
            "index": index,
            "prev": prev.hex(),
            "time": time,
            "kind": kind,
            "body": body,
            "plate_commitments": commitments,
        }
    )
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidRequest(f"the entry exceeds {MAX_ENTRY_BYTES} bytes", field="body")
    return data


def encode_pending(
    pending: PendingEntry, *, index: int, prev: bytes, time: UnixTime, commitments: list[str]
) -> bytes:
    """``encode_entry`` for a validated PendingEntry, without encoding its body again.

    A canonical object is ``{`` + its members in key order + ``}``, and ``body`` sorts before
    every other field, so the entry is ``{"body":`` + the body's canonical bytes + ``,`` + the
    canonical bytes of the other fields without their ``{``. Every piece comes from
    alprfed.canonical; tests check the result against ``encode_entry``.

    Raises:
        InvalidRequest: the entry would exceed MAX_ENTRY_BYTES.
    """
    rest = canonical.encode(
        {
            "v": ENTRY_VERSION,
            "index": index,
            "prev": prev.hex(),
            "time": time,
            "kind": pending.kind,
            "plate_commitments": commitments,
        }
    )
    data = b'{"body":' + pending.body_bytes + b"," + rest[1:]
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidRequest(f"the entry exceeds {MAX_ENTRY_BYTES} bytes", field="body")
    return data


@dataclass(frozen=True)
class LedgerEntryView:
    """A decoded entry, for reading. The bytes it came from are the authority."""

    index: int
    prev: bytes
    time: UnixTime
    kind: EntryKind
    body: dict[str, Any]
    commitments: tuple[str, ...]
    version: int = ENTRY_VERSION
    data: bytes = field(default=b"", repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """A readable form for tools (the canonical bytes are what is hashed, not this)."""
        return {
            "index": self.index,
            "time": self.time,
            "kind": self.kind.value,
            "prev": self.prev.hex(),
            "body": self.body,
            "plate_commitments": list(self.commitments),
        }


def decode_entry(data: bytes) -> LedgerEntryView:
    """Decode and check one entry's bytes (parse, check in Python, re-encode, compare).

    Not by entry_fast's proof, which ``ledger verify`` runs over millions of entries: a node
    decodes one entry per query, and there, timed call by call against this path in a running
    node, the proof was no faster (0 to 9 µs slower: msgspec's code is cold in a node where
    orjson's is warm; docs/PERFORMANCE.md, *The evidence check, cut again*).

    Raises:
        LedgerVerificationError: the bytes are not canonical JSON, or not an entry of this
            format (missing or extra fields, wrong types, unknown kind or version). ``index``
            is left for the caller, which knows the position.
    """
    index, prev, time, kind, body, commitments = _checked_fields(data)
    return LedgerEntryView(index, prev, time, kind, body, tuple(commitments), data=data)


def entry_fault(data: bytes, position: int, prev: bytes) -> str | None:
    """Why the bytes are not a valid entry at ``position`` following the leaf hash ``prev``,
    or None: the verifier's per-entry check, exactly ``exact_entry_fault``, proved fast
    wherever it can be."""
    if entry_fields(data) == (position, prev):
        return None
    return exact_entry_fault(data, position, prev)  # names the fault, as it always has


def exact_entry_fault(data: bytes, position: int, prev: bytes) -> str | None:
    """Why the bytes are not a valid entry at ``position`` following the leaf hash ``prev``,
    or None: decode_entry's checks by the exact path, without building a view."""
    try:
        index, entry_prev, *_ = _checked_fields(data)
    except LedgerVerificationError as exc:
        return str(exc)
    if index != position:
        return f"the entry at this position says it is entry {index}"
    if entry_prev != prev:
        return "its prev is not the leaf hash of the entry before it"
    return None


def _checked_fields(
    data: bytes,
) -> tuple[int, bytes, UnixTime, EntryKind, dict[str, Any], list[str]]:
    if len(data) > MAX_ENTRY_BYTES:
        raise LedgerVerificationError(f"entry exceeds {MAX_ENTRY_BYTES} bytes")
    try:
        value = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise LedgerVerificationError(f"entry bytes are not canonical JSON: {exc}") from None
    if not isinstance(value, dict) or set(value) != ENTRY_FIELDS:
        raise LedgerVerificationError(
            "entry must be an object with exactly the fields " + ", ".join(sorted(ENTRY_FIELDS))
        )
    if not _is_natural(value["v"]) or value["v"] != ENTRY_VERSION:
        raise LedgerVerificationError(f"entry version {value['v']!r} is not {ENTRY_VERSION}")
    index, time, kind, body = value["index"], value["time"], value["kind"], value["body"]
    if not _is_natural(index) or not _is_natural(time):
        raise LedgerVerificationError("entry index and time must be non-negative integers")
    prev = _hex_hash(value["prev"], "prev")
    commitments = value["plate_commitments"]
    if not isinstance(commitments, list) or len(commitments) > MAX_PLATES_PER_ENTRY:
        raise LedgerVerificationError(
            f"plate_commitments must be a list of at most {MAX_PLATES_PER_ENTRY} hashes"
        )
    for commitment in commitments:
        _hex_hash(commitment, "plate commitment")
    if not isinstance(body, dict):
        raise LedgerVerificationError("entry body must be an object")
    try:
        entry_kind = EntryKind(kind)
        if may_hold_plate_keys(data):
            refuse_plate_keys(body, "body")
    except (ValueError, InvalidRequest) as exc:
        raise LedgerVerificationError(f"entry is not acceptable: {exc}") from None
    return index, prev, time, entry_kind, body, commitments


def _is_natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hex_hash(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise LedgerVerificationError(f"{what} must be 64 lower-case hex digits")
    return bytes.fromhex(value)
