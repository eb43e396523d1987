"""Real services in child processes, so a benchmark's client never shares their interpreter.

    python -m bench.hosts node NODE_TOML [NODE_TOML ...]   # real agency nodes, one process
    python -m bench.hosts gateway GATEWAY_TOML             # the real gateway (grpc.aio)

The child starts every server with its own ``create_server`` from its config (mutual TLS, its
database), prints one JSON line ``{"ports": [...]}`` once all are serving, and runs until its
standard input closes; then it stops them gracefully and exits. Many nodes in one process are
many real gRPC servers, each with its own port, thread pool, database and keys: on a 2-core
machine, 32 processes would measure the scheduler more than the nodes.

``Host`` is the parent's side: a context manager that starts the child, waits for it to be
ready and always stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO

from alprfed.heap import freeze_startup_heap

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0  # 16 nodes each load the law book and open a database
# And per server hosted past those: one node's start (keys, trust, database checked, server)
# took 0.5-3 s on the shared 2-core machine with 8 processes starting 128 each.
READY_PER_SERVER_S = 3.0
READY_INCLUDED_SERVERS = 16
STOP_TIMEOUT_S = 30.0
STOP_GRACE_S = 1.0
LOG_TAIL_CHARS = 2_000


class HostError(RuntimeError):
    """A child process did not become ready; the message holds the end of its log."""


class Host:
    """A child process serving nodes (``kind="node"``) or a gateway (``kind="gateway"``)."""

    def __init__(
        self,
        kind: str,
        configs: list[Path],
        log_path: Path,
        *,
        ready_timeout_s: float | None = None,
    ) -> None:
        if kind not in ("node", "gateway"):
            raise ValueError(f"unknown host kind {kind!r}")
        self.kind = kind
        self.ready_timeout_s = ready_timeout_s
        self.configs = configs
        self.log_path = log_path
        self.ports: list[int] = []
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the host is not running")
        return self._process.pid

    def start(self) -> None:
        """Launch the child; ``__enter__`` (or ``start_all``) then waits until it serves."""
        if self._process is not None:
            return
        self._log = self.log_path.open("a", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.hosts", self.kind, *map(str, self.configs)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def wait_ready(self) -> Host:
        """Block until the child announced its ports. Raises: HostError with its log's end."""
        if self._process is None:
            raise RuntimeError("the host was not started")
        stdout = self._process.stdout
        assert stdout is not None  # opened with stdout=PIPE
        lines: list[str] = []
        # A thread, so a child that hangs before printing cannot hang the benchmark.
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        timeout = self.ready_timeout_s or READY_TIMEOUT_S + READY_PER_SERVER_S * max(
            0, len(self.configs) - READY_INCLUDED_SERVERS
        )
        reader.join(timeout)
        if not lines or not lines[0].strip():
            status = self._process.poll()
            what = (
                f"did not become ready in {timeout:.0f} s"
                if status is None
                else f"exited with status {status} before it was ready"
            )
            raise HostError(f"{self.kind} host {what}; its log ends:\n{self._log_tail()}")
        self.ports = [int(port) for port in json.loads(lines[0])["ports"]]
        return self

    def __enter__(self) -> Host:
        self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8")[-LOG_TAIL_CHARS:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Close the child's standard input (its signal to stop gracefully) and reap it."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()  # only the child this Host started, by its own handle
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_all(stack: ExitStack, hosts: list[Host]) -> list[Host]:
    """Launch every host at once (their start-up overlaps), then wait for each to serve.

    Every host is stopped when ``stack`` closes, including when one fails to start.
    """
    for host in hosts:
        stack.callback(host.stop)
        host.start()
    return [host.wait_ready() for host in hosts]


# --- the child's side -------------------------------------------------------------------------


def _announce(ports: list[int]) -> None:
    sys.stdout.write(json.dumps({"ports": ports}) + "\n")
    sys.stdout.flush()


def serve_nodes(configs: list[Path]) -> None:
    from agency_node.server import create_server
    from alprfed.config import load_node_config
    from alprfed.law import LawBook, load_law_book

    servers = []
    # One law book per policies directory, shared by the process's nodes: they never change
    # it, and 128 nodes each parsing 51 packs would dominate a national federation's start.
    books: dict[Path, LawBook] = {}
    try:
        ports = []
        for path in configs:
            config = load_node_config(path)
            policies = config.effective_policies_dir
            if policies not in books:
                books[policies] = load_law_book(policies)
            server, port = create_server(config, law_book=books[policies])
            server.start()
            servers.append(server)
            ports.append(port)
        freeze_startup_heap()  # as `alprfed node serve` does once it is up
        _announce(ports)
        sys.stdin.read()  # until the parent closes our standard input
    finally:
        # All at once: one by one, 128 nodes' graceful stops would outlast STOP_TIMEOUT_S.
        with ThreadPoolExecutor(max_workers=max(1, len(servers))) as stopping:
            list(stopping.map(lambda server: server.stop(grace=STOP_GRACE_S), servers))


async def serve_gateway(config: Path) -> None:
    from alprfed.config import load_gateway_config
    from gateway.server import create_server

    server, port = await create_server(load_gateway_config(config))
    await server.start()
    freeze_startup_heap()  # as `alprfed gateway serve` does
    try:
        _announce([port])
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await server.stop(grace=STOP_GRACE_S)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if len(argv) < 2 or argv[0] not in ("node", "gateway"):
        sys.stderr.write(__doc__ or "")
        return 2
    kind, configs = argv[0], [Path(arg) for arg in argv[1:]]
    if kind == "node":
        serve_nodes(configs)
    else:
        asyncio.run(serve_gateway(configs[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
