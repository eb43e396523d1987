"""One service's telemetry: its own metric registry, its tracer and its RPC metrics.

Per process *and* per service: each server gets a fresh ``CollectorRegistry`` and
``TracerProvider`` instead of the process-wide globals, so a test (or the demo) can run a
gateway and three nodes in one process and tell their metrics and spans apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from prometheus_client import CollectorRegistry

from alprfed.observability.metrics import RpcMetrics
from alprfed.observability.settings import ObservabilitySettings, TraceExporter

TRACER_NAME = "alprfed"


@dataclass
class Telemetry:
    service: str  # "alprfed-gateway", "alprfed-node", "alprfed-witness"
    registry: CollectorRegistry
    rpc: RpcMetrics
    tracer: trace.Tracer
    provider: TracerProvider | None  # None: tracing off (a no-op tracer)

    @classmethod
    def create(
        cls,
        service: str,
        settings: ObservabilitySettings,
        *,
        span_processor: SpanProcessor | None = None,
        instance: str = "",
    ) -> Telemetry:
        """Telemetry as ``settings`` say; ``span_processor`` (tests: an in-memory exporter)
        turns tracing on whatever the settings, in addition to their exporter."""
        registry = CollectorRegistry(auto_describe=True)
        exporter = _exporter(settings)
        provider: TracerProvider | None = None
        if exporter is not None or span_processor is not None:
            attributes = {SERVICE_NAME: service}
            if instance:
                attributes["service.instance.id"] = instance
            provider = TracerProvider(resource=Resource.create(attributes))
            if exporter is not None:
                provider.add_span_processor(BatchSpanProcessor(exporter))
            if span_processor is not None:
                provider.add_span_processor(span_processor)
        tracer = (
            provider.get_tracer(TRACER_NAME)
            if provider is not None
            else trace.NoOpTracerProvider().get_tracer(TRACER_NAME)
        )
        return cls(service, registry, RpcMetrics(registry), tracer, provider)

    def shutdown(self) -> None:
        """Flush and stop the span exporters."""
        if self.provider is not None:
            self.provider.shutdown()


def _exporter(settings: ObservabilitySettings) -> SpanExporter | None:
    endpoint = settings.tracing_endpoint or None
    match settings.tracing_exporter:
        case TraceExporter.NONE:
            return None
        case TraceExporter.CONSOLE:
            return ConsoleSpanExporter()
        case TraceExporter.OTLP_GRPC:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(endpoint=endpoint)
        case TraceExporter.OTLP_HTTP:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as OTLPHttpSpanExporter,
            )

            return OTLPHttpSpanExporter(endpoint=endpoint)
