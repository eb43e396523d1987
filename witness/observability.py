"""The witness's request metrics and spans (an aiohttp middleware) and its /readyz check.

The witness speaks HTTP, not gRPC, so it has its own middleware in place of the gRPC
interceptors: ``alprfed_witness_requests_total`` and ``alprfed_witness_request_duration_seconds``
by HTTP status, one server span per request (its parent taken from a W3C ``traceparent``
header when the caller sends one), and the request id in every log line of the request.
Only add-checkpoint is counted: the monitoring GETs are a monitor's business, not load.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from alprfed.observability.context import current_request_id, new_request_id
from alprfed.observability.metrics import WitnessMetrics
from alprfed.observability.probes import ReadinessCheck
from alprfed.observability.telemetry import Telemetry
from witness.store import WitnessStorageError, WitnessStore

ADD_CHECKPOINT = "/add-checkpoint"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def observing_middleware(telemetry: Telemetry) -> Any:
    metrics = WitnessMetrics(telemetry.registry)
    propagator = TraceContextTextMapPropagator()

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != ADD_CHECKPOINT:
            return await handler(request)
        started = time.perf_counter()
        span = telemetry.tracer.start_span(
            f"{request.method} {ADD_CHECKPOINT}",
            context=propagator.extract(dict(request.headers)),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": ADD_CHECKPOINT},
        )
        request_token = current_request_id.set(new_request_id())
        context_token = otel_context.attach(trace.set_span_in_context(span))
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.requests.labels(str(status)).inc()
            metrics.duration.labels(str(status)).observe(time.perf_counter() - started)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, str(status)))
            span.end()
            otel_context.detach(context_token)
            current_request_id.reset(request_token)

    return observe


def witness_checks(store: WitnessStore) -> dict[str, ReadinessCheck]:
    def database() -> str | None:
        try:
            store.ping()
        except WitnessStorageError as exc:
            return f"database unreachable: {exc}"
        return None

    return {"database": database}
