"""Spans leave over OTLP as a collector receives them: a real OTLP/gRPC TraceService and a
real OTLP/HTTP endpoint on loopback, each decoding what the exporter sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from alprfed.observability.settings import ObservabilitySettings, TraceExporter
from alprfed.observability.telemetry import Telemetry

Received = list[trace_service_pb2.ExportTraceServiceRequest]


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, received: Received) -> None:
        self._received = received

    def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        self._received.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_collector() -> Iterator[tuple[str, Received]]:
    received: Received = []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Collector(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(None)


@pytest.fixture
def http_collector() -> Iterator[tuple[str, Received]]:
    received: Received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.path == "/v1/traces"
            received.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/v1/traces", received
    finally:
        http.shutdown()
        http.server_close()


def _export_one(exporter: TraceExporter, endpoint: str) -> None:
    settings = ObservabilitySettings(tracing_exporter=exporter, tracing_endpoint=endpoint)
    telemetry = Telemetry.create("alprfed-gateway", settings)
    with telemetry.tracer.start_as_current_span("alprfed.v1.Gateway/Query"):
        pass
    telemetry.shutdown()  # flushes the batch processor


def _span_names(received: Received) -> list[tuple[str, str]]:
    """(service.name, span name) of every span the collector decoded."""
    names = []
    for request in received:
        for resource in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                names += [(attributes["service.name"], span.name) for span in scope.spans]
    return names


def test_otlp_grpc_delivers_the_span(grpc_collector: tuple[str, Received]) -> None:
    endpoint, received = grpc_collector
    _export_one(TraceExporter.OTLP_GRPC, endpoint)
    assert ("alprfed-gateway", "alprfed.v1.Gateway/Query") in _span_names(received)


def test_otlp_http_delivers_the_span(http_collector: tuple[str, Received]) -> None:
    endpoint, received = http_collector
    _export_one(TraceExporter.OTLP_HTTP, endpoint)
    assert ("alprfed-gateway", "alprfed.v1.Gateway/Query") in _span_names(received)
