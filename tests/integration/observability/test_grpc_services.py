"""grpc.health.v1 and server reflection, asked over mutual TLS as grpcurl would ask them."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from observed import ObservedFederation

from alprfed.config import load_federation
from alprfed.rpc.tls import secure_channel


def _reflect(
    channel: grpc.Channel, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    return next(stub.ServerReflectionInfo(iter([request]), timeout=10))


def _channel(observed: ObservedFederation, address: str) -> grpc.Channel:
    return secure_channel(address, observed.federation.tls("sjpd", "officer-garcia"))


def test_reflection_lists_the_gateway_services(observed: ObservedFederation) -> None:
    """``grpcurl list``: ServerReflectionInfo with list_services."""
    port = observed.federation.gateway.port
    with _channel(observed, f"localhost:{port}") as channel:
        answer = _reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in answer.list_services_response.service}
    assert {"alprfed.v1.Gateway", "alprfed.v1.Ledger", "grpc.health.v1.Health"} <= names


def test_reflection_lists_the_node_services_where_enabled(observed: ObservedFederation) -> None:
    with _channel(observed, _node_addresses(observed)["sjpd"]) as channel:
        answer = _reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    assert "alprfed.v1.AgencyNode" in {s.name for s in answer.list_services_response.service}


def test_reflection_describes_a_service_by_symbol(observed: ObservedFederation) -> None:
    """``grpcurl describe alprfed.v1.Gateway``: file_containing_symbol."""
    port = observed.federation.gateway.port
    with _channel(observed, f"localhost:{port}") as channel:
        answer = _reflect(
            channel,
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="alprfed.v1.Gateway"),
        )
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in answer.file_descriptor_response.file_descriptor_proto
    ]
    gateway_file = next(f for f in files if f.name == "alprfed/v1/gateway.proto")
    methods = {m.name for s in gateway_file.service for m in s.method}
    assert "Query" in methods


def _node_addresses(observed: ObservedFederation) -> dict[str, str]:
    federation = load_federation(observed.federation.layout.federation_file)
    return {a.agency_id: a.node_address for a in federation.nodes()}


def test_reflection_is_off_unless_configured(observed: ObservedFederation) -> None:
    address = _node_addresses(observed)["chicago-pd"]  # only sjpd turned reflection on
    with _channel(observed, address) as channel, pytest.raises(grpc.RpcError) as raised:
        _reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_every_server_reports_serving_on_grpc_health(observed: ObservedFederation) -> None:
    federation = observed.federation
    addresses = [f"localhost:{federation.gateway.port}", *_node_addresses(observed).values()]
    for address in addresses:
        with _channel(observed, address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
