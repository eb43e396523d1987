"""Run a federation as separate processes on this machine: one per witness and node, a gateway.

Each service is the real command an agency would run (``alprfed node serve``, ``alprfed
gateway serve``) with its own config, its own database and its own log file. Readiness is the
standard gRPC health check over mutual TLS. Stopping is graceful (SIGTERM), then forceful.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from alprfed.config import TLSConfig
from alprfed.demo.layout import Layout
from alprfed.errors import Unavailable
from alprfed.rpc.tls import secure_channel

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.1


def alprfed_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "alprfed", *args]


class FederationProcesses:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.logs = layout.root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # The gateway's own credential can ask anyone for health.
        principal = layout.pki / "orgs" / "federation" / "principals" / "gateway"
        self._probe_tls = TLSConfig(
            ca=layout.pki / "ca.pem", cert=principal / "cert.pem", key=principal / "key.pem"
        )

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        # Our own interpreter and arguments, never shell text: nothing untrusted is run.
        self.processes[name] = subprocess.Popen(  # noqa: S603
            alprfed_command(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

    def seed(
        self, agency_id: str, *, sightings: int, seed: int, days: int
    ) -> subprocess.Popen[bytes]:
        """Start seeding one node's database; the caller waits (several run in parallel)."""
        log = (self.logs / f"seed-{agency_id}.log").open("ab")
        try:
            return subprocess.Popen(  # noqa: S603
                alprfed_command(
                    "node",
                    "seed",
                    "--config",
                    str(self.layout.node_config(agency_id)),
                    "--sightings",
                    str(sightings),
                    "--seed",
                    str(seed),
                    "--days",
                    str(days),
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()

    def start_node(self, agency_id: str) -> None:
        self._spawn(
            agency_id, ("node", "serve", "--config", str(self.layout.node_config(agency_id)))
        )

    def start_witness(self, witness_id: str) -> None:
        self._spawn(
            f"witness-{witness_id}",
            ("witness", "serve", "--config", str(self.layout.witness_config(witness_id))),
        )

    def wait_http_ready(
        self, witness_id: str, address: str, timeout: float = READY_TIMEOUT_S
    ) -> None:
        """Wait for a witness's plain HTTP /healthz. Raises: Unavailable."""
        name = f"witness-{witness_id}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise Unavailable(
                    f"{name} exited with {process.returncode}; see {self.log_of(name)}"
                )
            try:
                with urllib.request.urlopen(f"http://{address}/healthz", timeout=1.0):
                    return
            except OSError:
                time.sleep(POLL_S)
        raise Unavailable(f"{name} did not become ready within {timeout:.0f} s")

    def start_report(self, args: Sequence[str]) -> None:
        """`alprfed report ... serve`, stopped with the rest (its log is logs/report.log)."""
        self._spawn("report", args)

    def start_gateway(self, name: str = "gateway", config: Path | None = None) -> None:
        """Start `alprfed gateway serve`; ``name`` and ``config`` start a replica instead."""
        chosen = config or self.layout.gateway_config
        self._spawn(name, ("gateway", "serve", "--config", str(chosen)))

    def pid_of(self, name: str) -> int:
        return self.processes[name].pid

    def wait_ready(
        self, name: str, address: str, service: str, timeout: float = READY_TIMEOUT_S
    ) -> None:
        """Raises: Unavailable when the process died or is not SERVING in time."""
        deadline = time.monotonic() + timeout
        channel = secure_channel(address, self._probe_tls)
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            while time.monotonic() < deadline:
                process = self.processes[name]
                if process.poll() is not None:
                    raise Unavailable(
                        f"{name} exited with {process.returncode}; see "
                        f"{self.logs / (name + '.log')}"
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(POLL_S)
        finally:
            channel.close()
        raise Unavailable(
            f"{name} did not become ready within {timeout:.0f} s; see {self.logs / (name + '.log')}"
        )

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to say goodbye (a crashed node)."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        """SIGTERM everything, wait, then SIGKILL whatever is left. Leaves nothing running."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"
