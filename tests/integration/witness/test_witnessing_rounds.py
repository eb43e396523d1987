"""The gateway's witnessing rounds (gateway.witnessing.CheckpointWitnessing) against real
witness servers on a real ledger, quorum 2 of 3. A round a query waits for asks the quorum's
fastest witnesses first, so these check what that must not cost: a first witness that hangs
or is down must not hold the round (the others are asked after the hedge delay, or at once),
and every witness still ends up cosigning the log's head."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import MappingProxyType

import pytest

from alprfed.clock import FixedClock
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.cosignature import CosignatureVerifier
from alprfed.ledger.entry import PendingEntry
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.signing import SigningKey
from gateway.witnessing import COALESCE_DELAY_S, CheckpointWitnessing
from witness.config import WitnessConfig, WitnessedLog
from witness.server import create_server

ORIGIN = "ledger.alprfed.test/federation"
NAMES = ("w-first", "w-second", "w-third")  # the policy's order: the first asked when all tie
# Far beyond any round here: a round that waited for a hanging witness would fail the test.
REQUEST_TIMEOUT_S = 60.0
ROUND_TIMEOUT_S = 10.0
# No round nobody waits for within the test: only the hedge can ask the third witness.
NEVER_S = 3600.0


class Ledger:
    def __init__(self, tmp_path: Path, clock: FixedClock) -> None:
        self.store = LedgerStore.open(
            f"sqlite:///{tmp_path / 'ledger.db'}",
            origin=ORIGIN,
            signer=SigningKey.generate(),
            clock=clock,
        )
        self.appended = 0

    async def append(self, witnessing: CheckpointWitnessing) -> int:
        """One entry; tell the witnessing, as the gateway's writer does. Returns the size."""
        self.appended += 1
        entry = PendingEntry("warrant_revoked", {"warrant_id": f"w-{self.appended}"})
        await asyncio.to_thread(self.store.append_batch, [entry])
        note = self.store.head_checkpoint()
        witnessing.checkpoint_signed(note)
        return read_checkpoint(note).size


@asynccontextmanager
async def witnesses(
    tmp_path: Path, ledger: Ledger, clock: FixedClock, *, hanging: str = "", down: str = ""
) -> AsyncIterator[tuple[WitnessPolicy, dict[str, str]]]:
    """Real witness servers for NAMES (but ``hanging``: accepts and never answers; ``down``:
    nothing listens), the 2-of-3 policy naming them, and each one's URL."""
    verifier = ledger.store._signer.verifier
    lines, urls = [f"log {verifier.to_vkey()}"], {}
    async with AsyncExitStack() as stack:
        for name in NAMES:
            key = SigningKey.generate()
            key.save(tmp_path / f"{name}.pem")
            if name == hanging:
                port = await _silent_server(stack)
            elif name == down:
                port = _closed_port()
            else:
                config = WitnessConfig(
                    name=name,
                    signing_key=tmp_path / f"{name}.pem",
                    database_url=f"sqlite:///{tmp_path / f'{name}.db'}",
                    logs=MappingProxyType({ORIGIN: WitnessedLog(ORIGIN, (verifier,))}),
                )
                server, port = await create_server(config, clock=clock)
                await server.start()
                stack.push_async_callback(server.stop)
            urls[name] = f"http://127.0.0.1:{port}"
            vkey = CosignatureVerifier.for_key(name, key.public).to_vkey()
            lines.append(f"witness {name} {vkey} {urls[name]}")
        lines += [f"group two-of-three 2 {' '.join(NAMES)}", "quorum two-of-three"]
        yield WitnessPolicy.parse("\n".join(lines) + "\n", where="test policy"), urls


async def _silent_server(stack: AsyncExitStack) -> int:
    """A witness that hangs: accepts connections and never answers. Returns its port."""
    held: list[asyncio.StreamWriter] = []

    def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)

    async def close() -> None:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()

    stack.push_async_callback(close)
    return int(server.sockets[0].getsockname()[1])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _witnessing(
    policy: WitnessPolicy,
    ledger: Ledger,
    body: Callable[[CheckpointWitnessing], Awaitable[None]],
    *,
    coalesce_delay_s: float = COALESCE_DELAY_S,
) -> None:
    witnessing = CheckpointWitnessing(
        ledger.store,
        policy,
        request_timeout_s=REQUEST_TIMEOUT_S,
        coalesce_delay_s=coalesce_delay_s,
    )
    await witnessing.start()
    try:
        await body(witnessing)
    finally:
        await witnessing.stop()


async def _caught_up(witnessing: CheckpointWitnessing, names: tuple[str, ...], size: int) -> None:
    async with asyncio.timeout(ROUND_TIMEOUT_S):
        while any(witnessing.states[n].size != size for n in names):
            await asyncio.sleep(COALESCE_DELAY_S / 4)


def test_each_waited_round_reaches_the_quorum_and_every_witness_catches_up(
    tmp_path: Path, clock: FixedClock
) -> None:
    ledger = Ledger(tmp_path, clock)

    async def scenario() -> None:
        async with witnesses(tmp_path, ledger, clock) as (policy, _):

            async def rounds(witnessing: CheckpointWitnessing) -> None:
                await _caught_up(witnessing, NAMES, 0)  # the first round asks every witness
                for _ in range(5):
                    size = await ledger.append(witnessing)
                    published = await witnessing.wait_published(size, ROUND_TIMEOUT_S)
                    assert read_checkpoint(published).size == size
                    assert len(policy.check(published).cosigners) >= 2
                    # every witness cosigns the head, the third in a round nobody waits for
                    await _caught_up(witnessing, NAMES, size)

            await _witnessing(policy, ledger, rounds)

    try:
        asyncio.run(scenario())
    finally:
        ledger.store.close()


@pytest.mark.parametrize("fault", ["hanging", "down"])
def test_a_first_witness_hanging_or_down_does_not_hold_the_round(
    tmp_path: Path, clock: FixedClock, fault: str
) -> None:
    """The faulty witness is first in the policy, so rounds may pick it first; only the hedge
    (no coalesced round comes within the test) asks the third witness instead of waiting out
    the request timeout (hanging) or the retry backoff (down)."""
    ledger = Ledger(tmp_path, clock)
    faulty = {fault: "w-first"}

    async def scenario() -> None:
        async with witnesses(tmp_path, ledger, clock, **faulty) as (policy, _):

            async def rounds(witnessing: CheckpointWitnessing) -> None:
                for _ in range(3):
                    size = await ledger.append(witnessing)
                    published = await witnessing.wait_published(size, ROUND_TIMEOUT_S)
                    assert set(policy.check(published).cosigners) == {"w-second", "w-third"}
                if fault == "down":
                    assert witnessing.states["w-first"].last_error  # named in the state
                assert witnessing.reachable_quorum() is None  # two answering: still ready

            await _witnessing(policy, ledger, rounds, coalesce_delay_s=NEVER_S)

    try:
        asyncio.run(scenario())
    finally:
        ledger.store.close()
