from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_trace_id

from alprfed.observability.context import (
    REQUEST_ID_HEADER,
    current_request_id,
    incoming,
    outgoing_metadata,
)


def test_a_well_formed_request_id_is_kept() -> None:
    request_id, _ = incoming([(REQUEST_ID_HEADER, "0123456789abcdef")])
    assert request_id == "0123456789abcdef"


def test_a_request_id_that_could_carry_data_is_replaced() -> None:
    for offered in ("8FXR413", "w-2026-0042 plate 8FXR413", "0123456789ABCDEF", ""):
        request_id, _ = incoming([(REQUEST_ID_HEADER, offered)])
        assert request_id != offered
        assert len(request_id) == 16
        assert int(request_id, 16) >= 0


def test_the_trace_and_request_id_travel_to_the_next_call() -> None:
    tracer = TracerProvider().get_tracer("test")
    token = current_request_id.set("00112233445566778899")
    try:
        with tracer.start_as_current_span("gateway") as span:
            metadata = dict(outgoing_metadata())
    finally:
        current_request_id.reset(token)
    assert metadata[REQUEST_ID_HEADER] == "00112233445566778899"
    assert format_trace_id(span.get_span_context().trace_id) in metadata["traceparent"]
    request_id, parent = incoming(list(metadata.items()))
    assert request_id == "00112233445566778899"
    with tracer.start_as_current_span("node", context=parent) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
