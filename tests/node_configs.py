"""Node configurations and data for CLI tests: a real TOML file, a real key, real sightings."""

from __future__ import annotations

import time
from pathlib import Path

from agency_node.storage import NodeStore
from alprfed.models import Camera, Position, Sighting
from alprfed.signing import SigningKey


def write_config(
    directory: Path,
    database_url: str,
    key: SigningKey,
    *,
    state: str = "VA",
    retention: int | None = None,
) -> Path:
    key.save(directory / "node.key")
    lines = [
        "[node]",
        'agency_id = "npd"',
        f'state = "{state}"',
        f'database_url = "{database_url}"',
        'signing_key = "node.key"',
        f'gateway_key = "{SigningKey.generate().public.to_text()}"',
    ]
    if retention is not None:
        lines.append(f"retention_seconds = {retention}")
    path = directory / "node.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def seed_ages(database_url: str, ages: list[int]) -> None:
    now = int(time.time())
    sightings = [
        Sighting.create(
            plate="ABC1234",
            plate_state="VA",
            observed_at=now - age,
            camera_id="npd-cam-001",
            position=Position(36_853_000, -76_287_000),
            confidence_per_mille=900,
        )
        for age in ages
    ]
    with NodeStore.open(database_url) as store:
        store.add_batch(
            [Camera("npd-cam-001", "Granby St", Position(36_853_000, -76_287_000))], sightings
        )
