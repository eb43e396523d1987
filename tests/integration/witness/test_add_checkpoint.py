"""The C2SP tlog-witness rules over real HTTP, one test per rule, named after the attack.

Each test runs on SQLite and on PostgreSQL (``database_url``). The witness's state is read
back the way a log or monitor reads it: a 409 to ``old 0`` and the monitoring endpoint.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import pytest
from conftest import NOW
from witnesses import LiveWitness, SigningLog, add_checkpoint_body, live_witness

from alprfed.clock import FixedClock
from alprfed.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from alprfed.ledger.cosignature import add_signature_lines, verify_cosignatures
from alprfed.ledger.note import SIGNATURE_PREFIX
from witness.config import WitnessConfig
from witness.protocol import MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, origin_hash

Scenario = Callable[[LiveWitness], Awaitable[None]]


def run(config: WitnessConfig, clock: FixedClock, scenario: Scenario) -> None:
    async def main() -> None:
        async with live_witness(config, clock) as witness:
            await scenario(witness)

    asyncio.run(main())


async def cosign(witness: LiveWitness, log: SigningLog, old: int, size: int) -> str:
    answer = await witness.add_checkpoint(log.body(old, size))
    assert answer.status == 200, answer
    return answer.text


async def assert_state(witness: LiveWitness, log: SigningLog, size: int) -> None:
    """The witness is at ``size``: it says so to ``old 0`` and serves that checkpoint."""
    if size:
        answer = await witness.add_checkpoint(log.body(0, size))
        assert (answer.status, answer.text) == (409, f"{size}\n")
    served = await witness.get(f"/{origin_hash(log.origin)}/checkpoint")
    if size == 0:
        assert served.status == 404
    else:
        assert served.status == 200
        assert open_checkpoint(served.text, [log.verifier], origin=log.origin).size == size


def test_first_checkpoint_with_old_size_0_is_cosigned_at_the_clocks_time(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        note = log.note(5)
        answer = await witness.add_checkpoint(add_checkpoint_body(0, [], note))
        assert answer.status == 200
        assert answer.content_type == "text/plain; charset=utf-8"
        assert answer.text.startswith(SIGNATURE_PREFIX + witness.verifier.name + " ")
        assert answer.text.endswith("\n")
        assert answer.text.count("\n") == 1
        cosigned = verify_cosignatures(add_signature_lines(note, [answer.text]), [witness.verifier])
        assert cosigned == {witness.verifier: NOW}
        # and the next checkpoint is cosigned with a proof from the first
        clock.advance(10)
        lines = await cosign(witness, log, 5, 13)
        cosigned = verify_cosignatures(
            add_signature_lines(log.note(13), [lines]), [witness.verifier]
        )
        assert cosigned == {witness.verifier: NOW + 10}
        await assert_state(witness, log, 13)

    run(config, clock, scenario)


def test_rollback_to_an_older_size_is_409_with_the_stored_size(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 10)
        for old, size in ((0, 4), (4, 7), (0, 10)):  # older trees, with correct proofs
            answer = await witness.add_checkpoint(log.body(old, size))
            assert answer.status == 409
            assert answer.content_type == SIZE_CONTENT_TYPE
            assert answer.text == "10\n"
        await assert_state(witness, log, 10)

    run(config, clock, scenario)


def test_wrong_old_size_is_409(config: WitnessConfig, clock: FixedClock, log: SigningLog) -> None:
    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 6)
        for old in (3, 7, 5):  # below and above the stored 6, and a proof from 5 to 9
            answer = await witness.add_checkpoint(log.body(old, 9))
            assert (answer.status, answer.text, answer.content_type) == (
                409,
                "6\n",
                SIZE_CONTENT_TYPE,
            )
        await cosign(witness, log, 6, 9)  # the right old size is accepted
        await assert_state(witness, log, 9)

    run(config, clock, scenario)


def test_fork_with_the_same_size_and_another_root_is_422_and_kept_as_evidence(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    fork = SigningLog(log.origin, log.key, entries="forged")  # the log's own key, other entries

    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 5)
        answer = await witness.add_checkpoint(add_checkpoint_body(5, [], fork.note(5)))
        assert answer.status == 422
        assert "fork" in answer.text
        evidence = witness.server.service.store.evidence(log.origin)
        assert len(evidence) == 1
        assert evidence[0].request == add_checkpoint_body(5, [], fork.note(5)).decode()
        assert evidence[0].received_at == NOW
        # the same forged checkpoint again is refused again but kept only once
        assert (
            await witness.add_checkpoint(add_checkpoint_body(5, [], fork.note(5)))
        ).status == 422
        assert len(witness.server.service.store.evidence(log.origin)) == 1
        await assert_state(witness, log, 5)

    run(config, clock, scenario)


def test_fork_at_a_larger_size_fails_its_consistency_proof_with_422(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    fork = SigningLog(log.origin, log.key, entries="forged")

    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 5)
        # the fork's own, internally valid, proof from its size 5 to 9
        answer = await witness.add_checkpoint(fork.body(5, 9))
        assert answer.status == 422
        await assert_state(witness, log, 5)

    run(config, clock, scenario)


def test_bad_consistency_proof_is_422(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 5)
        proof = log.proof(5, 11)
        for position in range(len(proof)):
            bad = list(proof)
            bad[position] = bytes([bad[position][0] ^ 1]) + bad[position][1:]
            body = add_checkpoint_body(5, bad, log.note(11))
            assert (await witness.add_checkpoint(body)).status == 422
        for bad in (proof[:-1], [*proof, proof[0]], []):  # too short, too long, missing
            body = add_checkpoint_body(5, bad, log.note(11))
            assert (await witness.add_checkpoint(body)).status == 422
        await assert_state(witness, log, 5)

    run(config, clock, scenario)


def test_non_empty_proof_from_old_size_0_is_422(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        body = add_checkpoint_body(0, log.proof(3, 8), log.note(8))
        assert (await witness.add_checkpoint(body)).status == 422
        await assert_state(witness, log, 0)

    run(config, clock, scenario)


def test_size_0_with_a_non_empty_tree_root_is_422(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        lying = sign_checkpoint(Checkpoint(log.origin, 0, log.checkpoint(3).root), log.signer)
        assert (await witness.add_checkpoint(add_checkpoint_body(0, [], lying))).status == 422
        await assert_state(witness, log, 0)
        # the honest empty checkpoint is cosigned, and the log grows from it
        await cosign(witness, log, 0, 0)
        await cosign(witness, log, 0, 4)
        await assert_state(witness, log, 4)

    run(config, clock, scenario)


def test_old_size_above_the_checkpoint_size_is_400(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 9)
        answer = await witness.add_checkpoint(add_checkpoint_body(9, [], log.note(8)))
        assert answer.status == 400
        await assert_state(witness, log, 9)

    run(config, clock, scenario)


def test_unknown_origin_is_404(config: WitnessConfig, clock: FixedClock, log: SigningLog) -> None:
    other = SigningLog("another-log.example/v1")

    async def scenario(witness: LiveWitness) -> None:
        assert (await witness.add_checkpoint(other.body(0, 3))).status == 404
        answer = await witness.get(f"/{origin_hash(other.origin)}/checkpoint")
        assert answer.status == 404

    run(config, clock, scenario)


def test_checkpoint_signed_only_by_an_unknown_key_is_403(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    impostor = SigningLog(log.origin)  # same origin and key name, another key

    async def scenario(witness: LiveWitness) -> None:
        assert (await witness.add_checkpoint(impostor.body(0, 3))).status == 403
        await assert_state(witness, log, 0)

    run(config, clock, scenario)


def test_bad_signature_by_a_known_key_is_403_even_beside_a_good_one(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        note = log.note(3)
        text, _, line = note.rpartition("\n\n")
        name, _, encoded = line.rstrip("\n").rpartition(" ")
        raw = bytearray(base64.b64decode(encoded))
        raw[-1] ^= 1  # key name and ID match the trusted key; the signature does not verify
        bad_line = f"{name} {base64.b64encode(bytes(raw)).decode()}\n"
        for bad_note in (f"{text}\n\n{bad_line}", f"{text}\n\n{line}{bad_line}"):
            answer = await witness.add_checkpoint(add_checkpoint_body(0, [], bad_note))
            assert answer.status == 403
        await assert_state(witness, log, 0)

    run(config, clock, scenario)


MALFORMED: dict[str, Callable[[SigningLog], bytes]] = {
    "missing_blank_line": lambda log: b"old 5\n" + log.note(8).encode(),
    "missing_blank_line_and_checkpoint": lambda log: b"old 5\n",
    "leading_zeros_in_old_size": lambda log: add_checkpoint_body(
        5, log.proof(5, 8), log.note(8)
    ).replace(b"old 5\n", b"old 05\n", 1),
    "sixty_four_proof_lines": lambda log: add_checkpoint_body(5, [b"\x01" * 32] * 64, log.note(8)),
    "proof_line_not_base64": lambda log: add_checkpoint_body(5, [], log.note(8)).replace(
        b"old 5\n", b"old 5\n!!not base64!!\n", 1
    ),
    "proof_line_non_canonical_base64": lambda log: add_checkpoint_body(5, [], log.note(8)).replace(
        b"old 5\n", b"old 5\n" + base64.b64encode(b"\x00" * 32)[:-2] + b"==\n", 1
    ),
    "proof_hash_of_31_bytes": lambda log: add_checkpoint_body(5, [b"\x02" * 31], log.note(8)),
    "garbage": lambda log: b"\xff\xfe\x00garbage\x00",
    "empty_body": lambda log: b"",
    "crlf_lines": lambda log: add_checkpoint_body(5, log.proof(5, 8), log.note(8)).replace(
        b"\n", b"\r\n"
    ),
    "negative_old_size": lambda log: add_checkpoint_body(5, [], log.note(8)).replace(
        b"old 5\n", b"old -5\n", 1
    ),
    "checkpoint_without_final_newline": lambda log: add_checkpoint_body(
        5, log.proof(5, 8), log.note(8)
    )[:-1],
    "checkpoint_text_not_a_checkpoint": lambda log: add_checkpoint_body(
        5, [], f"{log.origin}\nseven\n{'A' * 43}=\n\n" + log.note(8).rpartition("\n\n")[2]
    ),
}


@pytest.mark.parametrize("attack", sorted(MALFORMED))
def test_malformed_body_is_400_and_changes_nothing(
    config: WitnessConfig, clock: FixedClock, log: SigningLog, attack: str
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 5)
        before = await witness.get(f"/{origin_hash(log.origin)}/checkpoint")
        answer = await witness.add_checkpoint(MALFORMED[attack](log))
        assert answer.status == 400, answer
        assert "Traceback" not in answer.text
        after = await witness.get(f"/{origin_hash(log.origin)}/checkpoint")
        assert after.text == before.text
        await assert_state(witness, log, 5)

    run(config, clock, scenario)


def test_oversized_body_is_413_and_changes_nothing(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        body = add_checkpoint_body(0, [], log.note(5)) + b"x" * MAX_REQUEST_BYTES
        assert (await witness.add_checkpoint(body)).status == 413
        await assert_state(witness, log, 0)

    run(config, clock, scenario)


def test_same_checkpoint_again_is_cosigned_again(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 5)
        clock.advance(60)
        lines = await cosign(witness, log, 5, 5)
        cosigned = verify_cosignatures(
            add_signature_lines(log.note(5), [lines]), [witness.verifier]
        )
        assert cosigned == {witness.verifier: NOW + 60}

    run(config, clock, scenario)


def test_restart_keeps_the_witnessed_size(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def first(witness: LiveWitness) -> None:
        await cosign(witness, log, 0, 5)
        await cosign(witness, log, 5, 12)

    async def second(witness: LiveWitness) -> None:
        answer = await witness.add_checkpoint(log.body(5, 9))  # a rollback across the restart
        assert (answer.status, answer.text) == (409, "12\n")
        await cosign(witness, log, 12, 20)
        await assert_state(witness, log, 20)

    run(config, clock, first)
    run(config, clock, second)


def test_zero_clock_cosigns_nothing(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    clock.set(0)

    async def scenario(witness: LiveWitness) -> None:
        answer = await witness.add_checkpoint(log.body(0, 5))
        assert answer.status == 500
        assert SIGNATURE_PREFIX not in answer.text
        assert "Traceback" not in answer.text
        assert "request id" in answer.text
        await assert_state(witness, log, 0)  # nothing stored either
        clock.set(NOW)
        await cosign(witness, log, 0, 5)

    run(config, clock, scenario)


@pytest.mark.parametrize("racers", [2, 8])
def test_concurrent_submissions_never_roll_back(
    config: WitnessConfig, clock: FixedClock, log: SigningLog, racers: int
) -> None:
    rounds = 5  # each round: ``racers`` requests from the same old size, at once

    async def scenario(witness: LiveWitness) -> None:
        size = 4
        await cosign(witness, log, 0, size)
        for _ in range(rounds):
            targets = [size + 1 + 4 * i for i in range(racers)]  # N+1, N+5, ...
            answers = await asyncio.gather(
                *(witness.add_checkpoint(log.body(size, target)) for target in targets)
            )
            won = [t for t, a in zip(targets, answers, strict=True) if a.status == 200]
            lost = [a for a in answers if a.status != 200]
            assert len(won) == 1, answers  # every request carried the same old size
            assert all((a.status, a.text) == (409, f"{won[0]}\n") for a in lost), answers
            await assert_state(witness, log, won[0])
            smaller = min(targets)
            if smaller < won[0]:
                late = await witness.add_checkpoint(log.body(size, smaller))
                assert (late.status, late.text) == (409, f"{won[0]}\n")
            size = won[0]

    run(config, clock, scenario)


def test_monitoring_endpoint_serves_the_cosigned_checkpoint(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    path = f"/{origin_hash(log.origin)}/checkpoint"

    async def scenario(witness: LiveWitness) -> None:
        assert (await witness.get(path)).status == 404  # never cosigned
        stranger = SigningLog(log.origin)  # an unknown key's line rides along in the request
        note = log.note(7)
        extra = stranger.note(7).rpartition("\n\n")[2]
        lines = (await witness.add_checkpoint(add_checkpoint_body(0, [], note + extra))).text
        served = await witness.get(path)
        assert served.status == 200
        assert served.text == add_signature_lines(note, [lines])  # log line, then the witness's
        assert extra not in served.text
        assert open_checkpoint(served.text, [log.verifier], origin=log.origin).size == 7
        assert verify_cosignatures(served.text, [witness.verifier]) == {witness.verifier: NOW}
        for bad in (
            "/" + "0" * 64 + "/checkpoint",
            "/" + origin_hash(log.origin).upper() + "/checkpoint",
            "/nothex/checkpoint",
        ):
            assert (await witness.get(bad)).status == 404
        assert (await witness.get("/healthz")).status == 200

    run(config, clock, scenario)


def test_extension_lines_are_accepted_and_covered_by_the_cosignature(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    async def scenario(witness: LiveWitness) -> None:
        base = log.checkpoint(6)
        extended = Checkpoint(base.origin, base.size, base.root, ("note from the log",))
        note = sign_checkpoint(extended, log.signer)
        lines = (await witness.add_checkpoint(add_checkpoint_body(0, [], note))).text
        cosigned = verify_cosignatures(add_signature_lines(note, [lines]), [witness.verifier])
        assert cosigned == {witness.verifier: NOW}
        # the cosignature does not verify over the checkpoint without its extension line
        with pytest.raises(Exception, match="does not verify"):
            verify_cosignatures(add_signature_lines(log.note(6), [lines]), [witness.verifier])

    run(config, clock, scenario)


def test_concurrent_first_checkpoints_of_a_log_cosign_exactly_one(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    """No row yet to lock: on PostgreSQL the losers' INSERTs hit the primary key and retry."""

    async def scenario(witness: LiveWitness) -> None:
        targets = [3 + 4 * i for i in range(8)]
        answers = await asyncio.gather(
            *(witness.add_checkpoint(log.body(0, target)) for target in targets)
        )
        won = [t for t, a in zip(targets, answers, strict=True) if a.status == 200]
        assert len(won) == 1, answers
        assert all((a.status, a.text) == (409, f"{won[0]}\n") for a in answers if a.status != 200)
        await assert_state(witness, log, won[0])

    run(config, clock, scenario)
