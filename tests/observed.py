"""A federation whose gateway and nodes run with telemetry a test can read.

The federation of tests/federations.py (three nodes, real mTLS, seeded data), each service
with its own metrics registry and a probe server on a free loopback port, reflection on the
gateway, and every span recorded by one in-memory exporter. Log lines are collected, as JSON,
by ``JsonLines`` on the root logger.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from federations import NODES, Federation, test_spec
from gateways import GatewayThread, WitnessThread, free_port, seed_node
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from probe_client import http_get
from prometheus_client.parser import text_string_to_metric_families

from agency_node.server import NodeServer
from agency_node.server import create_server as create_node_server
from alprfed.config import load_gateway_config, load_node_config
from alprfed.demo.layout import build_layout
from alprfed.demo.spec import DEMO
from alprfed.observability.logs import JsonFormatter, RequestContextFilter
from alprfed.observability.settings import LogFormat, ObservabilitySettings
from alprfed.observability.telemetry import Telemetry

OBSERVED = ObservabilitySettings(
    metrics_listen="127.0.0.1:0", log_format=LogFormat.JSON, reflection=True
)


@dataclass
class ObservedFederation:
    federation: Federation
    spans: InMemorySpanExporter

    @property
    def gateway_metrics_port(self) -> int:
        server = self.federation.gateway.server
        assert server is not None
        assert server.probes is not None
        return server.probes.port

    def node_metrics_port(self, agency: str) -> int:
        probes = self.federation.nodes[agency].probes
        assert probes is not None
        return probes.port


def start_observed_federation(root: Path, *, witnessed: bool = False) -> ObservedFederation:
    """``witnessed`` runs the demo's three witnesses (quorum 2), as start_federation does."""
    spans = InMemorySpanExporter()
    processor = SimpleSpanProcessor(spans)
    spec = test_spec()
    if witnessed:
        spec = replace(spec, witnesses=DEMO.witnesses, witness_quorum=DEMO.witness_quorum)
    layout = build_layout(
        root,
        spec,
        gateway_port=free_port(),
        node_ports={a: free_port() for a in NODES},
        witness_ports={w.witness_id: free_port() for w in spec.witnesses},
        tiles_port=0,
    )
    witnesses = {
        w.witness_id: WitnessThread(layout.witness_config(w.witness_id)).start()
        for w in spec.witnesses
    }
    now = int(time.time())
    nodes: dict[str, NodeServer] = {}
    for i, agency in enumerate(NODES):
        seed_node(layout, agency, sightings=3_000, seed=100 + i, now=now)
        config = replace(
            load_node_config(layout.node_config(agency)),
            observability=replace(OBSERVED, reflection=agency == "sjpd"),
        )
        telemetry = Telemetry.create("alprfed-node", OBSERVED, span_processor=processor)
        server, _ = create_node_server(config, telemetry=telemetry)
        server.start()
        nodes[agency] = server
    gateway_config = replace(load_gateway_config(layout.gateway_config), observability=OBSERVED)
    gateway_telemetry = Telemetry.create("alprfed-gateway", OBSERVED, span_processor=processor)
    gateway = GatewayThread(gateway_config, telemetry=gateway_telemetry).start()
    return ObservedFederation(Federation(layout, gateway, nodes, now, witnesses), spans)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, parsed by Prometheus's own text parser."""
    text = http_get(port, "/metrics")[1]
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class JsonLines(logging.Handler):
    """Collects every log record as the JSON line ``--log-format json`` would print."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def events(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.lines]

    def __enter__(self) -> JsonLines:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)
