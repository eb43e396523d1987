"""The certificates a development PKI issues: constraints, usages, names, validity, chains."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from alprfed.clock import FixedClock
from alprfed.errors import InvalidRequest
from alprfed.pki import credential_path, init_pki, issue
from alprfed.pki.certificates import (
    INTERMEDIATE_VALIDITY_DAYS,
    LEAF_VALIDITY_DAYS,
    NOT_BEFORE_BACKDATE_S,
    ROOT_VALIDITY_DAYS,
    load_key,
    parse_hosts,
)
from alprfed.rpc.identity import Identity, PrincipalKind, identity_from_certificate

ORGANIZATIONS = ["sjpd", "santa-clara-superior"]
ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)


@pytest.fixture
def pki(tmp_path: Path, clock: FixedClock) -> Path:
    directory = tmp_path / "pki"
    init_pki(directory, organizations=ORGANIZATIONS, hosts=["gateway.test"], clock=clock)
    issue(
        directory,
        organization="sjpd",
        kind=PrincipalKind.NODE,
        principal="node",
        hosts=["node.sjpd.test", "10.0.0.7"],
        clock=clock,
    )
    issue(
        directory,
        organization="sjpd",
        kind=PrincipalKind.PERSON,
        principal="officer-garcia",
        clock=clock,
    )
    issue(directory, organization="sjpd", kind=PrincipalKind.CAMERA, principal="cam-1", clock=clock)
    return directory


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _chain(directory: Path, organization: str, principal: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(
        credential_path(directory, organization, principal).cert.read_bytes()
    )


def _ext(cert: x509.Certificate, kind: type[ExtensionT]) -> x509.Extension[ExtensionT]:
    return cert.extensions.get_extension_for_class(kind)


def _at(clock: FixedClock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now(), dt.UTC)


def test_root_is_a_self_signed_ca_one_level_above_leaves(pki: Path, clock: FixedClock) -> None:
    root = _cert(pki / "ca.pem")
    root.verify_directly_issued_by(root)
    constraints = _ext(root, x509.BasicConstraints)
    assert (constraints.critical, constraints.value.ca, constraints.value.path_length) == (
        True,
        True,
        1,
    )
    usage = _ext(root, x509.KeyUsage)
    assert (usage.critical, usage.value.key_cert_sign, usage.value.crl_sign) == (True, True, True)
    assert not usage.value.digital_signature
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = root.not_valid_after_utc - _at(clock)
    assert lifetime == dt.timedelta(days=ROOT_VALIDITY_DAYS)


@pytest.mark.parametrize("organization", [*ORGANIZATIONS, "federation"])
def test_each_organization_has_an_intermediate_signed_by_the_root(
    pki: Path, organization: str, clock: FixedClock
) -> None:
    root = _cert(pki / "ca.pem")
    intermediate = _cert(pki / "orgs" / organization / "ca.pem")
    intermediate.verify_directly_issued_by(root)
    constraints = _ext(intermediate, x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    assert _ext(intermediate, x509.KeyUsage).value.key_cert_sign
    [org] = intermediate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert org.value == organization
    assert intermediate.not_valid_after_utc - _at(clock) == dt.timedelta(
        days=INTERMEDIATE_VALIDITY_DAYS
    )


@pytest.mark.parametrize(
    ("organization", "principal", "kind", "usages"),
    [
        ("sjpd", "officer-garcia", PrincipalKind.PERSON, [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("sjpd", "cam-1", PrincipalKind.CAMERA, [ExtendedKeyUsageOID.CLIENT_AUTH]),
        (
            "sjpd",
            "node",
            PrincipalKind.NODE,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ),
        (
            "federation",
            "gateway",
            PrincipalKind.GATEWAY,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ),
    ],
)
def test_leaf_has_the_subject_scheme_usages_and_chain(
    pki: Path,
    clock: FixedClock,
    organization: str,
    principal: str,
    kind: PrincipalKind,
    usages: list[x509.ObjectIdentifier],
) -> None:
    leaf, *rest = _chain(pki, organization, principal)
    intermediate = _cert(pki / "orgs" / organization / "ca.pem")
    assert rest == [intermediate]  # the file holds leaf + intermediate, so peers reach the root
    leaf.verify_directly_issued_by(intermediate)
    assert identity_from_certificate(leaf) == Identity(principal, organization, kind)
    assert not _ext(leaf, x509.BasicConstraints).value.ca
    key_usage = _ext(leaf, x509.KeyUsage)
    assert (key_usage.critical, key_usage.value.digital_signature) == (True, True)
    assert not key_usage.value.key_cert_sign
    assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == usages
    assert leaf.not_valid_before_utc == _at(clock) - dt.timedelta(seconds=NOT_BEFORE_BACKDATE_S)
    assert leaf.not_valid_after_utc - _at(clock) == dt.timedelta(days=LEAF_VALIDITY_DAYS)


@pytest.mark.parametrize("principal", ["officer-garcia", "cam-1"])
def test_people_and_cameras_name_no_hosts(pki: Path, principal: str) -> None:
    leaf = _chain(pki, "sjpd", principal)[0]
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize(
    "host",
    [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("node.sjpd.test"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.7")),
    ],
)
def test_node_certificate_verifies_as_a_server_for_its_hosts(
    pki: Path, clock: FixedClock, host: x509.GeneralName
) -> None:
    leaf, *intermediates = _chain(pki, "sjpd", "node")
    verifier = (
        PolicyBuilder()
        .store(Store([_cert(pki / "ca.pem")]))
        .time(_at(clock))
        .build_server_verifier(host)  # type: ignore[arg-type]
    )
    chain = verifier.verify(leaf, intermediates)
    assert chain[-1] == _cert(pki / "ca.pem")


def test_node_certificate_does_not_verify_for_another_host(pki: Path, clock: FixedClock) -> None:
    leaf, *intermediates = _chain(pki, "sjpd", "node")
    verifier = (
        PolicyBuilder()
        .store(Store([_cert(pki / "ca.pem")]))
        .time(_at(clock))
        .build_server_verifier(x509.DNSName("node.chicago-pd.test"))
    )
    with pytest.raises(VerificationError):
        verifier.verify(leaf, intermediates)


def test_gateway_certificate_covers_the_hosts_given_to_init(pki: Path) -> None:
    leaf = _chain(pki, "federation", "gateway")[0]
    names = _ext(leaf, x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "gateway.test"]


def test_private_key_matches_the_certificate(pki: Path) -> None:
    credential = credential_path(pki, "sjpd", "officer-garcia")
    key = load_key(credential.key.read_bytes())
    assert key.public_key() == _chain(pki, "sjpd", "officer-garcia")[0].public_key()


def test_every_private_key_in_the_pki_is_0600(pki: Path) -> None:
    keys = [p for p in pki.rglob("*.pem") if b"PRIVATE KEY" in p.read_bytes()]
    assert len(keys) == 1 + 3 + 4  # root, three intermediates, gateway + node + officer + camera
    assert {stat.S_IMODE(p.stat().st_mode) for p in keys} == {0o600}


def test_leaf_never_outlives_its_intermediate(tmp_path: Path, clock: FixedClock) -> None:
    init_pki(tmp_path / "pki", organizations=["sjpd"], clock=clock)
    late = FixedClock(clock.now() + (INTERMEDIATE_VALIDITY_DAYS - 30) * 24 * 3600)
    credential = issue(
        tmp_path / "pki",
        organization="sjpd",
        kind=PrincipalKind.PERSON,
        principal="officer-late",
        clock=late,
    )
    leaf, intermediate = x509.load_pem_x509_certificates(credential.cert.read_bytes())
    assert leaf.not_valid_after_utc == intermediate.not_valid_after_utc


def test_hosts_parse_into_unique_names_after_the_defaults() -> None:
    names = parse_hosts(["LocalHost", "gw.example.org", "::1", "192.0.2.1"])
    assert names == [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("gw.example.org"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
    ]


@pytest.mark.parametrize("host", ["", "bad host", "-leading.example", "a..b", "x" * 64 + ".org"])
def test_malformed_host_is_refused(host: str) -> None:
    with pytest.raises(InvalidRequest, match="host"):
        parse_hosts([host])
