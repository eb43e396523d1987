"""Alembic migrations of every store, on SQLite and PostgreSQL.

A database made by the mechanism before Alembic (a ``*_schema_version`` table of numbered
rows, written here exactly as that code wrote it) is stamped and upgraded in place with its
data; a database newer than the code is refused; two processes starting at once apply each
migration once; and the SQL `alprfed db upgrade --sql` prints, run by the database itself,
yields a schema the store accepts as current.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import NOW

from agency_node.storage import migrations as node_migrations
from agency_node.storage.migrations import NODE_MIGRATIONS
from agency_node.storage.partitions import partition_sightings
from agency_node.storage.store import NodeStore
from alprfed.db import create_engine
from alprfed.errors import FailedPrecondition
from alprfed.ledger import schema as ledger_schema
from alprfed.migrate import LEGACY_MOVED, AlembicStore
from gateway import registry_schema
from witness import store as witness_store

Apply = Callable[[sa.Connection], None]

# Each store's migrations in order: those shipped before Alembic (a legacy database is built
# from them) and those since (node 5, partitioned sightings on PostgreSQL).
SHIPPED: dict[str, tuple[AlembicStore, Sequence[Apply]]] = {
    "node": (
        NODE_MIGRATIONS,
        (
            node_migrations.create_core_tables,
            node_migrations.create_purge_report_queue,
            node_migrations.create_access_log,
            node_migrations.identify_reads,
            partition_sightings,
        ),
    ),
    "ledger": (
        ledger_schema.MIGRATIONS,
        (ledger_schema.create_tables, ledger_schema.add_publication),
    ),
    "gateway": (
        registry_schema.MIGRATIONS,
        (
            registry_schema.create_v1,
            registry_schema.create_consents,
            registry_schema.create_purge_reports,
        ),
    ),
    "witness": (witness_store.MIGRATIONS, (witness_store.create_tables,)),
}


def make_legacy(url: str, store: AlembicStore, steps: Sequence[Apply], version: int) -> None:
    """A database as alprfed before Alembic left it at ``version``."""
    engine = sa.create_engine(url)
    table = sa.Table(
        store.legacy.table,
        sa.MetaData(),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.String(200), nullable=False),
    )
    with engine.begin() as conn:
        table.create(conn)
        for number, apply in enumerate(steps[:version], start=1):
            apply(conn)
            conn.execute(table.insert().values(version=number, description=f"step {number}"))
    engine.dispose()


def versions_of(url: str, store: AlembicStore) -> tuple[list[str], list[int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        alembic = (
            conn.execute(sa.text(f"SELECT version_num FROM {store.version_table}")).scalars().all()
        )
        legacy = (
            conn.execute(sa.text(f"SELECT version FROM {store.legacy.table} ORDER BY version"))
            .scalars()
            .all()
            if sa.inspect(conn).has_table(store.legacy.table)
            else []
        )
    engine.dispose()
    return list(alembic), list(legacy)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_legacy_version_is_stamped_and_upgraded_once(database_url: str, name: str) -> None:
    store, steps = SHIPPED[name]
    assert store.latest == len(steps)  # the revision files are the shipped history
    make_legacy(database_url, store, steps, 1)
    engine = create_engine(database_url)
    try:
        assert store.upgrade(engine) == store.latest
        assert store.upgrade(engine) == store.latest  # a second start changes nothing
    finally:
        engine.dispose()
    alembic, legacy = versions_of(database_url, store)
    assert alembic == [f"{name}_{store.latest:04d}"]
    # Older alprfed reads the highest legacy row and refuses the database as too new.
    assert legacy == [1, LEGACY_MOVED]


def test_a_legacy_node_database_keeps_its_reads(database_url: str) -> None:
    now = NOW
    store, steps = SHIPPED["node"]
    make_legacy(database_url, store, steps, 3)
    engine = sa.create_engine(database_url)
    insert = sa.text(
        "INSERT INTO sightings (plate, plate_state, observed_at, camera_id, lat_e6, lon_e6, "
        "make, model, color, confidence_per_mille, image_uri) VALUES "
        "(:plate, 'WA', :t, 'cam-old', 47606200, -122332100, 'Subaru', '', '', 870, '')"
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO cameras (camera_id, name, lat_e6, lon_e6) "
                "VALUES ('cam-old', 'Old camera', 47606200, -122332100)"
            )
        )
        for plate in ("ABC1234", "ABC1234", "XYZ9876"):  # one read imported twice
            conn.execute(insert, {"plate": plate, "t": now - 60})
    engine.dispose()
    with NodeStore.open(database_url) as node:
        assert node.schema_version == store.latest
        assert [s.vehicle_make for s in node.find_sightings("ABC1234", now - 120, now)] == [
            "Subaru"
        ]
        assert node.count_sightings() == 2


def test_a_legacy_ledger_keeps_its_head_as_published(database_url: str) -> None:
    store, steps = SHIPPED["ledger"]
    make_legacy(database_url, store, steps, 1)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            ledger_schema.head.insert().values(id=1, origin="o.example/log", size=7, checkpoint="c")
        )
    engine.dispose()
    engine = create_engine(database_url)
    try:
        store.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.select(ledger_schema.publication.c.size)).scalar_one() == 7
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("UPDATE alembic_version_node SET version_num = 'node_0099'", "schema version 99, newer"),
        ("UPDATE alembic_version_node SET version_num = 'a1b2c3d4'", "revision 'a1b2c3d4'"),
    ],
    ids=["newer_revision", "foreign_revision"],
)
def test_a_database_newer_than_the_code_is_refused(
    database_url: str, setup: str, message: str
) -> None:
    NodeStore.open(database_url).close()
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(setup))
    engine.dispose()
    with pytest.raises(FailedPrecondition, match=message):
        NodeStore.open(database_url)


def test_a_legacy_database_newer_than_the_code_is_refused(database_url: str) -> None:
    store, steps = SHIPPED["witness"]
    make_legacy(database_url, store, steps, 1)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {store.legacy.table} VALUES (2, 'from the future')"))
    engine.dispose()
    engine = create_engine(database_url)
    try:
        with pytest.raises(FailedPrecondition, match="schema version 2, newer than the 1"):
            store.upgrade(engine)
    finally:
        engine.dispose()


OPEN_AT_ONCE = """
import sys, threading
from agency_node.storage.store import NodeStore
NodeStore.open(sys.argv[1]).close()
print("opened")
"""


def test_two_processes_starting_at_once_apply_each_migration_once(database_url: str) -> None:
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=120) for process in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], [err for _, err in results]
    alembic, legacy = versions_of(database_url, NODE_MIGRATIONS)
    assert alembic == [f"node_{NODE_MIGRATIONS.latest:04d}"]
    assert legacy == []


def run_sql(url: str, script: str) -> None:
    """Run a DBA's SQL script as psql or sqlite3 would: statement by statement."""
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            raw.driver_connection.executescript(script)  # type: ignore[union-attr]
        else:
            cursor = raw.cursor()
            cursor.execute(script)  # psycopg runs a multi-statement script in one call
            raw.commit()
    finally:
        raw.close()
        engine.dispose()


@pytest.mark.parametrize("name", SHIPPED)
def test_printed_sql_builds_the_current_schema(database_url: str, name: str) -> None:
    store, _ = SHIPPED[name]
    dialect = sa.engine.make_url(database_url).get_backend_name()
    run_sql(database_url, store.sql(dialect))
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert store.current_version(conn) == store.latest
        assert store.upgrade(engine) == store.latest
    finally:
        engine.dispose()


def test_printed_sql_upgrades_a_legacy_database(database_url: str) -> None:
    store, steps = SHIPPED["gateway"]
    make_legacy(database_url, store, steps, 1)
    dialect = sa.engine.make_url(database_url).get_backend_name()
    run_sql(database_url, store.sql(dialect, from_version=1, legacy=True))
    alembic, legacy = versions_of(database_url, store)
    assert alembic == ["gateway_0003"]
    assert legacy == [1, LEGACY_MOVED]
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("gateway_purge_reports")
    engine.dispose()


def node_config(tmp_path: Path, url: str) -> Path:
    from alprfed.signing import SigningKey

    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nagency_id = "sjpd"\nstate = "CA"\nsigning_key = "k.pem"\n'
        f'gateway_key = "{SigningKey.generate().public.to_text()}"\n'
    )
    (tmp_path / "url").write_text(url)
    return path


def alprfed(*args: str, url_file: Path) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "alprfed", "db", "upgrade", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ALPRFED_NODE_DATABASE_URL_FILE": str(url_file)},
    )


def test_the_db_upgrade_command_upgrades_and_prints_sql(tmp_path: Path, database_url: str) -> None:
    config = node_config(tmp_path, database_url)
    printed = alprfed("--config", str(config), "--sql", url_file=tmp_path / "url")
    assert printed.returncode == 0, printed.stderr
    assert "CREATE TABLE sightings" in printed.stdout
    assert versions_of_or_none(database_url) is None  # --sql touches nothing

    done = alprfed("--config", str(config), "--json", url_file=tmp_path / "url")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "upgraded": [{"store": "node", "from": 0, "to": NODE_MIGRATIONS.latest}]
    }

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version_node SET version_num = 'node_0099'"))
    engine.dispose()
    refused = alprfed("--config", str(config), url_file=tmp_path / "url")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: the agency node database has schema version 99, newer than the "
        f"{NODE_MIGRATIONS.latest} this alprfed knows; upgrade alprfed first"
    ]


def versions_of_or_none(url: str) -> list[str] | None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = sa.inspect(conn).has_table("alembic_version_node")
    engine.dispose()
    return [] if found else None
