"""Schema migrations with Alembic: one version directory per store, one file per migration.

Every alprfed store (node, ledger, gateway registry, witness) is an :class:`AlembicStore`: a
directory of Alembic revision files and its own version table (``alembic_version_<store>``),
so stores that share a database (the gateway's ledger and registry) are versioned apart and
no store needs branch labels. A migration is one file in that directory calling
:func:`migration`::

    # agency_node/storage/versions/node_0005_partitions.py
    \"\"\"node 5: time partitions on PostgreSQL.\"\"\"
    from agency_node.storage.migrations import partition_sightings
    from alprfed.migrate import migration

    revision, down_revision, upgrade, downgrade = migration("node", 5, partition_sightings)

The revision id is ``<store>_<number:04>`` and its parent the number before, so the history is
a line; the function takes a connection and is written as plain SQLAlchemy Core. Never edit a
migration that has shipped.

Applying (:meth:`AlembicStore.upgrade`) happens in one transaction that first takes a lock
(PostgreSQL: an advisory lock per store; SQLite: the write lock, BEGIN IMMEDIATE), so two
processes starting at once never apply one migration twice: the second waits, then finds
nothing to do. A database made by the earlier mechanism (a ``<store>_schema_version`` table
of numbered rows) is stamped at its version and upgraded in place; that table then gets a row
numbered :data:`LEGACY_MOVED`, so an older alprfed refuses the database as newer than itself
instead of running on a schema it does not know. A database whose revision this code does not
know is refused too.

:meth:`AlembicStore.sql` renders the same migrations as SQL for a DBA (Alembic's offline
mode): each function runs against a mock connection whose statements are printed.
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprfed.errors import ConfigError, FailedPrecondition

# Alembic is imported where a migration runs, not with this module: every service and CLI
# command that touches a store imports it, and Alembic logs at import time (before a service
# has switched its logs to JSON) and costs a few hundred milliseconds.
if TYPE_CHECKING:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

# Written into a legacy version table once its store has moved to Alembic: above any version
# the old mechanism ever shipped, so older code refuses the database ("newer than this code").
LEGACY_MOVED = 1000
_LOCK_TAG = 0x616C70 << 32  # "alp": the high bits of every store's advisory lock number

MigrationFunction = Callable[[sa.Connection], None]


def revision_id(store: str, number: int) -> str:
    return f"{store}_{number:04d}"


def migration(
    store: str, number: int, apply: MigrationFunction
) -> tuple[str, str | None, Callable[[], None], Callable[[], None]]:
    """The module attributes of one Alembic revision file (see the module docstring).

    Returns ``(revision, down_revision, upgrade, downgrade)``. ``downgrade`` refuses: a
    schema is only ever moved forward (restore a backup to go back).
    """
    if number < 1:
        raise ValueError("migrations are numbered from 1")

    def upgrade() -> None:
        from alembic import context, op

        if context.is_offline_mode():
            apply(_printing_connection())
        else:
            apply(op.get_bind())

    def downgrade() -> None:
        raise FailedPrecondition(f"{store} migration {number} cannot be undone; restore a backup")

    parent = revision_id(store, number - 1) if number > 1 else None
    return revision_id(store, number), parent, upgrade, downgrade


def _printing_connection() -> Any:
    """A mock connection whose every statement goes to Alembic's offline output, so a
    migration function written for a live connection renders as SQL."""
    from alembic import op

    dialect = op.get_context().dialect

    def emit(statement: Any, *multiparams: Any, **params: Any) -> None:
        op.execute(statement)

    return sa.create_mock_engine(sa.engine.URL.create(dialect.name), emit)


@dataclass(frozen=True)
class LegacyVersions:
    """The version table of the mechanism before Alembic, and the tables it created."""

    table: str
    tables: tuple[str, ...]


class AlembicStore:
    """One store's schema history (a directory of revision files) and how to apply it."""

    def __init__(self, *, store: str, name: str, versions: Path, legacy: LegacyVersions) -> None:
        self.store = store  # the identifier in revision ids and the version table's name
        self.name = name  # what messages call it: "agency node", "gateway registry"
        self.versions = versions
        self.legacy = legacy
        self.version_table = f"alembic_version_{store}"
        self._lock_id = zlib.crc32(self.version_table.encode()) | _LOCK_TAG
        self._legacy_table = sa.Table(
            legacy.table,
            sa.MetaData(),
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("description", sa.String(200), nullable=False),
        )

    @functools.cached_property
    def _script(self) -> ScriptDirectory:
        from alembic.script import ScriptDirectory

        return ScriptDirectory(str(self.versions), version_locations=[str(self.versions)])

    @functools.cached_property
    def latest(self) -> int:
        """The newest version this code knows. Read on first use, not at import: the revision
        files import the migration functions from the store's own module."""
        return self._number(self._script.get_current_head() or "")

    def _number(self, revision: str) -> int:
        prefix = self.store + "_"
        if not revision.startswith(prefix) or not revision[len(prefix) :].isdigit():
            raise FailedPrecondition(
                f"the {self.name} database has schema revision {revision!r}, which this "
                "alprfed does not know; upgrade alprfed first"
            )
        return int(revision[len(prefix) :])

    def current_version(self, conn: sa.Connection) -> int:
        """The database's version: 0 for an empty one, the legacy number for one made before
        Alembic. Raises FailedPrecondition for a revision unknown here or tables not ours."""
        from alembic.runtime.migration import MigrationContext

        inspector = sa.inspect(conn)
        if inspector.has_table(self.version_table):
            revision = MigrationContext.configure(
                conn, opts={"version_table": self.version_table}
            ).get_current_revision()
            if revision is None:
                return 0
            number = self._number(revision)
            if number > self.latest:
                raise FailedPrecondition(
                    f"the {self.name} database has schema version {number}, newer than the "
                    f"{self.latest} this alprfed knows; upgrade alprfed first"
                )
            return number
        if inspector.has_table(self.legacy.table):
            version = conn.execute(sa.select(sa.func.max(self._legacy_table.c.version))).scalar()
            if version is not None and version > self.latest:
                raise FailedPrecondition(
                    f"the {self.name} database has schema version {version}, newer than the "
                    f"{self.latest} this alprfed knows; upgrade alprfed first"
                )
            return int(version or 0)
        strays = [name for name in self.legacy.tables if inspector.has_table(name)]
        if strays:
            raise FailedPrecondition(
                f"the database has tables {', '.join(strays)} but no {self.version_table} "
                f"table; it was not created by the alprfed {self.name} and will not be modified"
            )
        return 0

    def upgrade(self, engine: Engine, *, target: int | None = None) -> int:
        """Apply every migration the database lacks, up to ``target`` (default: the latest);
        the version it then has.

        Raises:
            FailedPrecondition: the database is newer than this code, or not ours.
            ConfigError: the database refused a migration.
        """
        from alprfed.db import writer  # alprfed.db builds engines; no cycle at import time

        goal = self.latest if target is None else target
        if not 1 <= goal <= self.latest:
            raise ValueError(f"{self.store} schema version {goal} is not in 1..{self.latest}")
        try:
            with writer(engine).begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_id)))
                version = self.current_version(conn)
                if version and not sa.inspect(conn).has_table(self.version_table):
                    self._stamp_legacy(conn, version)  # even when current: fence off old code
                if version >= goal:
                    return version
                self._run(conn, revision_id(self.store, goal))
                return goal
        except sa.exc.OperationalError:
            raise  # the server or file could not be reached: the callers say so
        except sa.exc.DatabaseError as exc:
            raise ConfigError(
                f"database_url: the {self.name} database cannot be used: {exc.orig}"
            ) from None

    def _legacy_fence(self) -> sa.Insert:
        return self._legacy_table.insert().values(
            version=LEGACY_MOVED, description=f"moved to Alembic: see {self.version_table}"
        )

    def _stamp_legacy(self, conn: sa.Connection, version: int) -> None:
        """Record a pre-Alembic database's version in the Alembic table, and fence off older
        code (LEGACY_MOVED)."""
        from alembic.runtime.migration import MigrationContext

        migration_context = MigrationContext.configure(
            conn, opts={"version_table": self.version_table}
        )
        migration_context.stamp(self._script, revision_id(self.store, version))
        conn.execute(self._legacy_fence())

    def _print_legacy_stamp(self, migration_context: MigrationContext, start: str) -> None:
        """_stamp_legacy as SQL text: the Alembic table a pre-Alembic database lacks, its row,
        and the fence row."""
        migration_context._ensure_version_table()
        version_row = sa.table(self.version_table, sa.column("version_num", sa.String)).insert()
        for statement in (version_row.values(version_num=start), self._legacy_fence()):
            compiled = statement.compile(
                dialect=migration_context.dialect, compile_kwargs={"literal_binds": True}
            )
            migration_context.impl.static_output(f"{compiled};\n")

    def _run(self, conn: sa.Connection, destination: str) -> None:
        from alembic.runtime.environment import EnvironmentContext

        def steps(rev: Any, _context: Any) -> Any:
            # What alembic.command.upgrade runs, without an env.py to load.
            return self._script._upgrade_revs(destination, rev)

        with EnvironmentContext(_config(self.versions), self._script, fn=steps) as env:
            env.configure(connection=conn, version_table=self.version_table)
            with env.begin_transaction():  # inside our own: nothing new is begun
                env.run_migrations()

    def sql(self, dialect: str, *, from_version: int = 0, legacy: bool = False) -> str:
        """The SQL that brings a database at ``from_version`` (0: empty) to the latest, for
        ``dialect`` (sqlite, postgresql). ``legacy``: the database was made before Alembic
        (its version is in the legacy table), so the SQL stamps it first.

        Raises:
            ValueError: ``from_version`` is not a version of this store.
        """
        from alembic.runtime.environment import EnvironmentContext

        if not 0 <= from_version <= self.latest:
            raise ValueError(f"{self.store} schema versions are 0 to {self.latest}")
        out = io.StringIO()
        start = revision_id(self.store, from_version) if from_version else None

        def steps(rev: Any, _context: Any) -> Any:
            return self._script._upgrade_revs("head", start)  # type: ignore[arg-type]

        with EnvironmentContext(
            _config(self.versions),
            self._script,
            fn=steps,
            as_sql=True,
            starting_rev=start,
            destination_rev="head",
        ) as env:
            env.configure(
                dialect_name=dialect,
                version_table=self.version_table,
                output_buffer=out,
                literal_binds=True,
            )
            with env.begin_transaction():  # the stamp commits with the migrations, or neither
                if legacy and start is not None:
                    self._print_legacy_stamp(env.get_context(), start)
                env.run_migrations()
        return out.getvalue()


def _config(versions: Path) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(versions))
    return config
