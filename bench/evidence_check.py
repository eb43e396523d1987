"""The node's evidence check alone, in process: ``python -m bench.evidence_check``.

``EvidenceVerifier.verify`` built as the node builds it (``agency_node.server``: its trust file
and federation roots from a benchmark layout) over evidence built as the gateway builds it
(``bench.evidence.BenchAuthority``: a real ledger, three witnesses, quorum 2, a registered
court-signed warrant per plate). Each query has a witnessed checkpoint of its own (every
check afresh, as at low traffic), or, with ``--per-checkpoint 16``, shares one as under load.
Every call must verify: a refusal stops the run, so a figure never comes from a short cut.

This is a microbenchmark for cutting the check's own cost (``--profile`` prints where it
goes); what a search pays is the node's own timing in ``python -m bench node-search``
(``bench.evidence_timing``). On a loaded machine compare two trees only in alternation, run
after run, in the same minutes (docs/PERFORMANCE.md).

    python -m bench.evidence_check [--queries 1000] [--per-checkpoint 1] [--profile]
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import time
from contextlib import closing
from pathlib import Path

import click

from agency_node.evidence_verifier import EvidenceVerifier
from agency_node.trust import load_node_trust
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import federation_roots, load_node_config
from alprfed.messages import SearchQuery
from alprfed.models import TimeWindow
from alprfed.signing import SigningKey
from bench.evidence import BenchAuthority
from bench.federation import node_ids, write_layout
from bench.queries import Probe, QuerySigner
from bench.stats import US_PER_S, Latency

PLATES = 64  # distinct plates (a warrant each), cycled: warrants are reused as in the field
WINDOW_S = 7 * 86_400
WARMUP_FRACTION = 10  # the first tenth of the calls is not timed


def run(queries: int, per_checkpoint: int, profile: bool, top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="alprfed-evidence-check-") as scratch:
        root = Path(scratch)
        agency = node_ids(1)[0]
        layout = write_layout(root / "federation", 1)
        authority = BenchAuthority(layout, root / "ledger")
        with closing(authority):
            config = load_node_config(layout.node_config(agency))
            assert config.trust_file is not None
            verifier = EvidenceVerifier(
                node_id=config.agency_id,
                node_state=config.state,
                trust=load_node_trust(config.trust_file),
                now=SYSTEM_CLOCK.now,
                person_roots=federation_roots(config.tls),
            )
            signer = QuerySigner(
                SigningKey.load(layout.root / "keys" / "gateway-query.pem"), SYSTEM_CLOCK
            )
            now = SYSTEM_CLOCK.now()
            window = TimeWindow(now - WINDOW_S, now - 60)
            probes = [Probe(f"BENCH{i % PLATES:03d}", window) for i in range(queries)]
            started = time.perf_counter()
            cases: list[tuple[SearchQuery, bytes]] = []
            for start in range(0, queries, per_checkpoint):
                batch = [signer.query([agency], p) for p in probes[start : start + per_checkpoint]]
                cases += zip(batch, authority.evidence(batch), strict=True)
            print(f"built {len(cases)} bundles in {time.perf_counter() - started:.1f} s")
            warm = len(cases) // WARMUP_FRACTION
            for query, bundle in cases[:warm]:
                verifier.verify(query, bundle)
            profiler = cProfile.Profile() if profile else None
            samples = []
            if profiler is not None:
                profiler.enable()
            for query, bundle in cases[warm:]:
                began = time.perf_counter()
                verifier.verify(query, bundle)
                samples.append(time.perf_counter() - began)
            if profiler is not None:
                profiler.disable()
            latency = Latency.of(samples)
            print(
                f"evidence check, {per_checkpoint} per checkpoint, {latency.count} calls: "
                f"p50 {latency.p50 * US_PER_S:.0f} us, mean {latency.mean * US_PER_S:.0f} us, "
                f"p99 {latency.p99 * US_PER_S:.0f} us"
            )
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


@click.command()
@click.option("--queries", default=1_000, show_default=True, help="Checks made (a tenth warm).")
@click.option("--per-checkpoint", default=1, show_default=True, help="Queries per checkpoint.")
@click.option("--profile", is_flag=True, help="Profile the timed calls (cProfile).")
@click.option("--top", default=30, show_default=True, help="Functions listed with --profile.")
def main(queries: int, per_checkpoint: int, profile: bool, top: int) -> None:
    run(queries, per_checkpoint, profile, top)


if __name__ == "__main__":
    main()
