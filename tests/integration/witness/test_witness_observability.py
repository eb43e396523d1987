"""The witness's /metrics, /readyz and spans, read over real HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from probe_client import http_get
from prometheus_client.parser import text_string_to_metric_families
from witnesses import SigningLog

from alprfed.clock import FixedClock
from alprfed.observability.settings import ObservabilitySettings
from alprfed.observability.telemetry import Telemetry
from witness.config import WitnessConfig
from witness.server import create_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _counts(text: str) -> dict[str, float]:
    return {
        sample.labels["code"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "alprfed_witness_requests"
        for sample in family.samples
        if sample.name == "alprfed_witness_requests_total"
    }


def test_requests_are_counted_by_status_and_traced_from_the_callers_trace(
    config: WitnessConfig, clock: FixedClock, log: SigningLog
) -> None:
    spans = InMemorySpanExporter()
    settings = ObservabilitySettings(metrics_listen="127.0.0.1:0")
    telemetry = Telemetry.create(
        "alprfed-witness", settings, span_processor=SimpleSpanProcessor(spans)
    )

    async def main() -> tuple[tuple[int, str], tuple[int, str], tuple[int, str]]:
        server, port = await create_server(
            replace(config, observability=settings), clock=clock, telemetry=telemetry
        )
        await server.start()
        try:
            assert server.probes is not None
            url = f"http://127.0.0.1:{port}/add-checkpoint"
            async with aiohttp.ClientSession() as session:
                for body in (log.body(0, 5), log.body(0, 5)):  # cosigned, then 409
                    async with session.post(
                        url, data=body, headers={"traceparent": TRACEPARENT}
                    ) as response:
                        await response.read()
            probes = server.probes.port
            return (
                await asyncio.to_thread(http_get, probes, "/metrics"),
                await asyncio.to_thread(http_get, probes, "/readyz"),
                await asyncio.to_thread(http_get, probes, "/healthz"),
            )
        finally:
            await server.stop()

    metrics, ready, healthy = asyncio.run(main())
    assert metrics[0] == 200
    assert _counts(metrics[1]) == {"200": 1.0, "409": 1.0}
    assert ready == (200, "database: ok\n")
    assert healthy == (200, "ok\n")
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["POST /add-checkpoint"] * 2
    assert {format(s.context.trace_id, "032x") for s in finished} == {TRACE_ID}
    assert [s.attributes["http.response.status_code"] for s in finished] == [200, 409]
