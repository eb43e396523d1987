"""`alprfed exigent`: a supervisor co-approves an exigent query; a court clerk reviews it."""

from __future__ import annotations

import time

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from alprfed import wire
from alprfed.cli.client import Connection, connection_options
from alprfed.cli.common import console, format_time, friendly_errors
from alprfed.config import TLSConfig
from alprfed.errors import ConfigError
from alprfed.messages.consent import ExigentConsent, sign_consent
from alprfed.models import EXIGENT_PURPOSES, normalize_plate
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc


def approval_request(
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


@click.group("exigent")
def exigent() -> None:
    """Warrantless queries in exigent circumstances: two people, short look-back, review."""


@exigent.command("approve")
@click.option("--officer", required=True, help="The officer of your agency who will query.")
@click.option("--plate", required=True)
@click.option(
    "--purpose", required=True, type=click.Choice(sorted(p.value for p in EXIGENT_PURPOSES))
)
@click.option("--case", "case_number", required=True)
@click.option("--note", default="", help="Why this cannot wait for a warrant.")
@connection_options
@friendly_errors
def approve(
    officer: str, plate: str, purpose: str, case_number: str, note: str, connection: Connection
) -> None:
    """Co-approve an officer's exigent query (supervisors of the same agency), signed with your
    own certificate key so that every node can check it was you."""
    request = approval_request(
        officer=officer,
        plate=plate,
        purpose=purpose,
        case_number=case_number,
        note=note,
        tls=connection.tls,
    )
    with connection.channel() as channel:
        approval = gateway_pb2_grpc.GatewayStub(channel).ApproveExigent(
            request,
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    console.print(
        f"approval [bold]{approval.approval_id}[/] for {approval.officer_id} of "
        f"{approval.agency_id}, valid until {format_time(approval.expires_at)} "
        f"(ledger entry {approval.ledger_index}); the officer passes "
        f"--exigent-approval {approval.approval_id}"
    )


@exigent.command("review")
@click.argument("query_id")
@click.option("--upheld/--not-upheld", required=True, help="The court's finding.")
@click.option("--note", default="")
@connection_options
@friendly_errors
def review(query_id: str, upheld: bool, note: str, connection: Connection) -> None:
    """Record the judicial review of an exigent query (court clerks)."""
    with connection.channel() as channel:
        result = gateway_pb2_grpc.GatewayStub(channel).ReviewExigent(
            gateway_pb2.ReviewExigentRequest(query_id=query_id, upheld=upheld, note=note),
            timeout=connection.timeout_s,
            metadata=connection.metadata(),
        )
    console.print(
        f"exigent query {result.query_id} {'upheld' if result.upheld else 'NOT upheld'}"
        f" (ledger entry {result.ledger_index})"
    )
