"""The add-checkpoint body and the witness's checks, without a server (witness.protocol), and
the C2SP tlog-cosignature format of what the witness signs, checked with `cryptography` only."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from witnesses import SigningLog, add_checkpoint_body, witness_config

from alprfed.clock import FixedClock
from alprfed.ledger.checkpoint import Checkpoint
from alprfed.ledger.cosignature import CosignatureError, CosignatureSigner
from alprfed.ledger.merkle import EMPTY_ROOT
from alprfed.signing import SigningKey
from witness.config import WitnessedLog
from witness.protocol import (
    MAX_PROOF_LINES,
    AddCheckpointRequest,
    InconsistentCheckpoint,
    MalformedRequest,
    SizeConflict,
    UnknownLog,
    UntrustedCheckpoint,
    check_consistency,
    check_old_size,
    open_submitted_checkpoint,
    origin_hash,
    parse_add_checkpoint,
)
from witness.service import WitnessClockError, WitnessService
from witness.store import WitnessStore

NOW = 1_764_000_000


@pytest.fixture
def log() -> SigningLog:
    return SigningLog()


def test_a_body_splits_at_the_first_empty_line_keeping_the_notes_own_blank_line(
    log: SigningLog,
) -> None:
    proof = log.proof(5, 13)
    request = parse_add_checkpoint(add_checkpoint_body(5, proof, log.note(13)))
    assert request == AddCheckpointRequest(5, tuple(proof), log.note(13))


def test_sixty_three_proof_lines_are_allowed_sixty_four_are_not(log: SigningLog) -> None:
    note = log.note(3)
    assert len(parse_add_checkpoint(add_checkpoint_body(1, [b"\x00" * 32] * 63, note)).proof) == 63
    with pytest.raises(MalformedRequest, match=str(MAX_PROOF_LINES)):
        parse_add_checkpoint(add_checkpoint_body(1, [b"\x00" * 32] * 64, note))


@pytest.mark.parametrize(
    "old_line",
    [
        "old 05",
        "old 00",
        "old -1",
        "old +1",
        "old  1",
        "old 1 ",
        "Old 1",
        "old",
        "old 0x1",
        "old ١",
    ],
)
def test_old_size_line_not_canonical_decimal_is_malformed(log: SigningLog, old_line: str) -> None:
    body = add_checkpoint_body(1, [], log.note(3)).replace(b"old 1\n", old_line.encode() + b"\n")
    with pytest.raises(MalformedRequest):
        parse_add_checkpoint(body)


def test_old_size_beyond_2_63_is_malformed(log: SigningLog) -> None:
    with pytest.raises(MalformedRequest):
        parse_add_checkpoint(add_checkpoint_body(2**63, [], log.note(3)))


def test_unknown_origin_unknown_key_and_bad_signature(log: SigningLog) -> None:
    logs = {log.origin: WitnessedLog(log.origin, (log.verifier,))}
    with pytest.raises(UnknownLog):
        open_submitted_checkpoint(SigningLog("other.example/log").note(2), logs)
    with pytest.raises(UntrustedCheckpoint):
        open_submitted_checkpoint(SigningLog(log.origin).note(2), logs)
    note = log.note(2)
    tampered = note.replace(base64.b64encode(log.checkpoint(2).root).decode(), "A" * 43 + "=")
    with pytest.raises(UntrustedCheckpoint):
        open_submitted_checkpoint(tampered, logs)
    submitted = open_submitted_checkpoint(
        note + SigningLog(log.origin).note(2).split("\n\n")[1], logs
    )
    assert submitted.log_signature_lines == (note.split("\n\n")[1],)  # the stranger's dropped


def _request(old: int, proof: list[bytes] | None = None) -> AddCheckpointRequest:
    return AddCheckpointRequest(old, tuple(proof or []), "")


def test_checks_against_the_stored_state(log: SigningLog) -> None:
    cp5, cp9 = log.checkpoint(5), log.checkpoint(9)
    check_consistency(_request(5, log.proof(5, 9)), cp9, stored_size=5, stored_root=cp5.root)
    check_consistency(_request(0), cp9, stored_size=0, stored_root=EMPTY_ROOT)
    check_consistency(_request(5), cp5, stored_size=5, stored_root=cp5.root)
    with pytest.raises(SizeConflict) as conflict:
        check_consistency(_request(4, log.proof(4, 9)), cp9, stored_size=5, stored_root=cp5.root)
    assert (conflict.value.http_status, conflict.value.body) == (409, "5\n")
    cases = [
        (_request(5, [cp5.root]), cp5, 5, cp5.root),  # equal sizes need an empty proof
        (_request(5), Checkpoint(log.origin, 5, cp9.root), 5, cp5.root),  # a fork
        (_request(0, log.proof(3, 9)), cp9, 0, EMPTY_ROOT),  # a proof from size 0
        (_request(0), Checkpoint(log.origin, 0, cp5.root), 0, EMPTY_ROOT),  # size 0, a root
        (_request(5, log.proof(5, 9)[:-1]), cp9, 5, cp5.root),  # too short
        (_request(5, log.proof(5, 9)), cp9, 5, cp9.root),  # a proof from another old root
    ]
    for request, checkpoint, size, root in cases:
        with pytest.raises(InconsistentCheckpoint):
            check_consistency(request, checkpoint, stored_size=size, stored_root=root)
    with pytest.raises(MalformedRequest):
        check_old_size(_request(10), cp9)


def test_origin_hash_is_lower_case_hex_sha256_of_the_origin() -> None:
    assert origin_hash("example.com/log") == hashlib.sha256(b"example.com/log").hexdigest()


def test_the_cosignature_is_the_c2sp_cosignature_v1_format(log: SigningLog) -> None:
    """Decoded by hand per tlog-cosignature: key ID, u64 timestamp, Ed25519 over the message."""
    key = SigningKey.generate()
    name = "witness.example/w1"
    text = log.checkpoint(7).text()
    line = CosignatureSigner(name, key).signature_line(text, NOW)
    assert line.startswith(f"\u2014 {name} ")
    raw = base64.b64decode(line.rstrip("\n").split(" ")[2])
    public = key.public.raw
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == NOW
    message = f"cosignature/v1\ntime {NOW}\n{text}".encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if wrong
    assert len(raw) == 4 + 8 + 64


@pytest.mark.parametrize("timestamp", [0, -1, 2**63])
def test_the_signer_refuses_a_timestamp_the_spec_forbids(log: SigningLog, timestamp: int) -> None:
    with pytest.raises(CosignatureError):
        CosignatureSigner("witness.example/w1", SigningKey.generate()).signature_line(
            log.checkpoint(1).text(), timestamp
        )


def test_a_witness_whose_clock_reads_zero_cosigns_and_stores_nothing(
    log: SigningLog, tmp_path: Path
) -> None:
    config = witness_config(f"sqlite:///{tmp_path / 'w.db'}", tmp_path / "k.pem", [log])
    store = WitnessStore.open(config.database_url)
    try:
        clock = FixedClock(0)
        service = WitnessService(
            name=config.name,
            key=SigningKey.load(config.signing_key),
            logs=config.logs,
            store=store,
            clock=clock,
        )
        with pytest.raises(WitnessClockError):
            service.add_checkpoint(log.body(0, 4))
        assert store.latest(log.origin) is None
        clock.set(NOW)
        assert service.add_checkpoint(log.body(0, 4)).timestamp == NOW
        assert store.latest(log.origin) is not None
    finally:
        store.close()
