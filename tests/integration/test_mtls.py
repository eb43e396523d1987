"""Mutual TLS on real gRPC servers: who gets through the handshake and which identity is read.

Each test starts a real server (sync ``grpc.server`` and ``grpc.aio.server``) on port 0 with
alprfed.rpc.tls.add_port and the error-mapping interceptor, serving one generic method that
answers with the caller's identity as alprfed.rpc.identity.peer_identity reads it. Credentials
come from a real development PKI; the attacks build their certificates with cryptography.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from alprfed.clock import SYSTEM_CLOCK, FixedClock
from alprfed.config import TLSConfig
from alprfed.errors import Unauthenticated
from alprfed.pki import Credential, credential_path, init_pki, issue
from alprfed.rpc.errors import AsyncErrorMappingInterceptor, ErrorMappingInterceptor
from alprfed.rpc.identity import Identity, PrincipalKind, peer_identity
from alprfed.rpc.tls import CHANNEL_OPTIONS, SERVER_OPTIONS, add_port, secure_channel

SERVICE = "alprfed.test.v1.Identity"
METHOD = f"/{SERVICE}/WhoAmI"
CALL_TIMEOUT_S = 10
SERVER_START_TIMEOUT_S = 10
YEAR_S = 365 * 24 * 3600


def _answer(identity: Identity) -> bytes:
    return json.dumps(
        {
            "principal": identity.principal,
            "organization": identity.organization,
            "kind": identity.kind.value,
            "verified": identity.verified,
        }
    ).encode()


def _who_am_i_sync(request: bytes, context: grpc.ServicerContext) -> bytes:
    return _answer(peer_identity(context, insecure=False))


async def _who_am_i_async(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return _answer(peer_identity(context, insecure=False))


def _handler(behavior: Callable[..., Any]) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE, {"WhoAmI": grpc.unary_unary_rpc_method_handler(behavior)}
    )


@contextlib.contextmanager
def _serve_sync(tls: TLSConfig) -> Iterator[int]:
    server = grpc.server(
        ThreadPoolExecutor(max_workers=2),
        interceptors=[ErrorMappingInterceptor()],
        options=SERVER_OPTIONS,
    )
    server.add_generic_rpc_handlers((_handler(_who_am_i_sync),))
    port = add_port(server, "127.0.0.1:0", tls)
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait()


class _AioServerThread(threading.Thread):
    """A grpc.aio server on its own event loop: aio objects stay on the thread that made them."""

    def __init__(self, tls: TLSConfig) -> None:
        super().__init__(daemon=True)
        self._tls = tls
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self.port = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread by start_and_wait
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        server = grpc.aio.server(
            interceptors=[AsyncErrorMappingInterceptor()], options=SERVER_OPTIONS
        )
        server.add_generic_rpc_handlers((_handler(_who_am_i_async),))
        self.port = add_port(server, "127.0.0.1:0", self._tls)
        await server.start()
        self._ready.set()
        await self._stop_requested.wait()
        await server.stop(grace=None)

    def start_and_wait(self) -> int:
        self.start()
        if not self._ready.wait(SERVER_START_TIMEOUT_S):
            raise RuntimeError("the aio server did not start")
        if self.error is not None:
            raise self.error
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._stop_requested is not None:
            self._loop.call_soon_threadsafe(self._stop_requested.set)
        self.join(SERVER_START_TIMEOUT_S)


@contextlib.contextmanager
def _serve_aio(tls: TLSConfig) -> Iterator[int]:
    thread = _AioServerThread(tls)
    port = thread.start_and_wait()
    try:
        yield port
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    init_pki(directory, organizations=["sjpd", "chicago-pd"])
    issue(directory, organization="sjpd", kind=PrincipalKind.NODE, principal="node")
    issue(directory, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-garcia")
    issue(directory, organization="sjpd", kind=PrincipalKind.CAMERA, principal="cam-7")
    # Issued three years ago with a one-year certificate: expired for any real clock today.
    three_years_ago = FixedClock(SYSTEM_CLOCK.now() - 3 * YEAR_S)
    issue(
        directory,
        organization="sjpd",
        kind=PrincipalKind.PERSON,
        principal="officer-expired",
        clock=three_years_ago,
    )
    return directory


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second federation whose root the server has never seen."""
    directory = tmp_path_factory.mktemp("other-pki")
    init_pki(directory, organizations=["sjpd"])
    issue(directory, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-garcia")
    issue(directory, organization="sjpd", kind=PrincipalKind.NODE, principal="node")
    return directory


@pytest.fixture(params=["sync", "aio"])
def server_port(request: pytest.FixtureRequest, pki: Path) -> Iterator[int]:
    """A node-like server using sjpd/node's credential, trusting the federation root."""
    serve = _serve_sync if request.param == "sync" else _serve_aio
    with serve(credential_path(pki, "sjpd", "node").tls()) as port:
        yield port


def _call(port: int, credentials: grpc.ChannelCredentials) -> dict[str, Any]:
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=CHANNEL_OPTIONS) as channel:
        reply = channel.unary_unary(METHOD)(b"", timeout=CALL_TIMEOUT_S)
    answer: dict[str, Any] = json.loads(reply)
    return answer


def _call_as(port: int, credential: Credential, *, trust: Path | None = None) -> dict[str, Any]:
    """Call with ``credential``'s certificate, trusting ``trust`` (default: its own root)."""
    return _call(
        port,
        grpc.ssl_channel_credentials(
            root_certificates=(trust or credential.ca).read_bytes(),
            private_key=credential.key.read_bytes(),
            certificate_chain=credential.cert.read_bytes(),
        ),
    )


@pytest.mark.parametrize(
    ("organization", "principal", "kind"),
    [
        ("sjpd", "officer-garcia", PrincipalKind.PERSON),
        ("sjpd", "cam-7", PrincipalKind.CAMERA),
        ("sjpd", "node", PrincipalKind.NODE),
        ("federation", "gateway", PrincipalKind.GATEWAY),
    ],
)
def test_valid_certificate_yields_its_identity(
    server_port: int, pki: Path, organization: str, principal: str, kind: PrincipalKind
) -> None:
    answer = _call_as(server_port, credential_path(pki, organization, principal))
    assert answer == {
        "principal": principal,
        "organization": organization,
        "kind": kind.value,
        "verified": True,
    }


def test_alprfed_secure_channel_presents_the_credential(server_port: int, pki: Path) -> None:
    tls = credential_path(pki, "sjpd", "officer-garcia").tls()
    with secure_channel(f"127.0.0.1:{server_port}", tls) as channel:
        reply = channel.unary_unary(METHOD)(b"", timeout=CALL_TIMEOUT_S)
    assert json.loads(reply)["principal"] == "officer-garcia"


def _assert_handshake_refused(call: Callable[[], object]) -> None:
    # gRPC reports a failed TLS handshake as UNAVAILABLE, never as an answer or UNAUTHENTICATED.
    with pytest.raises(grpc.RpcError) as refused:
        call()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_from_unknown_ca_fails_the_handshake(
    server_port: int, pki: Path, other_pki: Path
) -> None:
    stranger = credential_path(other_pki, "sjpd", "officer-garcia")
    _assert_handshake_refused(lambda: _call_as(server_port, stranger, trust=pki / "ca.pem"))


def test_no_client_certificate_fails_the_handshake(server_port: int, pki: Path) -> None:
    anonymous = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    _assert_handshake_refused(lambda: _call(server_port, anonymous))


def test_expired_certificate_fails_the_handshake(server_port: int, pki: Path) -> None:
    expired = credential_path(pki, "sjpd", "officer-expired")
    leaf = x509.load_pem_x509_certificate(expired.cert.read_bytes())
    assert leaf.not_valid_after_utc < dt.datetime.now(dt.UTC)  # the premise of this test
    _assert_handshake_refused(lambda: _call_as(server_port, expired))


def _forge_with_own_ca(pki: Path, directory: Path) -> Credential:
    """sjpd's intermediate CA minting an officer of chicago-pd: the chain verifies to the root,
    only the subject O differs from the issuing CA's O."""
    ca_dir = pki / "orgs" / "sjpd"
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca-key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "chicago-pd"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "person"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "officer-walsh"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir()
    credential = Credential(
        cert=directory / "cert.pem", key=directory / "key.pem", ca=pki / "ca.pem"
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + (ca_dir / "ca.pem").read_bytes()
    credential.cert.write_bytes(chain)
    credential.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return credential


def test_agency_ca_minting_another_agencys_officer_is_unauthenticated(
    server_port: int, pki: Path, tmp_path: Path
) -> None:
    forged = _forge_with_own_ca(pki, tmp_path / "forged")
    with pytest.raises(grpc.RpcError) as refused:
        _call_as(server_port, forged)
    # The handshake passed (the chain is genuine); the identity rule refused, saying nothing
    # about which check failed.
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details() == Unauthenticated.PUBLIC_MESSAGE


def test_client_refuses_a_server_from_an_unknown_ca(pki: Path, other_pki: Path) -> None:
    impostor = credential_path(other_pki, "sjpd", "node").tls()
    officer = credential_path(pki, "sjpd", "officer-garcia")
    with _serve_sync(impostor) as port:
        _assert_handshake_refused(lambda: _call_as(port, officer))
