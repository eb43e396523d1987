"""The node's sampled gauges and what its /readyz checks (docs/OPERATIONS.md).

The gauges are read from the database at scrape time, at most every SAMPLE_INTERVAL_S:

- sightings held: ``count(*)`` of the sightings table;
- replay-cache size: query nonces remembered (they are forgotten when their query expires);
- purge lag: how far the oldest sighting held is past the retention cutoff (0 when the purge
  keeps up). Beyond one purge interval it means the purge is failing or cannot keep up, and
  the node holds data its law says must be gone.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage.schema import seen_nonces, sightings
from alprfed.clock import Clock
from alprfed.observability.metrics import SampledGauges
from alprfed.observability.probes import ReadinessCheck, database_check

NODE_GAUGES = {
    "alprfed_node_sightings": "Sightings this node holds",
    "alprfed_node_replay_cache_entries": "Query nonces remembered against replays",
    "alprfed_node_purge_lag_seconds": (
        "How far the oldest sighting held is past the retention cutoff (0: none is)"
    ),
    "alprfed_node_retention_seconds": "The retention period in force (law pack or config)",
}


def node_gauges(store: NodeStore, *, retention_seconds: int, clock: Clock) -> SampledGauges:
    def sample() -> Mapping[str, float]:
        with store.engine.connect() as conn:
            held = conn.execute(sa.select(sa.func.count()).select_from(sightings)).scalar_one()
            nonces = conn.execute(sa.select(sa.func.count()).select_from(seen_nonces)).scalar_one()
            oldest = conn.execute(sa.select(sa.func.min(sightings.c.observed_at))).scalar_one()
        cutoff = clock.now() - retention_seconds
        lag = max(0, cutoff - int(oldest)) if oldest is not None else 0
        return {
            "alprfed_node_sightings": int(held),
            "alprfed_node_replay_cache_entries": int(nonces),
            "alprfed_node_purge_lag_seconds": lag,
            "alprfed_node_retention_seconds": retention_seconds,
        }

    return SampledGauges(sample, NODE_GAUGES)


def node_checks(store: NodeStore) -> dict[str, ReadinessCheck]:
    return {"database": database_check(store.engine)}
