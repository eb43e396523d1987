"""C2SP tlog-cosignature lines and tlog-policy quorums (alprfed.ledger.cosignature,
alprfed.ledger.witness_policy)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alprfed.errors import ConfigError
from alprfed.ledger.checkpoint import Checkpoint, sign_checkpoint
from alprfed.ledger.cosignature import (
    CosignatureError,
    CosignatureSigner,
    CosignatureVerifier,
    add_signature_lines,
    verify_cosignatures,
)
from alprfed.ledger.merkle import EMPTY_ROOT
from alprfed.ledger.note import NoteSigner, parse_note
from alprfed.ledger.witness_policy import PolicyWitness, WitnessPolicy, WitnessPolicyError
from alprfed.signing import SigningKey

ORIGIN = "log.test.example/ledger"
NOW = 1_764_000_000


@pytest.fixture
def log() -> NoteSigner:
    return NoteSigner(ORIGIN, SigningKey.generate())


@pytest.fixture
def witnesses() -> list[CosignatureSigner]:
    return [CosignatureSigner(f"w{i}.test.example/w", SigningKey.generate()) for i in range(3)]


def checkpoint_note(log: NoteSigner, size: int = 0) -> tuple[str, str]:
    checkpoint = Checkpoint(ORIGIN, size, EMPTY_ROOT if size == 0 else bytes(range(32)))
    return sign_checkpoint(checkpoint, log), checkpoint.text()


def cosigned(note: str, text: str, signers: list[CosignatureSigner], when: int = NOW) -> str:
    return add_signature_lines(note, [w.signature_line(text, when) for w in signers])


def test_a_cosignature_is_the_c2sp_bytes_and_verifies_with_plain_cryptography(
    witnesses: list[CosignatureSigner], log: NoteSigner
) -> None:
    """Rebuild the key ID and the signed message from the spec, with nothing of ours."""
    _, text = checkpoint_note(log, 5)
    line = witnesses[0].signature_line(text, NOW)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(encoded)
    public = witnesses[0].verifier.public_key.raw
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == NOW
    message = f"cosignature/v1\ntime {NOW}\n".encode() + text.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)
    vkey = witnesses[0].verifier.to_vkey()
    assert CosignatureVerifier.from_vkey(vkey) == witnesses[0].verifier
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04


def test_a_zero_timestamp_is_never_signed_nor_accepted(
    witnesses: list[CosignatureSigner], log: NoteSigner
) -> None:
    note, text = checkpoint_note(log)
    with pytest.raises(CosignatureError):
        witnesses[0].signature_line(text, 0)
    # Forge one with timestamp 0 by hand: a valid signature over the message with time 0.
    key = SigningKey.generate()
    forged = CosignatureSigner("w0.test.example/w", key)
    signature = key.sign(f"cosignature/v1\ntime 0\n{text}".encode())
    raw = forged.verifier.key_id + bytes(8) + signature
    line = f"\u2014 w0.test.example/w {base64.b64encode(raw).decode()}\n"
    with pytest.raises(CosignatureError, match="timestamp 0"):
        verify_cosignatures(add_signature_lines(note, [line]), [forged.verifier])


def test_a_cosignature_over_another_checkpoint_fails(
    witnesses: list[CosignatureSigner], log: NoteSigner
) -> None:
    note, _ = checkpoint_note(log, 5)
    _, other_text = checkpoint_note(log, 6)
    line = witnesses[0].signature_line(other_text, NOW)
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignatures(add_signature_lines(note, [line]), [witnesses[0].verifier])


def test_a_parsed_note_verifies_as_its_text_does(
    witnesses: list[CosignatureSigner], log: NoteSigner
) -> None:
    """The policy hands verify_cosignatures the note it parsed already; the verdict must be
    the text's, good cosignatures and bad."""
    note, text = checkpoint_note(log, 5)
    good = cosigned(note, text, witnesses[:2])
    expected = {witnesses[0].verifier: NOW, witnesses[1].verifier: NOW}
    verifiers = [w.verifier for w in witnesses]
    assert verify_cosignatures(parse_note(good), verifiers) == expected
    assert verify_cosignatures(good, verifiers) == expected
    _, other_text = checkpoint_note(log, 6)
    bad = add_signature_lines(note, [witnesses[0].signature_line(other_text, NOW)])
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignatures(parse_note(bad), verifiers)


def policy_text(log: NoteSigner, witnesses: list[CosignatureSigner], quorum: str) -> str:
    lines = [f"log {log.verifier.to_vkey()}"]
    lines += [f"witness w{i} {w.verifier.to_vkey()}" for i, w in enumerate(witnesses)]
    return "\n".join([*lines, quorum]) + "\n"


def test_two_of_three_needs_two_fresh_cosignatures(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    policy = WitnessPolicy.parse(
        policy_text(log, witnesses, "group g 2 w0 w1 w2\nquorum g"), where="p"
    )
    note, text = checkpoint_note(log, 5)
    assert set(policy.check(cosigned(note, text, witnesses[1:])).cosigners) == {"w1", "w2"}
    with pytest.raises(WitnessPolicyError, match=r"2 of \(w0, w1, w2\): cosigned by w2"):
        policy.check(cosigned(note, text, witnesses[2:]))
    stale = cosigned(note, text, witnesses[:2], when=NOW - 3600)
    assert policy.check(stale).checkpoint.size == 5  # without a freshness demand
    with pytest.raises(WitnessPolicyError, match="too old"):
        policy.check(stale, now=NOW, max_age_s=300)


@pytest.mark.parametrize("verify_all", [True, False], ids=["auditor", "node"])
def test_only_fresh_cosignatures_count_whether_all_are_verified_or_a_quorum(
    log: NoteSigner, witnesses: list[CosignatureSigner], verify_all: bool
) -> None:
    """A node verifies cosignatures only until a fresh quorum (verify_all=False): it must count
    the same ones as an auditor verifying all, and refuse in the same words."""
    policy = WitnessPolicy.parse(policy_text(log, witnesses, "group g 2 w0 w1 w2\nquorum g"))
    note, text = checkpoint_note(log, 5)
    w0, w1, w2 = witnesses
    stale_first = add_signature_lines(
        note,
        [
            w0.signature_line(text, NOW - 301),
            w1.signature_line(text, NOW),
            w2.signature_line(text, NOW + 30),
        ],
    )
    admitted = policy.check(
        stale_first, now=NOW, max_age_s=300, max_skew_s=30, verify_all=verify_all
    )
    assert admitted.cosigners == {"w0": NOW - 301, "w1": NOW, "w2": NOW + 30}
    one_fresh = add_signature_lines(
        note,
        [
            w0.signature_line(text, NOW - 301),
            w1.signature_line(text, NOW - 300),
            w2.signature_line(text, NOW + 31),
        ],
    )
    with pytest.raises(WitnessPolicyError) as refused:
        policy.check(one_fresh, now=NOW, max_age_s=300, max_skew_s=30, verify_all=verify_all)
    assert refused.value.detail == (
        "the checkpoint of size 5 lacks the witness quorum 2 of (w0, w1, w2): "
        "cosigned by w1; too old or in the future: w0, w2"
    )


def test_nested_groups_and_any_all(log: NoteSigner, witnesses: list[CosignatureSigner]) -> None:
    policy = WitnessPolicy.parse(
        policy_text(
            log, witnesses, "group a any w0 w1\ngroup b all w2\ngroup both all a b\nquorum both"
        )
    )
    assert policy.quorum_met({"w1", "w2"})
    assert not policy.quorum_met({"w0", "w1"})
    assert WitnessPolicy.parse(policy.to_text()).describe_quorum() == policy.describe_quorum()


def test_a_bad_cosignature_of_a_known_witness_refuses_the_checkpoint(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    policy = WitnessPolicy.parse(policy_text(log, witnesses, "quorum w0"))
    note, text = checkpoint_note(log, 5)
    good = witnesses[0].signature_line(text, NOW)
    name, encoded = good.rstrip("\n").removeprefix("\u2014 ").split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    bad = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(WitnessPolicyError, match="does not verify"):
        policy.check(add_signature_lines(note, [bad, witnesses[1].signature_line(text, NOW)]))


def test_a_checkpoint_not_signed_by_the_policys_log_is_refused(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    policy = WitnessPolicy.parse(policy_text(log, witnesses, "quorum none"))
    other = NoteSigner(ORIGIN, SigningKey.generate())
    note, _ = checkpoint_note(other, 5)
    with pytest.raises(WitnessPolicyError):
        policy.check(note)


@pytest.mark.parametrize(
    ("quorum", "problem"),
    [
        ("", "no quorum line"),
        ("quorum w9", "not defined above"),
        ("quorum w0\nquorum w1", "exactly one quorum"),
        ("group g 4 w0 w1 w2\nquorum g", "threshold"),
        ("group g 2 w0 w0\nquorum g", "only once"),
        ("group none any w0\nquorum none", "reserved"),
        ("frobnicate w0\nquorum w0", "unknown line"),
    ],
)
def test_malformed_policies_name_the_line(
    log: NoteSigner, witnesses: list[CosignatureSigner], quorum: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        WitnessPolicy.parse(policy_text(log, witnesses, quorum))


def test_the_same_key_twice_is_refused(log: NoteSigner, witnesses: list[CosignatureSigner]) -> None:
    text = policy_text(log, witnesses, "quorum w0")
    twice = text + f"witness again {witnesses[0].verifier.to_vkey()}\n"
    with pytest.raises(ConfigError, match="listed twice"):
        WitnessPolicy.parse(twice)


def test_a_second_line_by_the_same_key_is_not_added(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    """A witness asked twice (a gateway restart) answers with a new timestamp: the note keeps
    one line per key, so it stays a valid note."""
    note, text = checkpoint_note(log, 5)
    once = add_signature_lines(note, [witnesses[0].signature_line(text, NOW)])
    twice = add_signature_lines(once, [witnesses[0].signature_line(text, NOW + 5)])
    assert twice == once
    assert verify_cosignatures(twice, [witnesses[0].verifier]) == {witnesses[0].verifier: NOW}


def test_the_gateway_keeps_the_valid_line_of_a_witness_answer(
    log: NoteSigner, witnesses: list[CosignatureSigner]
) -> None:
    """A line under the witness's name but another key, then its real line: the real one is
    what counts (a witness cannot poison the quorum with a decoy)."""
    from gateway.witness_client import WitnessFailure, verified_line

    _, text = checkpoint_note(log, 5)
    witness = PolicyWitness("w0", witnesses[0].verifier, "http://x")
    decoy = CosignatureSigner(witnesses[0].name, SigningKey.generate()).signature_line(text, NOW)
    real = witnesses[0].signature_line(text, NOW)
    assert verified_line(text, decoy + real, witness) == real
    with pytest.raises(WitnessFailure):
        verified_line(text, decoy, witness)
