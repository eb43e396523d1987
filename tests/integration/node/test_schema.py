"""The node schema: in-place upgrades from older versions, refusals, and index use."""

from __future__ import annotations

import random
import re

import pytest
import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage.migrations import NODE_MIGRATIONS
from agency_node.storage.partitions import day_of, partition_day
from agency_node.storage.statements import FIND_SIGHTINGS, purge_chunk_statement
from alprfed.db import create_engine, reader, writer
from alprfed.errors import FailedPrecondition
from alprfed.models import Camera, Position, Sighting

LATEST_VERSION = NODE_MIGRATIONS.latest
PLATE_INDEX = "ix_sightings_plate_observed_at"
TIME_INDEX = "ix_sightings_observed_at"
PARTITION_PLATE_INDEX = "_plate_observed_at_idx"  # sightings_p20251123_plate_observed_at_idx


def test_fresh_database_gets_every_migration_once(database_url: str) -> None:
    NodeStore.open(database_url).close()
    with NodeStore.open(database_url) as reopened:
        assert reopened.schema_version == LATEST_VERSION

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version_node")).all()
        assert not sa.inspect(conn).has_table("schema_version")  # only made before Alembic
    engine.dispose()
    assert versions == [(f"node_{LATEST_VERSION:04d}",)]


def test_version_1_database_with_data_is_upgraded_in_place(database_url: str, now: int) -> None:
    engine = sa.create_engine(database_url)
    assert NODE_MIGRATIONS.upgrade(engine, target=1) == 1
    with engine.begin() as conn:
        assert not sa.inspect(conn).has_table("purge_reports")
        conn.execute(
            sa.text(
                "INSERT INTO cameras (camera_id, name, lat_e6, lon_e6, sensitive_site) "
                "VALUES ('cam-old', 'Old camera', 47606200, -122332100, 'school')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sightings (plate, plate_state, observed_at, camera_id, lat_e6, "
                "lon_e6, make, model, color, confidence_per_mille, image_uri) VALUES "
                "('ABC1234', 'WA', :t, 'cam-old', 47606200, -122332100, 'Subaru', 'Outback', "
                "'green', 870, '')"
            ),
            {"t": now - 60},
        )
        conn.execute(
            sa.text("INSERT INTO seen_nonces (nonce, expires_at) VALUES (:n, :e)"),
            {"n": "aa" * 16, "e": now + 60},
        )
    engine.dispose()

    with NodeStore.open(database_url) as store:
        assert store.schema_version == LATEST_VERSION
        (kept,) = store.find_sightings("ABC1234", now - 120, now)
        assert (kept.camera_id, kept.vehicle_make, kept.observed_at) == (
            "cam-old",
            "Subaru",
            now - 60,
        )
        assert kept.sensitive_site == "school"
        assert store.claim_nonce("aa" * 16, now + 60) is False
        report_id = store.queue_purge_report("t", b"{}", "k", b"s")
        assert [r.id for r in store.pending_purge_reports()] == [report_id]


# A database newer than the code: tests/integration/test_migrations.py.


def test_foreign_tables_without_a_version_are_left_alone(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE sightings (plate VARCHAR(10))"))
    engine.dispose()

    with pytest.raises(FailedPrecondition, match="not created by the alprfed agency node"):
        NodeStore.open(database_url)


def _plan(conn: sa.Connection, statement: sa.Executable, params: dict[str, int | str]) -> str:
    """The database's own plan for ``statement`` exactly as the store runs it."""
    compiled = statement.compile(dialect=conn.dialect)
    values = compiled.construct_params(params)
    if conn.dialect.name == "sqlite":
        positional = tuple(values[name] for name in compiled.positiontup or ())
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional).all()
        return "\n".join(str(row[-1]) for row in rows)
    rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", values).all()
    return "\n".join(str(row[0]) for row in rows)


@pytest.fixture
def filled_url(database_url: str, now: int) -> str:
    """A database with enough distinct plates that only an index scan makes sense."""
    rng = random.Random(7)
    camera = Camera("cam-1", "Main St & 1st Ave", Position(44_977_800, -93_265_000))
    rows = [
        Sighting(
            plate=f"P{rng.randrange(5000):05d}",
            plate_state="MN",
            observed_at=now - rng.randrange(30 * 86_400),
            camera_id="cam-1",
            position=camera.position,
            confidence_per_mille=900,
        )
        for _ in range(20_000)
    ]
    with NodeStore.open(database_url) as store:
        store.bulk_load([camera], rows)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return database_url


def test_plate_search_uses_the_plate_and_time_index(filled_url: str, now: int) -> None:
    engine = sa.create_engine(filled_url)
    with engine.connect() as conn:
        plan = _plan(conn, FIND_SIGHTINGS, {"plate": "P00042", "start": now - 86_400, "end": now})
        postgres = conn.dialect.name == "postgresql"
    engine.dispose()
    # On PostgreSQL each day's partition has its own copy of the index, named after it.
    assert (PARTITION_PLATE_INDEX if postgres else PLATE_INDEX) in plan, plan


def test_purge_finds_old_rows_through_the_time_index(filled_url: str, now: int) -> None:
    engine = sa.create_engine(filled_url)
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        statement = purge_chunk_statement(1000, postgres=postgres)
        cutoff = now - 29 * 86_400 - 3600
        plan = _plan(conn, statement, {"cutoff": cutoff})
    engine.dispose()
    if postgres:
        # Only the days before the cutoff are touched (pruned at plan time); the 29 later
        # days' partitions are not in the plan at all. (Which scan it uses inside those
        # days is the planner's choice by their size; the city benchmark shows it at scale.)
        touched = set(re.findall(r"Delete on (sightings_p\d{8})", plan))
        assert touched, plan
        assert all(partition_day(name) <= day_of(cutoff) for name in touched), plan  # type: ignore[operator]
        return
    # Each chunk deletes by primary key; it must never scan the whole table.
    assert TIME_INDEX in plan, plan
    assert "INTEGER PRIMARY KEY" in plan, plan
    assert "SCAN sightings" not in plan, plan


def test_sqlite_reads_leave_transaction_control_to_alprfed(sqlite_url: str) -> None:
    """A reader() read must not hand the sqlite3 module its implicit transactions back."""
    engine = create_engine(sqlite_url)
    for _ in range(2):
        with reader(engine).connect() as conn:
            conn.exec_driver_sql("SELECT 1").all()
            assert not conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
        with writer(engine).begin() as conn:
            driver = conn.connection.driver_connection
            assert driver.isolation_level is None  # type: ignore[union-attr]
            assert driver.in_transaction  # type: ignore[union-attr]
    engine.dispose()


def test_version_3_database_with_a_read_stored_twice_is_merged_in_place(
    database_url: str, now: int
) -> None:
    engine = sa.create_engine(database_url)
    assert NODE_MIGRATIONS.upgrade(engine, target=3) == 3
    insert = sa.text(
        "INSERT INTO sightings (plate, plate_state, observed_at, camera_id, lat_e6, lon_e6, "
        "make, model, color, confidence_per_mille, image_uri) VALUES "
        "(:plate, 'WA', :t, 'cam-old', 47606200, -122332100, '', '', '', 870, '')"
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO cameras (camera_id, name, lat_e6, lon_e6) "
                "VALUES ('cam-old', 'Old camera', 47606200, -122332100)"
            )
        )
        # The same export imported twice before reads were identified, and one other read.
        for plate, t in (("ABC1234", now - 60), ("ABC1234", now - 60), ("XYZ9876", now - 60)):
            conn.execute(insert, {"plate": plate, "t": t})
        ids = conn.execute(sa.text("SELECT id FROM sightings ORDER BY id")).scalars().all()
    engine.dispose()

    with NodeStore.open(database_url) as store:
        assert store.schema_version == LATEST_VERSION
        (kept,) = store.find_sightings("ABC1234", now - 120, now)
        assert kept.id == ids[0]  # the first stored: receipts citing it stay valid
        assert len(store.find_sightings("XYZ9876", now - 120, now)) == 1
        again = Sighting.create(
            plate="ABC1234",
            plate_state="WA",
            observed_at=now - 60,
            camera_id="cam-old",
            position=Position(47_606_200, -122_332_100),
            confidence_per_mille=900,
        )
        assert store.bulk_load([], [again]) == 0
        assert store.count_sightings() == 2

    engine = sa.create_engine(database_url)
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(insert, {"plate": "XYZ9876", "t": now - 60})  # the index itself refuses
    engine.dispose()
