"""The PKI directory: where every certificate and key lives, and the operations that fill it.

Layout (docs/PKI.md)::

    DIR/ca.pem                                      root certificate: the bundle every peer trusts
    DIR/root/key.pem                                root CA private key
    DIR/orgs/<org>/ca.pem                           the organization's intermediate CA
    DIR/orgs/<org>/ca-key.pem                       its private key
    DIR/orgs/<org>/principals/<principal>/cert.pem  leaf followed by the intermediate (the chain)
    DIR/orgs/<org>/principals/<principal>/key.pem   the leaf's private key

Private keys are written 0600; the root's and each principal's directory is 0700. Every
change is built in a staging directory beside its target and moved into place with rename(2),
so a failure half way leaves the previous state untouched rather than a root without
intermediates or a key without its certificate.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from alprfed.clock import SYSTEM_CLOCK, Clock
from alprfed.config import TLSConfig
from alprfed.errors import AlreadyExists, InvalidRequest, NotFound
from alprfed.models import check_identifier
from alprfed.pki import certificates as certs
from alprfed.rpc.identity import PrincipalKind

FEDERATION_ORG = "federation"  # the gateway's and the federation operators' organization
GATEWAY_PRINCIPAL = "gateway"  # the gateway's CN, issued by init_pki

TRUST_BUNDLE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
INTERMEDIATE_CERT_FILE = "ca.pem"
INTERMEDIATE_KEY_FILE = "ca-key.pem"
_PRIVATE_DIR_MODE = 0o700
_KEY_MODE = 0o600
_PUBLIC_MODE = 0o644
_PUBLIC_DIR_MODE = 0o755


@dataclass(frozen=True)
class Credential:
    """A principal's certificate chain, private key and the federation root bundle."""

    cert: Path
    key: Path
    ca: Path

    def tls(self) -> TLSConfig:
        """The same files as the mutual-TLS configuration services and clients take."""
        return TLSConfig(ca=self.ca, cert=self.cert, key=self.key)


def _org_dir(directory: Path, organization: str) -> Path:
    return directory / "orgs" / organization


def _principal_dir(directory: Path, organization: str, principal: str) -> Path:
    return _org_dir(directory, organization) / "principals" / principal


def _now(clock: Clock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now(), dt.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start, so a key is never briefly world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _staging(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))


def _install(staging: Path, target: Path, mode: int) -> None:
    """Move a finished staging directory to ``target``, replacing what is there.

    rename(2) replaces an empty directory but not a full one, so a full target is first moved
    aside, and removed only once the new one is in place (or moved back if that fails).
    """
    staging.chmod(mode)
    if not (target.is_dir() and any(target.iterdir())):
        os.replace(staging, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=".retired-", dir=target.parent))
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired)


def _built_in(parent: Path, target: Path, mode: int, build: Callable[[Path], None]) -> None:
    """Run ``build`` into a fresh staging directory under ``parent`` and install it as ``target``.

    Raises:
        whatever ``build`` raises; the staging directory is removed and ``target`` untouched.
    """
    staging = _staging(parent)
    try:
        build(staging)
        _install(staging, target, mode)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_organizations(organizations: Sequence[str]) -> list[str]:
    checked: list[str] = []
    for organization in (FEDERATION_ORG, *organizations):
        check_identifier(organization, field_name="organization")
        if organization not in checked:
            checked.append(organization)
    return checked


def _load_issuer(cert_path: Path, key_path: Path) -> certs.Issuer:
    return certs.Issuer(
        x509.load_pem_x509_certificate(cert_path.read_bytes()),
        certs.load_key(key_path.read_bytes()),
    )


def _root(directory: Path) -> certs.Issuer:
    """Raises: NotFound when ``directory`` holds no federation PKI."""
    cert_path, key_path = directory / TRUST_BUNDLE, directory / "root" / KEY_FILE
    if not (cert_path.is_file() and key_path.is_file()):
        raise NotFound(f"{directory} holds no federation PKI; create one with `alprfed pki init`")
    return _load_issuer(cert_path, key_path)


def _intermediate(directory: Path, organization: str) -> certs.Issuer:
    """Raises: NotFound when the organization has no intermediate CA in ``directory``."""
    org_dir = _org_dir(directory, organization)
    cert_path, key_path = org_dir / INTERMEDIATE_CERT_FILE, org_dir / INTERMEDIATE_KEY_FILE
    if not (cert_path.is_file() and key_path.is_file()):
        raise NotFound(
            f"{directory} has no CA for organization {organization!r}; add one with "
            f"`alprfed pki add-org {directory} --org {organization}`"
        )
    return _load_issuer(cert_path, key_path)


def _write_intermediate(
    org_dir: Path, organization: str, root: certs.Issuer, now: dt.datetime
) -> None:
    key = certs.new_key()
    certificate = certs.intermediate_certificate(organization, key, root, now)
    _write(org_dir / INTERMEDIATE_CERT_FILE, certs.cert_pem(certificate), _PUBLIC_MODE)
    _write(org_dir / INTERMEDIATE_KEY_FILE, certs.key_pem(key), _KEY_MODE)


def _write_leaf(
    principal_dir: Path,
    issuer: certs.Issuer,
    subject: x509.Name,
    kind: PrincipalKind,
    hosts: Sequence[str],
    now: dt.datetime,
) -> None:
    key = certs.new_key()
    leaf = certs.leaf_certificate(subject, kind, key, issuer, now, hosts)
    _write(principal_dir / CERT_FILE, certs.cert_pem(leaf, issuer.certificate), _PUBLIC_MODE)
    _write(principal_dir / KEY_FILE, certs.key_pem(key), _KEY_MODE)


def init_pki(
    directory: Path,
    *,
    organizations: Sequence[str],
    hosts: Sequence[str] = (),
    force: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Create a development federation PKI in ``directory``.

    Makes the root CA, an intermediate CA for each organization and for ``federation`` (added
    when not listed), and the gateway's credential (``federation``/``gateway``) whose
    subjectAltNames cover localhost, 127.0.0.1, ::1 and ``hosts``. Nodes, cameras and people
    are issued afterwards with :func:`issue`.

    Raises:
        AlreadyExists: ``directory`` exists and is not empty, and ``force`` is not set.
        InvalidRequest: an organization id or a host is malformed (nothing is written).
    """
    directory = Path(directory)
    organizations = _check_organizations(organizations)
    certs.parse_hosts(hosts)  # refuse a bad host before generating anything
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise AlreadyExists(
            f"{directory} is not empty; re-creating the PKI would invalidate every credential "
            "issued from it (use --force to replace it)"
        )
    if directory.exists() and not directory.is_dir():
        raise AlreadyExists(f"{directory} exists and is not a directory")
    now = _now(clock)

    def build(staging: Path) -> None:
        root_key = certs.new_key()
        root = certs.Issuer(certs.root_certificate(root_key, now), root_key)
        (staging / "root").mkdir(mode=_PRIVATE_DIR_MODE)
        _write(staging / TRUST_BUNDLE, certs.cert_pem(root.certificate), _PUBLIC_MODE)
        _write(staging / "root" / KEY_FILE, certs.key_pem(root_key), _KEY_MODE)
        for organization in organizations:
            org_dir = _org_dir(staging, organization)
            org_dir.mkdir(parents=True, mode=_PUBLIC_DIR_MODE)
            _write_intermediate(org_dir, organization, root, now)
        gateway_dir = _principal_dir(staging, FEDERATION_ORG, GATEWAY_PRINCIPAL)
        gateway_dir.mkdir(parents=True, mode=_PRIVATE_DIR_MODE)
        issuer = _load_issuer(
            _org_dir(staging, FEDERATION_ORG) / INTERMEDIATE_CERT_FILE,
            _org_dir(staging, FEDERATION_ORG) / INTERMEDIATE_KEY_FILE,
        )
        subject = certs.leaf_subject(FEDERATION_ORG, PrincipalKind.GATEWAY, GATEWAY_PRINCIPAL)
        _write_leaf(gateway_dir, issuer, subject, PrincipalKind.GATEWAY, hosts, now)

    _built_in(directory.resolve().parent, directory, _PUBLIC_DIR_MODE, build)


def add_organization(directory: Path, organization: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Add an intermediate CA for a new agency, court or oversight body to an existing PKI.

    Raises:
        NotFound: ``directory`` holds no PKI.
        AlreadyExists: the organization already has a CA (its credentials stay valid).
        InvalidRequest: the organization id is malformed.
    """
    directory = Path(directory)
    check_identifier(organization, field_name="organization")
    root = _root(directory)
    org_dir = _org_dir(directory, organization)
    if org_dir.exists():
        raise AlreadyExists(f"organization {organization!r} already has a CA in {directory}")
    now = _now(clock)
    _built_in(
        org_dir.parent,
        org_dir,
        _PUBLIC_DIR_MODE,
        lambda staging: _write_intermediate(staging, organization, root, now),
    )


def issue(
    directory: Path,
    *,
    organization: str,
    kind: PrincipalKind,
    principal: str,
    hosts: Sequence[str] = (),
    replace: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> Credential:
    """Issue a principal's credential from its organization's intermediate CA.

    ``replace`` re-issues (rotates) an existing credential: a new key and certificate replace
    the old files together.

    Raises:
        NotFound: ``directory`` has no intermediate CA for ``organization``.
        AlreadyExists: the principal already has a credential and ``replace`` is not set.
        InvalidRequest: a malformed id or host, hosts for a person or camera, a gateway outside
            the ``federation`` organization, or a node or camera inside it.
    """
    directory = Path(directory)
    check_identifier(organization, field_name="organization")
    check_identifier(principal, field_name="principal")
    try:
        kind = PrincipalKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in PrincipalKind)
        raise InvalidRequest(
            f"{kind!r} is not a principal kind; use {kinds}", field="kind"
        ) from None
    federation = organization == FEDERATION_ORG
    if (kind is PrincipalKind.GATEWAY and not federation) or (
        kind in (PrincipalKind.NODE, PrincipalKind.CAMERA) and federation
    ):
        raise InvalidRequest(
            f"a {kind.value} cannot belong to {organization!r}: the gateway's certificate comes "
            f"from the {FEDERATION_ORG!r} CA, nodes and cameras from their agency's CA",
            field="kind",
        )
    issuer = _intermediate(directory, organization)
    target = _principal_dir(directory, organization, principal)
    if (target / CERT_FILE).exists() and not replace:
        raise AlreadyExists(
            f"{organization}/{principal} already has a credential; use --replace to rotate it"
        )
    subject = certs.leaf_subject(organization, kind, principal)
    now = _now(clock)
    _built_in(
        target.parent,
        target,
        _PRIVATE_DIR_MODE,
        lambda staging: _write_leaf(staging, issuer, subject, kind, hosts, now),
    )
    return credential_path(directory, organization, principal)


def credential_path(directory: Path, organization: str, principal: str) -> Credential:
    """The files of an issued credential, ready for a TLSConfig.

    Raises:
        NotFound: no credential has been issued to ``organization``/``principal``.
    """
    directory = Path(directory)
    principal_dir = _principal_dir(directory, organization, principal)
    credential = Credential(
        cert=principal_dir / CERT_FILE, key=principal_dir / KEY_FILE, ca=directory / TRUST_BUNDLE
    )
    missing = [p for p in (credential.cert, credential.key, credential.ca) if not p.is_file()]
    if missing:
        raise NotFound(
            f"no credential for {organization}/{principal} in {directory} "
            f"(missing {', '.join(p.name for p in missing)}); issue one with `alprfed pki issue`"
        )
    return credential
