"""Fixtures for the node: a running node and an open store on each database, cameras, sightings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from nodes import RunningNode, running_node

from agency_node.storage import NodeStore
from alprfed.clock import FixedClock
from alprfed.models import Camera, Position, SensitiveSite, Sighting
from alprfed.signing import SigningKey

SightingMaker = Callable[..., Sighting]

DOWNTOWN = Position(37_336_100, -121_890_600)


@pytest.fixture
def now(clock: FixedClock) -> int:
    """The fixed instant every test here calls "now"."""
    return clock.now()


@pytest.fixture
def node(
    tmp_path: Path, pki_dir: Path, database_url: str, gateway_key: SigningKey, clock: FixedClock
) -> Iterator[RunningNode]:
    """A real San Jose (California) node over mutual TLS on each database."""
    with running_node(
        tmp_path,
        pki_dir,
        agency="sjpd",
        state="CA",
        database_url=database_url,
        gateway_key=gateway_key,
        clock=clock,
    ) as running:
        yield running


@pytest.fixture
def store(database_url: str) -> Iterator[NodeStore]:
    opened = NodeStore.open(database_url)
    yield opened
    opened.close()


@pytest.fixture
def street_cameras() -> list[Camera]:
    """Three cameras; the last one watches a clinic entrance."""
    return [
        Camera("cam-1", "1st St & Santa Clara St", DOWNTOWN),
        Camera("cam-2", "4th St & San Fernando St", Position(37_335_000, -121_886_900)),
        Camera(
            "cam-clinic",
            "Eastside Family Clinic entrance",
            Position(37_351_200, -121_858_300),
            SensitiveSite.REPRODUCTIVE_HEALTH_CARE,
        ),
    ]


@pytest.fixture
def make_sighting() -> SightingMaker:
    """Build a validated sighting; every field but the time has a sensible default."""

    def make(observed_at: int, **fields: object) -> Sighting:
        values: dict[str, object] = {
            "plate": "7ABC123",
            "plate_state": "CA",
            "camera_id": "cam-1",
            "position": DOWNTOWN,
            "confidence_per_mille": 930,
            "vehicle_make": "Toyota",
            "vehicle_model": "Camry",
            "vehicle_color": "silver",
            "image_uri": "https://evidence.example/img/1.jpg",
        }
        values.update(fields)
        return Sighting.create(observed_at=observed_at, **values)  # type: ignore[arg-type]

    return make
