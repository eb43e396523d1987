"""With [tls] set the witness speaks HTTPS only, with the configured certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from witnesses import SigningLog, witness_config

from alprfed.clock import FixedClock
from alprfed.ledger.cosignature import CosignatureVerifier, add_signature_lines, verify_cosignatures
from alprfed.signing import SigningKey
from witness.config import WitnessTLS
from witness.server import create_server

TIMEOUT = aiohttp.ClientTimeout(total=20)


def _self_signed(directory: Path) -> WitnessTLS:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "witness.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    tls = WitnessTLS(directory / "cert.pem", directory / "tls-key.pem")
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


def test_https_witness_cosigns_and_refuses_plain_http(
    sqlite_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    log = SigningLog()
    tls = _self_signed(tmp_path)
    config = replace(witness_config(sqlite_url, tmp_path / "k.pem", [log]), tls=tls)
    verifier = CosignatureVerifier.for_key(config.name, SigningKey.load(config.signing_key).public)
    trust = ssl.create_default_context(cafile=str(tls.cert))

    async def scenario() -> None:
        server, port = await create_server(config, clock=clock)
        try:
            await server.start()
            assert server.scheme == "https"
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust))
            url = f"https://127.0.0.1:{port}/add-checkpoint"
            async with session, session.post(url, data=log.body(0, 3), timeout=TIMEOUT) as answer:
                assert answer.status == 200
                lines = await answer.text()
            note = add_signature_lines(log.note(3), [lines])
            assert verify_cosignatures(note, [verifier]) == {verifier: clock.now()}
            async with aiohttp.ClientSession() as plain:
                with pytest.raises(aiohttp.ClientError):
                    async with plain.get(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT):
                        pass
        finally:
            await server.stop()

    asyncio.run(scenario())
