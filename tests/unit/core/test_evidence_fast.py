"""The node's fast evidence decoder (alprfed.messages.evidence_fast) is held to the exact path,
``SearchEvidence.from_canonical(canonical.decode(...))``: for every bundle, honest or mutated,
both give the same evidence or refuse it with the same error."""

from __future__ import annotations

import base64
import random

import pytest

from alprfed import canonical
from alprfed.errors import AlprfedError, VerificationError
from alprfed.messages import evidence_fast
from alprfed.messages.evidence import LoggedEntry, SearchEvidence
from alprfed.messages.evidence_fast import decode_search_evidence
from alprfed.signing import WARRANT_TYPE, Envelope

CHECKPOINT = (
    "alprfed.test.example/ledger\n42\nuTCV/hU4KMrmaxwK/NtB/JA8srLvCq0kOU/a36huPSA=\n\n"
    "\u2014 alprfed.test.example/ledger UboA6t1qy7g8B7gsajkheRto7oBUqGyCBkFf\n"
)
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def logged(rng: random.Random) -> LoggedEntry:
    return LoggedEntry(
        rng.randrange(0, 2**40),
        rng.randbytes(rng.randrange(0, 900)),
        tuple(rng.randbytes(32) for _ in range(rng.randrange(0, 20))),
    )


def envelope(rng: random.Random) -> Envelope:
    return Envelope(
        WARRANT_TYPE, rng.randbytes(rng.randrange(1, 600)), "0a1b2c3d4e5f6071", rng.randbytes(64)
    )


def honest(rng: random.Random, kind: str) -> SearchEvidence:
    """A bundle as a gateway sends it, citing a warrant, exigency, or (never valid at a node,
    but well formed) neither."""
    evidence = SearchEvidence(
        query_id=rng.randbytes(16).hex(),
        checkpoint=CHECKPOINT,
        decision=logged(rng),
        plate_salt=rng.randbytes(32),
    )
    if kind == "warrant":
        return SearchEvidence(
            **{**vars(evidence), "warrant": envelope(rng), "warrant_entry": logged(rng)}
        )
    if kind == "exigent":
        return SearchEvidence(
            **{
                **vars(evidence),
                "exigent_entry": logged(rng),
                "exigent_plate_salt": rng.randbytes(32),
                "consent": envelope(rng) if rng.random() < 0.8 else None,
                "certificate_chain": PEM,
            }
        )
    return evidence


def exact(data: bytes) -> SearchEvidence | tuple[type, str]:
    try:
        return SearchEvidence.from_canonical(canonical.decode(data))
    except AlprfedError as exc:
        return type(exc), str(exc)


def fast(data: bytes) -> SearchEvidence | tuple[type, str]:
    try:
        return decode_search_evidence(data)
    except AlprfedError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("kind", ["warrant", "exigent", "neither"])
def test_honest_bundles_decode_alike_and_take_the_fast_path(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(kind)
    bundles = [honest(rng, kind) for _ in range(40)]
    for evidence in bundles:
        data = canonical.encode(evidence.to_canonical())
        assert fast(data) == exact(data) == evidence
    # Were the exact path taken, this would refuse every bundle.
    monkeypatch.setattr(canonical, "decode", _refuse)
    for evidence in bundles:
        assert decode_search_evidence(canonical.encode(evidence.to_canonical())) == evidence


def _refuse(data: bytes) -> object:
    raise canonical.CanonicalError("the exact path was taken")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def spelled(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


def with_decision_entry(value: dict[str, object], entry: str) -> bytes:
    decision = {**value["decision"], "entry": entry}  # type: ignore[dict-item]
    return canonical.encode({**value, "decision": decision})


def edits(data: bytes) -> dict[str, bytes]:
    """Edits an attacker or a broken gateway could make: each must be decided alike."""
    value = canonical.decode(data)
    salt = value["plate_salt"].encode()
    return {
        "whitespace": spelled(data, b'"v":1', b'"v": 1'),
        "version_true": spelled(data, b'"v":1', b'"v":true'),
        "version_2": spelled(data, b'"v":1', b'"v":2'),
        "version_float": spelled(data, b'"v":1', b'"v":1.0'),
        "escaped_letter": spelled(data, b'"query_id":"', b'"query_id":"\\u0061'),
        "escaped_slash": spelled(data, b'"checkpoint":"', b'"checkpoint":"\\/'),
        "index_float": spelled(data, b'"index":', b'"index":1.5,"x":'),
        "index_unsafe": spelled(data, b'"index":', b'"index":9007199254740992,"x":'),
        "index_negative": data.replace(b'"index":', b'"index":-', 1),
        "index_string": data.replace(b'"index":', b'"index":"1","x":', 1),
        "extra_field": spelled(data, b'{"checkpoint"', b'{"a":null,"checkpoint"'),
        "missing_field": spelled(data, b'"plate_salt":"' + salt + b'",', b""),
        "duplicate_field": spelled(
            data, b'"plate_salt"', b'"plate_salt":"' + salt + b'","plate_salt"'
        ),
        "keys_out_of_order": spelled(data, b'{"checkpoint"', b'{"v":1,"checkpoint"')
        .replace(b',"v":1,', b",", 1)
        .replace(b',"v":1}', b"}", 1),
        "salt_upper": spelled(data, salt, salt.upper()),
        "salt_short": spelled(data, salt, salt[:-2]),
        "entry_not_canonical_b64": with_decision_entry(value, "AB=="),
        "entry_not_base64": with_decision_entry(value, "AB=?"),
        "proof_hash_short": spelled(
            data, b'"proof":["', b'"proof":["' + b64(bytes(31)).encode() + b'","'
        ),
        "too_many_proof_hashes": spelled(
            data, b'"proof":[', b'"proof":[' + (b'"' + b64(bytes(32)).encode() + b'",') * 65
        ),
        "nested_deeper": spelled(data, b'"query_id":"', b'"query_id":[["'),
        "not_json": data[:-1],
        "trailing_garbage": data + b" ",
        "lone_surrogate": spelled(data, b'"query_id":"', b'"query_id":"\\ud800'),
        "beyond_bmp": spelled(data, b'"query_id":"', '"query_id":"\U0001f600'.encode()),
        "invalid_utf8": spelled(data, b'"query_id":"', b'"query_id":"\xff'),
        "null_decision": spelled(data, b'"decision":{', b'"decision":null,"x":{'),
    }


@pytest.mark.parametrize("kind", ["warrant", "exigent", "neither"])
def test_edited_bundles_are_decided_alike(kind: str) -> None:
    rng = random.Random(f"edits-{kind}")
    for _ in range(8):
        data = canonical.encode(honest(rng, kind).to_canonical())
        for name, edited in edits(data).items():
            assert fast(edited) == exact(edited), name


def test_no_edit_that_the_exact_path_refuses_is_accepted() -> None:
    """Of the edits above, the exact path accepts only one spelling (the honest bytes); the
    fast path must refuse the rest too, and it does so by deferring, not by guessing."""
    data = canonical.encode(honest(random.Random(3), "warrant").to_canonical())
    refused = [name for name, edited in edits(data).items() if isinstance(exact(edited), tuple)]
    assert len(refused) >= 20
    for name in refused:
        assert evidence_fast._proved(edits(data)[name]) is None, name


def test_random_byte_flips_are_decided_alike() -> None:
    rng = random.Random(11)
    for kind in ("warrant", "exigent"):
        data = canonical.encode(honest(rng, kind).to_canonical())
        for _ in range(400):
            edited = bytearray(data)
            for _ in range(rng.randrange(1, 3)):
                edited[rng.randrange(len(edited))] = rng.choice(b'{}[]",:0123456789abAZ+/=\\ n\x00')
            assert fast(bytes(edited)) == exact(bytes(edited))


def test_a_version_spelled_true_is_refused() -> None:
    """Python's True == 1: the version must be the integer 1, not a boolean equal to it."""
    data = canonical.encode(honest(random.Random(4), "warrant").to_canonical())
    edited = edits(data)["version_true"]
    assert exact(edited) == (VerificationError, "v must be an integer")
    assert fast(edited) == exact(edited)
