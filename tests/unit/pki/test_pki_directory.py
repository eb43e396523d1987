"""The PKI directory: layout, refusals, rotation, and that a failed change leaves nothing behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from alprfed.config import TLSConfig
from alprfed.errors import AlreadyExists, InvalidRequest, NotFound
from alprfed.pki import add_organization, credential_path, init_pki, issue
from alprfed.rpc.identity import PrincipalKind, identity_from_certificate


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    init_pki(directory, organizations=["sjpd", "chicago-pd"])
    return directory


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_init_lays_out_the_documented_tree(pki: Path) -> None:
    assert sorted(_files(pki)) == [
        "ca.pem",
        "orgs/chicago-pd/ca-key.pem",
        "orgs/chicago-pd/ca.pem",
        "orgs/federation/ca-key.pem",
        "orgs/federation/ca.pem",
        "orgs/federation/principals/gateway/cert.pem",
        "orgs/federation/principals/gateway/key.pem",
        "orgs/sjpd/ca-key.pem",
        "orgs/sjpd/ca.pem",
        "root/key.pem",
    ]
    assert stat.S_IMODE((pki / "root").stat().st_mode) == 0o700


def test_init_into_an_existing_empty_directory(tmp_path: Path) -> None:
    init_pki(tmp_path, organizations=["sjpd"])
    assert (tmp_path / "orgs" / "sjpd" / "ca.pem").is_file()


def test_init_refuses_an_existing_pki_and_keeps_it(pki: Path) -> None:
    before = _files(pki)
    with pytest.raises(AlreadyExists, match="--force"):
        init_pki(pki, organizations=["sjpd"])
    assert _files(pki) == before


def test_init_force_replaces_the_whole_pki(pki: Path) -> None:
    old_root = (pki / "ca.pem").read_bytes()
    init_pki(pki, organizations=["seattle-pd"], force=True)
    assert (pki / "ca.pem").read_bytes() != old_root
    assert not (pki / "orgs" / "sjpd").exists()
    assert (pki / "orgs" / "seattle-pd" / "ca.pem").is_file()
    assert [p.name for p in pki.parent.iterdir()] == ["pki"]  # no staging or retired leftovers


def test_init_with_a_bad_host_writes_nothing_even_with_force(pki: Path) -> None:
    before = _files(pki)
    with pytest.raises(InvalidRequest, match="host"):
        init_pki(pki, organizations=["sjpd"], hosts=["not a host"], force=True)
    assert _files(pki) == before
    assert [p.name for p in pki.parent.iterdir()] == ["pki"]


@pytest.mark.parametrize("organization", ["", "SJPD", "../etc", "a/b"])
def test_init_refuses_malformed_organization_ids(tmp_path: Path, organization: str) -> None:
    with pytest.raises(InvalidRequest, match="organization"):
        init_pki(tmp_path / "pki", organizations=[organization])
    assert not (tmp_path / "pki").exists()


def test_issue_returns_the_credential_credential_path_finds(pki: Path) -> None:
    issued = issue(pki, organization="sjpd", kind=PrincipalKind.PERSON, principal="sgt-nguyen")
    assert issued == credential_path(pki, "sjpd", "sgt-nguyen")
    assert issued.ca == pki / "ca.pem"
    assert issued.tls() == TLSConfig(ca=issued.ca, cert=issued.cert, key=issued.key)
    issued.tls().check("test")  # the files exist where a TLSConfig expects them


def test_issue_refuses_an_organization_without_a_ca(pki: Path) -> None:
    with pytest.raises(NotFound, match="seattle-pd"):
        issue(pki, organization="seattle-pd", kind=PrincipalKind.PERSON, principal="officer-kim")
    assert not (pki / "orgs" / "seattle-pd").exists()


def test_issue_refuses_a_directory_without_a_pki(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        issue(tmp_path, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-a")


@pytest.mark.parametrize(
    ("organization", "kind"),
    [
        ("sjpd", PrincipalKind.GATEWAY),
        ("federation", PrincipalKind.NODE),
        ("federation", PrincipalKind.CAMERA),
    ],
)
def test_issue_refuses_kinds_outside_their_organization(
    pki: Path, organization: str, kind: PrincipalKind
) -> None:
    with pytest.raises(InvalidRequest, match="kind"):
        issue(pki, organization=organization, kind=kind, principal="x")


def test_federation_operators_are_people_of_the_federation(pki: Path) -> None:
    credential = issue(
        pki, organization="federation", kind=PrincipalKind.PERSON, principal="admin-ortiz"
    )
    leaf = x509.load_pem_x509_certificate(credential.cert.read_bytes())
    assert str(identity_from_certificate(leaf)) == "person:federation/admin-ortiz"


def test_issue_refuses_hosts_for_a_person(pki: Path) -> None:
    with pytest.raises(InvalidRequest, match="host"):
        issue(
            pki,
            organization="sjpd",
            kind=PrincipalKind.PERSON,
            principal="officer-garcia",
            hosts=["officer.example"],
        )
    assert not (pki / "orgs" / "sjpd" / "principals" / "officer-garcia").exists()


def test_issue_with_a_bad_host_leaves_no_partial_credential(pki: Path) -> None:
    with pytest.raises(InvalidRequest):
        issue(pki, organization="sjpd", kind=PrincipalKind.NODE, principal="node", hosts=["a b"])
    assert list((pki / "orgs" / "sjpd" / "principals").iterdir()) == []


def test_issue_refuses_to_overwrite_unless_replacing(pki: Path) -> None:
    first = issue(pki, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-garcia")
    old_cert, old_key = first.cert.read_bytes(), first.key.read_bytes()
    with pytest.raises(AlreadyExists, match="--replace"):
        issue(pki, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-garcia")
    assert (first.cert.read_bytes(), first.key.read_bytes()) == (old_cert, old_key)

    rotated = issue(
        pki,
        organization="sjpd",
        kind=PrincipalKind.PERSON,
        principal="officer-garcia",
        replace=True,
    )
    assert rotated == first
    assert rotated.cert.read_bytes() != old_cert
    assert rotated.key.read_bytes() != old_key
    assert sorted(p.name for p in (pki / "orgs" / "sjpd" / "principals").iterdir()) == [
        "officer-garcia"
    ]


@pytest.mark.parametrize("principal", ["", "Officer", "../x", "a/b", "x" * 65])
def test_issue_refuses_malformed_principal_ids(pki: Path, principal: str) -> None:
    with pytest.raises(InvalidRequest, match="principal"):
        issue(pki, organization="sjpd", kind=PrincipalKind.PERSON, principal=principal)


def test_issue_refuses_an_unknown_kind(pki: Path) -> None:
    with pytest.raises(InvalidRequest, match="kind"):
        issue(pki, organization="sjpd", kind="robot", principal="r2")  # type: ignore[arg-type]


def test_credential_path_refuses_what_was_never_issued(pki: Path) -> None:
    with pytest.raises(NotFound, match="sjpd/officer-nobody"):
        credential_path(pki, "sjpd", "officer-nobody")


def test_add_organization_extends_the_pki_without_touching_the_rest(pki: Path) -> None:
    issue(pki, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-garcia")
    before = _files(pki)
    add_organization(pki, "seattle-pd")
    after = _files(pki)
    assert {k: v for k, v in after.items() if not k.startswith("orgs/seattle-pd/")} == before
    officer = issue(
        pki, organization="seattle-pd", kind=PrincipalKind.PERSON, principal="officer-kim"
    )
    root = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    leaf, intermediate = x509.load_pem_x509_certificates(officer.cert.read_bytes())
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)


def test_add_organization_refuses_an_existing_one(pki: Path) -> None:
    before = _files(pki)
    with pytest.raises(AlreadyExists):
        add_organization(pki, "sjpd")
    assert _files(pki) == before


def test_add_organization_needs_a_pki(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="pki init"):
        add_organization(tmp_path, "sjpd")
