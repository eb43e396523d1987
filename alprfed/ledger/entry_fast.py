"""The fast proof that one entry's bytes are a valid, canonical entry.

``ledger verify`` must prove for every entry what ``decode_entry`` proves: the bytes are
exactly what the canonical encoder writes for the value they hold (alprfed.canonical), and the
value is an entry of this format (alprfed.ledger.entry). The exact path parses with orjson
and walks the value in Python to refuse floats, unsafe integers and deep nesting before
re-encoding; the walk alone was a third of verify's time (docs/PERFORMANCE.md, *Ledger
verify*).

Here the same refusals cost almost nothing:

- msgspec decodes the bytes into a struct of exactly the entry's seven fields, typed (``v`` = 1,
  naturals, 64 lower-case hex digits, a known kind, at most ``MAX_PLATES_PER_ENTRY``
  commitments, an object body), and its C decoder hands every float to ``_no_floats``, which
  refuses it;
- orjson's ``OPT_STRICT_INTEGER`` refuses integers beyond ``±MAX_SAFE_INTEGER`` while it
  re-encodes;
- the nesting depth is read off the bytes first (``_shallow``), so msgspec never recurses
  deeper than the format allows. (A msgspec type per depth level would say it too, but msgspec
  builds such a type in time exponential in the depth.)

Then the decoded value is re-encoded by the one canonical encoder's writer (orjson, sorted
keys) and compared with the bytes. Equality proves canonical form: the bytes *are* that
encoder's output for a value the types already admitted, so orjson reads them back as the
same value and ``canonical.decode`` would accept them too.

``proved_entry`` only ever accepts: on anything it cannot prove (an error from msgspec, a
difference after re-encoding, a character beyond U+FFFF whose key order needs the UTF-16
sort, a possible plate key, deeper nesting) it returns None and the caller
(alprfed.ledger.entry's ``entry_fault``) takes the exact path, which names the fault with the
same message as always. tests/unit/ledger/test_entry_fast.py holds the proof and what it
decodes to the exact path over random and mutated entries. (``decode_entry`` itself, one
entry per node query, stays on the exact path: see its docstring.)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import orjson

from alprfed.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, WRITER_OPTIONS, beyond_bmp
from alprfed.ledger.entry_rules import (
    MAX_ENTRY_BYTES,
    MAX_PLATES_PER_ENTRY,
    EntryKind,
    body_has_plate_keys,
    may_hold_plate_keys,
)

_NATURAL = Annotated[int, msgspec.Meta(ge=0, le=MAX_SAFE_INTEGER)]
# Exactly 64 lower-case hex digits. msgspec matches patterns with re.search, so the anchors are
# \A and \Z: "$" would also match before a final newline.
_HEX_HASH = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{64}\Z")]
_COMMITMENTS = Annotated[list[_HEX_HASH], msgspec.Meta(max_length=MAX_PLATES_PER_ENTRY)]


class ProvedEntry(msgspec.Struct, forbid_unknown_fields=True):
    """The seven fields, in canonical (sorted) order, all required, no others. The body holds
    only dicts, lists, str, int, bool and None (JSON's types; floats are refused)."""

    body: dict[str, Any]
    index: _NATURAL
    kind: EntryKind
    plate_commitments: _COMMITMENTS
    prev: _HEX_HASH
    time: _NATURAL
    v: Literal[1]


def _no_floats(text: str) -> Any:
    raise ValueError("floats have no canonical form")  # msgspec makes it a DecodeError


_DECODER = msgspec.json.Decoder(ProvedEntry, float_hook=_no_floats)
_SKELETON_DELETE = bytes(b for b in range(256) if b not in b'[]{}"')
_SKELETON_TABLE = bytes.maketrans(b"{}", b"[]")


def _shallow(data: bytes) -> bool:
    """True only if no container in ``data`` nests deeper than canonical._check allows; False
    where the exact path must decide. It holds for any bytes, JSON or not, so it runs before
    msgspec, whose decoder recurses once per level into ``body`` and would otherwise raise
    RecursionError (not a DecodeError) near a thousand levels.

    Fewer than MAX_DEPTH opening brackets cannot nest too deep. Otherwise, with no backslash
    (so every quote delimits a string), the brackets and quotes alone are kept and the empty
    strings dropped: a quote left means some string holds a bracket (the first such string's
    opening quote cannot pair); else what is left is the bracket structure, and each removal
    of every innermost ``[]`` peels one level."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return True
    if b"\\" in data:
        return False
    skeleton = data.translate(_SKELETON_TABLE, _SKELETON_DELETE).replace(b'""', b"")
    if b'"' in skeleton:
        return False
    for _ in range(MAX_DEPTH):
        skeleton = skeleton.replace(b"[]", b"")
        if not skeleton:
            return True
    return False


def proved_entry(data: bytes) -> ProvedEntry | None:
    """The entry ``data`` decoded, when it is provably a valid, canonical entry; None when the
    exact path (alprfed.ledger.entry) must decide."""
    if (
        len(data) > MAX_ENTRY_BYTES
        or not _shallow(data)
        or (not data.isascii() and beyond_bmp(data))
    ):
        return None
    try:
        entry = _DECODER.decode(data)
        again = orjson.dumps(msgspec.structs.asdict(entry), option=WRITER_OPTIONS)
    except (msgspec.DecodeError, orjson.JSONEncodeError, RecursionError):
        return None  # RecursionError: only on a stack already deep; _shallow bounds the rest
    if again != data:
        return None
    if may_hold_plate_keys(data) and body_has_plate_keys(entry.body):
        return None
    return entry


def entry_fields(data: bytes) -> tuple[int, bytes] | None:
    """``(index, prev)`` of the entry ``data`` when ``proved_entry`` proves it, else None."""
    entry = proved_entry(data)
    return None if entry is None else (entry.index, bytes.fromhex(entry.prev))
