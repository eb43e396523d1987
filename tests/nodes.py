"""Start real agency nodes (gRPC over mutual TLS, real database) for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from authority import Authority

from agency_node.server import NodeServer, create_server
from alprfed.clock import Clock
from alprfed.config import NodeConfig, TLSConfig
from alprfed.models import AgencyId
from alprfed.pki import credential_path
from alprfed.rpc.tls import secure_channel
from alprfed.signing import SigningKey
from alprfed.v1 import node_pb2_grpc


@dataclass
class RunningNode:
    agency: str
    state: str
    server: NodeServer
    port: int
    key: SigningKey
    config: NodeConfig
    authority: Authority

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def stub(self, caller: TLSConfig) -> node_pb2_grpc.AgencyNodeStub:
        return node_pb2_grpc.AgencyNodeStub(secure_channel(self.address, caller))


def node_config(
    directory: Path,
    pki_dir: Path,
    *,
    agency: str,
    state: str,
    database_url: str,
    gateway_key: SigningKey,
    retention_seconds: int | None = 30 * 86_400,
    key: SigningKey | None = None,
    trust_file: Path | None = None,
) -> tuple[NodeConfig, SigningKey]:
    key = key or SigningKey.generate()
    key_path = directory / f"{agency}-node-key.pem"
    if not key_path.exists():
        key.save(key_path)
    return NodeConfig(
        agency_id=AgencyId(agency),
        state=state,
        database_url=database_url,
        signing_key=key_path,
        gateway_keys=(gateway_key.public,),
        listen="localhost:0",
        tls=credential_path(pki_dir, agency, "node").tls(),
        retention_seconds=retention_seconds,
        purge_interval_seconds=3600,
        trust_file=trust_file,
    ), key


@contextmanager
def running_node(
    directory: Path,
    pki_dir: Path,
    *,
    agency: str,
    state: str,
    database_url: str,
    gateway_key: SigningKey,
    clock: Clock,
    retention_seconds: int | None = 30 * 86_400,
    key: SigningKey | None = None,
) -> Iterator[RunningNode]:
    """A node whose trust file trusts ``Authority``'s ledger and court (one per directory)."""
    authority = Authority(directory, gateway_key, clock)
    config, key = node_config(
        directory,
        pki_dir,
        agency=agency,
        state=state,
        database_url=database_url,
        gateway_key=gateway_key,
        retention_seconds=retention_seconds,
        key=key,
        trust_file=authority.trust_file(),
    )
    server, port = create_server(config, clock=clock)
    server.start()
    try:
        yield RunningNode(agency, state, server, port, key, config, authority)
    finally:
        server.stop(grace=None)
        authority.close()


def status_of(call: object) -> grpc.StatusCode:
    return call.code()  # type: ignore[attr-defined,no-any-return]
