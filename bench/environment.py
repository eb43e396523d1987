"""Where a benchmark runs: its scratch directory, its cache, its databases, its log.

SQLite databases are files in the scratch directory (or the cache, for tables worth keeping).
PostgreSQL databases are schemas of the configured server, created for one measurement and
dropped afterwards, whatever happened in between.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from alprfed.errors import ConfigError

SQLITE, POSTGRES = "sqlite", "postgres"
DATABASE_LABELS = {SQLITE: "SQLite", POSTGRES: "PostgreSQL"}
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA_PREFIX = "bench_"


class BenchError(RuntimeError):
    """A benchmark found the system answering wrongly; its figures would mean nothing."""


@dataclass(frozen=True)
class BenchEnv:
    """What every part needs from the harness."""

    work_dir: Path  # scratch, removed after the run
    cache_dir: Path  # kept between runs (gitignored): big tables built once
    postgres_url: str | None  # None: PostgreSQL figures are skipped
    seed: int  # one seed for every sampled query, so runs ask the same questions
    log: Callable[[str], None]

    def rng(self, purpose: str) -> random.Random:
        """A generator of its own per purpose, so adding a draw elsewhere changes nothing here."""
        return random.Random(f"{self.seed}:{purpose}")

    def scratch(self, name: str) -> Path:
        """A fresh directory under the work directory."""
        path = self.work_dir / f"{name}-{secrets.token_hex(4)}"
        path.mkdir(parents=True)
        return path

    def databases(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        """The wanted kinds this run can measure (PostgreSQL only with a server)."""
        return tuple(kind for kind in wanted if kind != POSTGRES or self.postgres_url)

    @contextmanager
    def database(self, kind: str, name: str) -> Iterator[str]:
        """A fresh, empty database of ``kind`` for one measurement; its URL.

        Raises:
            ConfigError: an unknown kind, or PostgreSQL without a server.
        """
        if kind == SQLITE:
            yield sqlite_url(self.scratch(name) / "bench.db")
        elif kind == POSTGRES:
            if self.postgres_url is None:
                raise ConfigError("no PostgreSQL server configured for this run")
            with postgres_schema(self.postgres_url, name) as url:
                yield url
        else:
            raise ConfigError(f"unknown database kind {kind!r}")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def schema_fingerprint(metadata: sa.MetaData) -> str:
    """A digest of every table's columns, types and indexes.

    Kept with a cached database, so one built by code with another schema is rebuilt rather
    than misread.
    """
    lines = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        lines.append(table.name)
        lines += [f"{c.name} {c.type} {c.nullable} {c.primary_key}" for c in table.columns]
        lines += sorted(f"{i.name} {[c.name for c in i.columns]}" for i in table.indexes)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def cached_build(
    path: Path,
    identity: Mapping[str, object],
    *,
    still_valid: Callable[[], bool],
    build: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """The metadata of the SQLite database at ``path``, building it first unless the one there
    was built with the same ``identity`` and ``still_valid()`` holds (say, its row count).

    The metadata (``identity`` and what ``build`` returns) is kept beside it as JSON.
    """
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if all(meta.get(key) == value for key, value in identity.items()) and still_valid():
            return meta
    meta_path.unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {**build(), **identity}
    meta_path.write_text(json.dumps(meta, sort_keys=True) + "\n")
    return meta


@contextmanager
def postgres_schema(base_url: str, name: str) -> Iterator[str]:
    """A new schema on the server at ``base_url``; yields a URL whose search_path is that
    schema, and drops the schema with everything in it on the way out."""
    schema = f"{SCHEMA_PREFIX}{name.replace('-', '_')}_{secrets.token_hex(4)}"
    admin = sa.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base_url else "?"
        yield f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
