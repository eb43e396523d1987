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

from alprfed.config import CourtKind, TLSConfig
from alprfed.demo.layout import NODE_PRINCIPAL, Layout, build_layout
from alprfed.demo.spec import DAY, AgencySpec, CourtSpec, FederationSpec, WitnessSpec
from alprfed.models import AgencyKind
from alprfed.pki import FEDERATION_ORG, GATEWAY_PRINCIPAL, credential_path

REQUESTER_AGENCY, REQUESTER_OFFICER = "sjpd", "officer-garcia"
COURT, COURT_CLERK = "santa-clara-superior", "clerk-lee"
NODE_STATE = "CA"
NODE_RETENTION_S = 365 * DAY  # longer than any benchmark data reaches back
HOST = "localhost"
LISTEN_PORTS = range(20_000, 32_000)  # below the ephemeral ports (32768 and up on Linux)
PORT_ATTEMPTS = 1_000  # beyond one per port wanted: a taken port costs a try
_ports = random.SystemRandom()  # ports only need to differ between runs, not be reproducible


def node_ids(count: int) -> list[str]:
    return [f"bench-ca-{number:02d}" for number in range(1, count + 1)]


BENCH_WITNESSES = tuple(
    WitnessSpec(f"bench-witness-{i}", f"witness-{i}.bench.alprfed.example/w") for i in range(3)
)
BENCH_WITNESS_QUORUM = 2


def bench_spec(
    node_count: int,
    *,
    origin: str = "bench.alprfed.example/ledger",
    witnessed: bool = False,
    retention_seconds: int = NODE_RETENTION_S,
) -> FederationSpec:
    """The benchmark federation; ``witnessed``: three witnesses, quorum 2, as the demo's."""
    nodes = tuple(
        AgencySpec(
            agency_id,
            f"Bench Agency {agency_id.rpartition('-')[2]}",
            NODE_STATE,
            AgencyKind.LOCAL,
            sightings=1,  # any positive count: the agency runs a node
            retention_seconds=retention_seconds,
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
            CourtSpec(
                COURT,
                "Superior Court of California, County of Santa Clara",
                COURT_CLERK,
                CourtKind.STATE,
                ("CA",),  # the requester's state: its warrants authorize San Jose
            ),
        ),
        people={REQUESTER_AGENCY: (REQUESTER_OFFICER,), COURT: (COURT_CLERK,)},
        witnesses=BENCH_WITNESSES if witnessed else (),
        witness_quorum=BENCH_WITNESS_QUORUM if witnessed else 0,
    )


def free_ports(count: int, drawn_from: range = LISTEN_PORTS) -> list[int]:
    """``count`` distinct ports nothing listens on right now (the layout needs addresses up
    front), each checked on both loopback addresses a "localhost" server binds.

    Drawn below Linux's ephemeral range: a port the OS hands out (port 0) is one it may give
    to an outgoing connection before our server binds it, which 33 servers and their clients
    starting at once made happen. Every port stays bound until all are chosen, so no port is
    chosen twice.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count + PORT_ATTEMPTS):
            if len(ports) == count:
                return ports
            port = _ports.randrange(drawn_from.start, drawn_from.stop)
            try:
                for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    sock = socket.socket(family)
                    held.append(sock)
                    sock.bind((address, port))
            except OSError:
                continue
            ports.append(port)
        if len(ports) == count:
            return ports
        tries = count + PORT_ATTEMPTS
        raise OSError(f"no {count} free ports in {drawn_from} after {tries} tries")
    finally:
        for sock in held:
            sock.close()


def write_layout(
    root: Path,
    node_count: int,
    *,
    database_urls: Mapping[str, str] | None = None,
    witnessed: bool = False,
    retention_seconds: int = NODE_RETENTION_S,
    listen_ports: range = LISTEN_PORTS,
) -> Layout:
    """Keys, PKI and configs for ``node_count`` nodes under ``root`` (which must not exist);
    ``witnessed``: and for three witnesses the gateway and the nodes require, quorum 2.
    ``listen_ports``: where the servers' ports are drawn from."""
    spec = bench_spec(node_count, witnessed=witnessed, retention_seconds=retention_seconds)
    gateway_port, *ports = free_ports(node_count + 1 + len(spec.witnesses), listen_ports)
    return build_layout(
        root,
        spec,
        gateway_port=gateway_port,
        node_ports=dict(zip(node_ids(node_count), ports[:node_count], strict=True)),
        host=HOST,
        database_urls=database_urls,
        witness_ports={
            w.witness_id: port for w, port in zip(spec.witnesses, ports[node_count:], strict=True)
        },
    )


def gateway_tls(layout: Layout) -> TLSConfig:
    """The gateway's own client identity: nodes answer searches from it alone."""
    return credential_path(layout.pki, FEDERATION_ORG, GATEWAY_PRINCIPAL).tls()


def node_tls(layout: Layout, agency_id: str) -> TLSConfig:
    """A node's identity, which may also stream sightings into that node (node tooling)."""
    return credential_path(layout.pki, agency_id, NODE_PRINCIPAL).tls()


def person_tls(layout: Layout, organization: str, person: str) -> TLSConfig:
    return credential_path(layout.pki, organization, person).tls()
