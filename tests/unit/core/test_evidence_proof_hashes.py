"""The evidence's proof hashes are decoded in one pass (alprfed.messages.evidence): it must
accept exactly what the per-hash canonical decoder accepts for 32-byte hashes, and nothing
else."""

from __future__ import annotations

import base64
import random

import pytest

from alprfed import canonical
from alprfed.errors import VerificationError
from alprfed.messages.evidence import LoggedEntry

ENTRY = base64.b64encode(b'{"v":1}').decode("ascii")


def logged(proof: list[str]) -> LoggedEntry:
    return LoggedEntry.from_canonical({"index": 3, "entry": ENTRY, "proof": proof}, "decision")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_proof_hashes_decode_to_what_the_canonical_decoder_gives() -> None:
    rng = random.Random(10)
    for length in (0, 1, 2, 17, 64):
        hashes = [b64(rng.randbytes(32)) for _ in range(length)]
        assert logged(hashes).proof == tuple(canonical.b64decode(h) for h in hashes)


def test_every_last_character_the_canonical_decoder_takes_is_taken() -> None:
    """The 43rd character carries two padding bits: exactly 16 of the 64 leave them zero."""
    stem = b64(bytes(32))[:42]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for char in alphabet:
        spelled = f"{stem}{char}="
        try:
            expected: bytes | None = canonical.b64decode(spelled)
        except canonical.CanonicalError:
            expected = None
        if expected is None:
            with pytest.raises(VerificationError):
                logged([spelled])
        else:
            assert logged([spelled]).proof == (expected,)


@pytest.mark.parametrize(
    ("attack", "proof"),
    [
        ("padding_bits_set", [b64(bytes(32))[:42] + "B="]),
        ("short_hash", [b64(bytes(31))]),
        ("long_hash", [b64(bytes(33))]),
        ("missing_padding", [b64(bytes(32))[:43]]),
        ("url_safe_alphabet", [b64(b"\xff" * 32).replace("/", "_")]),
        ("two_hashes_in_one_string", [b64(bytes(32)) + "," + b64(bytes(32))]),
        ("empty_hash", [b64(bytes(32)), ""]),
        ("bad_one_after_good_ones", [b64(bytes(32)), b64(bytes(32)), b64(bytes(31))]),
        ("non_ascii", [b64(bytes(32))[:42] + "\u00c0="]),
    ],
)
def test_a_malformed_proof_hash_is_refused(attack: str, proof: list[str]) -> None:
    with pytest.raises(VerificationError, match=r"decision\.proof is not"):
        logged(proof)
