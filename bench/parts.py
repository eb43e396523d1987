"""The benchmark parts, in running order, and their sizes for a full, quick or tiny run.

``full`` is ``make bench``: the sizes the targets are stated at (10 million sightings, 32 nodes,
200 agencies, a million ledger entries). ``quick`` keeps every part and every comparison at
sizes that run in minutes. ``tiny`` is for the smoke tests: it only proves each part produces
well-formed results, and its figures mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench import city, decision, fanout, ingest, ledger, national, node_search, witnessing
from bench.city import CitySettings
from bench.city_data import CityShape
from bench.decision import DecisionSettings
from bench.environment import BenchEnv
from bench.fanout import FanoutSettings
from bench.ingest import IngestSettings
from bench.ledger import LedgerSettings
from bench.national import NationalSettings
from bench.node_search import NodeSearchSettings
from bench.report import PartReport
from bench.witnessing import WitnessingSettings


@dataclass(frozen=True)
class Preset:
    name: str
    node_search: NodeSearchSettings
    ingest: IngestSettings
    fanout: FanoutSettings
    decision: DecisionSettings
    ledger: LedgerSettings
    witnessing: WitnessingSettings = field(default_factory=WitnessingSettings)
    city: CitySettings = field(default_factory=CitySettings)
    national: NationalSettings = field(default_factory=NationalSettings)


PRESETS = {
    "full": Preset(
        "full",
        node_search=NodeSearchSettings(sizes=(1_000_000, 10_000_000)),
        ingest=IngestSettings(sizes=(200_000, 1_000_000)),
        fanout=FanoutSettings(),
        decision=DecisionSettings(),
        ledger=LedgerSettings(),
    ),
    "quick": Preset(
        "quick",
        node_search=NodeSearchSettings(
            sizes=(100_000, 1_000_000), latency_calls=1_000, rate_calls=1_500
        ),
        ingest=IngestSettings(sizes=(50_000, 200_000)),
        fanout=FanoutSettings(latency_calls=150, rate_calls=300, fault_calls=10),
        decision=DecisionSettings(calls=2_000, warmup=200),
        ledger=LedgerSettings(
            appends=((1, 200), (16, 2_000), (256, 10_000)),
            proof_sizes=(10_000, 100_000),
            proofs=500,
            verify_sizes=(10_000, 100_000),
        ),
        witnessing=WitnessingSettings(latency_appends=150, rate_appends=1_000),
        # The same 100-million-read city (it is built once); fewer calls.
        city=CitySettings(latency_calls=1_000, rate_calls=1_000, purge_repeats=2),
        # A quarter of the nation: the same shape (5% faulty, 64 servers a process).
        national=NationalSettings(nodes=256, host_processes=4, queries=10, decision_calls=200),
    ),
    "tiny": Preset(
        "tiny",
        node_search=NodeSearchSettings(
            sizes=(1_000, 2_000),
            probes=20,
            warmup=5,
            latency_calls=20,
            rate_calls=20,
            concurrency=2,
        ),
        ingest=IngestSettings(sizes=(1_000,)),
        fanout=FanoutSettings(
            node_counts=(2,),
            sightings_per_node=500,
            warmup=2,
            latency_calls=5,
            rate_calls=6,
            concurrency=2,
            deadline_s=0.5,
            fault_calls=2,
            target_nodes=2,
        ),
        decision=DecisionSettings(agency_counts=(3, 10), calls=20, warmup=5),
        ledger=LedgerSettings(
            appends=((1, 5), (4, 40)),
            proof_sizes=(1_000,),
            proofs=20,
            warmup=5,
            verify_sizes=(1_000,),
        ),
        witnessing=WitnessingSettings(latency_appends=5, warmup=2, rate_callers=4, rate_appends=20),
        city=CitySettings(
            shape=CityShape(days=3, reads_per_day=2_000, database="alprfed_bench_city_tiny"),
            probes=20,
            warmup=5,
            latency_calls=20,
            rate_calls=20,
            concurrency=2,
            purge_repeats=1,
            ingest_reads=1_000,
        ),
        national=NationalSettings(
            nodes=8,
            host_processes=2,
            sightings_per_node=300,
            faulty_every=4,
            warmup=1,
            queries=2,
            decision_calls=10,
            agencies_per_query=3,
        ),
    ),
}


def preset(name: str) -> Preset:
    """Raises: KeyError for an unknown preset."""
    return PRESETS[name]


PartRunner = Callable[[Preset, BenchEnv], PartReport]

PARTS: dict[str, PartRunner] = {
    node_search.PART: lambda p, env: node_search.run(p.node_search, env),
    ingest.PART: lambda p, env: ingest.run(p.ingest, env),
    fanout.PART: lambda p, env: fanout.run(p.fanout, env),
    decision.PART: lambda p, env: decision.run(p.decision, env),
    ledger.PART: lambda p, env: ledger.run(p.ledger, env),
    witnessing.PART: lambda p, env: witnessing.run(p.witnessing, env),
    city.PART: lambda p, env: city.run(p.city, env),
    national.PART: lambda p, env: national.run(p.national, env),
}
# What runs without naming parts: all but the city, whose first run builds 100 million reads.
DEFAULT_PARTS = tuple(name for name in PARTS if name != city.PART)
