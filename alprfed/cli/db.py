"""`alprfed db`: bring a service's databases to this alprfed's schema, or print the SQL.

The service is the one the config file configures: a node's database holds the node store, a
gateway's the ledger and the warrant registry, a witness's the witness store. The config is
read as the service reads it, ALPRFED_* variables and *_file secrets included.

Exit codes: 0 done, 1 refused (bad configuration, a database newer than this alprfed or not
ours, a database that refused a migration), 2 usage error.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import sqlalchemy as sa

from alprfed.cli.common import console, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.config import read_toml
from alprfed.db import create_engine
from alprfed.errors import ConfigError, Unavailable
from alprfed.migrate import AlembicStore


def _stores(config_path: Path) -> tuple[str, list[AlembicStore]]:
    """The database URL the config names and the stores that live in it.

    Raises: ConfigError.
    """
    tables = set(read_toml(config_path))
    environ = os.environ
    if "node" in tables:
        from agency_node.storage.migrations import NODE_MIGRATIONS
        from alprfed.config import load_node_config

        node = load_node_config(config_path, insecure=True, environ=environ)
        return node.database_url, [NODE_MIGRATIONS]
    if "gateway" in tables:
        from alprfed.config import load_gateway_config
        from alprfed.ledger.schema import MIGRATIONS as LEDGER
        from gateway.registry_schema import MIGRATIONS as REGISTRY

        gateway = load_gateway_config(config_path, insecure=True, environ=environ)
        return gateway.database_url, [LEDGER, REGISTRY]
    if "witness" in tables:
        from witness.config import load_witness_config
        from witness.store import MIGRATIONS as WITNESS

        witness = load_witness_config(config_path, environ=environ)
        return witness.database_url, [WITNESS]
    raise ConfigError(f"{config_path}: has no [node], [gateway] or [witness] table")


@click.group("db")
def db() -> None:
    """Upgrade a service's database schema (Alembic), or print the SQL for a DBA."""


@db.command("upgrade")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's, gateway's or witness's TOML configuration.",
)
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it (offline).")
@click.option(
    "--from",
    "from_version",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With --sql: the version the database has now (0: empty). For more than one store "
    "(the gateway's), the same version of each.",
)
@click.option(
    "--legacy",
    is_flag=True,
    help="With --sql --from N: the database was made before Alembic (its *_schema_version "
    "table says N); the SQL stamps it first.",
)
@json_option
@friendly_errors
def upgrade(config_path: Path, sql: bool, from_version: int, legacy: bool, as_json: bool) -> None:
    """Apply every migration the service's database lacks (what the service does at start).

    Safe to run while another process starts: migrations are applied under a lock, once.
    """
    if (from_version or legacy) and not sql:
        raise click.UsageError("--from and --legacy describe the database for --sql only")
    url, stores = _stores(config_path)
    if sql:
        dialect = sa.engine.make_url(url).get_backend_name()
        for store in stores:
            if from_version > store.latest:
                raise click.BadParameter(
                    f"the {store.name} schema has versions 0 to {store.latest}",
                    param_hint="--from",
                )
        for store in stores:
            click.echo(f"-- alprfed {store.name} schema, version {from_version} to {store.latest}")
            click.echo(store.sql(dialect, from_version=from_version, legacy=legacy))
        return
    engine = create_engine(url)
    results = []
    try:
        for store in stores:
            with engine.connect() as conn:
                before = store.current_version(conn)
            after = store.upgrade(engine)
            results.append({"store": store.store, "from": before, "to": after})
    except sa.exc.OperationalError as exc:
        raise Unavailable(f"cannot open the database: {exc.orig}") from None
    finally:
        engine.dispose()
    if as_json:
        emit_json({"upgraded": results})
        return
    for result in results:
        change = "already current" if result["from"] == result["to"] else "upgraded"
        console.print(
            f"{result['store']}: schema version {result['to']} ({change}, was {result['from']})"
        )
