"""One Ed25519 verification, libsodium (what alprfed verifies with) beside OpenSSL.

A micro-figure for docs/PERFORMANCE.md ("Idle after this session's merges"): the node's
evidence check and the gateway's and witnesses' checkpoint checks are a few of these each, so
their cost sets a floor under both issue 10's and issue 9's targets. Run: ``python -m
bench.ed25519``.
"""

from __future__ import annotations

import os
import statistics
import timeit
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alprfed.signing import SigningKey

ROUNDS = 7
PER_ROUND = 2_000


def _per_call_us(call: Callable[[], object]) -> float:
    runs = timeit.repeat(call, number=PER_ROUND, repeat=ROUNDS)
    return statistics.median(runs) / PER_ROUND * 1e6


def main() -> None:
    message = os.urandom(250)  # about a checkpoint's size
    key = SigningKey.generate()
    signature = key.sign(message)
    openssl = Ed25519PublicKey.from_public_bytes(key.public.raw)
    sodium = key.public
    figures = {
        "libsodium verify (alprfed.signing.VerifyingKey)": _per_call_us(
            lambda: sodium.verify(signature, message)
        ),
        "OpenSSL verify (cryptography)": _per_call_us(lambda: openssl.verify(signature, message)),
        "OpenSSL sign (cryptography)": _per_call_us(lambda: key.sign(message)),
    }
    for name, us in figures.items():
        print(f"{name:<50} {us:7.1f} µs")


if __name__ == "__main__":
    main()
