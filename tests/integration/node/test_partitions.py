"""PostgreSQL's daily partitions: the in-place migration, partitions on demand, pruned
searches, and a retention purge that drops whole days.

All against a real PostgreSQL (the ``postgres_url`` fixture); SQLite is not partitioned and is
covered, unchanged, by test_store.py and test_schema.py.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from agency_node.storage import NodeStore, UnknownCamera
from agency_node.storage.migrations import NODE_MIGRATIONS
from agency_node.storage.partitions import (
    DAY_S,
    DAYS_AHEAD,
    day_of,
    partition_day,
    partition_days,
    partition_name,
)
from agency_node.storage.statements import FIND_SIGHTINGS
from alprfed.models import Camera, Sighting
from tests.integration.node.conftest import DOWNTOWN, SightingMaker

_INSERT_V4 = sa.text(
    "INSERT INTO sightings (plate, plate_state, observed_at, camera_id, lat_e6, lon_e6, "
    "make, model, color, confidence_per_mille, image_uri) VALUES "
    "(:plate, 'CA', :t, 'cam-1', 37336100, -121890600, '', '', '', 900, '')"
)


def _days(url: str) -> set[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        days = partition_days(conn)
    engine.dispose()
    return days


def _id_rows(url: str) -> list[tuple[int, str, int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, plate, observed_at FROM sightings ORDER BY id"))
        found = [(int(i), str(p), int(t)) for i, p, t in rows]
    engine.dispose()
    return found


def test_version_4_database_with_reads_is_partitioned_in_place(postgres_url: str, now: int) -> None:
    engine = sa.create_engine(postgres_url)
    assert NODE_MIGRATIONS.upgrade(engine, target=4) == 4
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO cameras (camera_id, name, lat_e6, lon_e6) "
                "VALUES ('cam-1', 'Main St', 37336100, -121890600)"
            )
        )
        for n, age_days in enumerate((40, 40, 12, 3, 0)):
            conn.execute(_INSERT_V4, {"plate": f"OLD{n}", "t": now - age_days * DAY_S - n})
        # A purged newest read: its id must never be handed out again.
        conn.execute(_INSERT_V4, {"plate": "GONE", "t": now - 1})
        conn.execute(sa.text("DELETE FROM sightings WHERE plate = 'GONE'"))
    engine.dispose()
    before = _id_rows(postgres_url)

    with NodeStore.open(postgres_url) as store:
        assert store.schema_version == 5
        assert _id_rows(postgres_url) == before  # every read, with the id receipts cite
        assert {day_of(t) for _, _, t in before} == _days(postgres_url)
        (found,) = store.find_sightings("OLD2", now - 13 * DAY_S, now)
        assert found.id == before[2][0]
        new = Sighting.create(
            plate="NEW1",
            plate_state="CA",
            observed_at=now,
            camera_id="cam-1",
            position=DOWNTOWN,
            confidence_per_mille=900,
        )
        assert store.bulk_load([], [new]) == 1
        (stored,) = store.find_sightings("NEW1", now - 1, now)
    assert stored.id > max(i for i, _, _ in before) + 1  # after the purged GONE's id too

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        kind = conn.execute(
            sa.text("SELECT relkind FROM pg_class WHERE oid = 'sightings'::regclass")
        )
        assert kind.scalar() == "p"
        with pytest.raises(sa.exc.IntegrityError):  # the read identity still holds
            conn.execute(_INSERT_V4, {"plate": "OLD3", "t": now - 3 * DAY_S - 3})
    engine.dispose()


def test_a_read_for_a_day_without_a_partition_is_stored(
    postgres_url: str, now: int, street_cameras: list[Camera], make_sighting: SightingMaker
) -> None:
    long_ago = now - 900 * DAY_S
    with NodeStore.open(postgres_url) as store:
        assert day_of(long_ago) not in _days(postgres_url)
        stored = store.bulk_load(street_cameras, [make_sighting(long_ago, plate="LATE1")])
        assert stored == 1
        assert [s.plate for s in store.find_sightings("LATE1", long_ago, long_ago)] == ["LATE1"]
    assert day_of(long_ago) in _days(postgres_url)


def test_a_refused_batch_takes_its_new_partitions_with_it(
    postgres_url: str, now: int, street_cameras: list[Camera], make_sighting: SightingMaker
) -> None:
    new_day = now - 500 * DAY_S
    batch = [
        make_sighting(new_day, plate="FIRST1"),
        make_sighting(new_day + 60, plate="BAD1", camera_id="cam-nowhere"),
    ]
    with NodeStore.open(postgres_url) as store:
        store.upsert_cameras(street_cameras)
        with pytest.raises(UnknownCamera):
            store.add_batch([], batch)
        assert store.count_sightings() == 0
    assert day_of(new_day) not in _days(postgres_url)


def test_partitions_for_the_coming_days_are_made_ahead(postgres_url: str, now: int) -> None:
    with NodeStore.open(postgres_url) as store:
        made = store.prepare_partitions(now)
        assert made == list(range(day_of(now), day_of(now) + DAYS_AHEAD + 1))
        assert store.prepare_partitions(now) == []  # once only
    names = {partition_name(day) for day in _days(postgres_url)}
    assert {partition_day(name) for name in names} == set(made)


def test_search_touches_only_the_partitions_of_its_window(
    postgres_url: str, now: int, street_cameras: list[Camera], make_sighting: SightingMaker
) -> None:
    reads = [make_sighting(now - age * DAY_S, plate=f"P{age:03d}") for age in range(60)]
    with NodeStore.open(postgres_url) as store:
        store.bulk_load(street_cameras, reads)
    assert len(_days(postgres_url)) >= 60
    window = {"plate": "P003", "start": now - 4 * DAY_S, "end": now - 2 * DAY_S}
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        compiled = FIND_SIGHTINGS.compile(dialect=conn.dialect)
        plan = "\n".join(
            str(row[0])
            for row in conn.exec_driver_sql(
                f"EXPLAIN {compiled}", compiled.construct_params(window)
            )
        )
    engine.dispose()
    scanned = set(re.findall(r" on (sightings_p\d{8})", plan))
    expected = {partition_name(day) for day in range(day_of(now) - 4, day_of(now) - 1)}
    assert scanned == expected, plan  # three days of sixty, found by the plan alone


def test_purge_drops_whole_days_and_deletes_rows_only_in_the_boundary_day(
    postgres_url: str, now: int, street_cameras: list[Camera], make_sighting: SightingMaker
) -> None:
    today = day_of(now) * DAY_S
    reads = [
        make_sighting(today - age * DAY_S + second, plate=f"R{age}X{second}")
        for age in range(1, 11)
        for second in (0, 3_600, 43_200, 86_399)
    ]
    cutoff = today - 5 * DAY_S + 43_200  # noon of the 5th day back
    with NodeStore.open(postgres_url) as store:
        store.bulk_load(street_cameras, reads)
        expected = sum(1 for read in reads if read.observed_at < cutoff)
        assert store.purge_before(cutoff, chunk_rows=1) == expected
        assert store.count_sightings() == len(reads) - expected
        remaining = store.find_sightings("R5X43200", cutoff, cutoff)
    assert [s.observed_at for s in remaining] == [cutoff]  # cutoff is exclusive
    days = _days(postgres_url)
    assert min(days) == day_of(cutoff)  # every earlier day dropped as a whole partition
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        leftovers = conn.execute(
            sa.text(
                # this test's schema only: other tests on the server have partitions too
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'sightings_p%' "
                "AND relkind = 'r' AND relnamespace = current_schema()::regnamespace"
            )
        ).scalar()
    engine.dispose()
    assert leftovers == len(days)  # nothing detached and left behind


def test_a_detached_day_left_by_a_crash_is_counted_and_dropped_next_run(
    postgres_url: str, now: int, street_cameras: list[Camera], make_sighting: SightingMaker
) -> None:
    old = day_of(now) * DAY_S - 20 * DAY_S
    with NodeStore.open(postgres_url) as store:
        store.bulk_load(street_cameras, [make_sighting(old + n, plate=f"C{n}") for n in range(3)])
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:  # as a purge killed between its detach and its drop
            conn.exec_driver_sql(
                f"ALTER TABLE sightings DETACH PARTITION {partition_name(day_of(old))}"
            )
        engine.dispose()
        assert store.count_sightings() == 0
        assert store.purge_before(now - 10 * DAY_S) == 3
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        gone = conn.execute(
            sa.text("SELECT to_regclass(:name)"), {"name": partition_name(day_of(old))}
        )
        assert gone.scalar() is None
    engine.dispose()
