"""An unexpected failure over real mTLS: the caller gets INTERNAL and a request id, and that
id is the request_id of the call's log lines, so an operator finds the traceback from it."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from conftest import credential
from observed import JsonLines

from alprfed.observability.interceptors import ObservingInterceptor
from alprfed.observability.settings import ObservabilitySettings
from alprfed.observability.telemetry import Telemetry
from alprfed.rpc.errors import ErrorMappingInterceptor
from alprfed.rpc.tls import SERVER_OPTIONS, add_port, secure_channel

METHOD = "/alprfed.test.Broken/Fail"


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise RuntimeError("a bug, with a plate 8FXR413 in its message")


def test_the_callers_request_id_finds_the_logged_traceback(pki_dir: Path) -> None:
    telemetry = Telemetry.create("alprfed-node", ObservabilitySettings())
    server = grpc.server(
        ThreadPoolExecutor(max_workers=2),
        interceptors=[ObservingInterceptor(telemetry), ErrorMappingInterceptor()],
        options=SERVER_OPTIONS,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "alprfed.test.Broken", {"Fail": grpc.unary_unary_rpc_method_handler(_fail)}
            ),
        )
    )
    port = add_port(server, "127.0.0.1:0", credential(pki_dir, "sjpd", "node"))
    server.start()
    try:
        with (
            JsonLines() as logs,
            secure_channel(f"localhost:{port}", credential(pki_dir, "sjpd", "node")) as channel,
            pytest.raises(grpc.RpcError) as raised,
        ):
            channel.unary_unary(METHOD)(b"", timeout=10)
    finally:
        server.stop(grace=None).wait()
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    shown = re.fullmatch(r"internal error \(request id ([0-9a-f]+)\)", raised.value.details())
    assert shown is not None
    assert "8FXR413" not in raised.value.details()  # no traceback or message to the caller
    failures = [e for e in logs.events() if "failed unexpectedly" in e["message"]]
    assert [e["request_id"] for e in failures] == [shown.group(1)]
    assert "RuntimeError" in failures[0]["exception"]
    labels = {"service": "alprfed.test.Broken", "method": "Fail", "code": "INTERNAL"}
    assert telemetry.registry.get_sample_value("alprfed_rpc_server_handled_total", labels) == 1
