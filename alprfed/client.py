"""A typed client of the federation, for programs: the demo, an agency's own tooling.

The CLI (alprfed.cli) is one user of it; code that is not a command line uses this module, not
the CLI's internals. Identity is the caller's certificate (mutual TLS); nothing here names the
caller otherwise, except the unverified ``insecure_identity`` of plaintext experiments.

    client = GatewayClient("gw.example:7443", TLSConfig(ca=..., cert=..., key=...))
    answer = client.query(QueryInput.create(plate="8FXR413", ...))
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from alprfed import wire
from alprfed.config import TLSConfig, read_toml
from alprfed.errors import ConfigError
from alprfed.messages.consent import ExigentConsent, sign_consent
from alprfed.models import normalize_plate
from alprfed.query import QueryAnswer, QueryInput
from alprfed.rpc.identity import INSECURE_IDENTITY_HEADER
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc, node_pb2, node_pb2_grpc
from alprfed.wire import gateway as gwire

DEFAULT_TIMEOUT_S = 10.0
PROFILE_KEYS = frozenset({"gateway", "ca", "cert", "key"})
PAGE = 1000  # access-log records per GetAccessLog call


def read_profile(profile: Path) -> dict[str, Any]:
    """A profile's gateway address ("address") and TLS paths, resolved against its directory.

    Raises: ConfigError when the file is not a client profile.
    """
    data = read_toml(profile)
    unknown = set(data) - PROFILE_KEYS
    if unknown or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(
            f"{profile} is not a client profile (keys: gateway, ca, cert, key; "
            f"unexpected: {', '.join(sorted(unknown)) or 'non-text values'})"
        )
    values: dict[str, Any] = {"address": data.get("gateway")}
    for name in ("ca", "cert", "key"):
        if name in data:
            values[name] = profile.parent / data[name]
    return values


@dataclass(frozen=True)
class GatewayClient:
    """Where the gateway is and the caller's mutual-TLS credential."""

    address: str
    tls: TLSConfig
    insecure_identity: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_profile(cls, profile: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> GatewayClient:
        """The client a profile file describes (docs/OPERATIONS.md, "Client profiles").

        Raises:
            ConfigError: the file is not a profile, names no gateway, or its TLS files are bad.
        """
        values = read_profile(profile)
        address = values.get("address")
        if not isinstance(address, str):
            raise ConfigError(f"{profile}: names no gateway")
        tls = TLSConfig(ca=values.get("ca"), cert=values.get("cert"), key=values.get("key"))
        tls.check("client")
        return cls(address, tls, timeout_s=timeout_s)

    def channel(self) -> grpc.Channel:
        return secure_channel(self.address, self.tls)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.tls.insecure and self.insecure_identity:
            return ((INSECURE_IDENTITY_HEADER, self.insecure_identity),)
        return ()

    def query(self, query: QueryInput) -> QueryAnswer:
        """Send a plate query; the gateway's answer, every agency's outcome and reasons.

        Raises:
            grpc.RpcError: the gateway refused the query itself or could not be reached.
        """
        with self.channel() as channel:
            response = gateway_pb2_grpc.GatewayStub(channel).Query(
                gwire.query_to_pb(query), timeout=self.timeout_s, metadata=self.metadata()
            )
        return gwire.answer_from_pb(response)


def exigent_approval_request(
    *, officer: str, plate: str, purpose: str, case_number: str, note: str, tls: TLSConfig
) -> gateway_pb2.ApproveExigentRequest:
    """The request a supervisor sends, with the consent signed by their own certificate key.

    Raises:
        ConfigError: no certificate and key (a consent cannot be signed under --insecure).
    """
    if tls.cert is None or tls.key is None:
        raise ConfigError(
            "an exigent approval is signed with your certificate key: give --cert/--key"
        )
    chain_pem = tls.cert.read_bytes()
    chain = x509.load_pem_x509_certificates(chain_pem)
    key = serialization.load_pem_private_key(tls.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError("your certificate key is not an ECDSA key of the federation PKI")
    subject = chain[0].subject
    organization = subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    supervisor = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    consent = ExigentConsent.new(
        agency=str(organization),
        supervisor=str(supervisor),
        officer=officer,
        plate=normalize_plate(plate),
        purpose=purpose,
        case_number=case_number.strip(),
        signed_at=int(time.time()),
    )
    return gateway_pb2.ApproveExigentRequest(
        officer_id=officer,
        plate=plate,
        purpose=purpose,
        case_number=case_number,
        note=note,
        consent=wire.envelope_to_pb(sign_consent(consent, key, chain[0])),
        certificate_chain=chain_pem,
    )


def fetch_access_log(
    channel: Any, metadata: tuple[tuple[str, str], ...]
) -> Iterator[dict[str, Any]]:
    """Every record of one node's access log, over its GetAccessLog RPC."""
    stub = node_pb2_grpc.AgencyNodeStub(channel)
    after = 0
    while True:
        page = stub.GetAccessLog(
            node_pb2.GetAccessLogRequest(after=after, limit=PAGE), timeout=30, metadata=metadata
        )
        records = [json.loads(r) for r in page.records]
        yield from records
        if len(records) < PAGE:
            return
        after = int(records[-1]["seq"])
