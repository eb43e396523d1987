"""Fill a node's database with synthetic, reproducible sightings (``alprfed node seed``).

The data come from ``agency_node.synthetic``: cameras on the street grid of the agency's city,
some at sensitive sites, vehicles that commute and run errands, out-of-state plates, and the
demo plates (``DEMO_PLATES``) that every node holds. Plan the data with ``generate(...)``, then
``seed_node(store, data)`` stores it through the store's bulk path in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from agency_node.storage import NodeStore
from agency_node.storage.store import ProgressCallback
from agency_node.synthetic import (
    DEFAULT_DAYS,
    DEMO_PLATES,
    DemoPlate,
    SyntheticData,
    generate,
)

__all__ = [
    "DEFAULT_DAYS",
    "DEMO_PLATES",
    "DemoPlate",
    "SeedSummary",
    "SyntheticData",
    "generate",
    "seed_node",
]


@dataclass(frozen=True)
class SeedSummary:
    city: str  # "San Jose, CA"
    cameras: int
    sensitive_cameras: int
    sightings: int
    demo_sightings: int
    window: tuple[int, int]  # the span the traffic covers, Unix seconds


def seed_node(
    store: NodeStore, data: SyntheticData, *, on_progress: ProgressCallback | None = None
) -> SeedSummary:
    """Store planned synthetic data (``synthetic.generate``) in one transaction."""
    stored = store.bulk_load(data.cameras, data.sightings, on_progress=on_progress)
    return SeedSummary(
        city=f"{data.city.name}, {data.city.state}",
        cameras=len(data.cameras),
        sensitive_cameras=sum(1 for camera in data.cameras if camera.sensitive_site),
        sightings=stored,
        demo_sightings=data.demo_sightings,
        window=data.window,
    )
