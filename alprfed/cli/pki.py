"""`alprfed pki`: create a development federation PKI, issue credentials, inspect certificates."""

from __future__ import annotations

import time
from pathlib import Path

import click
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from rich.markup import escape
from rich.table import Table

from alprfed.cli.common import console, fail, format_time, friendly_errors
from alprfed.errors import Unauthenticated
from alprfed.pki import FEDERATION_ORG, GATEWAY_PRINCIPAL, add_organization, init_pki, issue
from alprfed.rpc.identity import PrincipalKind, identity_from_certificate

_KINDS = click.Choice([k.value for k in PrincipalKind])
_USAGE_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
}


@click.group()
def pki() -> None:
    """Create a development federation PKI (production agencies run their own CAs)."""


@pki.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--org",
    "organizations",
    multiple=True,
    required=True,
    help="An organization id (agency, court, oversight body); repeat for each.",
)
@click.option(
    "--host", "hosts", multiple=True, help="Another name or address the gateway serves on."
)
@click.option(
    "--force", is_flag=True, help="Replace an existing PKI (invalidates its credentials)."
)
@friendly_errors
def init_command(
    directory: Path, organizations: tuple[str, ...], hosts: tuple[str, ...], force: bool
) -> None:
    """Create DIRECTORY: a root CA, one CA per --org plus 'federation', and the gateway."""
    init_pki(directory, organizations=organizations, hosts=hosts, force=force)
    console.print(f"created the federation PKI in [bold]{directory}[/]", soft_wrap=True)
    console.print(f"  trust bundle      {directory / 'ca.pem'}", soft_wrap=True)
    listed = sorted({FEDERATION_ORG, *organizations})
    console.print(f"  organization CAs  {', '.join(listed)}")
    console.print(f"  gateway           {FEDERATION_ORG}/{GATEWAY_PRINCIPAL}")
    console.print("issue nodes, cameras and people with `alprfed pki issue`", style="dim")


@pki.command("add-org")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", "organization", required=True, help="The new organization's id.")
@friendly_errors
def add_org_command(directory: Path, organization: str) -> None:
    """Add a CA for a new agency, court or oversight body to an existing PKI."""
    add_organization(directory, organization)
    console.print(f"added the CA of [bold]{organization}[/] to {directory}", soft_wrap=True)


@pki.command("issue")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", "organization", required=True, help="The principal's organization id.")
@click.option("--kind", required=True, type=_KINDS, help="What the principal is.")
@click.option("--name", "principal", required=True, help="The principal's id (the CN).")
@click.option("--host", "hosts", multiple=True, help="A host name a node or gateway serves on.")
@click.option("--replace", is_flag=True, help="Rotate: replace an existing credential.")
@friendly_errors
def issue_command(
    directory: Path,
    organization: str,
    kind: str,
    principal: str,
    hosts: tuple[str, ...],
    replace: bool,
) -> None:
    """Issue a certificate and key to a person, camera, node or the gateway."""
    credential = issue(
        directory,
        organization=organization,
        kind=PrincipalKind(kind),
        principal=principal,
        hosts=hosts,
        replace=replace,
    )
    console.print(f"issued [bold]{kind}:{organization}/{principal}[/]")
    console.print(f"  cert  {credential.cert}", soft_wrap=True)
    console.print(f"  key   {credential.key}", soft_wrap=True)
    console.print(f"  ca    {credential.ca}", soft_wrap=True)


def _identity_text(leaf: x509.Certificate) -> str:
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            return "none (a CA certificate)"
    except x509.ExtensionNotFound:
        pass
    try:
        return str(identity_from_certificate(leaf))
    except Unauthenticated as exc:
        return f"REFUSED: {exc.detail}"


def _extension_text(leaf: x509.Certificate, kind: type[x509.ExtensionType]) -> str | None:
    try:
        value = leaf.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    if isinstance(value, x509.SubjectAlternativeName):
        return ", ".join(str(name.value) for name in value)
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(_USAGE_NAMES.get(oid, oid.dotted_string) for oid in value)
    return None


@pki.command("show")
@click.argument("cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@friendly_errors
def show_command(cert: Path) -> None:
    """Show a certificate (the first of a chain file) and the identity the gateway reads."""
    try:
        chain = x509.load_pem_x509_certificates(cert.read_bytes())
    except ValueError:
        fail(f"{cert} holds no PEM certificate")
        return
    leaf, now = chain[0], int(time.time())
    not_before = int(leaf.not_valid_before_utc.timestamp())
    not_after = int(leaf.not_valid_after_utc.timestamp())
    status = (
        "[red]not yet valid[/]"
        if now < not_before
        else "[red]EXPIRED[/]"
        if now > not_after
        else "[green]valid[/]"
    )
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("subject", escape(leaf.subject.rfc4514_string()))
    table.add_row("issuer", escape(leaf.issuer.rfc4514_string()))
    table.add_row("serial", f"{leaf.serial_number:x}")
    table.add_row("validity", f"{format_time(not_before)} to {format_time(not_after)} ({status})")
    for label, kind in (
        ("hosts", x509.SubjectAlternativeName),
        ("usages", x509.ExtendedKeyUsage),
    ):
        text = _extension_text(leaf, kind)
        if text is not None:
            table.add_row(label, escape(text))
    if len(chain) > 1:
        issuers = " <- ".join(c.subject.rfc4514_string() for c in chain[1:])
        table.add_row("chain", escape(f"{len(chain)} certificates: leaf <- {issuers}"))
    table.add_row("identity", escape(_identity_text(leaf)))
    console.print(table)
