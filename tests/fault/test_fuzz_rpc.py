"""Fuzz every RPC of the gateway, its ledger service and an agency node, over real mTLS.

For every method of every service (read from the protobuf descriptors, so a new method is
fuzzed without editing this file) hypothesis sends raw bytes, well-formed messages with random
field values, and valid messages with bytes flipped, cut or appended, as officers, clerks,
admins and nodes. Every answer must be a deliberate one: OK or a status naming what is wrong,
never UNKNOWN, never INTERNAL, never a Python exception class or traceback in the details, and
no traceback in the services' log (they run in this process: a handler on the root logger sees
what an operator's log would show); and the services must still answer health checks afterwards.

CI sends a few thousand inputs; ``--soak`` (make soak) 1,000,000. Each hypothesis example is
faults.FUZZ_BATCH calls, each answer judged on its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import faults
import grpc
import pytest
from federations import Federation
from google.protobuf import descriptor as d
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alprfed.rpc.tls import secure_channel
from alprfed.v1 import gateway_pb2, ledger_pb2, node_pb2

CALL_TIMEOUT_S = 20
# A call not answered in CALL_TIMEOUT_S is sent again with this long a deadline: answered then,
# the machine was slow (a soak shares two cores; counted as slow_answers); not even then, the
# service hangs (a crash).
HANG_TIMEOUT_S = 180
# Answers a fuzzed request may get: each says what is wrong, or is a plain refusal.
DELIBERATE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,  # a node the gateway could not reach, said as such
}  # not DEADLINE_EXCEEDED: a call not answered even in HANG_TIMEOUT_S hangs
# What leaks implementation detail: a traceback, or a Python exception class named.
LEAK = re.compile(r"Traceback|File \"|<class |\b[A-Z][A-Za-z]*(Error|Exception)\b")
SERVICES = (
    ("gateway", gateway_pb2.DESCRIPTOR.services_by_name["Gateway"]),
    ("gateway", ledger_pb2.DESCRIPTOR.services_by_name["Ledger"]),
    ("node", node_pb2.DESCRIPTOR.services_by_name["AgencyNode"]),
)
JUDGED = {"unexpected_internal", "crashes", "tracebacks"}  # the figures judge() names
CALLERS = (
    ("sjpd", "officer-garcia"),
    ("sjpd", "sgt-nguyen"),
    ("santa-clara-superior", "clerk-lee"),
    ("sjpd", "node"),
    ("federation", "gateway"),
)
METHODS = [(where, method) for where, service in SERVICES for method in service.methods]


class LoggedTracebacks(logging.Handler):
    """The services' log records that carry a traceback (an exception logged with it)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.stack_info:
            self.seen.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(scope="module")
def service_log() -> Iterator[LoggedTracebacks]:
    handler = LoggedTracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture(scope="module")
def channels(federation: Federation) -> Iterator[dict[tuple[str, str, str], grpc.Channel]]:
    addresses = {
        "gateway": f"localhost:{federation.gateway.port}",
        "node": federation.layout.node_addresses["sjpd"],
    }
    opened = {
        (where, org, person): secure_channel(address, federation.tls(org, person))
        for where, address in addresses.items()
        for org, person in CALLERS
    }
    yield opened
    for channel in opened.values():
        channel.close()


# --- inputs -----------------------------------------------------------------------------------

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    d.FieldDescriptor.TYPE_STRING: st.text(max_size=40),
    d.FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
    d.FieldDescriptor.TYPE_BOOL: st.booleans(),
    d.FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: st.integers(-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SFIXED64: st.integers(-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    d.FieldDescriptor.TYPE_FIXED64: st.integers(0, 2**64 - 1),
    d.FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SINT32: st.integers(-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: st.integers(-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    d.FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True),
    d.FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True),
}
# Values the services give meaning to, so fuzzed messages also get past the first checks.
_MEANINGFUL = st.sampled_from(
    ["8FXR413", "sjpd", "robbery", "amber_alert", "w-1", "SJ-2026-0042", "", " ", "\x00", "é"]
)


def message_values(descriptor: d.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with random values in a random subset of fields."""
    cls = GetMessageClass(descriptor)

    def one(field: d.FieldDescriptor) -> st.SearchStrategy[Any]:
        if field.type == d.FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3:
                return st.just(None)
            return message_values(field.message_type, depth + 1)
        if field.type == d.FieldDescriptor.TYPE_ENUM:
            return st.integers(-2, 12)
        if field.type == d.FieldDescriptor.TYPE_STRING:
            return st.one_of(_SCALARS[field.type], _MEANINGFUL)
        return _SCALARS[field.type]

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is None:
                    continue
                if field.is_repeated:
                    target = getattr(message, name)
                    if field.type == d.FieldDescriptor.TYPE_MESSAGE:
                        target.add().CopyFrom(item)
                    else:
                        target.append(item)
                elif field.type == d.FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, name).CopyFrom(item)
                else:
                    setattr(message, name, item)
        return message

    fields = {
        f.name: st.lists(one(f), max_size=3) if f.is_repeated else one(f)
        for f in descriptor.fields
        if f.containing_oneof is None or f is f.containing_oneof.fields[0]
    }
    return st.fixed_dictionaries({}, optional=fields).map(build)


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with bytes flipped, cut short or extended."""
    flips = st.lists(st.tuples(st.integers(0, max(len(data) - 1, 0)), st.integers(1, 255)))

    def flip(changes: list[tuple[int, int]]) -> bytes:
        out = bytearray(data)
        for position, mask in changes:
            if out:
                out[position] ^= mask
        return bytes(out)

    return st.one_of(
        flips.map(flip),
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.binary(min_size=1, max_size=32).map(lambda tail: data + tail),
    )


def request_bytes(method: d.MethodDescriptor) -> st.SearchStrategy[bytes]:
    valid = message_values(method.input_type).map(lambda m: m.SerializeToString())
    return st.one_of(
        st.binary(max_size=256),
        valid,
        valid.flatmap(mutated),
    )


# --- the calls --------------------------------------------------------------------------------


def call(
    channel: grpc.Channel,
    method: d.MethodDescriptor,
    payloads: list[bytes],
    timeout: float = CALL_TIMEOUT_S,
) -> Any:
    path = f"/{method.containing_service.full_name}/{method.name}"
    identity = bytes  # send the bytes as they are, read the answer's bytes as they are
    if method.client_streaming:
        stream = channel.stream_unary(path, request_serializer=identity)
        return stream(iter(payloads), timeout=timeout)
    unary = channel.unary_unary(path, request_serializer=identity)
    return unary(payloads[0], timeout=timeout)


def answer(channel: grpc.Channel, method: d.MethodDescriptor, payloads: list[bytes]) -> Any:
    """The call's answer, sent again with HANG_TIMEOUT_S if it was not answered in time."""
    try:
        return call(channel, method, payloads)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    faults.add(slow_answers=1)
    return call(channel, method, payloads, HANG_TIMEOUT_S)


def judge(method: d.MethodDescriptor, error: grpc.RpcError | None, logged: list[str]) -> str | None:
    """None for a deliberate answer with nothing in the services' log, else what is wrong,
    led by its figure's name."""
    if logged:
        return f"tracebacks: {method.name}: the service logged a traceback: {logged[0]}"
    if error is None:
        return None
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.INTERNAL:
        return f"unexpected_internal: {method.name}: INTERNAL {details}"
    if code == grpc.StatusCode.UNKNOWN or code not in DELIBERATE:
        return f"crashes: {method.name}: {code.name} {details}"
    if LEAK.search(details):
        return f"tracebacks: {method.name}: {code.name} leaks implementation detail: {details}"
    return None


def assert_healthy(channels: dict[tuple[str, str, str], grpc.Channel]) -> None:
    for where in ("gateway", "node"):
        stub = health_pb2_grpc.HealthStub(channels[(where, "federation", "gateway")])
        reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            faults.add(crashes=1)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, where


@pytest.mark.parametrize(
    ("where", "method"), METHODS, ids=[f"{m.containing_service.name}.{m.name}" for _, m in METHODS]
)
def test_every_rpc_answers_malformed_input_deliberately(
    where: str,
    method: d.MethodDescriptor,
    channels: dict[tuple[str, str, str], grpc.Channel],
    service_log: LoggedTracebacks,
    soak: bool,
    fuzz_inputs: int,
) -> None:
    # A unary call sends its first message only: draw just one for it.
    most = 3 if method.client_streaming else 1
    one_call = st.tuples(
        st.sampled_from(CALLERS), st.lists(request_bytes(method), min_size=1, max_size=most)
    )

    @settings(
        max_examples=faults.fuzz_examples(fuzz_inputs // len(METHODS)),
        deadline=None,
        database=None,
        derandomize=not soak,  # CI runs the same inputs each time; a soak run explores
        suppress_health_check=list(HealthCheck),
        print_blob=True,  # a failure found exploring prints the line that replays it
    )
    @given(calls=st.lists(one_call, min_size=faults.FUZZ_BATCH, max_size=faults.FUZZ_BATCH))
    def fuzz(calls: list[tuple[tuple[str, str], list[bytes]]]) -> None:
        for caller, payloads in calls:
            faults.add(fuzz_inputs=1)
            service_log.seen.clear()
            try:
                answer(channels[(where, *caller)], method, payloads)
                error = None
            except grpc.RpcError as exc:
                error = exc
            problem = judge(method, error, service_log.seen)
            assert problem is None, problem

    try:
        fuzz()
    except Exception as exc:  # an AssertionError, or a group of them
        # Counted once, after hypothesis has shrunk it (not once per shrinking step).
        figure = str(exc).split(":", 1)[0]
        faults.add(**{figure if figure in JUDGED else "crashes": 1})
        raise
    if service_log.seen:  # logged after the last answer went out
        faults.add(tracebacks=1)
    assert service_log.seen == [], service_log.seen
    assert_healthy(channels)
