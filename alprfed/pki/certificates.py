"""Building the certificates of a development federation PKI (pure: no files, time passed in).

Three tiers, all ECDSA P-256 with SHA-256 signatures (P-256 keeps TLS handshakes fast):

    root CA            basicConstraints CA, pathLen 1   keyCertSign, cRLSign
    └── org CA         basicConstraints CA, pathLen 0   keyCertSign, cRLSign    O = organization
        └── leaf       basicConstraints not a CA        digitalSignature        CN, O, OU

A leaf's subject follows the scheme alprfed.rpc.identity reads: CN = principal id, O = the
organization of the intermediate that signs it, OU = the principal kind. Gateway and node leaves
carry serverAuth and clientAuth (a service both answers and calls with one identity) and
subjectAltNames for the hosts it serves; people and cameras only ever call, so their leaves
carry clientAuth and no host names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from alprfed.errors import InvalidRequest
from alprfed.rpc.identity import PrincipalKind

ROOT_VALIDITY_DAYS = 3650  # ten years: replacing the root means re-issuing everything
INTERMEDIATE_VALIDITY_DAYS = 1825  # five years per organization CA
# 397 days is the CA/Browser Forum ceiling for TLS server certificates; client credentials use
# the same so every credential in the federation is renewed at least yearly.
LEAF_VALIDITY_DAYS = 397
# Start validity a little in the past so a peer whose clock lags accepts a fresh certificate.
NOT_BEFORE_BACKDATE_S = 300

ROOT_COMMON_NAME = "alprfed development root CA"
# Not a valid organization id (it has spaces), so the root can never pass for an organization.
ROOT_ORGANIZATION = "alprfed development federation"
# Every host a locally run service answers on, whatever else it is given.
DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
SERVICE_KINDS = frozenset({PrincipalKind.GATEWAY, PrincipalKind.NODE})

_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_SIGNATURE_HASH = hashes.SHA256()


@dataclass(frozen=True)
class Issuer:
    """A CA that signs: its certificate and private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key from the operating system's random source."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: what grpc.ssl_*_credentials read (files are written 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(*certificates: x509.Certificate) -> bytes:
    """PEM of one certificate, or of a chain in the order given (leaf first)."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """Raises: ValueError when the PEM is not an EC private key."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


def parse_hosts(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """subjectAltNames for DEFAULT_HOSTS plus ``hosts``, without repeats, in order.

    Raises:
        InvalidRequest: a host is neither an IP address nor a DNS name.
    """
    names: list[x509.GeneralName] = []
    for raw in (*DEFAULT_HOSTS, *hosts):
        host = raw.strip().lower() if isinstance(raw, str) else ""
        name: x509.GeneralName
        try:
            name = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            if not _DNS_NAME.fullmatch(host):
                raise InvalidRequest(
                    f"{raw!r} is neither an IP address nor a DNS host name", field="host"
                ) from None
            name = x509.DNSName(host)
        if name not in names:
            names.append(name)
    return names


def _validity(
    now: dt.datetime, days: int, cap: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    not_before = now - dt.timedelta(seconds=NOT_BEFORE_BACKDATE_S)
    not_after = now + dt.timedelta(days=days)
    # A certificate outliving its issuer would only fail later, at a worse moment.
    if cap is not None and not_after > cap:
        not_after = cap
    return not_before, not_after


def _builder(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: Issuer | None,
    now: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    issuer_name = subject if issuer is None else issuer.certificate.subject
    cap = None if issuer is None else issuer.certificate.not_valid_after_utc
    not_before, not_after = _validity(now, days, cap)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return builder


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA key only signs certificates (and CRLs); a leaf key only signs TLS handshakes
    (ECDSA has no key encipherment)."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def root_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    """The self-signed federation root. pathLen 1: it signs organization CAs, they sign leaves."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ROOT_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, ROOT_COMMON_NAME),
        ]
    )
    return (
        _builder(subject, key, None, now, ROOT_VALIDITY_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(key, _SIGNATURE_HASH)
    )


def intermediate_certificate(
    organization: str, key: ec.EllipticCurvePrivateKey, root: Issuer, now: dt.datetime
) -> x509.Certificate:
    """An organization's CA: subject O = the organization id; pathLen 0 (it signs leaves only)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} CA"),
        ]
    )
    return (
        _builder(subject, key, root, now, INTERMEDIATE_VALIDITY_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(root.key, _SIGNATURE_HASH)
    )


def leaf_subject(organization: str, kind: PrincipalKind, principal: str) -> x509.Name:
    """The subject alprfed.rpc.identity reads: O = organization, OU = kind, CN = principal."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, kind.value),
            x509.NameAttribute(NameOID.COMMON_NAME, principal),
        ]
    )


def leaf_certificate(
    subject: x509.Name,
    kind: PrincipalKind,
    key: ec.EllipticCurvePrivateKey,
    issuer: Issuer,
    now: dt.datetime,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    """A principal's certificate signed by its organization's CA.

    Services (gateway, node) get serverAuth + clientAuth and subjectAltNames for DEFAULT_HOSTS
    plus ``hosts``; people and cameras get clientAuth only and no host names.

    Raises:
        InvalidRequest: hosts given for a person or camera, or a host that does not parse.
    """
    service = kind in SERVICE_KINDS
    if hosts and not service:
        raise InvalidRequest(
            f"a {kind.value} certificate names no hosts; only gateway and node certificates do",
            field="host",
        )
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if service:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        _builder(subject, key, issuer, now, LEAF_VALIDITY_DAYS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if service:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(parse_hosts(hosts)), critical=False
        )
    return builder.sign(issuer.key, _SIGNATURE_HASH)
