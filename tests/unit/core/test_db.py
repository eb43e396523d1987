"""Database files hold plates in clear: created private, never created by readers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from alprfed.db import create_engine
from alprfed.errors import ConfigError


def test_a_new_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "node.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine.dispose()
    for file in tmp_path.joinpath("sub").iterdir():  # the database and its WAL files
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_readers_never_create_a_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no database"):
        create_engine(f"sqlite:///{tmp_path / 'missing.db'}", must_exist=True)
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "mysql://x/y", "postgresql+asyncpg://u@h/d", "not a url"],
)
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        create_engine(url)
