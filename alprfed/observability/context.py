"""The request id and trace context of one call, carried gateway -> node in gRPC metadata.

The gateway's server interceptor gives every call a request id (or keeps a well-formed one the
caller sent as ``x-request-id``); the fan-out sends it, with the W3C ``traceparent`` of the
current span, to every node it asks, so one query's log lines on the gateway and on each node
share one request id and their spans share one trace. Both live in context variables: asyncio
tasks and ``asyncio.to_thread`` copy them, and each gRPC worker thread sets its own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from contextvars import ContextVar

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is kept only if it looks like one of ours: metadata is caller-controlled text
# and it lands in every log line, so nothing else (a plate, say) may ride in on it.
_REQUEST_ID = re.compile(r"[0-9a-f]{16,32}")
_PROPAGATOR = TraceContextTextMapPropagator()

current_request_id: ContextVar[str] = ContextVar("alprfed_request_id", default="")


def new_request_id() -> str:
    return secrets.token_hex(8)


def incoming(
    metadata: Iterable[tuple[str, str | bytes]] | None, *, tracing: bool = True
) -> tuple[str, Context | None]:
    """The request id (the caller's if well formed, else a new one) and the trace context a
    call's invocation metadata carries (None, unread, when ``tracing`` is off: parsing the
    traceparent is a quarter of an untraced call's cost here)."""
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str):
            carrier[key.lower()] = value
    offered = carrier.get(REQUEST_ID_HEADER, "")
    request_id = offered if _REQUEST_ID.fullmatch(offered) else new_request_id()
    return request_id, _PROPAGATOR.extract(carrier) if tracing else None


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata for a call made on behalf of the current one: its request id and trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    request_id = current_request_id.get()
    if request_id:
        carrier[REQUEST_ID_HEADER] = request_id
    return tuple(sorted(carrier.items()))
