"""The node's sampled gauges read from a real database, on SQLite and on PostgreSQL."""

from __future__ import annotations

from conftest import NOW
from prometheus_client import CollectorRegistry

from agency_node.observability import node_gauges
from agency_node.storage import NodeStore
from agency_node.synthetic import generate
from alprfed.clock import FixedClock

DAY = 86_400
RETENTION_S = 10 * DAY


def test_gauges_show_sightings_replay_cache_and_purge_lag(database_url: str) -> None:
    data = generate(agency_id="sjpd", state="CA", sightings=500, seed=7, now=NOW, days=30)
    sightings = list(data.sightings)  # an iterator: bulk_load would consume it
    clock = FixedClock(NOW)
    store = NodeStore.open(database_url)
    try:
        registry = CollectorRegistry()
        registry.register(node_gauges(store, retention_seconds=RETENTION_S, clock=clock))
        empty = registry.get_sample_value
        assert empty("alprfed_node_sightings") == 0
        assert empty("alprfed_node_purge_lag_seconds") == 0

        store.bulk_load(data.cameras, sightings)
        for n in range(3):
            assert store.claim_nonce(f"nonce-{n}", NOW + 60)
        registry = CollectorRegistry()  # a fresh sample, not the cached one
        registry.register(node_gauges(store, retention_seconds=RETENTION_S, clock=clock))
        oldest = min(s.observed_at for s in sightings)
        assert oldest < NOW - RETENTION_S  # the data reaches past retention: a real lag
        assert registry.get_sample_value("alprfed_node_sightings") == store.count_sightings()
        assert registry.get_sample_value("alprfed_node_replay_cache_entries") == 3
        assert registry.get_sample_value("alprfed_node_purge_lag_seconds") == (
            NOW - RETENTION_S - oldest
        )

        store.purge_before(NOW - RETENTION_S)  # what the retention purge does
        registry = CollectorRegistry()
        registry.register(node_gauges(store, retention_seconds=RETENTION_S, clock=clock))
        assert registry.get_sample_value("alprfed_node_purge_lag_seconds") == 0
        assert registry.get_sample_value("alprfed_node_sightings") == store.count_sightings()
    finally:
        store.close()
