"""/readyz of a gateway whose witnesses do not answer: not ready, saying which check and why."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import federations
from federations import NODES
from gateways import GatewayThread, free_port
from observed import OBSERVED, sample, scrape
from probe_client import http_get

from alprfed.config import load_gateway_config
from alprfed.demo.layout import build_layout
from alprfed.demo.spec import DEMO
from alprfed.observability.telemetry import Telemetry

WAIT_S = 20


def test_a_gateway_without_a_reachable_witness_quorum_is_not_ready(tmp_path: Path) -> None:
    spec = replace(
        federations.test_spec(), witnesses=DEMO.witnesses, witness_quorum=DEMO.witness_quorum
    )
    layout = build_layout(
        tmp_path / "fed",
        spec,
        gateway_port=free_port(),
        node_ports={a: free_port() for a in NODES},
        # Ports nobody listens on: the witnesses are down.
        witness_ports={w.witness_id: free_port() for w in spec.witnesses},
    )
    config = replace(load_gateway_config(layout.gateway_config), observability=OBSERVED)
    gateway = GatewayThread(config, telemetry=Telemetry.create("alprfed-gateway", OBSERVED)).start()
    try:
        assert gateway.server is not None
        assert gateway.server.probes is not None
        port = gateway.server.probes.port
        deadline = time.monotonic() + WAIT_S
        status, body = http_get(port, "/readyz")
        # Until every witness was tried once, "no cosignature" is already not ready.
        while "unreachable" not in body and "failed" not in body and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body = http_get(port, "/readyz")
        assert status == 503
        lines = dict(line.split(": ", 1) for line in body.splitlines())
        assert set(lines) == {"witness_quorum"}
        assert lines["witness_quorum"].startswith("witness quorum ")
        assert "not reachable" in lines["witness_quorum"], body
        assert http_get(port, "/healthz") == (200, "ok\n")  # up, only not ready
        samples = scrape(port)
        for witness in spec.witnesses:
            assert sample(samples, "alprfed_gateway_witness_up", witness=witness.witness_id) == 0
    finally:
        gateway.stop()
