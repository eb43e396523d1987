"""A federation written to disk for a benchmark: N California agency nodes and one requester.

The layout is the demo's (``alprfed.demo.layout.build_layout``): a real development PKI, real
keys, the federation file and every config. The requester is San Jose PD's officer-garcia and
the warrants come from the Santa Clara Superior Court, both in the bundled Casbin policy. The
nodes are California agencies, so California law lets them answer a warranted California
query and every node does real work.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Mapping
from pathlib import Path

from alprfed.config import TLSConfig
from alprfed.demo.layout import NODE_PRINCIPAL, Layout, build_layout
from alprfed.demo.spec import DAY, AgencySpec, CourtSpec, FederationSpec
from alprfed.models import AgencyKind
from alprfed.pki import FEDERATION_ORG, GATEWAY_PRINCIPAL, credential_path

REQUESTER_AGENCY, REQUESTER_OFFICER = "sjpd", "officer-garcia"
COURT, COURT_CLERK = "santa-clara-superior", "clerk-lee"
NODE_STATE = "CA"
NODE_RETENTION_S = 365 * DAY  # longer than any benchmark data reaches back
HOST = "localhost"
LISTEN_PORTS = range(20_000, 32_000)  # below the ephemeral ports (32768 and up on Linux)
PORT_ATTEMPTS = 200
_ports = random.SystemRandom()  # ports only need to differ between runs, not be reproducible


def node_ids(count: int) -> list[str]:
    return [f"bench-ca-{number:02d}" for number in range(1, count + 1)]


def bench_spec(node_count: int, *, origin: str = "bench.alprfed.example/ledger") -> FederationSpec:
    nodes = tuple(
        AgencySpec(
            agency_id,
            f"Bench Agency {agency_id[-2:]}",
            NODE_STATE,
            AgencyKind.LOCAL,
            sightings=1,  # any positive count: the agency runs a node
            retention_seconds=NODE_RETENTION_S,
        )
        for agency_id in node_ids(node_count)
    )
    return FederationSpec(
        name="alprfed benchmark federation",
        origin=origin,
        agencies=(
            AgencySpec(REQUESTER_AGENCY, "San Jose Police Department", "CA", AgencyKind.LOCAL),
            *nodes,
        ),
        courts=(
            CourtSpec(COURT, "Superior Court of California, County of Santa Clara", COURT_CLERK),
        ),
        people={REQUESTER_AGENCY: (REQUESTER_OFFICER,), COURT: (COURT_CLERK,)},
    )


def free_port() -> int:
    """A port nothing listens on right now; the layout needs node addresses up front.

    Drawn below Linux's ephemeral range: a port the OS hands out (port 0) is one it may give
    to an outgoing connection before our server binds it, which 33 servers and their clients
    starting at once made happen.
    """
    for _ in range(PORT_ATTEMPTS):
        port = _ports.randrange(LISTEN_PORTS.start, LISTEN_PORTS.stop)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {LISTEN_PORTS} after {PORT_ATTEMPTS} tries")


def write_layout(
    root: Path, node_count: int, *, database_urls: Mapping[str, str] | None = None
) -> Layout:
    """Keys, PKI and configs for ``node_count`` nodes under ``root`` (which must not exist)."""
    return build_layout(
        root,
        bench_spec(node_count),
        gateway_port=free_port(),
        node_ports={agency: free_port() for agency in node_ids(node_count)},
        host=HOST,
        database_urls=database_urls,
    )


def gateway_tls(layout: Layout) -> TLSConfig:
    """The gateway's own client identity: nodes answer searches from it alone."""
    return credential_path(layout.pki, FEDERATION_ORG, GATEWAY_PRINCIPAL).tls()


def node_tls(layout: Layout, agency_id: str) -> TLSConfig:
    """A node's identity, which may also stream sightings into that node (node tooling)."""
    return credential_path(layout.pki, agency_id, NODE_PRINCIPAL).tls()


def person_tls(layout: Layout, organization: str, person: str) -> TLSConfig:
    return credential_path(layout.pki, organization, person).tls()
