"""A real `alprfed witness serve` process is SIGKILLed while requests are in flight; restarted,
it still refuses every size below the largest one it acknowledged: no rollback.

Several clients race to extend a real RFC 6962 log through the witness (each resyncs on 409,
as a log does). A size counts as acknowledged only when its 200 answer arrived whole. The
witness commits (fsync) before answering, so after any kill its stored size must be at least
every acknowledged size -- possibly more, for a commit whose answer the kill cut off.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import faults
import pytest
from gateways import free_port
from witnesses import SigningLog, write_witness_toml

from alprfed.ledger.checkpoint import open_checkpoint
from alprfed.ledger.cosignature import CosignatureVerifier, verify_cosignatures
from alprfed.signing import SigningKey
from witness.protocol import origin_hash

REPO = Path(__file__).resolve().parents[3]
KILLS = 3
SOAK_KILLS = 30  # make soak
CLIENTS = 4  # concurrent submitters, so requests are in flight when the kill lands
ACKS_BEFORE_KILL = 15  # per round, at least this many 200s before the kill
ROUND_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0
MAX_STEP = 5  # leaves added per submission


def _start(config: Path, log_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "alprfed", "-v", "witness", "serve", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_file: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the witness exited: {log_file.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the witness did not become ready: {log_file.read_text()}")


class Submitters:
    """Clients extending the log through the witness; they remember what was acknowledged."""

    def __init__(self, log: SigningLog, url: str) -> None:
        self.log = log
        self.url = url
        self.known = 0  # the witness's size as the clients last learnt it
        self.acknowledged = 0  # the largest size answered with a whole 200
        self.acks = 0

    async def run_until_killed(self, process: subprocess.Popen[bytes]) -> None:
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(self._client(session, stop, i)) for i in range(CLIENTS)]
            deadline = time.monotonic() + ROUND_TIMEOUT_S
            while self.acks < ACKS_BEFORE_KILL:
                assert time.monotonic() < deadline, "too few acknowledgements in time"
                assert process.poll() is None, "the witness died on its own"
                await asyncio.sleep(0.005)
            process.send_signal(signal.SIGKILL)  # the clients still have requests in flight
            await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*tasks)

    async def _client(self, session: aiohttp.ClientSession, stop: asyncio.Event, i: int) -> None:
        step = 1 + i % MAX_STEP
        while not stop.is_set():
            old = self.known
            size = old + step
            try:
                async with session.post(
                    f"{self.url}/add-checkpoint",
                    data=self.log.body(old, size),
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                ) as response:
                    text = await response.text()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.01)  # the witness is gone: nothing was acknowledged
                continue
            if status == 200:
                self.acknowledged = max(self.acknowledged, size)
                self.acks += 1
                self.known = max(self.known, size)
            elif status == 409:
                self.known = max(self.known, int(text))
            else:
                raise AssertionError(f"unexpected answer {status}: {text}")


async def _check_no_rollback(log: SigningLog, url: str, acknowledged: int, vkey: str) -> int:
    """Return the restarted witness's size after checking it refuses everything older."""
    async with aiohttp.ClientSession() as session:

        async def post(old: int, size: int) -> tuple[int, str]:
            async with session.post(
                f"{url}/add-checkpoint",
                data=log.body(old, size),
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            ) as response:
                return response.status, await response.text()

        status, text = await post(0, max(acknowledged, 1))
        assert status == 409
        stored = int(text)
        if stored < acknowledged:  # cosignatures it acknowledged and then forgot
            faults.add(acknowledged_lost=acknowledged - stored)
        assert stored >= acknowledged, f"rolled back from {acknowledged} to {stored}"
        # every size below the acknowledged one, from any old size, is refused
        sizes = [*range(1, acknowledged, max(1, acknowledged // 40)), acknowledged - 1]
        for size in sizes if acknowledged > 1 else []:
            for old in {0, size // 2, size}:
                assert await post(old, size) == (409, f"{stored}\n")
        async with session.get(f"{url}/{origin_hash(log.origin)}/checkpoint") as response:
            note = await response.text()
        checkpoint = open_checkpoint(note, [log.verifier], origin=log.origin)
        assert (checkpoint.size, checkpoint.root) == (stored, log.tree.root(stored))
        assert verify_cosignatures(note, [CosignatureVerifier.from_vkey(vkey)])
        # and it carries on from there
        assert (await post(stored, stored + 3))[0] == 200
        return stored + 3


@pytest.mark.slow
def test_sigkill_while_cosigning_never_rolls_the_witness_back(tmp_path: Path, soak: bool) -> None:
    log = SigningLog()
    key = SigningKey.generate()
    key.save(tmp_path / "witness-key.pem")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "witness.toml"
    write_witness_toml(
        config,
        key="witness-key.pem",
        database_url="sqlite:///witness.db",
        listen=f"127.0.0.1:{port}",
        logs=[log],
    )
    log_file = tmp_path / "witness.log"
    vkey_line = ""
    submitters = Submitters(log, url)
    for _ in range(SOAK_KILLS if soak else KILLS):
        faults.add(kills_tried=1)
        process = _start(config, log_file)
        try:
            _wait_ready(process, url, log_file)
            asyncio.run(submitters.run_until_killed(process))
            assert process.wait(timeout=10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        assert submitters.acknowledged > 0
        process = _start(config, log_file)
        try:
            _wait_ready(process, url, log_file)
            vkey_line = next(
                line for line in log_file.read_text().splitlines() if line.startswith("witness ")
            )
            known = asyncio.run(
                _check_no_rollback(log, url, submitters.acknowledged, vkey_line.split()[1])
            )
            submitters.known = known
            faults.add(kills_survived=1, acknowledged=submitters.acks)
            submitters.acknowledged = max(submitters.acknowledged, known)
            submitters.acks = 0
            process.send_signal(signal.SIGTERM)  # a graceful stop, to be killed again next round
            assert process.wait(timeout=20) == 0, log_file.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert faults.scan_logs([log_file]) == []
