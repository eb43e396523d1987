"""Run a real gateway (grpc.aio over mutual TLS) on its own event-loop thread for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agency_node.server import NodeServer
from agency_node.server import create_server as create_node_server
from agency_node.storage import NodeStore
from agency_node.synthetic import generate
from alprfed.clock import SYSTEM_CLOCK, Clock
from alprfed.config import GatewayConfig, load_gateway_config, load_node_config
from alprfed.demo.layout import Layout
from alprfed.observability.telemetry import Telemetry
from gateway.server import GatewayServer, create_server


class GatewayThread:
    """A gateway whose event loop runs in a daemon thread; tests call it as any client would."""

    def __init__(
        self,
        config: GatewayConfig,
        clock: Clock = SYSTEM_CLOCK,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._telemetry = telemetry
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: GatewayServer | None = None
        self.port = 0

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def start(self) -> GatewayThread:
        self._thread.start()

        async def start() -> tuple[GatewayServer, int]:
            server, port = await create_server(
                self._config, clock=self._clock, telemetry=self._telemetry
            )
            await server.start()
            return server, port

        self.server, self.port = self._run(start())
        return self

    def reload_policy(self) -> bool:
        assert self.server is not None
        return bool(self._run(self.server.reload_policy()))

    def stop(self) -> None:
        if self.server is not None:
            self._run(self.server.stop(grace=None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class WitnessThread:
    """A real witness (aiohttp, its own database) whose event loop runs in a daemon thread."""

    def __init__(self, config_path: Path) -> None:
        from witness.config import load_witness_config

        self._config = load_witness_config(config_path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def start(self) -> WitnessThread:
        from witness.server import create_server as create_witness

        self._thread.start()

        async def start() -> Any:
            server, _ = await create_witness(self._config)
            await server.start()
            return server

        self._server = self._run(start())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._run(self._server.stop())
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextmanager
def running_gateway(layout: Layout) -> Iterator[GatewayThread]:
    gateway = GatewayThread(load_gateway_config(layout.gateway_config)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def seed_node(layout: Layout, agency_id: str, *, sightings: int, seed: int, now: int) -> None:
    config = load_node_config(layout.node_config(agency_id), insecure=True)
    data = generate(
        agency_id=agency_id, state=config.state, sightings=sightings, seed=seed, now=now, days=40
    )
    store = NodeStore.open(config.database_url)
    try:
        store.bulk_load(data.cameras, data.sightings)
    finally:
        store.close()


def start_node(layout: Layout, agency_id: str, clock: Clock = SYSTEM_CLOCK) -> NodeServer:
    server, _ = create_node_server(load_node_config(layout.node_config(agency_id)), clock=clock)
    server.start()
    return server


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])
