"""Does grpc.aio serve a node's unary call faster than the thread-pool server? ``python -m
bench.rpc_servers``.

The same ``GetNodeInfo`` answer served over the node's own mutual TLS credentials
(``alprfed.rpc.tls.add_port``, the node's server options) by a ``grpc.server`` with a thread
pool (as ``agency_node.server`` serves) and by a ``grpc.aio.server``, each in its own child
process; one synchronous client (the gateway's identity) calls each in turn, round after
round, so both see the same machine state. What is left is gRPC's own cost of one call: the
floor under every node search whichever server runs it.

    python -m bench.rpc_servers [--calls 1500] [--rounds 3]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from concurrent import futures
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import click
import grpc

from alprfed.config import load_node_config
from alprfed.rpc.tls import SERVER_OPTIONS, add_port, secure_channel
from alprfed.v1 import node_pb2, node_pb2_grpc
from bench.federation import gateway_tls, node_ids, write_layout

SERVERS = ("thread pool", "grpc.aio")
WARMUP_CALLS = 200
WORKERS = 16  # as agency_node.server.MAX_WORKERS


class _Info(node_pb2_grpc.AgencyNodeServicer):  # type: ignore[misc]
    def __init__(self, info: node_pb2.NodeInfo) -> None:
        self._info = info

    def GetNodeInfo(self, request: Any, context: Any) -> node_pb2.NodeInfo:
        return self._info


class _AioInfo(_Info):
    async def GetNodeInfo(self, request: Any, context: Any) -> node_pb2.NodeInfo:  # type: ignore[override]
        return self._info


def _serve(kind: str, node_toml: Path, agency: str, ports: Queue[int]) -> None:
    tls = load_node_config(node_toml).tls
    info = node_pb2.NodeInfo(agency_id=agency, state="CA")
    if kind == SERVERS[0]:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKERS), options=SERVER_OPTIONS
        )
        node_pb2_grpc.add_AgencyNodeServicer_to_server(_Info(info), server)
        ports.put(add_port(server, "localhost:0", tls))
        server.start()
        server.wait_for_termination()
        return

    async def serve_aio() -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        node_pb2_grpc.add_AgencyNodeServicer_to_server(_AioInfo(info), server)
        ports.put(add_port(server, "localhost:0", tls))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve_aio())


def _p50_ms(stub: Any, calls: int) -> float:
    request = node_pb2.GetNodeInfoRequest()
    for _ in range(WARMUP_CALLS):
        stub.GetNodeInfo(request, timeout=5)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        stub.GetNodeInfo(request, timeout=5)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


@click.command()
@click.option("--calls", default=1500, show_default=True, help="Timed calls per server a round.")
@click.option("--rounds", default=3, show_default=True, help="Rounds, servers interleaved.")
def main(calls: int, rounds: int) -> None:
    context = multiprocessing.get_context("spawn")  # no gRPC state inherited by a fork
    with tempfile.TemporaryDirectory(prefix="alprfed-rpc-") as scratch:
        agency = node_ids(1)[0]
        layout = write_layout(Path(scratch) / "federation", 1)
        children, stubs = [], {}
        try:
            for kind in SERVERS:
                ports: Queue[int] = context.Queue()
                node_toml = layout.node_config(agency)
                child = context.Process(
                    target=_serve, args=(kind, node_toml, agency, ports), daemon=True
                )
                child.start()
                children.append(child)
                channel = secure_channel(f"localhost:{ports.get(timeout=60)}", gateway_tls(layout))
                stubs[kind] = node_pb2_grpc.AgencyNodeStub(channel)
            for number in range(1, rounds + 1):
                figures = ", ".join(f"{k} {_p50_ms(s, calls):.3f} ms" for k, s in stubs.items())
                print(f"round {number}: unary mTLS call p50: {figures}", flush=True)
        finally:
            for child in children:
                child.terminate()
                child.join()


if __name__ == "__main__":
    main()
