"""Where a node search's time goes, in process: ``python -m bench.profile_search``.

The node's own servicer (``agency_node.server.build_servicer``, as ``create_server`` builds it)
answers signed queries with their evidence, called directly with the gateway's real
certificate as the peer, so only gRPC's transport is left out. Reported per query: CPU time
by function (cProfile) and operation counts that prove a cut — Ed25519 verifications and
signatures, canonical decodes and encodes, SQL statements run, checkpoint signature lines
parsed — for queries with a witnessed
checkpoint each (every check afresh) and for queries sharing one (as under load).

    python -m bench.profile_search [--rows 100000] [--queries 300] [--top 25]
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from agency_node.law_guard import load_node_law
from agency_node.server import build_servicer
from agency_node.storage import NodeStore
from agency_node.trust import load_node_trust
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import load_node_config
from alprfed.signing import SigningKey
from alprfed.v1 import node_pb2
from bench.datasets import cached_sqlite, probes
from bench.environment import sqlite_url
from bench.evidence import BenchAuthority
from bench.federation import gateway_tls, node_ids, write_layout
from bench.node_search import RATE_QUERIES_PER_CHECKPOINT
from bench.queries import QuerySigner

# (label, file suffix, function name) of the operations counted per query.
COUNTED = (
    ("Ed25519 verifications", "", "<method 'verify' of '_cffi_backend"),
    ("Ed25519 verifications", "", "<method 'verify' of 'cryptography.hazmat"),
    ("Ed25519 signatures", "", "<method 'sign' of 'cryptography.hazmat"),
    ("canonical decodes", "alprfed/canonical.py", "decode"),
    ("canonical encodes", "alprfed/canonical.py", "encode"),
    ("SQL statements", "", "<method 'execute' of 'sqlite3.Cursor'"),
    ("note signature lines parsed", "alprfed/ledger/note.py", "parse_signature_line"),
)


class GatewayPeer:
    """The servicer context of a call from the gateway: its verified certificate, no more."""

    def __init__(self, certificate_pem: bytes) -> None:
        self._auth = {"x509_pem_cert": [certificate_pem]}

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth

    def invocation_metadata(self) -> tuple[()]:
        return ()


@dataclass(frozen=True)
class Profiled:
    label: str
    queries: int
    stats: pstats.Stats

    def counts(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        raw: dict[Any, Any] = self.stats.stats  # type: ignore[attr-defined]
        for (path, _line, name), (_cc, calls, *_rest) in raw.items():
            for label, suffix, wanted in COUNTED:
                named = name == wanted or name.startswith(wanted)
                # C methods have the path "~"; our functions are matched by their file.
                if named and path.endswith(suffix) and (suffix or path == "~"):
                    totals[label] = totals.get(label, 0.0) + calls / self.queries
        return totals

    def cpu_per_query_ms(self) -> float:
        return float(self.stats.total_tt) / self.queries * 1000  # type: ignore[attr-defined]


@contextmanager
def profiled_node(root: Path, rows: int, cache: Path) -> Iterator[tuple[Any, Any, Any, Any]]:
    cached, dataset = cached_sqlite(cache, rows, seed=20261128, clock=SYSTEM_CLOCK, log=print)
    url = sqlite_url(cached)
    agency = node_ids(1)[0]
    layout = write_layout(root / "federation", 1, database_urls={agency: url})
    authority = BenchAuthority(layout, root / "ledger")
    config = load_node_config(layout.node_config(agency))
    store = NodeStore.open(config.database_url)
    with closing(store), closing(authority):
        assert config.trust_file is not None
        servicer = build_servicer(
            config,
            trust=load_node_trust(config.trust_file),
            law=load_node_law(config),
            store=store,
            signer=SigningKey.load(config.signing_key),
            clock=SYSTEM_CLOCK,
        )
        signer = QuerySigner(
            SigningKey.load(layout.root / "keys" / "gateway-query.pem"), SYSTEM_CLOCK
        )
        tls = gateway_tls(layout)
        assert tls.cert is not None
        peer = GatewayPeer(tls.cert.read_bytes())
        yield servicer, peer, (signer, authority, agency), (url, dataset)


def profile(
    servicer: Any, peer: GatewayPeer, requests: list[node_pb2.SearchRequest], label: str
) -> Profiled:
    warm = len(requests) // 10
    for request in requests[:warm]:
        servicer.Search(request, peer)
    profiler = cProfile.Profile()
    profiler.enable()
    for request in requests[warm:]:
        servicer.Search(request, peer)
    profiler.disable()
    return Profiled(label, len(requests) - warm, pstats.Stats(profiler))


@click.command()
@click.option("--rows", default=100_000, show_default=True, help="Sightings in the node table.")
@click.option("--queries", default=300, show_default=True, help="Queries per profile.")
@click.option("--top", default=25, show_default=True, help="Functions listed per profile.")
@click.option(
    "--cache", type=click.Path(path_type=Path), default=Path("bench/cache"), show_default=True
)
def main(rows: int, queries: int, top: int, cache: Path) -> None:
    import random

    with (
        tempfile.TemporaryDirectory(prefix="alprfed-profile-") as scratch,
        profiled_node(Path(scratch), rows, cache) as (servicer, peer, sign, data),
    ):
        signer, authority, agency = sign
        lookups = probes(*data, count=queries, window_days=7, rng=random.Random(rows))

        def requests(per_checkpoint: int) -> list[node_pb2.SearchRequest]:
            return [
                request
                for start in range(0, len(lookups), per_checkpoint)
                for request in signer.requests(
                    [agency], lookups[start : start + per_checkpoint], authority
                )
            ]

        runs = [
            profile(servicer, peer, requests(1), "a witnessed checkpoint per query"),
            profile(
                servicer,
                peer,
                requests(RATE_QUERIES_PER_CHECKPOINT),
                f"{RATE_QUERIES_PER_CHECKPOINT} queries per checkpoint",
            ),
        ]
        for run in runs:
            print(f"\n== {run.label}: {run.cpu_per_query_ms():.3f} ms CPU per query (profiled)")
            for name, count in sorted(run.counts().items()):
                print(f"   {name:28} {count:6.2f} per query")
            run.stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main()
