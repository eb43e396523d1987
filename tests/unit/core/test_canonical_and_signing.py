"""The one canonical encoder and the signed envelopes built on it."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alprfed import canonical
from alprfed.canonical import CanonicalError
from alprfed.errors import ConfigError, VerificationError
from alprfed.signing import (
    SEARCH_QUERY_TYPE,
    SEARCH_RECEIPT_TYPE,
    SigningKey,
    VerifyingKey,
    keyring,
    open_envelope,
    pae,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_and_unique_encoding(value: object) -> None:
    data = canonical.encode(value)
    assert canonical.decode(data) == value
    assert canonical.encode(canonical.decode(data)) == data
    # An outsider rebuilds the same bytes with the standard library alone, as long as no key
    # leaves the range where code-point and UTF-16 order agree (test_canonical_rfc8785 covers
    # the rest against an RFC 8785 library).
    if not any(ch > "\ud7ff" for key in _keys(value) for ch in key):
        assert (
            data
            == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        )


def _keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _keys(item))]
    if isinstance(value, list):
        return [key for item in value for key in _keys(item)]
    return []


def test_known_bytes() -> None:
    assert (
        canonical.encode({"b": [1, "é"], "a": None, "c": True})
        == '{"a":null,"b":[1,"é"],"c":true}'.encode()
    )


@pytest.mark.parametrize(
    "value",
    [1.5, {"x": 0.1}, {1: "int key"}, 2**53, b"bytes", {"s": {1, 2}}],
)
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical.encode(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',  # unsorted keys
        b'{"a": 1}',  # whitespace
        b'{"a":1,"a":2}',  # duplicate key
        b'{"a":"\\u0041"}',  # needless escape
        b'{"a":1.0}',  # float
        b'{"a":NaN}',
        b"\xff",  # not UTF-8
        b"[1,2",  # truncated
    ],
)
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        canonical.decode(data)


def test_pae_matches_the_dsse_specification() -> None:
    # The example from the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_round_trip_and_every_tamper_fails() -> None:
    key = SigningKey.generate()
    env = key.sign_envelope(SEARCH_QUERY_TYPE, {"q": "x", "n": 1})
    keys = keyring(key.public)
    assert open_envelope(env, payload_type=SEARCH_QUERY_TYPE, keys=keys) == {"n": 1, "q": "x"}

    for i in range(len(env.payload)):  # one tampered byte anywhere in the payload
        flipped = bytearray(env.payload)
        flipped[i] ^= 0x01
        tampered = type(env)(env.payload_type, bytes(flipped), env.key_id, env.signature)
        with pytest.raises(VerificationError):
            open_envelope(tampered, payload_type=SEARCH_QUERY_TYPE, keys=keys)

    bad_sig = type(env)(
        env.payload_type, env.payload, env.key_id, bytes([env.signature[0] ^ 1]) + env.signature[1:]
    )
    with pytest.raises(VerificationError):
        open_envelope(bad_sig, payload_type=SEARCH_QUERY_TYPE, keys=keys)


def test_a_signature_for_one_payload_type_never_verifies_as_another() -> None:
    key = SigningKey.generate()
    receipt = key.sign_envelope(SEARCH_RECEIPT_TYPE, {"q": 1})
    relabelled = type(receipt)(
        SEARCH_QUERY_TYPE, receipt.payload, receipt.key_id, receipt.signature
    )
    with pytest.raises(VerificationError):
        open_envelope(relabelled, payload_type=SEARCH_QUERY_TYPE, keys=keyring(key.public))
    with pytest.raises(VerificationError):
        open_envelope(receipt, payload_type=SEARCH_QUERY_TYPE, keys=keyring(key.public))


def test_wrong_key_is_refused() -> None:
    signer, other = SigningKey.generate(), SigningKey.generate()
    env = signer.sign_envelope(SEARCH_QUERY_TYPE, {"q": 1})
    with pytest.raises(VerificationError, match="unknown signing key"):
        open_envelope(env, payload_type=SEARCH_QUERY_TYPE, keys=keyring(other.public))
    # Claiming the trusted key's id does not help a forger.
    forged = other.sign_envelope(SEARCH_QUERY_TYPE, {"q": 1})
    forged = type(forged)(forged.payload_type, forged.payload, signer.key_id, forged.signature)
    with pytest.raises(VerificationError, match="bad signature"):
        open_envelope(forged, payload_type=SEARCH_QUERY_TYPE, keys=keyring(signer.public))


def test_key_files_and_text_forms(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "k.pem"
    key = SigningKey.generate()
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SigningKey.load(path).public == key.public
    assert VerifyingKey.from_text(key.public.to_text()) == key.public
    with pytest.raises(ConfigError):
        VerifyingKey.from_text("rsa:AAAA")
    with pytest.raises(ConfigError):
        VerifyingKey.from_text("ed25519:not-base64!")
    path.write_bytes(b"garbage")
    with pytest.raises(ConfigError):
        SigningKey.load(path)


@pytest.mark.parametrize("raw", [b"", b"A", b"AB", b"ABC", bytes(range(256))])
def test_b64decode_takes_exactly_what_b64encode_writes(raw: bytes) -> None:
    assert canonical.b64decode(base64.b64encode(raw).decode("ascii")) == raw


@pytest.mark.parametrize(
    ("attack", "text", "why"),
    [
        ("padding_bits_set", "QR==", "not canonical base64"),  # decodes to b"A" too
        ("missing_padding", "QQ", "not base64"),
        ("excess_padding", "QQ===", "not base64"),
        ("trailing_newline", "QQ==\n", "not base64"),
        ("inner_space", "QU JD", "not base64"),
        ("urlsafe_alphabet", "-_-_", "not base64"),
        ("beyond_ascii", "QQ==é", "not base64"),
    ],
)
def test_b64decode_refuses_every_other_spelling(attack: str, text: str, why: str) -> None:
    with pytest.raises(canonical.CanonicalError) as refused:
        canonical.b64decode(text)
    assert str(refused.value) == why
