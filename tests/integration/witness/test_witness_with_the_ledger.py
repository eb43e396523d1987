"""The witness cosigns checkpoints of a real alprfed ledger (LedgerStore) as the gateway
submits them (gateway.witness_client.submit_checkpoint), and the cosigned checkpoints satisfy a
C2SP witness policy naming it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import MappingProxyType

import aiohttp
import pytest
from witnesses import WITNESS_NAME

from alprfed.clock import FixedClock
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.cosignature import CosignatureVerifier, add_signature_lines
from alprfed.ledger.entry import PendingEntry
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.signing import SigningKey
from gateway.witness_client import WitnessConflict, submit_checkpoint
from witness.config import WitnessConfig, WitnessedLog
from witness.server import create_server

ORIGIN = "ledger.alprfed.test/federation"
TIMEOUT_S = 20.0


def test_ledger_checkpoints_are_cosigned_and_satisfy_the_policy(
    database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    ledger_key, witness_key = SigningKey.generate(), SigningKey.generate()
    witness_key.save(tmp_path / "witness-key.pem")
    ledger = LedgerStore.open(
        f"sqlite:///{tmp_path / 'ledger.db'}", origin=ORIGIN, signer=ledger_key, clock=clock
    )
    log_verifier = ledger._signer.verifier
    config = WitnessConfig(
        name=WITNESS_NAME,
        signing_key=tmp_path / "witness-key.pem",
        database_url=database_url,
        logs=MappingProxyType({ORIGIN: WitnessedLog(ORIGIN, (log_verifier,))}),
    )
    vkey = CosignatureVerifier.for_key(WITNESS_NAME, witness_key.public).to_vkey()
    policy = WitnessPolicy.parse(
        f"log {log_verifier.to_vkey()}\nwitness w1 {vkey}\nquorum w1\n", where="test policy"
    )

    async def scenario() -> None:
        server, port = await create_server(config, clock=clock)
        url = f"http://127.0.0.1:{port}"
        try:
            await server.start()
            async with aiohttp.ClientSession() as session:
                old = 0
                for batch in range(4):
                    entries = [
                        PendingEntry("warrant_revoked", {"warrant_id": f"w-{batch}-{i}"})
                        for i in range(batch + 1)
                    ]
                    await asyncio.to_thread(ledger.append_batch, entries)
                    note = ledger.head_checkpoint()
                    size = read_checkpoint(note).size
                    proof = ledger.consistency_proof(old, size) if 0 < old < size else []
                    lines = await submit_checkpoint(
                        session, url, old_size=old, proof=proof, note=note, timeout_s=TIMEOUT_S
                    )
                    witnessed = policy.check(add_signature_lines(note, [lines]))
                    assert witnessed.checkpoint.size == size
                    assert set(witnessed.cosigners) == {"w1"}
                    old = size
                # a rollback to the ledger's first checkpoint, as a gateway out of step sends it
                with pytest.raises(WitnessConflict) as conflict:
                    await submit_checkpoint(
                        session,
                        url,
                        old_size=0,
                        proof=[],
                        note=ledger.head_checkpoint(),
                        timeout_s=TIMEOUT_S,
                    )
                assert conflict.value.size == old
        finally:
            await server.stop()

    try:
        asyncio.run(scenario())
    finally:
        ledger.close()
