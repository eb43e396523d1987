"""Each tracing_exporter setting builds its exporter; none records nothing at all."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alprfed.observability.settings import ObservabilitySettings, TraceExporter
from alprfed.observability.telemetry import Telemetry, _exporter


def test_no_exporter_means_no_provider_and_unrecorded_spans() -> None:
    telemetry = Telemetry.create("alprfed-node", ObservabilitySettings())
    assert telemetry.provider is None
    with telemetry.tracer.start_as_current_span("x") as span:
        assert not span.is_recording()


@pytest.mark.parametrize(
    ("exporter", "kind"),
    [
        (TraceExporter.CONSOLE, ConsoleSpanExporter),
        (TraceExporter.OTLP_GRPC, GrpcExporter),
        (TraceExporter.OTLP_HTTP, HttpExporter),
    ],
)
def test_each_exporter_setting_builds_its_exporter(exporter: TraceExporter, kind: type) -> None:
    settings = ObservabilitySettings(tracing_exporter=exporter, tracing_endpoint="")
    built = _exporter(settings)
    assert isinstance(built, kind)
    built.shutdown()


def test_spans_carry_the_service_name_and_instance() -> None:
    spans = InMemorySpanExporter()
    telemetry = Telemetry.create(
        "alprfed-node",
        ObservabilitySettings(),
        span_processor=SimpleSpanProcessor(spans),
        instance="sjpd",
    )
    with telemetry.tracer.start_as_current_span("x"):
        pass
    telemetry.shutdown()
    (span,) = spans.get_finished_spans()
    assert span.resource.attributes["service.name"] == "alprfed-node"
    assert span.resource.attributes["service.instance.id"] == "sjpd"


def test_each_service_has_its_own_registry() -> None:
    first = Telemetry.create("alprfed-node", ObservabilitySettings())
    second = Telemetry.create("alprfed-node", ObservabilitySettings())
    first.rpc.observe("/alprfed.v1.AgencyNode/Search", "OK", 0.01)
    labels = {"service": "alprfed.v1.AgencyNode", "method": "Search", "code": "OK"}
    assert first.registry.get_sample_value("alprfed_rpc_server_handled_total", labels) == 1
    assert second.registry.get_sample_value("alprfed_rpc_server_handled_total", labels) is None
