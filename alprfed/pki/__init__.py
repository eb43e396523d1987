"""Development federation PKI: a root CA, one CA per organization, and the principals' credentials.

``alprfed pki init`` (alprfed.cli.pki) drives this package; the demo and the tests call it
directly. Every certificate subject follows the scheme alprfed.rpc.identity reads (CN =
principal, O = organization, OU = kind). Production agencies run their own CAs with the same
subject scheme; see docs/PKI.md.
"""

from __future__ import annotations

from alprfed.pki.store import (
    FEDERATION_ORG,
    GATEWAY_PRINCIPAL,
    Credential,
    add_organization,
    credential_path,
    init_pki,
    issue,
)

__all__ = [
    "FEDERATION_ORG",
    "GATEWAY_PRINCIPAL",
    "Credential",
    "add_organization",
    "credential_path",
    "init_pki",
    "issue",
]
