"""A plain `pip install .` works: the build generates the gRPC code and ships the policies.

The tracked files alone (what a fresh clone has: no generated code) are copied to a scratch
directory and built into a wheel with pip, as a user's install would build it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_wheel_built_from_a_clean_tree_has_generated_code_and_policies(tmp_path: Path) -> None:
    tracked = (
        subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    source = tmp_path / "src"
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    assert not list((source / "alprfed" / "v1").glob("*_pb2.py")), "generated code is tracked"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("alprfed-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for proto in ("common", "node", "gateway", "ledger"):
        assert f"alprfed/protos/alprfed/v1/{proto}.proto" in names  # the contract itself
        assert f"alprfed/v1/{proto}_pb2.py" in names
        assert f"alprfed/v1/{proto}_pb2_grpc.py" in names
    assert {
        "alprfed/policies/model.conf",
        "alprfed/policies/policy.csv",
        "alprfed/policies/federation.toml",
        "alprfed/policies/states/CA.toml",
        "alprfed/policies/states/default.toml",
    } <= names
    assert {
        "agency_node/server.py",
        "gateway/server.py",
        "witness/server.py",
        "alprfed/py.typed",
        # every store's Alembic revisions (alprfed.migrate)
        "agency_node/storage/versions/node_0001_core_tables.py",
        "alprfed/ledger/versions/ledger_0001_tables.py",
        "gateway/versions/gateway_0001_registry.py",
        "witness/versions/witness_0001_tables.py",
        # the transparency report's templates and stylesheet, as package data
        "alprfed/report/templates/index.html.j2",
        "alprfed/report/templates/agency.html.j2",
        "alprfed/report/static/style.css",
    } <= names
