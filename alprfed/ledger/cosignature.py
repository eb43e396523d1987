"""C2SP witness cosignatures (https://c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``).

A witness states "as of time T, the largest consistent tree I have seen for this origin has
this root" by adding one signed-note line to the log's checkpoint::

    — <witness name> base64(key ID || u64 big-endian timestamp || 64-byte Ed25519 signature)

with key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4], and the signature over::

    cosignature/v1
    time <T, decimal>
    <the checkpoint text, final newline included>

The timestamp must not be zero (tlog-witness forbids it) nor exceed 2**63 - 1. Like every note
signature, lines of unknown witnesses are ignored; a known witness's line must verify.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alprfed.errors import ConfigError
from alprfed.ledger.note import (
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    MAX_SIGNATURES,
    SIGNATURE_PREFIX,
    Note,
    NoteError,
    check_key_name,
    parse_note,
    parse_signature_line,
    strict_b64decode,
)
from alprfed.signing import SigningKey, VerifyingKey

SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE


class CosignatureError(NoteError):
    """A witness cosignature is malformed or does not verify (``detail`` names the witness)."""


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signature covers."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class CosignatureVerifier:
    """A known witness: its name, 4-byte key ID and Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: VerifyingKey

    @classmethod
    def for_key(cls, name: str, public_key: VerifyingKey) -> CosignatureVerifier:
        """Raises: NoteError for a name that cannot be a key name."""
        check_key_name(name)
        return cls(name, cosignature_key_id(name, public_key.raw), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a witness vkey ``<name>+<hex key ID>+<base64(0x04 || public key)>``.

        Raises:
            CosignatureError: malformed, not a cosignature/v1 key, or a key ID that is not the
                one the name and key imply.
        """
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise CosignatureError("a witness key has three '+'-separated parts: name+id+key")
        name, hex_id, encoded = parts
        try:
            check_key_name(name)
            material = strict_b64decode(encoded, "witness key")
        except NoteError as exc:
            raise CosignatureError(exc.detail) from None
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise CosignatureError("witness key ID must be 8 lower-case hex digits")
        if (
            len(material) != 1 + ED25519_PUBLIC_KEY_SIZE
            or material[0] != SIGNATURE_TYPE_COSIGNATURE_V1
        ):
            raise CosignatureError(
                "only Ed25519 cosignature/v1 witness keys (type 0x04, 32 bytes) are supported"
            )
        try:
            verifier = cls.for_key(name, VerifyingKey(material[1:]))
        except ConfigError as exc:  # small order or off the curve
            raise CosignatureError(f"witness key {name}: {exc}") from None
        if verifier.key_id.hex() != hex_id:
            raise CosignatureError(f"witness key ID {hex_id} does not match its name and key")
        return verifier

    def to_vkey(self) -> str:
        material = bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + self.public_key.raw
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(material).decode('ascii')}"

    def verify(self, checkpoint_text: str, signature: bytes) -> int:
        """Return the cosignature's timestamp once it verifies over ``checkpoint_text``.

        Raises:
            CosignatureError: wrong length, a zero or oversized timestamp, or a bad signature.
        """
        if len(signature) != COSIGNATURE_SIZE:
            raise CosignatureError(f"cosignature by {self.name} has the wrong length")
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        if timestamp == 0 or timestamp > MAX_TIMESTAMP:
            raise CosignatureError(f"cosignature by {self.name} has timestamp {timestamp}")
        try:
            self.public_key.verify(
                signature[TIMESTAMP_SIZE:], cosigned_message(checkpoint_text, timestamp)
            )
        except Exception:
            raise CosignatureError(f"cosignature by {self.name} does not verify") from None
        return timestamp


class CosignatureSigner:
    """Cosigns checkpoints as witness ``name``."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, key: SigningKey) -> None:
        self._key = key
        self.verifier = CosignatureVerifier.for_key(name, key.public)

    @property
    def name(self) -> str:
        return self.verifier.name

    def signature_line(self, checkpoint_text: str, timestamp: int) -> str:
        """One note signature line cosigning ``checkpoint_text`` as of ``timestamp``.

        Raises:
            CosignatureError: a timestamp that is zero, negative or beyond 2**63 - 1.
        """
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise CosignatureError(f"a cosignature timestamp must be 1..2**63-1, not {timestamp}")
        signature = self._key.sign(cosigned_message(checkpoint_text, timestamp))
        raw = self.verifier.key_id + timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(raw).decode('ascii')}\n"


def verify_cosignatures(
    note: str | Note, witnesses: Sequence[CosignatureVerifier]
) -> dict[CosignatureVerifier, int]:
    """Witness -> timestamp for every known witness whose cosignature on ``note`` verifies
    (a note's text, or the ``Note`` the caller has parsed already).

    Only the cosignatures are checked here; the log's own signature is the business of
    alprfed.ledger.checkpoint.open_checkpoint, and which cosigners suffice that of the policy.

    Raises:
        NoteError: the note is malformed.
        CosignatureError: a known witness's cosignature does not verify (a signed note with a
            failing known signature is refused whole), or one witness signed twice.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    cosigned: dict[CosignatureVerifier, int] = {}
    for line in parsed.signatures:
        witness = known.get((line.name, line.key_id))
        if witness is None:
            continue
        if witness in cosigned:
            raise CosignatureError(f"{witness.name} cosigned the checkpoint twice")
        cosigned[witness] = witness.verify(parsed.text, line.signature)
    return cosigned


def verify_cosignature_line(checkpoint_text: str, line: str, witness: CosignatureVerifier) -> int:
    """The timestamp of ``line`` once it is ``witness``'s valid cosignature of
    ``checkpoint_text`` (the note's text, final newline included).

    For a client that submitted the checkpoint itself and so holds its text: one signature
    check, no note to parse.

    Raises:
        NoteError: the line is malformed.
        CosignatureError: it is not by ``witness`` or does not verify.
    """
    signature = parse_signature_line(line.removesuffix("\n"))
    if (signature.name, signature.key_id) != (witness.name, witness.key_id):
        raise CosignatureError(f"the line is not signed by {witness.name}'s key")
    return witness.verify(checkpoint_text, signature.signature)


def add_signature_lines(note: str, lines: Iterable[str]) -> str:
    """``note`` with the signature lines of ``lines`` by keys it carries no line of appended.

    Used to publish a checkpoint with the cosignatures collected for it; nothing is verified
    here (verifiers check what they rely on).

    Raises:
        NoteError: the note or a line is malformed.
    """
    parsed = parse_note(note)
    signers = {(s.name, s.key_id) for s in parsed.signatures}
    merged = [note]
    for line in lines:
        signature = parse_signature_line(line.removesuffix("\n"))
        # One line per key: a witness asked twice for one checkpoint (after a restart, say)
        # answers with a new timestamp, and a second line by one key makes the note invalid.
        if (signature.name, signature.key_id) not in signers:
            signers.add((signature.name, signature.key_id))
            merged.append(line if line.endswith("\n") else line + "\n")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return "".join(merged)
