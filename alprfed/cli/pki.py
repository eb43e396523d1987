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
from alprfed.cli.json_output import emit_json, json_option
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
@json_option
@friendly_errors
def init_command(
    directory: Path,
    organizations: tuple[str, ...],
    hosts: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Create DIRECTORY: a root CA, one CA per --org plus 'federation', and the gateway."""
    init_pki(directory, organizations=organizations, hosts=hosts, force=force)
    listed = sorted({FEDERATION_ORG, *organizations})
    if as_json:
        emit_json(
            {
                "directory": str(directory),
                "trust_bundle": str(directory / "ca.pem"),
                "organizations": listed,
                "gateway": f"{FEDERATION_ORG}/{GATEWAY_PRINCIPAL}",
            }
        )
        return
    console.print(f"created the federation PKI in [bold]{directory}[/]", soft_wrap=True)
    console.print(f"  trust bundle      {directory / 'ca.pem'}", soft_wrap=True)
    console.print(f"  organization CAs  {', '.join(listed)}")
    console.print(f"  gateway           {FEDERATION_ORG}/{GATEWAY_PRINCIPAL}")
    console.print("issue nodes, cameras and people with `alprfed pki issue`", style="dim")


@pki.command("add-org")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", "organization", required=True, help="The new organization's id.")
@json_option
@friendly_errors
def add_org_command(directory: Path, organization: str, as_json: bool) -> None:
    """Add a CA for a new agency, court or oversight body to an existing PKI."""
    add_organization(directory, organization)
    if as_json:
        emit_json({"directory": str(directory), "organization": organization})
        return
    console.print(f"added the CA of [bold]{organization}[/] to {directory}", soft_wrap=True)


@pki.command("issue")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", "organization", required=True, help="The principal's organization id.")
@click.option("--kind", required=True, type=_KINDS, help="What the principal is.")
@click.option("--name", "principal", required=True, help="The principal's id (the CN).")
@click.option("--host", "hosts", multiple=True, help="A host name a node or gateway serves on.")
@click.option("--replace", is_flag=True, help="Rotate: replace an existing credential.")
@json_option
@friendly_errors
def issue_command(
    directory: Path,
    organization: str,
    kind: str,
    principal: str,
    hosts: tuple[str, ...],
    replace: bool,
    as_json: bool,
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
    if as_json:
        emit_json(
            {
                "identity": f"{kind}:{organization}/{principal}",
                "cert": str(credential.cert),
                "key": str(credential.key),
                "ca": str(credential.ca),
            }
        )
        return
    console.print(f"issued [bold]{kind}:{organization}/{principal}[/]")
    console.print(f"  cert  {credential.cert}", soft_wrap=True)
    console.print(f"  key   {credential.key}", soft_wrap=True)
    console.print(f"  ca    {credential.ca}", soft_wrap=True)


def _is_ca(leaf: x509.Certificate) -> bool:
    try:
        return bool(leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _identity(leaf: x509.Certificate) -> tuple[str | None, str | None]:
    """The identity the gateway would read from a leaf, or None and why it refuses one."""
    try:
        return str(identity_from_certificate(leaf)), None
    except Unauthenticated as exc:
        return None, exc.detail


def _extension_values(leaf: x509.Certificate, kind: type[x509.ExtensionType]) -> list[str] | None:
    try:
        value = leaf.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    if isinstance(value, x509.SubjectAlternativeName):
        return [str(name.value) for name in value]
    if isinstance(value, x509.ExtendedKeyUsage):
        return [_USAGE_NAMES.get(oid, oid.dotted_string) for oid in value]
    return None


def _validity(now: int, not_before: int, not_after: int) -> str:
    return "not_yet_valid" if now < not_before else "expired" if now > not_after else "valid"


_VALIDITY_TEXT = {
    "not_yet_valid": "[red]not yet valid[/]",
    "expired": "[red]EXPIRED[/]",
    "valid": "[green]valid[/]",
}


@pki.command("show")
@click.argument("cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@json_option
@friendly_errors
def show_command(cert: Path, as_json: bool) -> None:
    """Show a certificate (the first of a chain file) and the identity the gateway reads."""
    try:
        chain = x509.load_pem_x509_certificates(cert.read_bytes())
    except ValueError:
        fail(f"{cert} holds no PEM certificate")
        return
    leaf, now = chain[0], int(time.time())
    not_before = int(leaf.not_valid_before_utc.timestamp())
    not_after = int(leaf.not_valid_after_utc.timestamp())
    status = _validity(now, not_before, not_after)
    hosts = _extension_values(leaf, x509.SubjectAlternativeName)
    usages = _extension_values(leaf, x509.ExtendedKeyUsage)
    is_ca = _is_ca(leaf)
    identity, refusal = (None, None) if is_ca else _identity(leaf)
    if as_json:
        emit_json(
            {
                "subject": leaf.subject.rfc4514_string(),
                "issuer": leaf.issuer.rfc4514_string(),
                "serial": f"{leaf.serial_number:x}",
                "not_before": not_before,
                "not_after": not_after,
                "validity": status,
                "hosts": hosts,
                "usages": usages,
                "chain": [c.subject.rfc4514_string() for c in chain],
                "is_ca": is_ca,
                "identity": identity,
                "identity_refused": refusal,
            }
        )
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("subject", escape(leaf.subject.rfc4514_string()))
    table.add_row("issuer", escape(leaf.issuer.rfc4514_string()))
    table.add_row("serial", f"{leaf.serial_number:x}")
    validity = f"{format_time(not_before)} to {format_time(not_after)}"
    table.add_row("validity", f"{validity} ({_VALIDITY_TEXT[status]})")
    for label, values in (("hosts", hosts), ("usages", usages)):
        if values is not None:
            table.add_row(label, escape(", ".join(values)))
    if len(chain) > 1:
        issuers = " <- ".join(c.subject.rfc4514_string() for c in chain[1:])
        table.add_row("chain", escape(f"{len(chain)} certificates: leaf <- {issuers}"))
    shown = "none (a CA certificate)" if is_ca else identity or f"REFUSED: {refusal}"
    table.add_row("identity", escape(shown))
    console.print(table)
