"""Who is calling: read from the verified mTLS client certificate, never from request fields.

Certificate subjects in a federation PKI (made by ``alprfed pki init``, see docs/PKI.md):

    CN = the principal's id (officer id, "gateway", node or camera id)
    O  = the organization id: an agency, a court or an oversight body of the federation file
    OU = the principal kind: "person", "gateway", "node" or "camera"

The chain is verified by gRPC against the federation root. On top of that we require the leaf's
issuer O to equal its subject O, so one agency's intermediate CA cannot mint another agency's
officers (the gateway's certificate comes from the federation's own intermediate, O=federation).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from alprfed.errors import Unauthenticated

log = logging.getLogger("alprfed.identity")

# Only honoured by a server started with --insecure: a local-experiment stand-in for a
# certificate, formatted "kind:org/principal". Never consulted when TLS is on.
INSECURE_IDENTITY_HEADER = "x-alprfed-insecure-identity"
IDENTITY_CACHE_ENTRIES = 1024  # distinct peer certificates remembered, parsed


class PrincipalKind(StrEnum):
    PERSON = "person"
    GATEWAY = "gateway"
    NODE = "node"
    CAMERA = "camera"


@dataclass(frozen=True)
class Identity:
    principal: str  # CN
    organization: str  # O: agency / court / oversight body id
    kind: PrincipalKind  # OU
    verified: bool = True  # False only under --insecure

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.organization}/{self.principal}"


def _single(name: x509.Name, oid: x509.ObjectIdentifier, what: str) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise Unauthenticated(f"certificate {what} must appear exactly once")
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8")


def identity_from_certificate(cert: x509.Certificate) -> Identity:
    """Raises: Unauthenticated when the subject does not follow the federation scheme."""
    subject, issuer = cert.subject, cert.issuer
    organization = _single(subject, NameOID.ORGANIZATION_NAME, "subject O")
    if _single(issuer, NameOID.ORGANIZATION_NAME, "issuer O") != organization:
        raise Unauthenticated("certificate issued by another organization's CA")
    try:
        kind = PrincipalKind(_single(subject, NameOID.ORGANIZATIONAL_UNIT_NAME, "subject OU"))
    except ValueError:
        raise Unauthenticated("certificate OU is not a known principal kind") from None
    return Identity(_single(subject, NameOID.COMMON_NAME, "subject CN"), organization, kind)


@functools.lru_cache(maxsize=IDENTITY_CACHE_ENTRIES)
def _identity_of_pem(pem: bytes) -> Identity:
    # gRPC hands every call the peer's PEM; parsing it anew showed in the node's profile.
    # An Identity is a pure function of the bytes, and a failure raises, so nothing bad is kept.
    return identity_from_certificate(x509.load_pem_x509_certificate(pem))


def peer_identity(context: Any, *, insecure: bool) -> Identity:
    """The caller's identity from a servicer context (sync or aio).

    Raises:
        Unauthenticated: no verified certificate (or, under --insecure, no identity header).
    """
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    if pems:
        return _identity_of_pem(bytes(pems[0]))
    if insecure:
        for key, value in context.invocation_metadata() or ():
            if key == INSECURE_IDENTITY_HEADER:
                return _insecure_identity(value)
    raise Unauthenticated("no verified client certificate")


def _insecure_identity(value: str) -> Identity:
    try:
        kind, rest = value.split(":", 1)
        organization, principal = rest.split("/", 1)
        identity = Identity(principal, organization, PrincipalKind(kind), verified=False)
    except ValueError:
        raise Unauthenticated("malformed insecure identity header") from None
    log.warning("accepting UNVERIFIED identity %s (--insecure)", identity)
    return identity
