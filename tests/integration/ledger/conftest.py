"""Fixtures for the ledger on real databases (SQLite and PostgreSQL via ``database_url``) and
behind a real gRPC server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import grpc
import pytest

from alprfed.clock import FixedClock
from alprfed.errors import PermissionDenied
from alprfed.ledger.entry import PendingEntry
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.writer import LedgerWriter
from alprfed.rpc.errors import AsyncErrorMappingInterceptor
from alprfed.rpc.identity import Identity, peer_identity
from alprfed.signing import SigningKey
from gateway.audit import AuditTrail
from gateway.ledger_servicer import OPEN_COMMITMENT, LedgerServicer

ORIGIN = "ledger.alprfed.test/federation"


@pytest.fixture
def ledger_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def verifier(ledger_key: SigningKey) -> NoteVerifier:
    return NoteVerifier.for_key(ORIGIN, ledger_key.public)


@pytest.fixture
def store(database_url: str, ledger_key: SigningKey, clock: FixedClock) -> Iterator[LedgerStore]:
    opened = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    yield opened
    opened.close()


def _decision(n: int, plates: tuple[str, ...] = ()) -> PendingEntry:
    return PendingEntry("query_decision", {"query_id": f"q-{n}", "allowed": n % 3 != 0}, plates)


@pytest.fixture
def decision() -> Callable[..., PendingEntry]:
    """``decision(n, plates=())``: a query-decision entry numbered ``n``, as a gateway writes."""
    return _decision


@pytest.fixture
def log(store: LedgerStore, fill: Callable[[LedgerStore, list[int]], None]) -> LedgerStore:
    """8 entries in 3 batches (so 4 signed checkpoints): a warrant, then 3 and 4 decisions."""
    store.append_batch([PendingEntry("warrant_registered", {"warrant_id": "w-1"}, ("7ABC123",))])
    fill(store, [3, 4])
    return store


@pytest.fixture
def fill() -> Callable[[LedgerStore, list[int]], None]:
    """Append batches of the given sizes, numbering entries consecutively."""

    def run(target: LedgerStore, batch_sizes: list[int]) -> None:
        n = target.size()
        for size in batch_sizes:
            target.append_batch([_decision(n + i) for i in range(size)])
            n += size

    return run


async def _authorize(context: grpc.aio.ServicerContext, action: str) -> Identity:
    """Auditors (organization "oversight") may read and open; others may only read."""
    identity = peer_identity(context, insecure=True)
    if action == OPEN_COMMITMENT and identity.organization != "oversight":
        raise PermissionDenied(f"{identity} may not {action}")
    return identity


class LedgerServer:
    """A grpc.aio server with the Ledger service on its own event loop in a thread, as inside a
    gateway (plaintext: identities come from the --insecure header)."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        writer = LedgerWriter(self._store)
        server = grpc.aio.server(interceptors=[AsyncErrorMappingInterceptor()])
        LedgerServicer(self._store, AuditTrail(writer), _authorize).add_to_server(server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._ready.set()
        await self._stop.wait()
        await server.stop(grace=None)
        await writer.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> LedgerServer:
        self._thread.start()
        assert self._ready.wait(timeout=30), "the ledger server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)


@pytest.fixture
def ledger_address(store: LedgerStore) -> Iterator[str]:
    """HOST:PORT of a running Ledger service over ``store``."""
    with LedgerServer(store) as running:
        yield running.address
