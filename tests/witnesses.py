"""Test helpers for the witness: a real RFC 6962 log that signs checkpoints, request bodies,
witness configurations (in memory and as TOML files) and a live witness server on loopback,
spoken to over HTTP with aiohttp's client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import aiohttp

from alprfed.clock import Clock
from alprfed.ledger.checkpoint import Checkpoint, sign_checkpoint
from alprfed.ledger.cosignature import CosignatureVerifier
from alprfed.ledger.merkle import MemoryTree
from alprfed.ledger.note import NoteSigner, NoteVerifier
from alprfed.signing import SigningKey
from witness.config import WitnessConfig, WitnessedLog
from witness.protocol import origin_hash
from witness.server import WitnessServer, create_server

ORIGIN = "ledger.example-federation.org/v1"
WITNESS_NAME = "witness.ca-state-auditor.example/w1"


class SigningLog:
    """An in-memory RFC 6962 log: entries ``entry 0``, ``entry 1``, ..., checkpoints of any size
    signed by its key, and consistency proofs (alprfed.ledger.merkle.MemoryTree)."""

    def __init__(
        self, origin: str = ORIGIN, key: SigningKey | None = None, *, entries: str = "entry"
    ) -> None:
        self.origin = origin
        self.entries = entries  # another prefix with the same key: a fork of the same log
        self.key = key or SigningKey.generate()
        self.signer = NoteSigner(origin, self.key)
        self.tree = MemoryTree()

    @property
    def verifier(self) -> NoteVerifier:
        return self.signer.verifier

    def grow_to(self, size: int) -> None:
        while self.tree.size < size:
            self.tree.append(f"{self.entries} {self.tree.size}".encode())

    def checkpoint(self, size: int) -> Checkpoint:
        self.grow_to(size)
        return Checkpoint(self.origin, size, self.tree.root(size))

    def note(self, size: int) -> str:
        return sign_checkpoint(self.checkpoint(size), self.signer)

    def proof(self, old: int, size: int) -> list[bytes]:
        self.grow_to(size)
        return self.tree.consistency_proof(old, size) if 0 < old < size else []

    def body(self, old: int, size: int) -> bytes:
        """A correct add-checkpoint body from ``old`` to ``size``."""
        return add_checkpoint_body(old, self.proof(old, size), self.note(size))


def add_checkpoint_body(old: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = [f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode()


def witness_config(
    database_url: str,
    key_path: Path,
    logs: Sequence[SigningLog],
    *,
    name: str = WITNESS_NAME,
    listen: str = "127.0.0.1:0",
) -> WitnessConfig:
    if not key_path.exists():
        SigningKey.generate().save(key_path)
    return WitnessConfig(
        name=name,
        signing_key=key_path,
        database_url=database_url,
        logs=MappingProxyType(
            {log.origin: WitnessedLog(log.origin, (log.verifier,)) for log in logs}
        ),
        listen=listen,
    )


def write_witness_toml(
    path: Path, *, key: str, database_url: str, listen: str, logs: Sequence[SigningLog]
) -> None:
    lines = [
        "[witness]",
        f'name = "{WITNESS_NAME}"',
        f'signing_key = "{key}"',
        f'database_url = "{database_url}"',
        f'listen = "{listen}"',
    ]
    for log in logs:
        lines += ["", "[[log]]", f'origin = "{log.origin}"', f'keys = ["{log.verifier.to_vkey()}"]']
    path.write_text("\n".join(lines) + "\n")


REQUEST_TIMEOUT_S = 20.0  # per request: bounds every test even if the server hangs


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    content_type: str  # the raw header


@dataclass
class LiveWitness:
    server: WitnessServer
    url: str
    session: aiohttp.ClientSession
    verifier: CosignatureVerifier

    async def add_checkpoint(self, body: bytes) -> Answer:
        async with self.session.post(
            f"{self.url}/add-checkpoint",
            data=body,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as response:
            return Answer(
                response.status, await response.text(), response.headers.get("Content-Type", "")
            )

    async def get(self, path: str) -> Answer:
        async with self.session.get(
            f"{self.url}{path}", timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        ) as response:
            return Answer(
                response.status, await response.text(), response.headers.get("Content-Type", "")
            )

    async def stored_size(self, origin: str) -> int:
        """What a log learns when it asks with old size 0: the witness's size (or 0)."""
        answer = await self.get(f"/{origin_hash(origin)}/checkpoint")
        if answer.status == 404:
            return 0
        assert answer.status == 200, answer
        return int(answer.text.split("\n")[1])


@asynccontextmanager
async def live_witness(config: WitnessConfig, clock: Clock) -> AsyncIterator[LiveWitness]:
    server, port = await create_server(config, clock=clock)
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            key = SigningKey.load(config.signing_key)
            yield LiveWitness(
                server,
                f"http://127.0.0.1:{port}",
                session,
                CosignatureVerifier.for_key(config.name, key.public),
            )
    finally:
        await server.stop()
