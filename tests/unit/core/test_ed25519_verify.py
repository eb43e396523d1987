"""Ed25519 verification (libsodium) against RFC 8032 and against the signer (OpenSSL).

alprfed signs with `cryptography` and verifies with libsodium (alprfed/signing.py says why).
These tests hold the two to each other: every honest signature either library makes verifies
under the other's rules, and the cases where libsodium is stricter are the forgeries.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from alprfed.errors import ConfigError, VerificationError
from alprfed.ledger.cosignature import CosignatureError, CosignatureVerifier
from alprfed.ledger.note import NoteError, NoteVerifier
from alprfed.signing import SigningKey, VerifyingKey

# RFC 8032 section 7.1, TEST 1-3 and TEST SHA(abc): (secret key, public key, message, signature).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]

# The order of the prime subgroup, L = 2^252 + 27742317777372353535851937790883648493.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
IDENTITY = bytes([1]) + bytes(31)  # the neutral point's encoding: y = 1, x = 0


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032_VECTORS)
def test_rfc8032_vectors_verify(secret: str, public: str, message: str, signature: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    # the vector is what the signer (OpenSSL) makes, so the two sides agree on the input
    assert key.sign(bytes.fromhex(message)) == bytes.fromhex(signature)
    verifier = VerifyingKey(bytes.fromhex(public))
    verifier.verify(bytes.fromhex(signature), bytes.fromhex(message))
    with pytest.raises(VerificationError):
        verifier.verify(bytes.fromhex(signature), bytes.fromhex(message) + b"\x00")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 63), st.integers(1, 255))
def test_signer_and_verifier_agree(message: bytes, flip_at: int, flip: int) -> None:
    key = SigningKey.generate()
    signature = key.sign(message)
    key.public.verify(signature, message)
    tampered = bytearray(signature)
    tampered[flip_at] ^= flip
    with pytest.raises(VerificationError):
        key.public.verify(bytes(tampered), message)


def test_malleated_signature_refused_by_both() -> None:
    """S + L satisfies the verification equation; RFC 8032 requires S < L, and both refuse."""
    key = SigningKey.generate()
    message = b"a signed query"
    signature = key.sign(message)
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    malleated = signature[:32] + s.to_bytes(32, "little")
    with pytest.raises(VerificationError):
        key.public.verify(malleated, message)
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(key.public.raw).verify(malleated, message)


def test_identity_key_forgery_refused() -> None:
    """Under the identity key, (R = identity, S = 0) satisfies the cofactorless equation for
    every message: OpenSSL accepts it. alprfed refuses the key itself when it is loaded."""
    forged = IDENTITY + bytes(32)
    Ed25519PublicKey.from_public_bytes(IDENTITY).verify(forged, b"any message at all")
    with pytest.raises(ConfigError, match="prime-order subgroup"):
        VerifyingKey(IDENTITY)


@pytest.mark.parametrize(
    "raw",
    [
        bytes(32),  # y = 0: a point of order 4
        bytes([0xEC]) + b"\xff" * 30 + b"\x7f",  # y = p - 1: the point of order 2
        b"\xff" * 32,  # y above the field's prime: not canonical
    ],
)
def test_small_order_and_non_canonical_keys_refused(raw: bytes) -> None:
    with pytest.raises(ConfigError):
        VerifyingKey(raw)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_wrong_length_signature_is_a_bad_signature(length: int) -> None:
    key = SigningKey.generate()
    with pytest.raises(VerificationError):
        key.public.verify(bytes(length), b"message")


def test_no_signature_is_never_read_off_the_message() -> None:
    """PyNaCl's verify, given no signature, takes the message's first 64 bytes as one: a
    signed message passed as data must not verify against nothing."""
    key = SigningKey.generate()
    message = b"the rest of a signed query"
    attached = key.sign(message) + message
    with pytest.raises(VerificationError):
        key.public.verify(None, attached)  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        key.public.verify(bytearray(key.sign(message)), message)  # type: ignore[arg-type]


def test_a_small_order_witness_or_log_key_is_the_vkey_parser_error() -> None:
    """Loaded from a policy or config, a refused key names itself in the parser's own error,
    which callers wrap with the file and line."""
    cases: list[tuple[int, type[NoteVerifier | CosignatureVerifier], type[Exception]]] = [
        (0x01, NoteVerifier, NoteError),
        (0x04, CosignatureVerifier, CosignatureError),
    ]
    for kind, verifier, error in cases:
        material = base64.b64encode(bytes([kind]) + IDENTITY).decode("ascii")
        with pytest.raises(error, match=r"example\.org/log.*prime-order"):
            verifier.from_vkey(f"example.org/log+00000000+{material}")
