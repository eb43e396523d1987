"""Seeding a real database with synthetic data (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from agency_node.seed import DEMO_PLATES, generate, seed_node
from agency_node.storage import NodeStore
from agency_node.synthetic import CLINIC_VISITOR, SUSPECT
from alprfed.models import SensitiveSite


def test_seeded_node_holds_n_sightings_and_the_demo_plates(store: NodeStore, now: int) -> None:
    data = generate(agency_id="spd", state="WA", sightings=6000, seed=5, now=now)

    summary = seed_node(store, data)

    assert summary.sightings == store.count_sightings() == 6000
    assert summary.city == "Seattle, WA"
    assert summary.sensitive_cameras == 7
    for demo in DEMO_PLATES:
        assert store.find_sightings(demo.plate, 0, now), demo.key
    suspect = store.find_sightings(SUSPECT.plate, now - 2 * 86_400, now)
    assert {s.vehicle_model for s in suspect} == {SUSPECT.identity.model}
    clinic_sites = {s.sensitive_site for s in store.find_sightings(CLINIC_VISITOR.plate, 0, now)}
    assert SensitiveSite.REPRODUCTIVE_HEALTH_CARE in clinic_sites


def test_same_seed_and_now_store_identical_rows(
    database_url: str, tmp_path: Path, now: int
) -> None:
    tables = []
    for url in (database_url, f"sqlite:///{tmp_path / 'twin.db'}"):
        with NodeStore.open(url) as store:
            seed_node(store, generate(agency_id="cpd", state="IL", sightings=3000, seed=9, now=now))
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            tables.append(
                [
                    tuple(row)
                    for name in ("cameras", "sightings")
                    for row in conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY 1"))
                ]
            )
        engine.dispose()

    assert len(tables[0]) > 3000
    assert tables[0] == tables[1]
