"""The standard services on every alprfed gRPC server: grpc.health.v1 and, opt-in, reflection.

Reflection (grpc.reflection.v1alpha, what ``grpcurl list`` and ``describe`` ask) is off unless
``reflection = true``: it lists every method and message to anyone who can complete the mTLS
handshake, which is no secret (the protos are public) but is surface an operator may not want.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grpc_reflection.v1alpha import reflection

REFLECTION_SERVICE = reflection.SERVICE_NAME


def enable_reflection(server: Any, service_names: Sequence[str]) -> None:
    """Serve reflection for ``service_names`` (full names) plus health and reflection itself.
    Works on a grpc.Server and a grpc.aio.Server alike."""
    names = [*service_names, "grpc.health.v1.Health", REFLECTION_SERVICE]
    reflection.enable_server_reflection(names, server)
