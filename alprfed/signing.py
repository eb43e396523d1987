"""Ed25519 keys and signed envelopes.

Signed messages travel as DSSE envelopes (https://github.com/secure-systems-lab/dsse): the
signature covers PAE(payload_type, payload) where payload is the canonical JSON of the message,
exactly the bytes that travel. The payload type names the message kind, so a receipt signature
can never be replayed as a query, nor a warrant as a purge report.

Key formats (docs/OPERATIONS.md):
- private keys: PKCS#8 PEM files, written with mode 0600;
- public keys in TOML: ``ed25519:<base64 of the 32 raw bytes>``;
- key ids: hex of the first 8 bytes of SHA-256(raw public key).

Keys are made, stored and used for signing with ``cryptography`` (OpenSSL); signatures are
*verified* with libsodium (PyNaCl, the same PyCA maintainers). Verification is the hot path of
every node search (a fresh witnessed checkpoint alone is three: the log's signature and a
quorum of cosignatures) and libsodium verifies in about half OpenSSL's time on this hardware
(docs/PERFORMANCE.md, "Idle after this session's merges"). It is also the stricter of the two:
besides OpenSSL's checks (S below the group order, cofactorless equation) it refuses public
keys and R values of small order and non-canonical point encodings, so anything it accepts
OpenSSL accepts too (tests/unit/core/test_ed25519_verify.py holds both to RFC 8032's vectors).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings
import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.errors import ConfigError, InvalidRequest, VerificationError

PUBLIC_KEY_PREFIX = "ed25519:"

# Payload types of every signed message in the federation.
SEARCH_QUERY_TYPE = "application/vnd.alprfed.search-query+json"
SEARCH_RECEIPT_TYPE = "application/vnd.alprfed.search-receipt+json"
WARRANT_TYPE = "application/vnd.alprfed.warrant+json"
PURGE_REPORT_TYPE = "application/vnd.alprfed.purge-report+json"
SEARCH_EVIDENCE_TYPE = "application/vnd.alprfed.search-evidence+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes an envelope signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id_of(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).digest()[:8].hex()


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    key_id: str
    signature: bytes


class VerifyingKey:
    """An Ed25519 public key."""

    __slots__ = ("_key", "key_id", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ConfigError("an Ed25519 public key is 32 bytes")
        # A key of small order (the identity among them) "verifies" forged signatures under
        # OpenSSL's rules; refusing it at load makes a mistyped trust list fail loudly.
        if not nacl.bindings.crypto_core_ed25519_is_valid_point(raw):
            raise ConfigError(
                "not an Ed25519 public key: off the curve, or not in its prime-order subgroup"
            )
        self.raw = raw
        self._key = nacl.signing.VerifyKey(raw)
        self.key_id = key_id_of(raw)

    @classmethod
    def from_text(cls, text: str) -> VerifyingKey:
        """Parse ``ed25519:<base64>``. Raises: ConfigError."""
        if not text.startswith(PUBLIC_KEY_PREFIX):
            raise ConfigError(f"public key {text[:20]!r}... must start with {PUBLIC_KEY_PREFIX!r}")
        try:
            raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):  # ValueError: not ASCII
            raise ConfigError("public key is not valid base64") from None
        return cls(raw)

    def to_text(self) -> str:
        return PUBLIC_KEY_PREFIX + base64.b64encode(self.raw).decode("ascii")

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raises: VerificationError if the signature does not verify."""
        # PyNaCl's verify has a second mode: without a signature it reads one off the front of
        # the message. Only a detached signature of 64 bytes is ever checked here.
        if type(signature) is not bytes or len(signature) != 64 or type(data) is not bytes:
            raise VerificationError("bad signature")
        try:
            self._key.verify(data, signature)
        except nacl.exceptions.CryptoError:
            raise VerificationError("bad signature") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyingKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"VerifyingKey({self.key_id})"


class SigningKey:
    """An Ed25519 private key. Never logged, never serialized except to its own 0600 file."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = VerifyingKey(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ConfigError("not an unencrypted PKCS#8 PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError("the private key is not an Ed25519 key")
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Raises: ConfigError if the file is missing or not an Ed25519 PEM key."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read signing key {path}: {exc.strerror}") from None
        return cls.from_pem(data)

    def to_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM, readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.to_pem())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def sign_envelope(self, payload_type: str, message: JSONValue) -> Envelope:
        """Canonically encode ``message`` and sign it. The envelope carries those exact bytes."""
        payload = canonical.encode(message)
        return Envelope(payload_type, payload, self.key_id, self.sign(pae(payload_type, payload)))

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id})"


def open_envelope(
    envelope: Envelope,
    *,
    payload_type: str,
    keys: Mapping[str, VerifyingKey],
) -> JSONValue:
    """Verify an envelope and return its decoded payload. Parse only after the signature holds.

    Raises:
        VerificationError: wrong payload type, unknown key, bad signature, or non-canonical
            payload. The detail is for logs; callers show the remote side nothing of it.
    """
    if envelope.payload_type != payload_type:
        raise VerificationError(
            f"payload type {envelope.payload_type!r} where {payload_type!r} was expected"
        )
    key = keys.get(envelope.key_id)
    if key is None:
        raise VerificationError(f"unknown signing key {envelope.key_id!r}")
    key.verify(envelope.signature, pae(envelope.payload_type, envelope.payload))
    try:
        return canonical.decode(envelope.payload)
    except canonical.CanonicalError as exc:
        raise VerificationError(f"signed payload is not canonical: {exc}") from None


def keyring(*keys: VerifyingKey) -> dict[str, VerifyingKey]:
    return {key.key_id: key for key in keys}


def envelope_to_json(envelope: Envelope) -> str:
    """The standard DSSE JSON serialization, for files such as a signed warrant."""
    return (
        json.dumps(
            {
                "payloadType": envelope.payload_type,
                "payload": base64.b64encode(envelope.payload).decode("ascii"),
                "signatures": [
                    {
                        "keyid": envelope.key_id,
                        "sig": base64.b64encode(envelope.signature).decode("ascii"),
                    }
                ],
            },
            indent=2,
        )
        + "\n"
    )


def envelope_from_json(text: str) -> Envelope:
    """Parse a DSSE JSON envelope with exactly one signature.

    Raises:
        InvalidRequest: not a DSSE envelope, bad base64, or not exactly one signature.
    """
    try:
        data = json.loads(text)
        (signature,) = data["signatures"]
        return Envelope(
            payload_type=str(data["payloadType"]),
            payload=base64.b64decode(data["payload"], validate=True),
            key_id=str(signature["keyid"]),
            signature=base64.b64decode(signature["sig"], validate=True),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidRequest(
            "not a DSSE envelope with exactly one signature", field="envelope"
        ) from None
