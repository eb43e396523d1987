"""A supervisor's signed consent to one officer's exigent query.

An exigent query has no court behind it, only a second person: the supervisor. So that a node
need not take the gateway's word that a supervisor approved, the supervisor signs the approval
with the private key of their own person certificate (ECDSA P-256, the key they use for mutual
TLS), as a DSSE envelope of payload type ``application/vnd.alprfed.exigent-consent+json``::

    {"v": 1, "agency": "sjpd", "supervisor": "sgt-nguyen", "officer": "officer-garcia",
     "plate": "8FXR413", "purpose": "amber_alert", "case_number": "SJ-AMBER-0912",
     "signed_at": 1764000000, "salt": "<64 hex>"}

The envelope's key id is the hex SHA-256 of the signer's certificate (DER). It travels with
the certificate chain (PEM, leaf first, then its organization's CA), which any verifier checks
up to the federation root it trusts; the signer's identity is read from the verified leaf
(alprfed.rpc.identity). ``salt`` makes the payload's SHA-256, which the ledger records, reveal
nothing about the plate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.errors import AlprfedError, VerificationError
from alprfed.messages.fields import fields, integer, text
from alprfed.models import check_identifier, normalize_plate
from alprfed.rpc.identity import Identity, PrincipalKind, identity_from_certificate
from alprfed.signing import Envelope, pae

EXIGENT_CONSENT_TYPE = "application/vnd.alprfed.exigent-consent+json"
CONSENT_VERSION = 1
MAX_CHAIN_BYTES = 16 * 1024
_SALT = re.compile(r"[0-9a-f]{64}")
_FIELDS = {
    "v",
    "agency",
    "supervisor",
    "officer",
    "plate",
    "purpose",
    "case_number",
    "signed_at",
    "salt",
}


@dataclass(frozen=True)
class ExigentConsent:
    agency: str
    supervisor: str
    officer: str
    plate: str
    purpose: str
    case_number: str
    signed_at: int
    salt: str

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "v": CONSENT_VERSION,
            "agency": self.agency,
            "supervisor": self.supervisor,
            "officer": self.officer,
            "plate": self.plate,
            "purpose": self.purpose,
            "case_number": self.case_number,
            "signed_at": self.signed_at,
            "salt": self.salt,
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> ExigentConsent:
        """Raises: VerificationError on any shape or value error."""
        obj = fields(value, "exigent consent", _FIELDS)
        if obj["v"] != CONSENT_VERSION:
            raise VerificationError(f"unsupported consent version {obj['v']!r}")
        try:
            consent = cls(
                agency=check_identifier(text(obj, "agency"), field_name="agency"),
                supervisor=check_identifier(text(obj, "supervisor"), field_name="supervisor"),
                officer=check_identifier(text(obj, "officer"), field_name="officer"),
                plate=normalize_plate(text(obj, "plate")),
                purpose=text(obj, "purpose"),
                case_number=text(obj, "case_number"),
                signed_at=integer(obj, "signed_at"),
                salt=text(obj, "salt"),
            )
        except VerificationError:
            raise
        except AlprfedError as exc:
            raise VerificationError(f"malformed consent: {exc}") from None
        if not _SALT.fullmatch(consent.salt):
            raise VerificationError("the consent's salt must be 64 lower-case hex digits")
        return consent

    @classmethod
    def new(cls, **fields_: object) -> ExigentConsent:
        return cls(salt=secrets.token_hex(32), **fields_)  # type: ignore[arg-type]


def sign_consent(
    consent: ExigentConsent, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> Envelope:
    """Sign with the supervisor's own certificate key."""
    from cryptography.hazmat.primitives.serialization import Encoding

    payload = canonical.encode(consent.to_canonical())
    signature = key.sign(pae(EXIGENT_CONSENT_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    key_id = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
    return Envelope(EXIGENT_CONSENT_TYPE, payload, key_id, signature)


def verify_consent(
    envelope: Envelope,
    chain_pem: bytes,
    roots: Sequence[x509.Certificate],
    *,
    now: int,
) -> tuple[ExigentConsent, Identity]:
    """Check the consent's signature with the leaf of ``chain_pem``, the chain up to one of
    ``roots``, and that the signer is the person the consent names as supervisor.

    Raises:
        VerificationError: any failure (which one is in the message, for logs).
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    if envelope.payload_type != EXIGENT_CONSENT_TYPE:
        raise VerificationError("not an exigent consent")
    if len(chain_pem) > MAX_CHAIN_BYTES:
        raise VerificationError("the certificate chain is too large")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise VerificationError("the certificate chain is not PEM") from None
    leaf = chain[0]
    if hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest() != envelope.key_id:
        raise VerificationError("the consent's key id is not its certificate's")
    _verify_chain(chain, roots, now)
    public = leaf.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise VerificationError("the signer's key is not an ECDSA key")
    try:
        public.verify(
            envelope.signature,
            pae(envelope.payload_type, envelope.payload),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        raise VerificationError("the consent's signature does not verify") from None
    try:
        consent = ExigentConsent.from_canonical(canonical.decode(envelope.payload))
        identity = identity_from_certificate(leaf)
    except canonical.CanonicalError as exc:
        raise VerificationError(f"the consent is not canonical: {exc}") from None
    except AlprfedError as exc:
        raise VerificationError(f"the signer's certificate: {exc}") from None
    if (
        identity.kind != PrincipalKind.PERSON
        or identity.organization != consent.agency
        or identity.principal != consent.supervisor
    ):
        raise VerificationError(f"the consent is signed by {identity}, not the supervisor it names")
    return consent, identity


def _verify_chain(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: int
) -> None:
    """leaf <- organization CA <- a root: each directly issued by the next, in validity, the
    issuers CAs. (cryptography's client verifier demands a subjectAltName, which person
    certificates do not carry.)"""
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    path = list(chain)
    if len(path) != 2:
        # The federation PKI has three tiers: a person's leaf, its organization's CA, the root.
        raise VerificationError("the chain must be the leaf and its organization's CA")
    for certificate in path:
        if not certificate.not_valid_before_utc <= when <= certificate.not_valid_after_utc:
            raise VerificationError("a certificate of the chain is not valid now")
    for child, issuer in itertools.pairwise(path):
        _issued_by(child, issuer)
    top = path[-1]
    for root in roots:
        try:
            _issued_by(top, root)
        except VerificationError:
            continue
        return
    raise VerificationError("the certificate chain does not lead to a trusted root")


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise VerificationError("an issuer of the chain is not a CA") from None
    if not constraints.ca:
        raise VerificationError("an issuer of the chain is not a CA")
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise VerificationError("a certificate of the chain is not issued by the next") from None
