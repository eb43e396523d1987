"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and their vkeys.

A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(4-byte key ID || signature)>``. The text is split from the signatures at
the LAST blank line, so a text may itself hold blank lines.

Verification follows the spec's rules: signatures from unknown keys are ignored (even when
they share the name or the ID, but not both, with a known key); a known key's signature must
verify or the whole note is refused; at least one known key must have signed. Parsing,
signature checking and the meaning of the text (alprfed.ledger.checkpoint) are separate steps.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from alprfed import canonical
from alprfed.errors import ConfigError, LedgerVerificationError, VerificationError
from alprfed.signing import SigningKey, VerifyingKey

SIGNATURE_TYPE_ED25519 = 0x01
KEY_ID_SIZE = 4  # bytes; an identifier, not a cryptographic commitment
ED25519_SIGNATURE_SIZE = 64
ED25519_PUBLIC_KEY_SIZE = 32
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
# The spec asks verifiers to bound the signatures and to accept at least 16; witnesses add one
# each, so leave ample room while refusing a note built to exhaust the verifier.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1024 * 1024
# Key names: non-empty, no Unicode spaces, no '+'. Control characters are refused note-wide.
_BAD_NAME = re.compile(r"[\s+]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
# The same characters as UTF-8 bytes: UTF-8 spells every code point from U+0080 up with bytes
# of 0x80 and above only, so a note's UTF-8 holds one of these bytes exactly where its text
# holds one of those characters.
_CONTROL_BYTES = bytes(b for b in range(0x80) if _CONTROL.match(chr(b)))


class NoteError(LedgerVerificationError):
    """A signed note is malformed, or its signatures do not verify (``detail`` says which).

    A ledger verification error, not an Unauthenticated one: a note is a log's (or a witness's)
    statement that a reader checks, so a bad one means the log does not verify. No servicer
    answers a remote caller with a NoteError; callers that do must choose the status themselves.
    """


def check_key_name(name: str) -> str:
    """Return ``name`` if it can be a note key name (and so an alprfed ledger origin).

    Raises:
        NoteError: empty, or holds a space, a '+' or a control character.
    """
    if not name or _BAD_NAME.search(name) or _CONTROL.search(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def strict_b64decode(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4) with exactly one accepted spelling per value.

    Raises:
        NoteError: not base64, or not in its canonical spelling.
    """
    try:
        return canonical.b64decode(text)
    except canonical.CanonicalError as exc:
        raise NoteError(f"{what} is {exc}") from None


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([SIGNATURE_TYPE_ED25519]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class NoteVerifier:
    """A known Ed25519 note key: its name, its 4-byte ID and its public key."""

    name: str
    key_id: bytes
    public_key: VerifyingKey

    @classmethod
    def for_key(cls, name: str, public_key: VerifyingKey) -> NoteVerifier:
        """Raises: NoteError for a name that cannot be a key name."""
        check_key_name(name)
        return cls(name, ed25519_key_id(name, public_key.raw), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key ID>+<base64(0x01 || public key)>``.

        Raises:
            NoteError: malformed, not an Ed25519 key, or a key ID that is not the one the
                name and key imply (so a vkey cannot pin a key under a borrowed ID).
        """
        parts = vkey.strip().split("+", 2)  # base64 may itself hold "+"
        if len(parts) != 3:
            raise NoteError("a verifier key has three '+'-separated parts: name+id+key")
        name, hex_id, encoded = parts
        check_key_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise NoteError("verifier key ID must be 8 lower-case hex digits")
        material = strict_b64decode(encoded, "verifier key")
        if len(material) != 1 + ED25519_PUBLIC_KEY_SIZE or material[0] != SIGNATURE_TYPE_ED25519:
            raise NoteError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
        try:
            verifier = cls.for_key(name, VerifyingKey(material[1:]))
        except ConfigError as exc:  # small order or off the curve
            raise NoteError(f"verifier key {name}: {exc}") from None
        if verifier.key_id.hex() != hex_id:
            raise NoteError(f"verifier key ID {hex_id} does not match its name and key")
        return verifier

    def to_vkey(self) -> str:
        material = bytes([SIGNATURE_TYPE_ED25519]) + self.public_key.raw
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(material).decode('ascii')}"

    def verify(self, text: bytes, signature: bytes) -> None:
        """Raises: NoteError if ``signature`` is not this key's signature of ``text``."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise NoteError(f"signature by {self.name} has the wrong length")
        try:
            self.public_key.verify(signature, text)
        except VerificationError:
            raise NoteError(f"signature by {self.name} does not verify") from None


class NoteSigner:
    """Signs note texts as ``name`` with an Ed25519 key."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, key: SigningKey) -> None:
        self._key = key
        self.verifier = NoteVerifier.for_key(name, key.public)

    @property
    def name(self) -> str:
        return self.verifier.name

    def signature_line(self, text: str) -> str:
        signature = self._key.sign(text.encode("utf-8"))
        encoded = base64.b64encode(self.verifier.key_id + signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


class NoteSignature(NamedTuple):
    """One signature line, parsed; nothing of it is verified."""

    # A NamedTuple rather than a frozen dataclass: as immutable and built in half the time (a
    # node builds one per signature line of every checkpoint it is shown). Being a tuple, it
    # also equals, unpacks and sorts like one; read it by attribute.
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed note. ``text`` ends in a newline; nothing of it is trusted before ``open_note``."""

    text: str
    signatures: tuple[NoteSignature, ...]


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note of ``text`` (which must end in a newline) by every signer, in order.

    Raises:
        NoteError: no signer, or a text that is empty, lacks its final newline or holds
            control characters.
    """
    if not signers:
        raise NoteError("a note needs at least one signature")
    _check_text(text)
    return text + "\n" + "".join(signer.signature_line(text) for signer in signers)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note holds control characters other than newline")


def parse_note(note: str | bytes) -> Note:
    """Split a note into its text and signatures without checking any signature.

    Raises:
        NoteError: not UTF-8, too large, control characters, no blank line, too many
            signatures, or a malformed signature line.
    """
    try:
        data = note if isinstance(note, bytes) else note.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a str that is not Unicode text
        raise NoteError("note is not UTF-8") from None
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not UTF-8") from None
    # Scanned in the UTF-8: deleting the control bytes and comparing lengths is one C loop,
    # about seven times faster than _CONTROL's search over the str.
    if len(data.translate(None, _CONTROL_BYTES)) != len(data):
        raise NoteError("note holds control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note signatures must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    # The whole note was searched for control characters above: each line skips that scan.
    return Note(text, tuple(map(_signature_line, lines)))


def parse_signature_line(line: str) -> NoteSignature:
    """One signature line, without its newline; nothing is verified.

    Raises:
        NoteError: the line is malformed.
    """
    if "\n" in line or _CONTROL.search(line):
        raise NoteError("a signature line is one line without control characters")
    return _signature_line(line)


def _signature_line(line: str) -> NoteSignature:
    """parse_signature_line for a line already known to hold no control character."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("a signature line must start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise NoteError("a signature line is '— <key name> <base64 signature>'")
    if not name or _BAD_NAME.search(name):  # check_key_name, less the control scan done
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
    try:  # strict_b64decode, without formatting its ``what`` for every line that is fine
        raw = canonical.b64decode(encoded)
    except canonical.CanonicalError as exc:
        raise NoteError(f"signature by {name} is {exc}") from None
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError(f"signature by {name} is too short")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def open_note(note: str | bytes | Note, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse ``note`` (unless the caller already has: a ``Note``) and verify it against the
    known keys ``verifiers``.

    Returns the note; its text may be used only after this returns.

    Raises:
        NoteError: the note is malformed, a known key's signature fails, or no known key
            signed it.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    text = parsed.text.encode("utf-8")
    verified = 0
    for signature in parsed.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue  # unknown key (a witness, a rotated key): ignored, as the spec requires
        verifier.verify(text, signature.signature)
        verified += 1
    if not verified:
        names = ", ".join(sorted({v.name for v in verifiers})) or "none given"
        raise NoteError(f"note is not signed by any known key ({names})")
    return parsed
