"""gRPC server interceptors: RPC metrics, one server span and the request id of each call.

Put first in a server's interceptor list, so they wrap the error-mapping interceptor
(alprfed.rpc.errors) and see the status it chose. The logic of one call lives in
``ObservedCall``, shared by the synchronous interceptor (the node) and the grpc.aio one (the
gateway), so either server can move between the two without touching it.

Why not opentelemetry-instrumentation-grpc: its server interceptor records the peer address
and, on failure, the exception and its message on the span, and alprfed's messages may quote
what a caller sent; here a span carries only the method, the status code and the request
id, which the redaction test can hold the code to. One wrapper also times the
call for the metrics, so each call pays for one clock read pair, not two interceptors.

Unary-unary and stream-unary methods are observed (every alprfed method); server-streaming
ones (grpc.health.v1 Watch, reflection) pass through untouched.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from alprfed.observability.context import current_request_id, incoming
from alprfed.observability.metrics import split_method
from alprfed.observability.telemetry import Telemetry

REQUEST_ID_ATTRIBUTE = "alprfed.request_id"


class ObservedCall:
    """One call from arrival to status: its request id, span and metrics."""

    def __init__(self, telemetry: Telemetry, method: str, metadata: Any) -> None:
        self._telemetry = telemetry
        self._method = method
        self._started = time.perf_counter()
        request_id, parent = incoming(metadata, tracing=telemetry.provider is not None)
        service, name = split_method(method)
        self._span = telemetry.tracer.start_span(
            method.lstrip("/"),
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": name,
                REQUEST_ID_ATTRIBUTE: request_id,
            },
        )
        self._request_id_token = current_request_id.set(request_id)
        self._context_token = otel_context.attach(trace.set_span_in_context(self._span))

    def finish(self, code: grpc.StatusCode) -> None:
        """Record the call's status; detach its context (call on the thread or task that
        made it)."""
        self._telemetry.rpc.observe(self._method, code.name, time.perf_counter() - self._started)
        self._span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code != grpc.StatusCode.OK:
            # The code's name only: a status message may quote the request.
            self._span.set_status(Status(StatusCode.ERROR, code.name))
        self._span.end()
        otel_context.detach(self._context_token)
        current_request_id.reset(self._request_id_token)


def _status(context: Any, failed: bool) -> grpc.StatusCode:
    """The status a call ended with: the one it was aborted or set with, else OK (UNKNOWN
    for an exception nobody mapped)."""
    code = context.code() if hasattr(context, "code") else None
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


def _observe_sync(telemetry: Telemetry, method: str, behavior: Callable[..., Any]) -> Any:
    def observed(request: Any, context: grpc.ServicerContext) -> Any:
        call = ObservedCall(telemetry, method, context.invocation_metadata())
        failed = True
        try:
            result = behavior(request, context)
            failed = False
            return result
        finally:
            call.finish(_status(context, failed))

    return observed


def _observe_async(
    telemetry: Telemetry, method: str, behavior: Callable[..., Awaitable[Any]]
) -> Any:
    async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = ObservedCall(telemetry, method, context.invocation_metadata())
        failed = True
        try:
            result = behavior(request, context)
            result = await result if inspect.isawaitable(result) else result
            failed = False
            return result
        finally:
            call.finish(_status(context, failed))

    return observed


def _rewrap(telemetry: Telemetry, handler: Any, method: str, asynchronous: bool) -> Any:
    observe = _observe_async if asynchronous else _observe_sync
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            observe(telemetry, method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            observe(telemetry, method, handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class ObservingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """For synchronous servers (the agency node)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        return _rewrap(self._telemetry, handler, details.method, asynchronous=False)


class AsyncObservingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """For grpc.aio servers (the gateway)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        return _rewrap(self._telemetry, handler, details.method, asynchronous=True)
